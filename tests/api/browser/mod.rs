//! The web console in a real Chromium: the scenarios, with
//! screenshots and an axe-core check of every page. One backend (SQLite) and
//! one browser for the whole run, to keep it to well under a minute.

mod customer;
mod driver;
mod operator;

use crate::helpers::{TestApp, standard_inventory};
use driver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_works_in_a_real_browser() {
    if !driver::installed() {
        return;
    }
    let app = TestApp::spawn().await;
    standard_inventory(&app).await;
    let browser = Browser::start(&app.base).await;
    customer::wrong_password_shows_the_error(&browser, &app).await;
    customer::buys_forwards_and_releases_a_number(&browser, &app).await;
    operator::runs_the_shop(&browser, &app).await;
    browser.quit().await;
}

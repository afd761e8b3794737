//! The customer scenario: log in, search FR landlines, buy one, forward it to
//! a national-format number, see it listed and charged, release it.

use super::driver::Browser;
use crate::helpers::{FR_LANDLINE_1, PASSWORD, TestApp};

pub async fn log_in(browser: &Browser, username: &str, password: &str) {
    browser.goto("/login").await;
    browser.fill("#username", username).await;
    browser.fill("#password", password).await;
    browser
        .click_and_wait("form.card button[type=submit]")
        .await;
}

pub async fn wrong_password_shows_the_error(browser: &Browser, app: &TestApp) {
    app.service
        .create_account("mallory", PASSWORD, None, 0)
        .await
        .expect("account");
    log_in(browser, "mallory", "not the password").await;
    assert_eq!(
        browser.text("p.alert").await,
        "invalid username or password"
    );
    assert_eq!(browser.path().await, "/login");
    browser.assert_accessible().await;
    browser.shoot("customer-login-error").await;
}

pub async fn buys_forwards_and_releases_a_number(browser: &Browser, app: &TestApp) {
    app.service
        .create_account("alice", PASSWORD, None, 20_00)
        .await
        .expect("account");
    log_in(browser, "alice", PASSWORD).await;
    assert_eq!(browser.text("#balance").await, "20.00 USD");
    browser.assert_accessible().await;

    browser.goto("/search").await;
    browser.fill("#country", "FR").await;
    browser.select("#type", "landline").await;
    browser.click_and_wait("form.search button").await;
    let results = browser.text("#results").await;
    assert!(results.contains("+33 1 23 45 67 89 (France)"), "{results}");
    assert!(
        !results.contains("+33 6"),
        "a mobile in a landline search: {results}"
    );
    browser.assert_accessible().await;
    browser.shoot("customer-search").await;

    browser
        .click_and_wait(&format!("a[aria-label='Buy {FR_LANDLINE_1}']"))
        .await;
    assert_eq!(browser.text("#quote-total").await, "3.50 USD");
    browser.assert_accessible().await;
    browser.shoot("customer-buy").await;
    browser.click_and_wait("#confirm-buy").await;
    assert!(browser.text("p.notice").await.starts_with("Bought"));

    // A refused destination is explained next to its field, in the API's words.
    browser.select("#forward-type", "pstn").await;
    browser.fill("#destination", "12ab").await;
    browser
        .click_and_wait("form.card button[type=submit]")
        .await;
    let error = browser.text("#destination-error").await;
    assert!(!error.is_empty());
    browser.assert_accessible().await;
    browser.shoot("customer-forward-error").await;

    browser.select("#forward-type", "pstn").await;
    browser.fill("#destination", "01 98 76 54 32").await;
    browser
        .click_and_wait("form.card button[type=submit]")
        .await;
    assert_eq!(
        browser.text("#did-forward").await,
        "Phone number (PSTN): +33198765432"
    );

    browser.goto("/numbers").await;
    let listed = browser.text("#numbers").await;
    assert!(
        listed.contains("+33 1 23 45 67 89 (France)") && listed.contains("+33198765432"),
        "{listed}"
    );
    browser.assert_accessible().await;
    browser.shoot("customer-numbers").await;

    browser.goto("/ledger").await;
    let ledger = browser.text("#ledger").await;
    assert!(
        ledger.contains("setup fee for +33123456789") && ledger.contains("-1.00 USD"),
        "{ledger}"
    );
    assert!(
        ledger.contains("first month for +33123456789") && ledger.contains("-2.50 USD"),
        "{ledger}"
    );
    browser.assert_accessible().await;
    browser.shoot("customer-ledger").await;

    browser.goto("/numbers").await;
    browser.click_and_wait("#numbers a").await;
    browser.click_and_wait("a.danger").await;
    let warning = browser.text("p.alert").await;
    assert!(
        warning.contains("not refunded") && warning.contains("90 days"),
        "{warning}"
    );
    browser.assert_accessible().await;
    browser.click_and_wait("#confirm-release").await;
    assert!(
        browser
            .text("main")
            .await
            .contains("You have no numbers yet")
    );

    browser.click_and_wait("form.logout button").await;
    assert_eq!(browser.path().await, "/login");
}

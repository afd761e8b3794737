//! The operator scenario: sign in with a key, create an account, credit it,
//! upload a CSV with one bad row and see it reported, withdraw a number,
//! see a number's history, see the sale on the dashboard.

use super::driver::Browser;
use crate::helpers::TestApp;
use didhub::domain::operator::Role;

pub async fn runs_the_shop(browser: &Browser, app: &TestApp) {
    let key = app
        .service
        .create_operator_key("ops", Role::Admin, None)
        .await
        .expect("key");
    browser.goto("/operator/login").await;
    browser.fill("#key", "dh_op_not-a-key").await;
    browser.click_and_wait("form.card button").await;
    assert!(!browser.text("p.alert").await.is_empty());
    browser.fill("#key", &key).await;
    browser.click_and_wait("form.card button").await;
    assert_eq!(browser.path().await, "/operator");

    // The customer scenario bought one number today.
    let sales = browser.text("#sales-chart").await;
    assert!(sales.contains("1 sold"), "{sales}");
    browser.assert_accessible().await;
    browser.shoot("operator-dashboard").await;

    browser.goto("/operator/accounts").await;
    browser.fill("#new-username", "bob").await;
    browser
        .fill("#new-password", "a long enough password")
        .await;
    browser.click_and_wait("form.card button").await;
    assert!(browser.text("p.notice").await.contains("Account created"));
    browser.select("#kind", "credit").await;
    browser.fill("#amount", "25.00").await;
    browser.fill("#reason", "bank transfer 2026-11-27").await;
    browser.click_and_wait("form.card button").await;
    assert_eq!(browser.text("#account-balance").await, "25.00 USD");
    browser.assert_accessible().await;
    browser.shoot("operator-account").await;

    let csv = tempfile::Builder::new()
        .suffix(".csv")
        .tempfile()
        .expect("temp file");
    std::fs::write(
        csv.path(),
        "number,country,type,setup_fee,monthly_cost\n+33123456791,FR,landline,1.00,2.50\nnot-a-number,FR,landline,1.00,2.50\n",
    )
    .expect("csv written");
    browser.goto("/operator/inventory").await;
    browser.assert_accessible().await;
    browser
        .find("#csv-file")
        .await
        .send_keys(&csv.path().display().to_string())
        .await
        .expect("file chosen");
    browser.click("form[data-upload] button").await;
    let problems = browser.text("#upload-problems").await;
    assert!(problems.contains('3'), "the bad row is line 3: {problems}");
    assert!(browser.text("#upload-report").await.contains("1 added"));
    browser.assert_accessible().await;
    browser.shoot("operator-upload-report").await;

    // The uploaded number goes off sale again.
    browser.fill("#withdraw-numbers", "+33123456791").await;
    browser
        .click_and_wait("form[action='/operator/inventory/withdraw'] button")
        .await;
    let withdrawn = browser.text("#withdraw-report").await;
    assert!(withdrawn.contains("Withdrawn: 1."), "{withdrawn}");
    browser.assert_accessible().await;
    browser.shoot("operator-withdraw").await;

    // The customer scenario bought, forwarded and released this number.
    browser
        .goto("/operator/numbers?number=%2B33123456789")
        .await;
    assert!(
        browser
            .text("#found-number")
            .await
            .contains("+33 1 23 45 67 89")
    );
    let history = browser.text("#history-events").await;
    let order: Vec<_> = ["released", "forwarded", "assigned"]
        .iter()
        .map(|event| history.find(event))
        .collect();
    assert!(
        order.iter().all(Option::is_some) && order.is_sorted(),
        "newest first: {history}"
    );
    browser.assert_accessible().await;
    browser
        .client
        .execute(
            "document.getElementById('history').scrollIntoView();",
            vec![],
        )
        .await
        .expect("scrolled to the history");
    browser.shoot("operator-number-history").await;
    browser.goto("/operator/audit").await;
    let audit = browser.text("#audit").await;
    assert!(
        audit.contains("ops") && audit.contains("account"),
        "{audit}"
    );
    browser.assert_accessible().await;
    browser.shoot("operator-audit").await;
}

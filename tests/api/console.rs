//! The web console over plain HTTP (the browser scenarios are in `browser/`):
//! headers, CSRF, sessions that are the API's tokens, accounts that never see
//! each other's numbers, operator roles.

use crate::helpers::*;
use crate::support::backends::on_both_backends;
use didhub::domain::operator::Role;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};

/// A browser without JavaScript: its cookies, kept by hand, and no redirects followed.
struct Visitor<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: Vec<String>,
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let pair = v.split(';').next().unwrap_or("").to_owned();
            (pair, v.to_owned())
        })
}

impl<'a> Visitor<'a> {
    async fn new(app: &'a TestApp) -> Visitor<'a> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut visitor = Visitor {
            app,
            client,
            cookies: Vec::new(),
        };
        visitor.get("/login").await;
        visitor
    }

    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for name in ["didhub_csrf", "didhub_session", "didhub_operator"] {
            if let Some((pair, _)) = cookie_value(headers, name) {
                self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
                self.cookies.push(pair);
            }
        }
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find_map(|c| c.strip_prefix("didhub_csrf="))
            .unwrap_or("")
            .to_owned()
    }

    async fn get(&mut self, path: &str) -> Response {
        let request = self
            .client
            .get(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header());
        let response = send(request).await;
        self.keep(&response.headers);
        response
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf();
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let request = self
            .client
            .post(format!("{}{path}", self.app.base))
            .header("cookie", self.cookie_header())
            .form(&form);
        let response = send(request).await;
        self.keep(&response.headers);
        response
    }

    async fn log_in(&mut self, username: &str) {
        let response = self
            .post("/login", &[("username", username), ("password", PASSWORD)])
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    }

    async fn operator(app: &'a TestApp, role: Role) -> Visitor<'a> {
        let key = app
            .service
            .create_operator_key(role.code(), role, None)
            .await
            .expect("key");
        let mut visitor = Visitor::new(app).await;
        let login = visitor
            .post("/operator/login", &[("key", key.as_str())])
            .await;
        assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.body);
        visitor
    }

    fn session_token(&self) -> String {
        self.cookies
            .iter()
            .find_map(|c| c.strip_prefix("didhub_session="))
            .unwrap_or("")
            .to_owned()
    }
}

fn html(response: &Response) -> &str {
    response.body.as_str().unwrap_or("")
}

on_both_backends! {
    async fn console_pages_forbid_framing_inline_script_and_caching() {
        let app = TestApp::spawn().await;
        let mut visitor = Visitor::new(&app).await;
        let page = visitor.get("/login").await;
        assert_eq!(page.status, StatusCode::OK);
        let csp = page.headers["content-security-policy"].to_str().expect("ascii");
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(!html(&page).contains("<script>"), "inline script on the login page");
    }

    async fn the_session_cookie_is_the_api_token_and_logging_out_revokes_it() {
        let app = TestApp::spawn().await;
        app.service.create_account("alice", PASSWORD, None, 10_00).await.expect("account");
        let mut visitor = Visitor::new(&app).await;
        let login = visitor.post("/login", &[("username", "alice"), ("password", PASSWORD)]).await;
        let (_, attributes) = cookie_value(&login.headers, "didhub_session").expect("session cookie");
        assert!(attributes.contains("HttpOnly") && attributes.contains("SameSite=Strict"), "{attributes}");
        assert!(!attributes.contains("Secure"), "plain HTTP: {attributes}");
        let token = visitor.session_token();
        assert_eq!(app.balance(&token).await, "10.00");

        let logout = visitor.post("/logout", &[]).await;
        assert_eq!(logout.status, StatusCode::SEE_OTHER);
        let refused = app.post("/api/balance", &[("token", token.as_str())]).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }

    async fn cookies_are_secure_behind_a_tls_proxy() {
        let app = TestApp::spawn().await;
        let response = send(app.client.get(format!("{}/login", app.base)).header("x-forwarded-proto", "https")).await;
        let (_, attributes) = cookie_value(&response.headers, "didhub_csrf").expect("csrf cookie");
        assert!(attributes.contains("; Secure"), "{attributes}");
    }

    async fn a_form_without_the_csrf_token_is_refused() {
        let app = TestApp::spawn().await;
        app.service.create_account("alice", PASSWORD, None, 0).await.expect("account");
        let mut visitor = Visitor::new(&app).await;
        let request = visitor
            .client
            .post(format!("{}/login", app.base))
            .header("cookie", visitor.cookie_header())
            .form(&[("csrf", "0".repeat(64).as_str()), ("username", "alice"), ("password", PASSWORD)]);
        assert_eq!(send(request).await.status, StatusCode::FORBIDDEN);
        // The same form with the token goes through.
        visitor.log_in("alice").await;
    }

    async fn a_wrong_password_shows_the_services_message() {
        let app = TestApp::spawn().await;
        app.service.create_account("alice", PASSWORD, None, 0).await.expect("account");
        let mut visitor = Visitor::new(&app).await;
        let page = visitor.post("/login", &[("username", "alice"), ("password", "nope")]).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(html(&page).contains("invalid username or password"));
    }

    async fn another_accounts_number_is_not_found_on_every_page() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        app.service.create_account("bob", PASSWORD, None, 20_00).await.expect("account");
        let did_id = app.buy(&alice, "FR", FR_LANDLINE_1).await;
        let mut bob = Visitor::new(&app).await;
        bob.log_in("bob").await;
        for path in [format!("/numbers/{did_id}"), format!("/numbers/{did_id}/release")] {
            let page = bob.get(&path).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
            assert!(!html(&page).contains("+33 1 23 45 67 89"), "{path} shows the number");
        }
        let forward = bob.post(&format!("/numbers/{did_id}/forward"), &[("type", "pstn"), ("destination", "0198765432")]).await;
        assert_eq!(forward.status, StatusCode::NOT_FOUND);
        let release = bob.post(&format!("/numbers/{did_id}/release"), &[]).await;
        assert_eq!(release.status, StatusCode::NOT_FOUND);
        let list = bob.get("/numbers").await;
        assert!(!html(&list).contains("+33 1 23 45 67 89"));
        // Alice still owns it, unforwarded.
        let mine = app.post("/api/did/list", &[("token", alice.as_str())]).await;
        assert_eq!(mine.body["dids"][0]["forward"], serde_json::Value::Null, "{}", mine.body);
    }

    async fn the_ledger_downloads_as_csv_with_only_the_accounts_own_entries() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        app.service.create_account("bob", PASSWORD, None, 5_00).await.expect("account");
        app.buy(&alice, "FR", FR_LANDLINE_1).await;
        let mut visitor = Visitor::new(&app).await;
        visitor.log_in("alice").await;
        let csv = visitor.get("/ledger.csv").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.headers["content-type"].to_str().expect("ascii").starts_with("text/csv"));
        let text = html(&csv);
        assert!(text.starts_with("id,created_at,kind,amount,currency,balance_after,number,description\n"), "{text}");
        assert!(text.contains("-1.00,USD,19.00,+33123456789,setup fee for +33123456789"), "{text}");
        assert!(text.contains("-2.50,USD,16.50,+33123456789,first month for +33123456789"), "{text}");

        let mut bob = Visitor::new(&app).await;
        bob.log_in("bob").await;
        let theirs = bob.get("/ledger.csv").await;
        assert!(!html(&theirs).contains("+33123456789"), "{}", html(&theirs));
    }

    async fn a_readonly_operator_sees_no_write_forms_and_cannot_post_them() {
        let app = TestApp::spawn().await;
        let key = app.service.create_operator_key("viewer", Role::Readonly, None).await.expect("key");
        let mut visitor = Visitor::new(&app).await;
        let login = visitor.post("/operator/login", &[("key", key.as_str())]).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER);
        let accounts = visitor.get("/operator/accounts").await;
        assert_eq!(accounts.status, StatusCode::OK);
        assert!(!html(&accounts).contains("New account"));
        let create = visitor.post("/operator/accounts", &[("username", "eve"), ("password", PASSWORD)]).await;
        assert_eq!(create.status, StatusCode::FORBIDDEN);
        assert!(app.service.account_by_username("eve").await.is_err());
        let inventory = visitor.get("/operator/inventory").await;
        assert!(!html(&inventory).contains("Upload inventory"));
    }

    async fn a_csv_upload_without_javascript_reports_the_refused_line() {
        let app = TestApp::spawn().await;
        let key = app.service.create_operator_key("ops", Role::Admin, None).await.expect("key");
        let mut visitor = Visitor::new(&app).await;
        visitor.post("/operator/login", &[("key", key.as_str())]).await;
        let csv = "number,country,type,setup_fee,monthly_cost\n+33123456791,FR,landline,1.00,2.50\nnot-a-number,FR,landline,1.00,2.50\n";
        let boundary = "didhub-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"numbers.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n\
             --{boundary}--\r\n",
            visitor.csrf()
        );
        let request = visitor
            .client
            .post(format!("{}/operator/inventory/upload", app.base))
            .header("cookie", visitor.cookie_header())
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        let page = send(request).await;
        assert_eq!(page.status, StatusCode::OK);
        let text = html(&page);
        assert!(text.contains("1 added") && text.contains("1 refused"), "{text}");
        assert!(text.contains("<td>3</td>"), "line 3 is the bad one: {text}");
        let found = app.service.number_detail("+33123456791").await.expect("imported");
        assert_eq!(found.did.setup_minor, 1_00);
    }

    async fn an_operator_reprices_a_countrys_available_numbers_of_one_type() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let key = app.service.create_operator_key("ops", Role::Admin, None).await.expect("key");
        let mut visitor = Visitor::new(&app).await;
        visitor.post("/operator/login", &[("key", key.as_str())]).await;
        let fields = [("country", "FR"), ("type", "landline"), ("currency", "USD"), ("setup_fee", "2.00"), ("monthly_cost", "3.00")];
        let page = visitor.post("/operator/inventory/reprice", &fields).await;
        assert!(html(&page).contains("2 available numbers repriced"), "{}", html(&page));
        let landline = app.service.number_detail(FR_LANDLINE_1).await.expect("number");
        assert_eq!((landline.did.setup_minor, landline.did.monthly_minor), (2_00, 3_00));
        let mobile = app.service.number_detail(FR_MOBILE).await.expect("number");
        assert_eq!(mobile.did.setup_minor, 3_00, "another type keeps its price");
        let refused = visitor.post("/operator/inventory/reprice", &[("country", "FR"), ("currency", "USD"), ("setup_fee", "x"), ("monthly_cost", "1")]).await;
        assert!(html(&refused).contains("class=\"alert\""), "{}", html(&refused));
    }

    async fn the_operator_pages_need_a_key() {
        let app = TestApp::spawn().await;
        let mut visitor = Visitor::new(&app).await;
        for path in ["/operator", "/operator/accounts", "/operator/audit"] {
            let page = visitor.get(path).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(page.headers["location"], "/operator/login");
        }
        let customer = visitor.get("/numbers").await;
        assert_eq!(customer.headers["location"], "/login");
    }

    async fn an_admin_withdraws_numbers_from_sale_and_a_readonly_operator_cannot() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        app.buy(&alice, "FR", FR_LANDLINE_1).await;
        // As the pages show numbers: with spaces.
        let listed = format!("+33 1 23 45 67 90\n{FR_LANDLINE_1}\nnot a number\n");

        let mut viewer = Visitor::operator(&app, Role::Readonly).await;
        assert!(!html(&viewer.get("/operator/inventory").await).contains("Withdraw available numbers"));
        let refused = viewer.post("/operator/inventory/withdraw", &[("numbers", listed.as_str())]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(app.available(&alice, "FR").await.len(), 2, "nothing withdrawn");

        let mut admin = Visitor::operator(&app, Role::Admin).await;
        assert!(html(&admin.get("/operator/inventory").await).contains("Withdraw available numbers"));
        let page = admin.post("/operator/inventory/withdraw", &[("numbers", listed.as_str())]).await;
        assert_eq!(page.status, StatusCode::OK);
        let text = html(&page);
        assert!(text.contains("Withdrawn: 1. Left as they were: 2."), "{text}");
        assert!(text.contains("sold to a customer") && text.contains("not in the inventory"), "{text}");
        let on_sale: Vec<_> = app.available(&alice, "FR").await.iter().map(|d| d["did_number"].clone()).collect();
        assert_eq!(on_sale, [FR_MOBILE], "the landline is off sale");

        let by_type = admin.post("/operator/inventory/withdraw", &[("country", "FR"), ("type", "mobile_voice")]).await;
        assert!(html(&by_type).contains("Withdrawn: 1."), "{}", html(&by_type));
        assert!(app.available(&alice, "FR").await.is_empty());
        assert_eq!(app.available(&alice, "US").await.len(), 1, "another country stays on sale");
    }

    async fn the_number_page_shows_its_history_newest_first_with_paging() {
        let app = TestApp::spawn().await;
        standard_inventory(&app).await;
        let alice = app.account_with_balance("alice", 20_00).await;
        let did_id = app.buy(&alice, "FR", FR_LANDLINE_1).await;
        let forwarded = app.forward(&alice, &did_id, "pstn", "+33612345678").await;
        assert_eq!(forwarded.status, StatusCode::OK, "{}", forwarded.body);

        let mut viewer = Visitor::operator(&app, Role::Readonly).await;
        let page = viewer.get("/operator/numbers?number=%2B33123456789").await;
        let text = html(&page);
        let history = &text[text.find("id=\"history-events\"").expect("history table")..];
        let forward_at = history.find("<td>forwarded</td>").expect("the forward");
        let purchase_at = history.find("<td>assigned</td>").expect("the purchase");
        assert!(forward_at < purchase_at, "newest first: {history}");
        assert!(history.contains("forwarded (pstn) to +33612345678"), "{history}");
        assert!(!text.contains("Older events"), "one page: {text}");

        for n in 0..20 {
            let to = format!("+336123456{n:02}");
            assert_eq!(app.forward(&alice, &did_id, "pstn", &to).await.status, StatusCode::OK);
        }
        let first = viewer.get("/operator/numbers?number=%2B33123456789").await;
        assert!(!html(&first).contains("<td>assigned</td>"), "the purchase is on the next page");
        let older = html(&first).split("id=\"history-older\" href=\"").nth(1).and_then(|s| s.split('"').next()).expect("older link").replace("&amp;", "&");
        let second = viewer.get(&older).await;
        assert!(html(&second).contains("<td>assigned</td>"), "{}", html(&second));
    }
}

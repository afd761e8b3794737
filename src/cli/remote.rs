//! The operator commands as a client of a running server's admin API
//! (`--addr URL` / `DIDHUB_ADDR`), printing exactly what the database path
//! prints. The key comes from `DIDHUB_OPERATOR_KEY` or the file `didhub login`
//! writes (mode 0600, like Vault's `~/.vault-token`).

use super::account::{
    MAX_LEDGER_ENTRIES, balance_line, created_line, json_or, ledger_line, list_header, list_line,
    password_line, pbx_line, print_audit, print_statement,
};
use super::operator::{Output, audit_line};
use crate::http::admin::inventory::MAX_UPLOAD_BYTES;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where `didhub login` keeps the key: `DIDHUB_OPERATOR_KEY_FILE`, else
/// `~/.didhub-operator-key`.
pub fn key_file() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("DIDHUB_OPERATOR_KEY_FILE") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set DIDHUB_OPERATOR_KEY_FILE")?;
    Ok(PathBuf::from(home).join(".didhub-operator-key"))
}

fn operator_key() -> anyhow::Result<String> {
    if let Ok(key) = std::env::var("DIDHUB_OPERATOR_KEY")
        && !key.trim().is_empty()
    {
        return Ok(key.trim().to_owned());
    }
    let path = key_file()?;
    let key = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no operator key: set DIDHUB_OPERATOR_KEY or run `didhub login --addr URL` ({})",
            path.display()
        )
    })?;
    Ok(key.trim().to_owned())
}

pub struct Remote {
    base: String,
    key: String,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(addr: &str) -> anyhow::Result<Remote> {
        Remote::with_key(addr, operator_key()?)
    }

    fn with_key(addr: &str, key: String) -> anyhow::Result<Remote> {
        if !addr.starts_with("http://") {
            bail!("--addr {addr}: use http://host:port (this build has no TLS client)");
        }
        Ok(Remote {
            base: format!("{}/admin/v1", addr.trim_end_matches('/')),
            key,
            client: reqwest::Client::new(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("reaching {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            // The message alone, as the database path words it.
            let error = &body["error"];
            match error["message"].as_str() {
                Some(message) => bail!("{message}"),
                None => bail!("{} answered {status}", self.base),
            }
        }
        Ok(body)
    }

    /// A text answer (CSV), errors read as `send` reads them.
    async fn send_text(&self, request: reqwest::RequestBuilder) -> anyhow::Result<String> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("reaching {}", self.base))?;
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            match body["error"]["message"].as_str() {
                Some(message) => bail!("{message}"),
                None => bail!("{} answered {status}", self.base),
            }
        }
        Ok(response.text().await?)
    }

    pub(super) async fn get(&self, path_and_query: &str) -> anyhow::Result<Value> {
        self.send(self.client.get(format!("{}{path_and_query}", self.base)))
            .await
    }

    pub(super) async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub(super) async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.client.patch(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub(super) async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    /// Every account, following the cursor.
    async fn accounts(&self, search: Option<&str>) -> anyhow::Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = vec![("limit", "500".to_owned())];
            params.extend(search.map(|s| ("search", s.to_owned())));
            params.extend(cursor.map(|c| ("cursor", c)));
            let page = self
                .get(&format!(
                    "/accounts?{}",
                    serde_urlencoded::to_string(&params)?
                ))
                .await?;
            all.extend(page["accounts"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(all),
            }
        }
    }

    pub(super) async fn account_id(&self, username: &str) -> anyhow::Result<i64> {
        self.accounts(Some(username))
            .await?
            .iter()
            .find(|a| a["username"] == username)
            .and_then(|a| a["id"].as_i64())
            .with_context(|| format!("no account named {username}"))
    }

    pub async fn account_list(&self, output: super::operator::Output) -> anyhow::Result<ExitCode> {
        let mut accounts = self.accounts(None).await?;
        // The database path lists by username.
        accounts.sort_by(|a, b| a["username"].as_str().cmp(&b["username"].as_str()));
        if output == super::operator::Output::Json {
            println!("{}", Value::Array(accounts));
            return Ok(ExitCode::SUCCESS);
        }
        println!("{}", list_header());
        for a in &accounts {
            let text = |field: &str| a[field].as_str().unwrap_or("").to_owned();
            println!(
                "{}",
                list_line(
                    &text("username"),
                    &text("balance"),
                    &text("currency"),
                    a["pbx_host"].as_str()
                )
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn account_create(
        &self,
        username: &str,
        password: &str,
        balance: &str,
        currency: &str,
        output: Output,
    ) -> anyhow::Result<ExitCode> {
        let body = json!({"username": username, "password": password,
            "initial_balance": balance, "currency": currency});
        let made = self.post("/accounts", &body).await?;
        let account = &made["account"];
        let text = |field: &str| account[field].as_str().unwrap_or("").to_owned();
        let id = account["id"].as_i64().unwrap_or(0);
        json_or(output, &made, || {
            created_line(&text("username"), id, &text("balance"), &text("currency"))
        })?;
        Ok(ExitCode::SUCCESS)
    }

    pub async fn set_pbx(
        &self,
        username: &str,
        host: Option<&str>,
        output: Output,
    ) -> anyhow::Result<ExitCode> {
        let id = self.account_id(username).await?;
        let request = self
            .client
            .patch(format!("{}/accounts/{id}", self.base))
            .json(&json!({ "pbx_host": host }));
        let account = self.send(request).await?;
        json_or(output, &account, || {
            pbx_line(username, account["pbx_host"].as_str())
        })?;
        Ok(ExitCode::SUCCESS)
    }

    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
        output: Output,
    ) -> anyhow::Result<ExitCode> {
        let id = self.account_id(username).await?;
        let answer = self
            .post(
                &format!("/accounts/{id}/password"),
                &json!({ "password": password }),
            )
            .await?;
        json_or(output, &answer, || password_line(username))?;
        Ok(ExitCode::SUCCESS)
    }

    /// `account limit`: at most `max_calls` concurrent calls to all of an
    /// account's numbers (`None`: no limit).
    pub async fn account_limit(
        &self,
        username: &str,
        max_calls: super::number::MaxCalls,
        output: Output,
    ) -> anyhow::Result<ExitCode> {
        let id = self.account_id(username).await?;
        let answer = self
            .patch(
                &format!("/accounts/{id}/limits"),
                &json!({ "max_calls": max_calls.0 }),
            )
            .await?;
        json_or(output, &answer, || {
            format!("{username}: at most {max_calls} concurrent calls")
        })?;
        Ok(ExitCode::SUCCESS)
    }

    /// `account statement`: the admin API's JSON, its CSV, or the text.
    pub async fn statement(
        &self,
        username: &str,
        month: &str,
        csv: bool,
        output: Output,
    ) -> anyhow::Result<ExitCode> {
        let id = self.account_id(username).await?;
        let mut params = vec![("month", month)];
        params.extend(csv.then_some(("format", "csv")));
        let path = format!(
            "{}/accounts/{id}/statement?{}",
            self.base,
            serde_urlencoded::to_string(&params)?
        );
        if csv {
            print!("{}", self.send_text(self.client.get(path)).await?);
            return Ok(ExitCode::SUCCESS);
        }
        let answer = self.send(self.client.get(path)).await?;
        match output {
            Output::Json => println!("{answer}"),
            Output::Table => print_statement(username, &answer),
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The newest `limit` ledger entries, following the cursor; with
    /// `--output json` one admin API page holding them all.
    pub async fn ledger(
        &self,
        username: &str,
        limit: i64,
        output: Output,
    ) -> anyhow::Result<ExitCode> {
        let id = self.account_id(username).await?;
        let mut left = limit.clamp(1, MAX_LEDGER_ENTRIES);
        let mut cursor: Option<String> = None;
        let mut whole: Option<Value> = None;
        while left > 0 {
            let mut params = vec![("limit", left.min(500).to_string())];
            params.extend(cursor.take().map(|c| ("cursor", c)));
            let query = serde_urlencoded::to_string(&params)?;
            let page = self.get(&format!("/accounts/{id}/ledger?{query}")).await?;
            let count = page["entries"].as_array().map_or(0, Vec::len);
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            whole = Some(merge_ledger_page(whole, page));
            left -= count as i64;
            if count == 0 || cursor.is_none() {
                break;
            }
        }
        let whole = whole.unwrap_or(Value::Null);
        if output == Output::Json {
            println!("{whole}");
            return Ok(ExitCode::SUCCESS);
        }
        for e in whole["entries"].as_array().into_iter().flatten() {
            let text = |field: &str| e[field].as_str().unwrap_or("").to_owned();
            let line = ledger_line(
                e["id"].as_i64().unwrap_or(0),
                &text("created_at"),
                &text("type"),
                &text("amount"),
                &text("balance_after"),
                &text("description"),
            );
            println!("{line}");
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Every balance against its ledger sum, in the database path's order.
    pub async fn balances_audit(&self, output: Output) -> anyhow::Result<ExitCode> {
        let mut accounts = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = vec![("limit", "500".to_owned())];
            params.extend(cursor.take().map(|c| ("cursor", c)));
            let query = serde_urlencoded::to_string(&params)?;
            let page = self.get(&format!("/balances/audit?{query}")).await?;
            accounts.extend(page["accounts"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        accounts.sort_by(|a, b| a["username"].as_str().cmp(&b["username"].as_str()));
        Ok(print_audit(&Value::Array(accounts), output))
    }

    /// `kind` is "credits" or "adjustments".
    pub async fn post_money(
        &self,
        username: &str,
        kind: &str,
        amount: &str,
        description: &str,
        output: Output,
    ) -> anyhow::Result<ExitCode> {
        let id = self.account_id(username).await?;
        let posted = self
            .post(
                &format!("/accounts/{id}/{kind}"),
                &json!({"amount": amount, "reason": description}),
            )
            .await?;
        let text = |field: &str| posted[field].as_str().unwrap_or("").to_owned();
        json_or(output, &posted, || {
            balance_line(username, &text("balance"), &text("currency"))
        })?;
        Ok(ExitCode::SUCCESS)
    }

    /// Streams a CSV file to the inventory upload, with a progress bar on a
    /// terminal's standard error (none when it is not a terminal).
    pub async fn upload_inventory(&self, path: &Path) -> anyhow::Result<Value> {
        use tokio::io::AsyncReadExt;
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata().await?.len();
        if size > MAX_UPLOAD_BYTES as u64 {
            bail!("{}: a CSV upload is at most 100 MB", path.display());
        }
        let bar = progress_bar(size);
        let counter = bar.clone();
        let chunks = futures_util::stream::try_unfold(file, move |mut file| {
            let counter = counter.clone();
            async move {
                let mut chunk = vec![0u8; 64 * 1024];
                let read = file.read(&mut chunk).await?;
                if read == 0 {
                    return Ok::<_, std::io::Error>(None);
                }
                chunk.truncate(read);
                counter.inc(read as u64);
                Ok(Some((chunk, file)))
            }
        });
        let request = self
            .client
            .post(format!("{}/inventory", self.base))
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(chunks));
        let answer = self.send(request).await;
        bar.finish_and_clear();
        answer
    }

    pub async fn audit_log(
        &self,
        filters: &[(&str, Option<String>)],
        limit: i64,
        output: super::operator::Output,
    ) -> anyhow::Result<ExitCode> {
        let mut params: Vec<(&str, String)> = vec![("limit", limit.clamp(1, 500).to_string())];
        params.extend(
            filters
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (*k, v))),
        );
        let page = self
            .get(&format!("/audit?{}", serde_urlencoded::to_string(&params)?))
            .await?;
        if output == super::operator::Output::Json {
            println!("{}", page["entries"]);
            return Ok(ExitCode::SUCCESS);
        }
        for e in page["entries"].as_array().cloned().unwrap_or_default() {
            let text = |field: &str| e[field].as_str().unwrap_or("").to_owned();
            let json = |field: &str| (!e[field].is_null()).then(|| e[field].to_string());
            println!(
                "{}",
                audit_line(
                    e["id"].as_i64().unwrap_or(0),
                    &text("at"),
                    &text("actor"),
                    &text("action"),
                    &text("target"),
                    json("before").as_deref(),
                    json("after").as_deref(),
                )
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The ledger pages fetched so far as one page: the entries of both, the
/// newer page's account fields and the older page's `next_cursor`.
fn merge_ledger_page(whole: Option<Value>, mut page: Value) -> Value {
    let Some(mut whole) = whole else {
        return page;
    };
    let older = page["entries"].as_array_mut().map(std::mem::take);
    if let Some(entries) = whole["entries"].as_array_mut() {
        entries.extend(older.unwrap_or_default());
    }
    whole["next_cursor"] = page["next_cursor"].take();
    whole
}

fn progress_bar(bytes: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(bytes);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "uploading {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// `didhub login --addr URL`: reads a key on standard input, checks it
/// against the server, and keeps it in a file only its owner can read.
pub async fn login(addr: &str) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .context("reading the operator key from standard input")?;
    let key = text.trim().to_owned();
    if key.is_empty() {
        bail!("no operator key on standard input");
    }
    Remote::with_key(addr, key.clone())?
        .get("/accounts?limit=1")
        .await
        .context("the server refused the key")?;
    let path = key_file()?;
    write_private(&path, &key)?;
    println!("operator key saved to {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, key: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        // An existing file keeps its mode on open: tighten it too.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        writeln!(file, "{key}")?;
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        writeln!(file, "{key}")?;
    }
    Ok(())
}

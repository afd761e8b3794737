//! The operator's command line, driven as a real process against a fresh database.

// A failed test step panics, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::backends::{current_backend, on_both_backends};
use support::database::{Backend, TestDatabase};
use tempfile::TempDir;

mod support;

const PASSWORD: &str = "a long enough password";

struct Cli {
    dir: TempDir,
    database: TestDatabase,
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn assert_success(&self, what: &str) -> &Run {
        assert_eq!(
            self.code,
            Some(0),
            "{what}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Cli {
    /// A fresh database on the backend of the running test.
    async fn new() -> Cli {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = TestDatabase::create(current_backend()).await;
        Cli { dir, database }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_didhub"));
        command
            .arg("--database")
            .arg(&self.database.url)
            .args(args)
            .env_remove("DIDHUB_DATABASE_URL")
            .env("DIDHUB_LOG", "warn")
            .current_dir(self.dir.path());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("didhub runs");
        Run::from(output)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("didhub starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("password written");
        Run::from(child.wait_with_output().expect("didhub finishes"))
    }

    fn create_alice(&self) -> Run {
        self.run_with_stdin(
            &[
                "account",
                "create",
                "alice",
                "--password-stdin",
                "--balance",
                "25.00",
            ],
            &format!("{PASSWORD}\n"),
        )
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("file written");
        path
    }
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// The limits stored for +33123456789 and for alice.
async fn limits(cli: &Cli) -> (Option<i64>, Option<i64>) {
    let store = didhub::app::open_store(&cli.database.url, &didhub::store::PoolSettings::default())
        .await
        .expect("database opens");
    let number = didhub::store::dids::find_by_number(store.pool(), "+33123456789")
        .await
        .expect("read")
        .expect("the number")
        .max_calls;
    let alice = didhub::store::accounts::find_by_username(store.pool(), "alice")
        .await
        .expect("read")
        .expect("alice");
    let account = didhub::store::accounts::max_calls(store.pool(), alice.id)
        .await
        .expect("read");
    store.close().await;
    (number, account)
}

/// `text` with each RFC 3339 time (`2026-12-01T18:15:07Z`) replaced by `<time>`.
fn without_times(text: &str) -> String {
    let is_time = |w: &[u8]| {
        w.len() == 20
            && w.iter().enumerate().all(|(i, &b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                19 => b == b'Z',
                _ => b.is_ascii_digit(),
            })
    };
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i..i + 20).is_some_and(is_time) {
            out.push_str("<time>");
            i += 20;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The line of `account list` for `username`.
fn list_line(list: &str, username: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(username))
        .unwrap_or_else(|| panic!("{username} not listed:\n{list}"))
        .to_owned()
}

on_both_backends! {
    async fn webhook_add_list_remove_manage_the_operators_endpoints_under_the_url_rules() {
        let cli = Cli::new().await;
        let refused = cli.run(&["webhook", "add", "https://127.0.0.1/hook"]);
        assert_ne!(refused.code, Some(0), "loopback refused: {}", refused.stdout);
        assert!(refused.stderr.contains("127.0.0.1"), "{}", refused.stderr);

        let added = cli.run(&["webhook", "add", "http://127.0.0.1:9/hook", "--events",
            "number.assigned,balance.credited", "--webhook-allow-http", "127.0.0.1",
            "--webhook-allow-private"]);
        added.assert_success("webhook add");
        assert!(added.stdout.contains("secret whsec_"), "{}", added.stdout);
        let list = cli.run(&["webhook", "list"]);
        list.assert_success("webhook list");
        assert!(list.stdout.contains("active\thttp://127.0.0.1:9/hook\tnumber.assigned,balance.credited"),
            "{}", list.stdout);
        let id = list.stdout.split('\t').next().expect("id").to_owned();
        cli.run(&["webhook", "remove", &id]).assert_success("webhook remove");
        assert_eq!(cli.run(&["webhook", "list"]).stdout, "");
    }

    async fn account_create_reads_the_password_from_stdin_and_prints_the_balance() {
        let cli = Cli::new().await;

        let created = cli.create_alice();

        created.assert_success("account create");
        assert!(created.stdout.contains("alice"), "{}", created.stdout);
        assert!(created.stdout.contains("25.00"), "{}", created.stdout);
        assert!(!created.stdout.contains(PASSWORD) && !created.stderr.contains(PASSWORD));
        let list = cli.run(&["account", "list"]);
        list.assert_success("account list");
        let line = list_line(&list.stdout, "alice");
        assert!(line.contains("25.00") && line.contains("USD"), "{line}");
    }

    async fn creating_an_existing_account_fails_and_keeps_the_first() {
        let cli = Cli::new().await;
        cli.create_alice().assert_success("first create");

        let again = cli.run_with_stdin(
            &[
                "account",
                "create",
                "alice",
                "--password-stdin",
                "--balance",
                "99.00",
            ],
            &format!("{PASSWORD}\n"),
        );

        assert_ne!(
            again.code,
            Some(0),
            "second create must fail: {}",
            again.stdout
        );
        assert!(again.stderr.contains("alice"), "{}", again.stderr);
        let list = cli.run(&["account", "list"]);
        assert!(
            list_line(&list.stdout, "alice").contains("25.00"),
            "{}",
            list.stdout
        );
        assert!(!list.stdout.contains("99.00"), "{}", list.stdout);
    }

    async fn account_create_without_a_password_on_stdin_fails() {
        let cli = Cli::new().await;

        let created = cli.run_with_stdin(&["account", "create", "alice", "--password-stdin"], "");

        assert_ne!(created.code, Some(0), "{}", created.stdout);
        let list = cli.run(&["account", "list"]);
        assert!(!list.stdout.contains("alice"), "{}", list.stdout);
    }

    async fn a_statement_prints_opening_entries_totals_and_closing_as_text_or_csv() {
        let cli = Cli::new().await;
        cli.create_alice().assert_success("create");
        cli.run(&["account", "credit", "alice", "10.50"]).assert_success("credit");
        let month = chrono::Utc::now().format("%Y-%m").to_string();

        let text = cli.run(&["account", "statement", "alice", "--month", &month]);
        text.assert_success("statement");
        assert!(text.stdout.contains("opening balance") && text.stdout.contains("0.00"), "{}", text.stdout);
        assert!(text.stdout.contains("total credit") && text.stdout.contains("35.50"), "{}", text.stdout);
        assert!(text.stdout.lines().last().is_some_and(|l| l.contains("closing balance") && l.contains("35.50")), "{}", text.stdout);
        let csv = cli.run(&["account", "statement", "alice", "--month", &month, "--csv"]);
        csv.assert_success("csv");
        assert!(csv.stdout.starts_with("date,entry_id,type,did_number,description,amount,balance_after\n"), "{}", csv.stdout);
        let bad = cli.run(&["account", "statement", "alice", "--month", "2026-13"]);
        assert_ne!(bad.code, Some(0), "{}", bad.stdout);
    }

    async fn credit_adjust_list_audit_and_ledger_agree() {
        let cli = Cli::new().await;
        cli.create_alice().assert_success("create");

        let credit = cli.run(&["account", "credit", "alice", "10.50"]);
        credit.assert_success("credit");
        assert!(credit.stdout.contains("35.50"), "{}", credit.stdout);
        let adjust = cli.run(&[
            "account",
            "adjust",
            "alice",
            "-0.50",
            "--description",
            "fix",
        ]);
        adjust.assert_success("adjust");
        assert!(adjust.stdout.contains("35.00"), "{}", adjust.stdout);

        let list = cli.run(&["account", "list"]);
        list.assert_success("list");
        assert!(
            list_line(&list.stdout, "alice").contains("35.00"),
            "{}",
            list.stdout
        );

        let audit = cli.run(&["account", "audit"]);
        audit.assert_success("audit");
        assert!(!audit.stdout.contains("MISMATCH"), "{}", audit.stdout);

        let ledger = cli.run(&["account", "ledger", "alice"]);
        ledger.assert_success("ledger");
        let entries: Vec<&str> = ledger
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(entries.len(), 3, "{}", ledger.stdout);
        // Newest first: the adjustment, the credit, the opening balance.
        assert!(
            entries[0].contains("adjustment")
                && entries[0].contains("-0.50")
                && entries[0].contains("fix"),
            "{}",
            entries[0]
        );
        assert!(
            entries[1].contains("credit")
                && entries[1].contains("10.50")
                && entries[1].contains("35.50"),
            "{}",
            entries[1]
        );
        assert!(
            entries[2].contains("credit") && entries[2].contains("25.00"),
            "{}",
            entries[2]
        );
    }

    async fn a_credit_must_be_positive_and_an_adjustment_may_not_go_below_zero() {
        let cli = Cli::new().await;
        cli.create_alice().assert_success("create");

        let negative_credit = cli.run(&["account", "credit", "alice", "-5.00"]);
        assert_ne!(negative_credit.code, Some(0), "{}", negative_credit.stdout);
        let overdraw = cli.run(&[
            "account",
            "adjust",
            "alice",
            "-25.01",
            "--description",
            "too much",
        ]);
        assert_ne!(overdraw.code, Some(0), "{}", overdraw.stdout);
        let unknown = cli.run(&["account", "credit", "nobody", "1.00"]);
        assert_ne!(unknown.code, Some(0), "{}", unknown.stdout);

        let list = cli.run(&["account", "list"]);
        assert!(
            list_line(&list.stdout, "alice").contains("25.00"),
            "{}",
            list.stdout
        );
        let ledger = cli.run(&["account", "ledger", "alice"]);
        assert_eq!(
            ledger
                .stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count(),
            1,
            "{}",
            ledger.stdout
        );
        cli.run(&["account", "audit"]).assert_success("audit");
    }

    async fn inventory_import_reports_bad_rows_by_line_imports_the_good_one_and_exits_2() {
        let cli = Cli::new().await;
        let csv = cli.write(
            "stock.csv",
            "number,country,type,setup_fee,monthly_cost\n\
             +33123456789,FR,landline,1.00,2.50\n\
             +3312,FR,landline,1.00,2.50\n\
             +33123456790,FR,fax,1.00,2.50\n\
             +33123456791,FR,landline,abc,2.50\n",
        );
        let file = path_text(&csv);

        let first = cli.run(&["inventory", "import", file]);

        assert_eq!(
            first.code,
            Some(2),
            "stdout:\n{}\nstderr:\n{}",
            first.stdout,
            first.stderr
        );
        for line in [3, 4, 5] {
            assert!(
                first.stderr.contains(&format!("{file}:{line}:")),
                "line {line} not reported:\n{}",
                first.stderr
            );
        }
        assert!(
            !first.stderr.contains(&format!("{file}:2:")),
            "good row reported:\n{}",
            first.stderr
        );
        assert!(first.stderr.contains("fax"), "{}", first.stderr);
        assert!(first.stdout.contains("inserted 1,"), "{}", first.stdout);
        assert!(first.stdout.contains("rejected 3"), "{}", first.stdout);
        let count = cli.run(&["inventory", "count"]);
        count.assert_success("count");
        assert_eq!(count.stdout.trim(), "1");

        let second = cli.run(&["inventory", "import", file]);

        assert_eq!(second.code, Some(2), "{}", second.stderr);
        assert!(second.stdout.contains("inserted 0,"), "{}", second.stdout);
        assert!(second.stdout.contains("updated 0,"), "{}", second.stdout);
        assert!(second.stdout.contains("unchanged 1,"), "{}", second.stdout);
        assert_eq!(cli.run(&["inventory", "count"]).stdout.trim(), "1");
    }

    async fn a_clean_import_exits_0() {
        let cli = Cli::new().await;
        let csv = cli.write(
            "clean.csv",
            "number,country,type,setup_fee,monthly_cost\n\
             +33123456789,FR,landline,1.00,2.50\n\
             +12015550123,US,landline,0.50,1.00\n",
        );

        let run = cli.run(&["inventory", "import", path_text(&csv)]);

        run.assert_success("clean import");
        assert!(run.stdout.contains("inserted 2,"), "{}", run.stdout);
        assert!(run.stdout.contains("rejected 0"), "{}", run.stdout);
    }

    async fn inventory_generate_fills_every_country() {
        let cli = Cli::new().await;

        cli.run(&["inventory", "generate", "--per-type", "2"])
            .assert_success("generate");
        let count = cli.run(&["inventory", "count"]);
        count.assert_success("count");
        let n: i64 = count.stdout.trim().parse().expect("a number");
        assert!(n > 200, "only {n} numbers");

        // The same seed again adds nothing.
        cli.run(&["inventory", "generate", "--per-type", "2"])
            .assert_success("generate again");
        assert_eq!(
            cli.run(&["inventory", "count"]).stdout.trim(),
            n.to_string()
        );
    }

    async fn set_pbx_records_the_host_and_refuses_a_bad_one() {
        let cli = Cli::new().await;
        cli.create_alice().assert_success("create");

        let set = cli.run(&["account", "set-pbx", "alice", "pbx.example.com"]);
        set.assert_success("set-pbx");
        assert!(set.stdout.contains("pbx.example.com"), "{}", set.stdout);
        let list = cli.run(&["account", "list"]);
        assert!(
            list_line(&list.stdout, "alice").contains("pbx.example.com"),
            "{}",
            list.stdout
        );

        let bad = cli.run(&["account", "set-pbx", "alice", "pbx.example.com;evil"]);
        assert_ne!(bad.code, Some(0), "{}", bad.stdout);
        let list = cli.run(&["account", "list"]);
        assert!(
            list_line(&list.stdout, "alice").ends_with("pbx.example.com"),
            "{}",
            list.stdout
        );
    }

    async fn number_and_account_limits_are_set_and_removed_by_the_operator() {
        let cli = Cli::new().await;
        cli.create_alice().assert_success("create");
        let csv = cli.write(
            "one.csv",
            "number,country,type,setup_fee,monthly_cost\n+33123456789,FR,landline,1.00,2.50\n",
        );
        cli.run(&["inventory", "import", path_text(&csv)]).assert_success("import");

        let number = cli.run(&["number", "limit", "+33123456789", "--max-calls", "3"]);
        number.assert_success("number limit");
        assert!(number.stdout.contains("at most 3 concurrent calls"), "{}", number.stdout);
        let account = cli.run(&["account", "limit", "alice", "--max-calls", "10"]);
        account.assert_success("account limit");
        assert_eq!(limits(&cli).await, (Some(3), Some(10)));

        cli.run(&["number", "limit", "+33123456789", "--max-calls", "none"]).assert_success("number unlimited");
        cli.run(&["account", "limit", "alice", "--max-calls", "none"]).assert_success("account unlimited");
        assert_eq!(limits(&cli).await, (None, None));
        // Run on the database, the changes are in the audit log as every other write is.
        for action in ["number.limit", "account.limit"] {
            let log = cli.run(&["audit", "log", "--action", action, "--output", "json"]);
            let entries: serde_json::Value = serde_json::from_str(&log.stdout).expect("json");
            let after: Vec<_> = entries.as_array().expect("entries").iter().map(|e| e["after"]["max_calls"].clone()).collect();
            assert_eq!(after.len(), 2, "{action}: {}", log.stdout);
            assert!(after[0].is_null() && after[1].is_i64(), "{action}: newest first: {}", log.stdout);
        }

        for refused in [
            &["number", "limit", "+33999999999", "--max-calls", "1"][..],
            &["number", "limit", "+33123456789", "--max-calls", "-1"],
            &["number", "limit", "+33123456789", "--max-calls", "lots"],
            &["account", "limit", "nobody", "--max-calls", "1"],
        ] {
            let run = cli.run(refused);
            assert_ne!(run.code, Some(0), "{refused:?}: {}", run.stdout);
        }
        assert_eq!(limits(&cli).await, (None, None));
    }

    async fn migrate_creates_the_schema_and_is_repeatable() {
        let cli = Cli::new().await;

        cli.run(&["migrate"]).assert_success("first migrate");
        if cli.database.backend == Backend::Sqlite {
            assert!(Path::new(&cli.database.url).exists());
        }
        cli.run(&["migrate"]).assert_success("second migrate");
        let count = cli.run(&["inventory", "count"]);
        count.assert_success("count");
        assert_eq!(count.stdout.trim(), "0");
    }

    async fn serve_refuses_a_sip_allow_list_it_cannot_read() {
        let cli = Cli::new().await;

        for bad in ["10.0.0.0/33", "pbx.example.com", ""] {
            let run = cli.run(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--sip-listen",
                "127.0.0.1:0",
                "--sip-allow",
                bad,
            ]);
            assert_ne!(run.code, Some(0), "{bad:?} accepted\n{}", run.stdout);
            assert!(run.stderr.contains("--sip-allow"), "{bad:?}: {}", run.stderr);
        }
    }

    async fn inventory_import_refuses_dev_zero_after_one_line_and_imports_nothing() {
        let cli = Cli::new().await;
        let started = std::time::Instant::now();

        let run = cli.run(&["inventory", "import", "/dev/zero"]);

        assert_eq!(run.code, Some(1), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("line 1 is longer than --max-line-bytes"), "{}", run.stderr);
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
        assert_eq!(cli.run(&["inventory", "count"]).stdout.trim(), "0");
    }

    async fn inventory_import_and_catalogues_refuse_files_over_the_size_limit() {
        let cli = Cli::new().await;
        let mut text = String::from("number,country,type,setup_fee,monthly_cost\n");
        for n in 0..50 {
            text.push_str(&format!("+331234567{n:02},FR,landline,1.00,2.50\n"));
        }
        let csv = cli.write("big.csv", &text);

        let refused = cli.run(&["inventory", "import", path_text(&csv), "--max-import-bytes", "1000"]);

        assert_eq!(refused.code, Some(1), "{}", refused.stdout);
        assert!(refused.stderr.contains("--max-import-bytes 1000"), "{}", refused.stderr);
        assert_eq!(cli.run(&["inventory", "count"]).stdout.trim(), "0");

        let streamed = cli
            .command(&["inventory", "import", "/dev/stdin", "--max-import-bytes", "1000"])
            .stdin(std::fs::File::open(&csv).expect("csv"))
            .output()
            .expect("didhub runs");
        let streamed = Run::from(streamed);
        assert_eq!(streamed.code, Some(1), "{}", streamed.stdout);
        assert!(streamed.stderr.contains("--max-import-bytes 1000"), "{}", streamed.stderr);

        let long_line = cli.write("long.csv", &format!("iso,name,currency\nFR,{},EUR\n", "x".repeat(200)));
        let catalogue = cli.run(&[
            "inventory", "generate", "--catalogue", path_text(&long_line), "--max-line-bytes", "100",
        ]);
        assert_eq!(catalogue.code, Some(1), "{}", catalogue.stdout);
        assert!(catalogue.stderr.contains("line 2 is longer than --max-line-bytes 100"), "{}", catalogue.stderr);

        let accepted = cli.run(&["inventory", "import", path_text(&csv)]);
        accepted.assert_success("the same file within the default limits");
        assert_eq!(cli.run(&["inventory", "count"]).stdout.trim(), "50");
    }

    async fn an_unbalanced_quote_rejects_only_its_own_line() {
        let cli = Cli::new().await;
        let csv = cli.write(
            "quote.csv",
            "number,country,type,setup_fee,monthly_cost,region\n\
             +33123456789,FR,landline,1.00,2.50,Paris\n\
             +33123456791,FR,landline,1.00,2.50,\"Saint-\"\"Denis\"\"\"\n\
             +33123456790,FR,landline,1.00,2.50,\"Lyon\n\
             +33123456792,FR,landline,1.00,2.50,\n\
             +33123456793,FR,landline,1.00,2.50,Lille\n",
        );
        let file = path_text(&csv);

        let run = cli.run(&["inventory", "import", file]);

        assert_eq!(run.code, Some(2), "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(&format!("{file}:4: unbalanced quote")), "{}", run.stderr);
        assert!(run.stdout.contains("inserted 4,"), "{}", run.stdout);
        assert!(run.stdout.contains("rejected 1"), "{}", run.stdout);
        assert_eq!(cli.run(&["inventory", "count"]).stdout.trim(), "4");

        let lenient = Cli::new().await;
        let swallowed = lenient.run(&["inventory", "import", file, "--lenient-csv"]);
        assert!(swallowed.stdout.contains("inserted 2,"), "{}", swallowed.stdout);
    }

    async fn operator_arguments_with_control_characters_are_refused() {
        let cli = Cli::new().await;
        cli.create_alice().assert_success("create");

        for args in [
            &["account", "credit", "ali\u{1}ce", "1.00"][..],
            &["account", "credit", "alice", "1.00", "--description", "x\u{7f}"],
            &["account", "set-pbx", "alice", "pbx.example.com\u{85}"],
        ] {
            let run = cli.run(args);
            assert_eq!(run.code, Some(2), "{args:?}: {}", run.stdout);
            assert!(run.stderr.contains("control character"), "{args:?}: {}", run.stderr);
        }
        let tab_in_password = cli.run_with_stdin(
            &["account", "set-password", "alice", "--password-stdin"],
            "new\tpassword long enough\n",
        );
        assert_ne!(tab_in_password.code, Some(0), "{}", tab_in_password.stdout);
        assert!(tab_in_password.stderr.contains("control character"), "{}", tab_in_password.stderr);
        let list = cli.run(&["account", "list"]);
        assert!(list_line(&list.stdout, "alice").contains("25.00"), "{}", list.stdout);
    }

    async fn serve_refuses_a_deny_list_it_cannot_read() {
        let cli = Cli::new().await;
        let garbage = cli.write("deny.txt", "# premium\n+1900\ntel:+979\n");

        for file in [path_text(&garbage), "/nonexistent/deny.txt"] {
            let run = cli.run(&[
                "serve", "--listen", "127.0.0.1:0", "--sip-listen", "off", "--deny-destinations", file,
            ]);
            assert_ne!(run.code, Some(0), "{file} accepted\n{}", run.stdout);
            assert!(run.stderr.contains("deny.txt"), "{file}: {}", run.stderr);
        }
    }
}

// ---- backup and restore (SQLite; PostgreSQL has pg_dump) ----

/// A `didhub serve` process on the test's database, killed (SIGKILL) when dropped.
struct Server {
    child: std::process::Child,
    api: Api,
}

/// The HTTP API of a running server.
#[derive(Clone)]
struct Api {
    base: String,
}

impl Server {
    fn start(cli: &Cli) -> Server {
        let address_file = cli.dir.path().join("server.address");
        let _ = std::fs::remove_file(&address_file);
        let log = std::fs::File::create(cli.dir.path().join("server.log")).expect("log file");
        let child = cli
            .command(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--sip-listen",
                "off",
                "--maintenance-interval-secs",
                "0",
                "--address-file",
                path_text(&address_file),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("didhub serve starts");
        let mut server = Server {
            child,
            api: Api {
                base: String::new(),
            },
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(address) = std::fs::read_to_string(&address_file)
                && !address.is_empty()
            {
                server.api.base = format!("http://{address}/api");
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log =
                    std::fs::read_to_string(cli.dir.path().join("server.log")).unwrap_or_default();
                panic!("didhub serve exited early ({status}):\n{log}");
            }
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill(); // SIGKILL: the lock must go with the process
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::ops::Deref for Server {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> serde_json::Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn login(&self, username: &str) -> String {
        let body = self
            .post("/login", &[("username", username), ("password", PASSWORD)])
            .await;
        body["account_token"].as_str().expect("token").to_owned()
    }

    /// Buys the first available French number; its E.164 form.
    async fn buy_one(&self, token: &str) -> String {
        let available = self
            .post(
                "/did/available",
                &[("token", token), ("country", "FR"), ("limit", "1")],
            )
            .await;
        let id = available["dids"][0]["did_id"]
            .as_i64()
            .expect("a French number on sale")
            .to_string();
        let bought = self
            .post("/did/assign", &[("token", token), ("did_id", &id)])
            .await;
        bought["did_number"].as_str().expect("number").to_owned()
    }
}

/// Everything a restore must bring back: balances, ledgers and who owns what.
#[derive(Debug, PartialEq, Eq)]
struct Books {
    balances: Vec<(String, i64)>,
    ledger_entries: i64,
    owned: Vec<(String, String)>,
}

async fn books(database: &Path) -> Books {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", path_text(database));
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .expect("database opens");
    let balances = sqlx::query("SELECT username, balance_minor FROM accounts ORDER BY username")
        .fetch_all(&mut conn)
        .await
        .expect("accounts")
        .iter()
        .map(|r| (r.get("username"), r.get("balance_minor")))
        .collect();
    let ledger_entries = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM ledger_entries")
        .fetch_one(&mut conn)
        .await
        .expect("ledger")
        .get(0);
    let owned = sqlx::query(
        "SELECT d.number AS number, a.username AS username FROM dids d \
         JOIN accounts a ON a.id = d.account_id ORDER BY d.number",
    )
    .fetch_all(&mut conn)
    .await
    .expect("dids")
    .iter()
    .map(|r| (r.get("number"), r.get("username")))
    .collect();
    conn.close().await.ok();
    Books {
        balances,
        ledger_entries,
        owned,
    }
}

/// A SQLite database with alice and bob (25.00 each) and twenty French numbers.
async fn shop() -> Cli {
    let cli = Cli::new().await;
    assert_eq!(cli.database.backend, Backend::Sqlite);
    cli.create_alice().assert_success("create alice");
    cli.run_with_stdin(
        &[
            "account",
            "create",
            "bob",
            "--password-stdin",
            "--balance",
            "25.00",
        ],
        &format!("{PASSWORD}\n"),
    )
    .assert_success("create bob");
    let rows: String = (0..20)
        .map(|i| format!("+3312345{:04},FR,landline,0.10,0.20\n", 7000 + i))
        .collect();
    let csv = cli.write(
        "numbers.csv",
        &format!("number,country,type,setup_fee,monthly_cost\n{rows}"),
    );
    cli.run(&["inventory", "import", path_text(&csv)])
        .assert_success("import");
    cli
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_exactly_that_state_once_the_server_stops() {
    let cli = shop().await;
    let database = PathBuf::from(&cli.database.url);
    let backup = cli.dir.path().join("backup.db");
    let backup_arg = path_text(&backup).to_owned();
    let mut server = Server::start(&cli);
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    for _ in 0..3 {
        server.buy_one(&alice).await;
    }

    // Bob keeps buying while the backup is taken.
    let buyer = {
        let api = server.api.clone();
        tokio::spawn(async move {
            for _ in 0..8 {
                api.buy_one(&bob).await;
            }
        })
    };
    let backed_up = tokio::task::spawn_blocking({
        let command = cli.command(&["backup", &backup_arg]);
        move || {
            let mut command = command;
            Run::from(command.stdin(Stdio::null()).output().expect("backup runs"))
        }
    })
    .await
    .expect("backup finishes");
    backed_up.assert_success("backup while serving");
    buyer.await.expect("bob's purchases");

    let saved = books(&backup).await;
    assert!(
        saved.owned.len() >= 3 && saved.owned.len() <= 11,
        "{saved:?}"
    );
    let audit = Run::from(
        Command::new(env!("CARGO_BIN_EXE_didhub"))
            .args(["--database", &backup_arg, "account", "audit"])
            .env("DIDHUB_LOG", "warn")
            .output()
            .expect("audit runs"),
    );
    audit.assert_success("audit of the backup");

    // After the backup: alice buys two more, so the live books move on.
    server.buy_one(&alice).await;
    server.buy_one(&alice).await;
    let live = books(&database).await;
    assert_ne!(live, saved);

    let refused = cli.run(&["restore", &backup_arg]);
    assert_ne!(
        refused.code,
        Some(0),
        "restore while serving: {}",
        refused.stdout
    );
    assert!(refused.stderr.contains("stop"), "{}", refused.stderr);
    assert_eq!(
        books(&database).await,
        live,
        "a refused restore changed the database"
    );

    server.stop();
    let restored = cli.run(&["restore", &backup_arg]);
    restored.assert_success("restore after stop");
    assert_eq!(books(&database).await, saved);
    let kept = restored
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("the replaced database is kept as "))
        .expect("where the replaced database went");
    assert_eq!(books(Path::new(kept.trim())).await, live);
    cli.run(&["account", "audit"])
        .assert_success("audit after restore");

    // The restored database serves: alice owns what she owned at the backup.
    let server = Server::start(&cli);
    let alice = server.login("alice").await;
    let listed = server.post("/did/list", &[("token", &alice)]).await;
    let owned_by_alice = saved.owned.iter().filter(|o| o.1 == "alice").count();
    assert_eq!(
        listed["dids"].as_array().map(Vec::len),
        Some(owned_by_alice),
        "{listed}"
    );
    let balance = server.post("/balance", &[("token", &alice)]).await;
    let saved_alice = saved
        .balances
        .iter()
        .find(|b| b.0 == "alice")
        .expect("alice")
        .1;
    assert_eq!(
        balance["balance"].as_str(),
        Some(format!("{}.{:02}", saved_alice / 100, saved_alice % 100).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_refuses_files_that_are_not_a_didhub_database_and_changes_nothing() {
    let cli = shop().await;
    let database = PathBuf::from(&cli.database.url);
    let backup = cli.dir.path().join("good.db");
    cli.run(&["backup", path_text(&backup)])
        .assert_success("backup");
    let before = books(&database).await;

    let garbage = cli.write("garbage.db", "this is not a database\n");
    let truncated = cli.dir.path().join("truncated.db");
    let bytes = std::fs::read(&backup).expect("backup readable");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("truncated written");
    let foreign = cli.dir.path().join("foreign.db");
    let newer = cli.dir.path().join("newer.db");
    std::fs::copy(&backup, &newer).expect("copy");
    {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let mut conn =
            sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=rwc", path_text(&foreign)))
                .await
                .expect("foreign database");
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
            .await
            .expect("table");
        conn.close().await.ok();
        let mut conn =
            sqlx::AnyConnection::connect(&format!("sqlite://{}?mode=rw", path_text(&newer)))
                .await
                .expect("newer database");
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (999, 'from the future', 1, x'00', 0)",
        )
        .await
        .expect("future migration");
        conn.close().await.ok();
    }

    for (file, why) in [
        (garbage, "not a readable SQLite database"),
        (truncated, "not a didhub database"),
        (foreign, "tables missing"),
        (newer, "migration 999"),
        (cli.dir.path().join("absent.db"), "absent.db"),
    ] {
        let run = cli.run(&["restore", path_text(&file)]);
        assert_ne!(
            run.code,
            Some(0),
            "{} accepted: {}",
            file.display(),
            run.stdout
        );
        assert!(
            run.stderr.contains(why),
            "{}: {}",
            file.display(),
            run.stderr
        );
        assert_eq!(
            books(&database).await,
            before,
            "{} changed the database",
            file.display()
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(cli.dir.path())
        .expect("dir")
        .chain(std::fs::read_dir(database.parent().expect("dir")).expect("dir"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.contains("before-restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_never_overwrites_without_force_nor_the_database_itself() {
    let cli = shop().await;
    let existing = cli.write("existing.db", "keep me");

    let refused = cli.run(&["backup", path_text(&existing)]);
    assert_ne!(refused.code, Some(0), "{}", refused.stdout);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&existing).expect("kept"), "keep me");

    let itself = cli.run(&["backup", &cli.database.url, "--force"]);
    assert_ne!(itself.code, Some(0), "{}", itself.stdout);

    cli.run(&["backup", path_text(&existing), "--force"])
        .assert_success("backup --force");
    assert_eq!(
        books(&existing).await,
        books(Path::new(&cli.database.url)).await
    );
}

#[test]
fn backup_and_restore_on_postgresql_point_to_pg_dump_and_pg_restore() {
    for command in ["backup", "restore"] {
        let run = Run::from(
            Command::new(env!("CARGO_BIN_EXE_didhub"))
                .args([
                    "--database",
                    "postgres://nobody@127.0.0.1:1/didhub",
                    command,
                    "x.dump",
                ])
                .env("DIDHUB_LOG", "warn")
                .output()
                .expect("didhub runs"),
        );
        assert_ne!(run.code, Some(0), "{}", run.stdout);
        assert!(
            run.stderr.contains("pg_dump -Fc") && run.stderr.contains("pg_restore --clean"),
            "{}",
            run.stderr
        );
    }
}

mod operator_keys {
    use super::*;

    #[test]
    fn completions_cover_the_operator_commands_and_bash_reads_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        for shell in ["bash", "zsh", "fish"] {
            let output = Command::new(env!("CARGO_BIN_EXE_didhub"))
                .args(["completions", shell])
                .current_dir(dir.path())
                .output()
                .expect("didhub runs");
            let script = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(output.status.success(), "{shell}");
            assert!(
                script.contains("operator") && script.contains("revoke"),
                "{shell}"
            );
            if shell == "bash" {
                let path = dir.path().join("didhub.bash");
                std::fs::write(&path, &script).expect("script written");
                let syntax = Command::new("bash")
                    .arg("-n")
                    .arg(&path)
                    .status()
                    .expect("bash runs");
                assert!(syntax.success(), "bash rejects the completion script");
            }
        }
        let unknown = Command::new(env!("CARGO_BIN_EXE_didhub"))
            .args(["completions", "tcsh"])
            .output()
            .expect("didhub runs");
        assert_eq!(unknown.status.code(), Some(2));
    }

    on_both_backends! {
        async fn operator_keys_are_printed_once_listed_without_secrets_and_revoked() {
            let cli = Cli::new().await;
            let created = cli.run(&["operator", "key", "create", "payments", "--role", "billing"]);
            created.assert_success("key create");
            let key = created.stdout.trim().to_owned();
            assert!(key.starts_with("dhop_") && key.len() == 69, "{key}");
            assert!(created.stderr.contains("shown only now"), "{}", created.stderr);
            cli.run(&["operator", "key", "create", "ops", "--role", "readonly", "--expires-in", "30d"])
                .assert_success("key with expiry");

            let again = cli.run(&["operator", "key", "create", "payments", "--role", "admin"]);
            assert_eq!(again.code, Some(1), "a second key with the same name");
            let bad_role = cli.run(&["operator", "key", "create", "x", "--role", "root"]);
            assert_eq!(bad_role.code, Some(1));
            assert!(bad_role.stderr.contains("unknown role"), "{}", bad_role.stderr);
            let bad_expiry = cli.run(&["operator", "key", "create", "y", "--role", "admin", "--expires-in", "1w"]);
            assert_eq!(bad_expiry.code, Some(1));

            let list = cli.run(&["operator", "key", "list"]);
            list.assert_success("key list");
            assert!(!list.stdout.contains(&key[5..]), "the key is never listed");
            assert!(list_line(&list.stdout, "payments").ends_with("live"), "{}", list.stdout);
            assert!(list_line(&list.stdout, "payments").contains("never"));
            assert!(!list_line(&list.stdout, "ops").contains("never"), "{}", list.stdout);
            assert!(!list.stdout.contains(" x "), "nothing made by refused commands");

            cli.run(&["operator", "key", "revoke", "payments"]).assert_success("revoke");
            let list = cli.run(&["operator", "key", "list"]);
            assert!(list_line(&list.stdout, "payments").contains("revoked"), "{}", list.stdout);
            assert_eq!(cli.run(&["operator", "key", "revoke", "payments"]).code, Some(1));

            let audit = cli.run(&["audit", "log"]);
            audit.assert_success("audit log");
            assert_eq!(audit.stdout, "", "no admin writes yet");
            let json = cli.run(&["audit", "log", "--output", "json"]);
            assert_eq!(json.stdout.trim(), "[]");

            let keys = cli.run(&["operator", "key", "list", "--output", "json"]);
            keys.assert_success("key list json");
            let keys: serde_json::Value = serde_json::from_str(&keys.stdout).expect("JSON");
            assert_eq!(keys[1]["name"], "payments");
            assert_eq!(keys[1]["role"], "billing");
            assert!(keys[1]["revoked_at"].is_string());
            assert!(keys[0]["expires_at"].is_string() && keys[0]["revoked_at"].is_null());
        }
    }
}

mod remote {
    use super::*;

    /// `didhub serve` on the test's database, stopped on drop.
    struct Server {
        child: std::process::Child,
        addr: String,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn serve(cli: &Cli) -> Server {
        let address_file = cli.dir.path().join("address");
        let mut child = cli
            .command(&[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--sip-listen",
                "off",
                "--maintenance-interval-secs",
                "0",
                "--address-file",
                path_text(&address_file),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        for _ in 0..300 {
            if let Ok(address) = std::fs::read_to_string(&address_file)
                && !address.is_empty()
            {
                return Server {
                    child,
                    addr: format!("http://{address}"),
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not start");
    }

    on_both_backends! {
        async fn the_cli_prints_the_same_through_a_server_as_on_the_database() {
            let cli = Cli::new().await;
            cli.create_alice().assert_success("alice");
            let key = cli.run(&["operator", "key", "create", "ops", "--role", "admin"]);
            key.assert_success("key");
            let key = key.stdout.trim().to_owned();
            let server = serve(&cli);
            let key_file = cli.dir.path().join("operator-key");
            let remote = |args: &[&str]| {
                let output = cli
                    .command(&[&["--addr", &server.addr], args].concat())
                    .env("DIDHUB_OPERATOR_KEY_FILE", &key_file)
                    .env_remove("DIDHUB_OPERATOR_KEY")
                    .stdin(Stdio::null())
                    .output()
                    .expect("didhub runs");
                Run::from(output)
            };

            let no_key = remote(&["account", "list"]);
            assert_eq!(no_key.code, Some(1));
            assert!(no_key.stderr.contains("didhub login"), "{}", no_key.stderr);
            let bad = cli.command(&["--addr", &server.addr, "login"])
                .env("DIDHUB_OPERATOR_KEY_FILE", &key_file)
                .stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped())
                .spawn().expect("login");
            let mut bad = bad;
            bad.stdin.take().expect("stdin").write_all(b"dhop_wrong\n").expect("written");
            assert_eq!(bad.wait().expect("login ends").code(), Some(1), "a refused key is not saved");
            assert!(!key_file.exists());
            let mut login = cli.command(&["--addr", &server.addr, "login"])
                .env("DIDHUB_OPERATOR_KEY_FILE", &key_file)
                .stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped())
                .spawn().expect("login");
            login.stdin.take().expect("stdin").write_all(format!("{key}\n").as_bytes()).expect("written");
            assert!(login.wait().expect("login ends").success());
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&key_file).expect("key file").permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
            }

            let over_http = remote(&["account", "credit", "alice", "10.50"]);
            over_http.assert_success("remote credit");
            let direct = cli.run(&["account", "credit", "alice", "1.00"]);
            assert_eq!(over_http.stdout, "alice: balance 35.50 USD\n");
            assert_eq!(direct.stdout, "alice: balance 36.50 USD\n");
            let adjusted = remote(&["account", "adjust", "alice", "-0.50", "--description", "fix"]);
            assert_eq!(adjusted.stdout, "alice: balance 36.00 USD\n", "{}", adjusted.stderr);
            let refused = remote(&["account", "adjust", "alice", "-100.00", "--description", "no"]);
            assert_eq!(refused.code, Some(1));
            assert!(refused.stderr.contains("below zero"), "{}", refused.stderr);

            let list = remote(&["account", "list"]);
            list.assert_success("remote list");
            assert_eq!(list.stdout, cli.run(&["account", "list"]).stdout);
            let audit = remote(&["audit", "log"]);
            audit.assert_success("remote audit log");
            // Direct writes are in the log too, named after the CLI's user.
            let actors: Vec<&str> = audit.stdout.lines()
                .filter_map(|l| l.split_whitespace().nth(2)).collect();
            assert_eq!(actors.len(), 4, "{}", audit.stdout);
            assert!(actors[1].starts_with("cli") && actors[3].starts_with("cli"), "{}", audit.stdout);
            assert_eq!((actors[0], actors[2]), ("ops", "ops"), "{}", audit.stdout);
            assert_eq!(audit.stdout, cli.run(&["audit", "log"]).stdout);
            let db_only = remote(&["inventory", "count"]);
            assert_eq!(db_only.code, Some(1));
            assert!(db_only.stderr.contains("database only"), "{}", db_only.stderr);
            cli.run(&["account", "audit"]).assert_success("ledger invariant");
        }

        async fn every_client_command_prints_the_same_through_a_server_as_on_the_database() {
            // Two databases set up alike: one driven directly, one through a server.
            let direct = Cli::new().await;
            let served = Cli::new().await;
            let key = served.run(&["operator", "key", "create", "ops", "--role", "admin"]);
            key.assert_success("key");
            let server = serve(&served);
            let key = key.stdout.trim().to_owned();
            let csv = direct.write("inventory.csv", "number,country,type,setup_fee,monthly_cost\n\
                +33123456789,FR,landline,1.00,2.50\n+33123456790,FR,landline,1.00,2.50\n\
                +33612345670,FR,mobile_voice,3.00,5.00\n+33612345671,FR,fax,3.00,5.00\n\
                +12015550123,US,landline,0.50,1.00\n");
            let both_with_stdin = |args: &[&str], stdin: &str| {
                let here = direct.run_with_stdin(args, stdin);
                let mut child = served
                    .command(&[&["--addr", &server.addr], args].concat())
                    .env("DIDHUB_OPERATOR_KEY", &key)
                    .stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped())
                    .spawn().expect("didhub starts");
                child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("written");
                let there = Run::from(child.wait_with_output().expect("didhub ends"));
                // Two databases written a moment apart: times may differ by a second.
                let seen = |run: &Run| (without_times(&run.stdout), without_times(&run.stderr), run.code);
                assert_eq!(seen(&here), seen(&there), "didhub {args:?}: database vs server");
                here
            };
            let both = |args: &[&str]| both_with_stdin(args, "");
            let password = format!("{PASSWORD}\n");
            let created = both_with_stdin(&["account", "create", "alice", "--password-stdin", "--balance", "25.00"], &password);
            created.assert_success("create");
            assert!(created.stdout.starts_with("created account alice (id 1) with balance 25.00 USD"), "{}", created.stdout);
            both_with_stdin(&["account", "create", "bob", "--password-stdin", "--currency", "EUR"], &password)
                .assert_success("create bob");
            both(&["account", "credit", "alice", "4.50", "--description", "gift"]).assert_success("credit");
            both(&["account", "adjust", "alice", "-0.50", "--description", "fix"]).assert_success("adjust");
            let pbx = both(&["account", "set-pbx", "alice", "pbx.alice.test"]);
            assert_eq!(pbx.stdout, "alice: PBX host pbx.alice.test\n");
            assert_eq!(both(&["account", "set-pbx", "bob", "bad host;x"]).code, Some(1));
            assert_eq!(both(&["account", "set-pbx", "alice", "--clear"]).stdout, "alice: PBX host (none)\n");
            both_with_stdin(&["account", "set-password", "bob", "--password-stdin"], "another long password\n")
                .assert_success("set-password");
            let list = both(&["account", "list"]);
            assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);
            let listed = both(&["account", "list", "--output", "json"]);
            let listed: serde_json::Value = serde_json::from_str(&listed.stdout).expect("json");
            assert_eq!((listed[0]["username"].as_str(), listed[0]["balance"].as_str()), (Some("alice"), Some("29.00")));
            let ledger = both(&["account", "ledger", "alice", "--limit", "2"]);
            assert_eq!(ledger.stdout.lines().count(), 2, "{}", ledger.stdout);
            assert!(ledger.stdout.lines().next().is_some_and(|l| l.contains("adjustment") && l.ends_with("fix")), "{}", ledger.stdout);
            assert_eq!(both(&["account", "ledger", "nobody"]).code, Some(1));
            both(&["account", "audit"]).assert_success("balances audit");
            // Every write left one audit row on both paths, the same but for who.
            let log = ["audit", "log", "--output", "json"];
            let here = direct.run(&log);
            let there = Run::from(served.command(&[&["--addr", &server.addr], &log[..]].concat())
                .env("DIDHUB_OPERATOR_KEY", &key).stdin(Stdio::null()).output().expect("didhub runs"));
            let writes: serde_json::Value = serde_json::from_str(&here.stdout).expect("json");
            let writes = writes.as_array().expect("entries");
            assert_eq!(writes.len(), 7, "two creates, credit, adjust, two set-pbx, password: {}", here.stdout);
            assert!(writes.iter().all(|w| w["actor"] == "cli" || w["actor"].as_str().is_some_and(|a| a.starts_with("cli:"))));
            let actor = writes[0]["actor"].as_str().expect("actor");
            assert_eq!(without_times(&here.stdout).replace(&format!("\"actor\":\"{actor}\""), "\"actor\":\"ops\""),
                without_times(&there.stdout));
            // With --output json every account command prints the admin API's answer, the same both ways.
            let json = |args: &[&str], stdin: &str| -> serde_json::Value {
                let run = both_with_stdin(&[args, &["--output", "json"][..]].concat(), stdin);
                assert_eq!(run.code, Some(0), "didhub {args:?}: {}", run.stderr);
                serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("didhub {args:?}: {e}: {}", run.stdout))
            };
            let carol = json(&["account", "create", "carol", "--password-stdin", "--balance", "1.00"], &password);
            assert_eq!((carol["account"]["username"].as_str(), carol["account"]["balance"].as_str()), (Some("carol"), Some("1.00")));
            let credited = json(&["account", "credit", "carol", "2.00"], "");
            assert_eq!((credited["balance"].as_str(), credited["entry"]["type"].as_str()), (Some("3.00"), Some("credit")));
            assert_eq!(json(&["account", "adjust", "carol", "-0.25", "--description", "fee"], "")["balance"].as_str(), Some("2.75"));
            let pbx = json(&["account", "set-pbx", "carol", "pbx.carol.test"], "");
            assert_eq!((pbx["username"].as_str(), pbx["pbx_host"].as_str()), (Some("carol"), Some("pbx.carol.test")));
            let reset = json(&["account", "set-password", "carol", "--password-stdin"], "yet another long password\n");
            assert_eq!(reset, serde_json::json!({"status": "ok"}));
            assert_eq!(json(&["account", "limit", "carol", "--max-calls", "3"], ""), serde_json::json!({"max_calls": 3}));
            assert_eq!(json(&["account", "limit", "carol", "--max-calls", "none"], ""), serde_json::json!({"max_calls": null}));
            assert_eq!(both(&["account", "limit", "carol", "--max-calls", "4"]).stdout, "carol: at most 4 concurrent calls\n");
            let ledger = json(&["account", "ledger", "carol", "--limit", "2"], "");
            assert_eq!(ledger["entries"].as_array().map(Vec::len), Some(2), "{ledger}");
            assert_eq!((ledger["entries"][0]["type"].as_str(), ledger["balance"].as_str()), (Some("adjustment"), Some("2.75")));
            let audit = json(&["account", "audit"], "");
            assert_eq!((audit["accounts"].as_array().map(Vec::len), audit["mismatches"].as_u64()), (Some(3), Some(0)), "{audit}");
            let month = chrono::Utc::now().format("%Y-%m").to_string();
            let statement = json(&["account", "statement", "carol", "--month", &month], "");
            assert_eq!((statement["month"].as_str(), statement["closing_balance"].as_str()), (Some(month.as_str()), Some("2.75")));
            let text = both(&["account", "statement", "carol", "--month", &month]);
            assert!(text.stdout.starts_with(&format!("statement of carol for {month} (USD)\n")), "{}", text.stdout);
            assert!(text.stdout.ends_with("closing balance           2.75\n"), "{}", text.stdout);
            let csv_statement = both(&["account", "statement", "carol", "--month", &month, "--csv"]);
            assert!(csv_statement.stdout.starts_with("date,entry_id,type,"), "{}", csv_statement.stdout);
            assert_eq!(both(&["account", "statement", "carol", "--month", "2026-13"]).code, Some(1));
            let imported = both(&["inventory", "import", path_text(&csv)]);
            assert_eq!(imported.code, Some(2), "a rejected line: {}", imported.stderr);
            assert!(imported.stdout.contains("inserted 4,"), "{}", imported.stdout);
            assert!(imported.stderr.contains("inventory.csv:5: unknown type"), "{}", imported.stderr);
            let again = both(&["inventory", "import", path_text(&csv), "--output", "json"]);
            let report: serde_json::Value = serde_json::from_str(&again.stdout).expect("json");
            assert_eq!((report["unchanged"].as_u64(), report["rejected_count"].as_u64()), (Some(4), Some(1)));
            // --lenient-csv is for the database only; its report is the upload's JSON too.
            let lenient = direct.run(&["inventory", "import", path_text(&csv), "--lenient-csv", "--output", "json"]);
            assert_eq!((lenient.code, lenient.stdout), (Some(2), again.stdout.clone()));

            let withdrawn = both(&["inventory", "withdraw", "+33123456789", "--id", "99"]);
            assert_eq!(withdrawn.code, Some(2), "one skipped");
            assert!(withdrawn.stdout.contains("+33123456789         withdrawn"), "{}", withdrawn.stdout);
            assert!(withdrawn.stdout.contains("id 99                skipped (not_found)"), "{}", withdrawn.stdout);
            let by_type = both(&["inventory", "withdraw", "--country", "FR", "--type", "landline", "--output", "json"]);
            by_type.assert_success("withdraw by type");
            assert_eq!(by_type.stdout.trim(), r#"{"numbers":["+33123456790"],"skipped":[],"withdrawn":1}"#);

            let listed = both(&["inventory", "list", "--country", "fr", "--limit", "2"]);
            assert_eq!(listed.stdout.lines().count(), 4, "header, 2 numbers, cursor: {}", listed.stdout);
            assert!(listed.stdout.ends_with("next page: --cursor +33123456790\n"), "{}", listed.stdout);
            let withdrawn = both(&["inventory", "list", "--status", "withdrawn", "--output", "json"]);
            assert!(withdrawn.stdout.contains("+33123456789") && withdrawn.stdout.contains("+33123456790"));
            assert_eq!(both(&["inventory", "list", "--status", "sold"]).code, Some(1));
            both(&["inventory", "list", "--cursor", "+33123456790", "--type", "mobile_voice"]).assert_success("page 2");
            let now = chrono::Utc::now();
            let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d").to_string();
            let (month_ago, today) = (day(now - chrono::Duration::days(30)), day(now));
            let stats = both(&["stats", "--from", &month_ago, "--to", &today]);
            assert!(stats.stdout.contains("FR              1        0        0"), "{}", stats.stdout);
            both(&["stats", "--from", "2026-01-01", "--to", "2026-01-02", "--output", "json"]).assert_success("stats json");
            assert_eq!(both(&["stats", "--from", "2026-02-01", "--to", "2026-01-01"]).code, Some(1));
            let repriced = both(&["inventory", "reprice", "--country", "FR", "--currency", "USD",
                "--setup-fee", "0.00", "--monthly-cost", "9.99"]);
            assert_eq!(repriced.stdout, "repriced 1 available numbers\n", "{}", repriced.stderr);
            both(&["inventory", "reprice", "+12015550123", "--currency", "USD", "--setup-fee", "1",
                "--monthly-cost", "2", "--output", "json"]).assert_success("reprice json");
            assert_eq!(both(&["inventory", "reprice", "--currency", "USD", "--setup-fee", "1",
                "--monthly-cost", "2"]).code, Some(1), "nothing named");
            let counts = both(&["inventory", "counts"]);
            assert!(counts.stdout.contains("FR       landline      withdrawn         2"), "{}", counts.stdout);
            both(&["inventory", "counts", "--output", "json"]).assert_success("counts json");
            let shown = both(&["number", "show", "+33612345670"]);
            assert!(shown.stdout.contains("status        available"), "{}", shown.stdout);
            both(&["number", "show", "+33612345670", "--output", "json"]).assert_success("show json");
            assert_eq!(json(&["number", "limit", "+33612345670", "--max-calls", "2"], ""), serde_json::json!({"max_calls": 2}));
            assert_eq!(both(&["number", "limit", "+33612345670", "--max-calls", "none"]).stdout,
                "+33612345670: at most unlimited concurrent calls\n");
            assert_eq!(both(&["number", "show", "+33999999999"]).code, Some(1));
            let release = both(&["number", "release", "+33612345670", "--reason", "test"]);
            assert_eq!(release.code, Some(1), "nobody owns it: {}", release.stderr);
            let alice = both(&["account", "show", "alice"]);
            assert!(alice.stdout.starts_with("alice (id 1): active, balance 29.00 USD, 0 numbers"), "{}", alice.stdout);
            both(&["account", "show", "alice", "--output", "json"]).assert_success("show json");
            assert_eq!(both(&["account", "suspend", "alice"]).stdout, "alice: suspended\n");
            assert_eq!(both(&["account", "unsuspend", "alice", "--output", "json"]).code, Some(0));
            assert_eq!(both(&["account", "delete", "alice"]).code, Some(1), "alice holds money");
            assert_eq!(both(&["account", "delete", "bob"]).stdout, "bob: deleted (closed; its ledger is kept)\n");
            direct.run(&["account", "audit"]).assert_success("ledger invariant");
        }
    }
}

//! The operator's command line, driven as a real process against a fresh database.

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

/// The line of `account list` for `username`.
fn list_line(list: &str, username: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(username))
        .unwrap_or_else(|| panic!("{username} not listed:\n{list}"))
        .to_owned()
}

on_both_backends! {
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

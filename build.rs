//! Marks the build when a PostgreSQL server is named for the tests, so that the
//! PostgreSQL half of the suite runs instead of being reported as ignored.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(didhub_postgres_tests)");
    println!("cargo::rerun-if-env-changed=DIDHUB_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("DIDHUB_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=didhub_postgres_tests");
    }
}

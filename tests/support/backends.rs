//! Runs each test on both backends: `mod sqlite` always, `mod postgres` when
//! `DIDHUB_TEST_POSTGRES_URL` names a server (otherwise those tests are listed
//! as ignored, with the variable to set).

pub use super::database::Backend;

tokio::task_local! {
    /// The backend of the test running on this task.
    pub static BACKEND: Backend;
}

pub fn current_backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// Wraps `async fn name() { … }` items into one test per backend.
macro_rules! on_both_backends {
    ($($(#[$meta:meta])* async fn $name:ident() $body:block)*) => {
        $( $(#[$meta])* async fn $name() $body )*

        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::support::backends::BACKEND
                        .scope($crate::support::backends::Backend::Sqlite, super::$name())
                        .await
                }
            )*
        }

        mod postgres {
            $(
                #[cfg_attr(
                    not(didhub_postgres_tests),
                    ignore = "PostgreSQL half: set DIDHUB_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
                )]
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::support::backends::BACKEND
                        .scope($crate::support::backends::Backend::Postgres, super::$name())
                        .await
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

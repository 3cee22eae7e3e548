#![doc = include_str!("../README.md")]

pub mod app;
pub mod client;
pub mod fake;
pub mod logs;
pub mod sim;
pub mod wait;

pub use app::{Backend, TestApp};
pub use client::{Client, Resp};
pub use wait::eventually;

/// Runs each named `async fn(TestApp)` once per database backend: a `sqlite::<name>` test that
/// always runs, and a `postgres::<name>` test that runs when `HAZEL_TEST_POSTGRES_URL` is set
/// (and otherwise prints why it is skipped).
///
/// ```text
/// async fn creates_things(app: TestApp) { /* … */ }
/// hazel_testkit::on_every_backend!(creates_things);
/// ```
#[macro_export]
macro_rules! on_every_backend {
    // `spawn <TestApp constructor>: tests…` runs them on an app built another way (e.g.
    // `spawn_slack_simulated`); the constructor takes the backend and answers `Option<TestApp>`.
    (spawn $spawn:ident: $($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let app = $crate::TestApp::$spawn($crate::Backend::Sqlite)
                        .await
                        .expect("the SQLite backend is always available");
                    super::$test(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    if let Some(app) = $crate::TestApp::$spawn($crate::Backend::Postgres).await {
                        super::$test(app).await;
                    }
                }
            )*
        }
    };
    ($($test:ident),* $(,)?) => {
        $crate::on_every_backend!(spawn spawn_on: $($test),*);
    };
}

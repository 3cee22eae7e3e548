//! The `hazel-sync` binary, black-box: `migrate`, `bootstrap`, `openapi`, and `serve` with a
//! graceful stop on SIGTERM.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hazel-sync");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("HAZEL_DATABASE_URL")
        .env_remove("HAZEL_SECRET_KEY")
        .env_remove("HAZEL_LISTEN")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn migrate_creates_the_default_sqlite_database_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data/hazel.db").exists());
    // Running it again is a no-op.
    assert!(run(dir.path(), &["migrate"]).status.success());
}

#[test]
fn bootstrap_prints_only_a_token_and_is_idempotent_per_email() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(
        dir.path(),
        &["bootstrap", "--email", "ada@example.com", "--name", "Ada"],
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let token = stdout(&first);
    assert_eq!(
        token.lines().count(),
        1,
        "stdout holds the token alone: {token:?}"
    );
    assert!(token.starts_with("hzl_"));
    assert!(String::from_utf8_lossy(&first.stderr).contains("created user"));
    let second = run(
        dir.path(),
        &["bootstrap", "--email", "ADA@example.com", "--name", "Ada"],
    );
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("found user"),
        "the same email finds the same user"
    );
    assert_ne!(stdout(&second), token, "every run issues a new token");
    let bad = run(
        dir.path(),
        &["bootstrap", "--email", "not-an-email", "--name", "Ada"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--email"));
}

#[test]
fn openapi_prints_the_committed_document() {
    let out = run(Path::new(env!("CARGO_MANIFEST_DIR")), &["openapi"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/openapi.json"
    ))
    .unwrap();
    assert_eq!(
        stdout(&out).trim_end(),
        committed.trim_end(),
        "run `just openapi` and commit the result"
    );
}

#[test]
fn invalid_configuration_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["migrate"])
        .current_dir(dir.path())
        .env("HAZEL_LISTEN", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HAZEL_LISTEN"));
}

#[test]
fn serve_answers_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let token = stdout(&run(
        dir.path(),
        &["bootstrap", "--email", "ada@example.com", "--name", "Ada"],
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("HAZEL_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("HAZEL_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    hazel_app::install_crypto_provider();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = runtime.block_on(http.get(format!("{base}/readyz")).send());
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let orgs = runtime
        .block_on(
            http.get(format!("{base}/api/v1/organizations"))
                .bearer_auth(token.trim())
                .send(),
        )
        .unwrap();
    assert_eq!(
        orgs.status(),
        200,
        "the bootstrapped token works against the served API"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    assert!(
        status.success(),
        "clean exit after SIGTERM: {status:?}\n{logs}"
    );
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(!logs.contains(token.trim()), "the token is never logged");
}

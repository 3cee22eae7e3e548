//! `bench-store`: message creates through the real HTTP stack against the raw durable commit
//! rate of the same database. See the crate README.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use bytes::Bytes;
use hazel_app::config::Config;
use hazel_bench::load::{Cell, Connection, Samples, drive_with, ms};
use hazel_bench::raw::RawDatabase;
use http_body_util::Full;
use rand::RngCore as _;
use secrecy::SecretString;
use serde_json::{Value, json};

/// The body of every message the benchmark creates (no mentions: one insert).
const MESSAGE_BODY: &[u8] = br#"{"content":"a benchmark message"}"#;
/// Concurrent clients per cell.
const CLIENTS: [usize; 3] = [1, 4, 16];
/// Slices per cell: the service and the raw commits take turns, so that load from other
/// processes on the machine weighs on both alike.
const ROUNDS: u32 = 3;

/// One line of the report.
struct Row {
    backend: &'static str,
    clients: usize,
    service: Cell,
    raw: Cell,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    hazel_app::install_crypto_provider();
    let length = hazel_bench::load::cell_length(3)?;
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    eprintln!("SQLite: {sqlite_url}");
    run_backend("SQLite", &sqlite_url, length, &mut rows).await?;

    if let Some(admin_url) = hazel_persistence::testing::postgres_admin_url() {
        let url = hazel_persistence::testing::fresh_postgres_url(&admin_url).await?;
        eprintln!("PostgreSQL: a fresh database");
        run_backend("PostgreSQL", &url, length, &mut rows).await?;
        hazel_persistence::testing::drop_postgres_database(&admin_url, &url).await?;
    } else {
        eprintln!("PostgreSQL skipped: HAZEL_TEST_POSTGRES_URL is not set");
    }

    print_report(&rows);
    Ok(())
}

async fn run_backend(
    backend: &'static str,
    url: &str,
    length: Duration,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let max_connections = match std::env::var("HAZEL_DATABASE_MAX_CONNECTIONS") {
        Ok(raw) => Some(raw.parse().context("HAZEL_DATABASE_MAX_CONNECTIONS")?),
        Err(_) => None,
    };
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let config = Config {
        database_url: url.to_owned(),
        database_max_connections: max_connections,
        listen: "127.0.0.1:0".parse()?,
        secret_key: Some(SecretString::from(
            base64::engine::general_purpose::STANDARD.encode(key),
        )),
        ..Config::default()
    };
    let app = hazel_app::build(config).await?;
    let boot = hazel_app::bootstrap(app.services(), "bench@example.com", "Bench").await?;
    let token = boot.token.expose().to_owned();
    let address = app.local_addr();
    let base = format!("http://{address}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let auth = format!("Bearer {token}");
    let org = post(
        &client,
        &auth,
        &format!("{base}/api/v1/organizations"),
        json!({"name": "Bench"}),
    )
    .await?;
    let org_id = id_of(&org)?;
    let channel = post(
        &client,
        &auth,
        &format!("{base}/api/v1/organizations/{org_id}/channels"),
        json!({"name": "bench", "type": "public"}),
    )
    .await?;
    let messages_path = Arc::new(format!("/api/v1/channels/{}/messages", id_of(&channel)?));
    let auth = Arc::new(auth);

    let raw = RawDatabase::open(url).await?;
    let slice = length / ROUNDS;
    for clients in CLIENTS {
        eprintln!("{backend}, {clients} clients");
        let (mut service, mut raw_samples) = (Samples::default(), Samples::default());
        for _ in 0..ROUNDS {
            service.add(
                drive_with(clients, slice, || Connection::open(address), {
                    let path = Arc::clone(&messages_path);
                    let auth = Arc::clone(&auth);
                    move |mut connection: Connection| {
                        let request = hyper::Request::post(path.as_str())
                            .header("host", "bench")
                            .header("authorization", auth.as_str())
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(MESSAGE_BODY)));
                        async move {
                            connection.send(request?).await?;
                            Ok(connection)
                        }
                    }
                })
                .await?,
            );
            raw_samples.add(raw.measure(clients, slice).await?);
        }
        rows.push(Row {
            backend,
            clients,
            service: service.cell(),
            raw: raw_samples.cell(),
        });
    }
    // What the HTTP stack alone allows on this machine: an unauthenticated probe that touches
    // no database, from 16 clients.
    let health = drive_with(
        16,
        length,
        || Connection::open(address),
        |mut connection: Connection| async move {
            let request = hyper::Request::get("/healthz")
                .header("host", "bench")
                .body(Full::new(Bytes::new()))?;
            connection.send(request).await?;
            Ok(connection)
        },
    )
    .await?
    .cell();
    println!(
        "{backend}: GET /healthz (no database) from 16 clients: {:.0}/s, p50 {}",
        health.rate,
        ms(health.p50)
    );
    raw.close().await;
    let _ = stop.send(());
    server.await??;
    Ok(())
}

async fn post(
    client: &reqwest::Client,
    auth: &str,
    url: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(url)
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.context("reading the answer")?;
    if !status.is_success() {
        bail!("POST {url} answered {status}: {body}");
    }
    Ok(body)
}

fn id_of(answer: &Value) -> anyhow::Result<String> {
    answer["data"]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no data.id in {answer}"))
}

fn print_report(rows: &[Row]) {
    println!(
        "| database | clients | service creates/s | p50 | p99 | raw commits/s | raw p50 | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {:.0} | {} | {} | {:.0} | {} | {:.2}x |",
            row.backend,
            row.clients,
            row.service.rate,
            ms(row.service.p50),
            ms(row.service.p99),
            row.raw.rate,
            ms(row.raw.p50),
            row.service.rate / row.raw.rate.max(f64::MIN_POSITIVE),
        );
    }
    for backend in ["SQLite", "PostgreSQL"] {
        let of = |clients| {
            rows.iter()
                .find(|r| r.backend == backend && r.clients == clients)
        };
        if let (Some(one), Some(sixteen)) = (of(1), of(16)) {
            println!(
                "{backend} scaling 1 -> 16 clients: service {:.1}x, raw {:.1}x",
                sixteen.service.rate / one.service.rate.max(f64::MIN_POSITIVE),
                sixteen.raw.rate / one.raw.rate.max(f64::MIN_POSITIVE),
            );
        }
    }
}

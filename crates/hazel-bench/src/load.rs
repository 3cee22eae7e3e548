//! Closed-loop load: concurrent clients, each doing one operation after another, and what
//! their latencies add up to.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};

/// Time to warm up before a slice is measured.
pub const WARM_UP: Duration = Duration::from_millis(200);

/// What one cell measured.
pub struct Cell {
    /// Operations per second.
    pub rate: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th-percentile latency.
    pub p99: Duration,
}

/// Latencies of the operations of one or more slices, and the time they were measured over.
#[derive(Default)]
pub struct Samples {
    /// Every measured operation's latency.
    pub latencies: Vec<Duration>,
    /// How long they were measured over.
    pub measured: Duration,
}

impl Samples {
    /// Adds another slice's samples.
    pub fn add(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.measured += other.measured;
    }

    /// The rate and percentiles.
    #[must_use]
    pub fn cell(mut self) -> Cell {
        self.latencies.sort_unstable();
        let at = |q: f64| quantile(&self.latencies, q);
        Cell {
            rate: self.latencies.len() as f64 / self.measured.as_secs_f64().max(f64::MIN_POSITIVE),
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

/// Runs `op` from `clients` concurrent loops for `WARM_UP + length`; measures the last
/// `length`.
pub async fn drive<F, Fut>(clients: usize, length: Duration, op: F) -> anyhow::Result<Samples>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    drive_with(
        clients,
        length,
        || async { Ok(()) },
        move |()| {
            let op = op.clone();
            async move { op().await }
        },
    )
    .await
}

/// As [`drive`], with state of each client's own (its connection): `setup` makes it, and `op`
/// takes it and hands it back for the next operation.
pub async fn drive_with<S, Setup, SetupFut, F, Fut>(
    clients: usize,
    length: Duration,
    setup: Setup,
    op: F,
) -> anyhow::Result<Samples>
where
    S: Send + 'static,
    Setup: Fn() -> SetupFut,
    SetupFut: Future<Output = anyhow::Result<S>>,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<S>> + Send,
{
    let mut states = Vec::with_capacity(clients);
    for _ in 0..clients {
        states.push(setup().await?);
    }
    let begin = Instant::now();
    let measured_from = begin + WARM_UP;
    let end = measured_from + length;
    let mut tasks = tokio::task::JoinSet::new();
    for state in states {
        let op = op.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut state = state;
            loop {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                state = op(state).await?;
                let finished = Instant::now();
                if started >= measured_from && finished <= end {
                    latencies.push(finished - started);
                }
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined??);
    }
    Ok(Samples {
        latencies,
        measured: length,
    })
}

/// One client's HTTP/1.1 connection to the service, kept open (keep-alive) for all its
/// requests. The load generator runs on the same two cores as the service, so it is made as
/// light as it can be: a bare hyper connection with the request's parts built once, not a
/// general client that parses the URL and looks up its pool on every request.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to the service at `address`.
    ///
    /// # Errors
    /// When it cannot be reached.
    pub async fn open(address: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .context("connecting to the service")?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                eprintln!("a benchmark connection failed: {err}");
            }
        });
        Ok(Self { sender })
    }

    /// Sends `request` and reads the whole answer; fails unless it is a success.
    ///
    /// # Errors
    /// When the connection fails or the answer is not a success.
    pub async fn send(&mut self, request: hyper::Request<Full<Bytes>>) -> anyhow::Result<Bytes> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status.is_success(),
            "the service answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Ok(body)
    }
}

/// How long each measured cell runs: `BENCH_SECONDS` (at least 1), or `default` seconds.
///
/// # Errors
/// When `BENCH_SECONDS` is not a whole number.
pub fn cell_length(default: u64) -> anyhow::Result<Duration> {
    let seconds: u64 = match std::env::var("BENCH_SECONDS") {
        Ok(raw) => raw
            .parse()
            .context("BENCH_SECONDS must be a whole number")?,
        Err(_) => default,
    };
    Ok(Duration::from_secs(seconds.max(1)))
}

/// `d` in milliseconds, for tables.
#[must_use]
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The `q` quantile (0.0–1.0) of `sorted` (nearest rank); zero when there is none.
#[must_use]
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

//! `bench` (`just bench`): Slack → Hazel → Discord end to end, through a real `hazel-sync serve`
//! process, the Slack and Discord simulators and open-loop load on a fixed schedule. See the
//! crate README.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use bytes::Bytes;
use hazel_bench::load::{Connection, Samples, drive_with, ms, quantile};
use hazel_bench::raw::RawDatabase;
use hazel_testkit::sim::discord::{ChannelKind, DiscordSimulator};
use hazel_testkit::sim::discord_gateway::DiscordGatewaySimulator;
use hazel_testkit::sim::slack::SlackSimulator;
use hazel_testkit::sim::slack_events::{EventSource, event_callback};
use http_body_util::Full;
use rand::RngCore as _;
use secrecy::SecretString;
use serde_json::{Value, json};

const SLACK_TEAM: &str = "T0BENCH";
const SLACK_TOKEN: &str = "xoxb-1-2-bench";
/// Hazel channels, each linked to a Slack channel and a Discord channel: [`CHANNELS`] × 2
/// links, the "10 links" of the routing comparison.
const CHANNELS: usize = 5;
const SIGNING_SECRET: &str = "0123456789abcdef0123456789abcdef";
const DISCORD_GUILD: &str = "1100000000000000009";
const DISCORD_BOT: &str = "1200000000000000009";
const DISCORD_TOKEN: &str = "QmVuY2g.discord-bot.bench-token";
/// Links added for the routing comparison (`BENCH_LINKS` overrides).
const MANY_LINKS: usize = 100_000;
/// The rate the routing comparison and the two-process check are measured at.
const ROUTING_RATE: u32 = 200;
/// Messages in flight at once while a capacity is measured.
const IN_FLIGHT: usize = 32;

fn slack_channel(i: usize) -> String {
    format!("C0BENCH{i:02}")
}

fn discord_channel(i: usize) -> String {
    format!("13000000000000000{i:02}")
}
/// Rates offered to every database, in messages per second.
const RATES: [u32; 4] = [100, 200, 500, 1_000];
/// Above the fixed rates, the search for the highest sustained one goes up by this factor.
const STEP_UP: f64 = 1.5;
/// A rate is sustained when every message arrives and p99 stays under this.
const SUSTAINED_P99: Duration = Duration::from_secs(1);
/// How long after the last scheduled send a message may still arrive before it counts as lost.
const DRAIN: Duration = Duration::from_secs(20);

/// One offered rate's outcome.
#[derive(Clone, Debug)]
struct RateRun {
    rate: u32,
    offered: usize,
    delivered: usize,
    duplicates: usize,
    p50: Duration,
    p95: Duration,
    p99: Duration,
    peak_rss_kib: u64,
    /// When the first message was scheduled (µs since the Unix epoch, as the service's clock
    /// writes its times), and the schedule's interval.
    first_scheduled_micros: i64,
    interval: Duration,
    /// Where the time went, read back from the service's database.
    stages: Option<Stages>,
}

/// p50 and p99 of each leg of a message's way, from the times the service wrote: the
/// scheduled send to its receipt being recorded (HTTP, signature, decoding); the receipt to its
/// processing (the intake's commit, the receipt worker's wake-up, lease and processing reads);
/// the processing to the Discord post's answer (the processing commit, the delivery worker's
/// wake-up, claim, reads and the post).
#[derive(Clone, Copy, Debug)]
struct Stages {
    to_receipt: (Duration, Duration),
    to_processed: (Duration, Duration),
    to_delivered: (Duration, Duration),
}

impl RateRun {
    fn sustained(&self) -> bool {
        self.delivered == self.offered && self.duplicates == 0 && self.p99 < SUSTAINED_P99
    }
}

/// A backlog pushed through as fast as the service takes it.
#[derive(Clone, Debug)]
struct Capacity {
    offered: usize,
    delivered: usize,
    duplicates: usize,
    per_second: f64,
}

impl Capacity {
    fn exactly_once(&self) -> bool {
        self.delivered == self.offered && self.duplicates == 0
    }
}

/// One process against two on the same database.
#[derive(Clone, Debug)]
struct Scale {
    one: Capacity,
    two: Capacity,
}

/// The same load with few and with many channel links in the database.
#[derive(Clone, Debug)]
struct Routing {
    few_links: usize,
    many_links: usize,
    few: RateRun,
    many: RateRun,
    start_to_ready_many: Duration,
    insert_time: Duration,
}

/// Everything measured on one database.
#[derive(Debug)]
struct Report {
    database: &'static str,
    start_to_ready: Duration,
    idle_rss_kib: u64,
    runs: Vec<RateRun>,
    raw_commits: f64,
    notifications: f64,
    healthz: f64,
    notifications_p99_at_1000: Duration,
    scale: Option<Scale>,
    routing: Routing,
}

impl Report {
    fn highest_sustained(&self) -> Option<&RateRun> {
        self.runs
            .iter()
            .filter(|r| r.sustained())
            .max_by_key(|r| r.rate)
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    hazel_app::install_crypto_provider();
    let length = hazel_bench::load::cell_length(5)?;
    let binary = service_binary()?;
    let mut reports = Vec::new();

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    reports.push(run_database("SQLite", &binary, &sqlite_url, dir.path(), length).await?);

    if let Some(admin_url) = hazel_persistence::testing::postgres_admin_url() {
        let url = hazel_persistence::testing::fresh_postgres_url(&admin_url).await?;
        let report = run_database("PostgreSQL", &binary, &url, dir.path(), length).await;
        hazel_persistence::testing::drop_postgres_database(&admin_url, &url).await?;
        reports.push(report?);
    } else {
        eprintln!("PostgreSQL skipped: HAZEL_TEST_POSTGRES_URL is not set");
    }

    print_report(&reports);
    let json_path = write_json(&reports)?;
    println!("JSON: {}", json_path.display());
    Ok(())
}

/// The `hazel-sync` binary built beside this one (`just bench` builds both).
fn service_binary() -> anyhow::Result<PathBuf> {
    let binary = std::env::current_exe()?.with_file_name("hazel-sync");
    if !binary.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release --bin hazel-sync` (just bench does)",
            binary.display()
        );
    }
    Ok(binary)
}

async fn run_database(
    database: &'static str,
    binary: &Path,
    url: &str,
    dir: &Path,
    length: Duration,
) -> anyhow::Result<Report> {
    eprintln!("{database}: starting the simulators and the service");
    let slack = SlackSimulator::start().await;
    slack.add_workspace(SLACK_TEAM, "Bench Slack");
    slack.add_bot_token(SLACK_TEAM, SLACK_TOKEN, hazel_slack::REQUIRED_SCOPES);
    for i in 0..CHANNELS {
        slack.add_channel(
            SLACK_TEAM,
            &slack_channel(i),
            &format!("bench-{i}"),
            false,
            2,
        );
    }
    for user in 0..AUTHORS {
        slack.add_user(SLACK_TEAM, &author(user), &format!("Author {user}"), None);
    }
    let discord = DiscordSimulator::start().await;
    discord.add_guild(DISCORD_GUILD, "Bench Discord");
    discord.add_bot(DISCORD_TOKEN, DISCORD_BOT, "hazel-bench");
    discord.add_bot_to_guild(
        DISCORD_GUILD,
        DISCORD_BOT,
        hazel_discord::REQUIRED_PERMISSION_BITS,
    );
    for i in 0..CHANNELS {
        discord.add_channel(
            DISCORD_GUILD,
            &discord_channel(i),
            &format!("bench-{i}"),
            ChannelKind::Text,
            false,
        );
    }
    let gateway = DiscordGatewaySimulator::start().await;
    gateway.add_bot(DISCORD_TOKEN, DISCORD_BOT);

    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let port = free_port()?;
    let env = vec![
        ("HAZEL_DATABASE_URL".to_owned(), url.to_owned()),
        ("HAZEL_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        (
            "HAZEL_SECRET_KEY".to_owned(),
            base64::engine::general_purpose::STANDARD.encode(key),
        ),
        ("HAZEL_SLACK_API_URL".to_owned(), slack.url()),
        ("HAZEL_DISCORD_API_URL".to_owned(), discord.url()),
        (
            "HAZEL_DISCORD_GATEWAY_URL".to_owned(),
            gateway.url().to_owned(),
        ),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
    ];
    let token = bootstrap(binary, &env).await?;
    let log = dir.join(format!("{}.log", database.to_lowercase()));
    let service = Service::start(binary, &env, port, &log).await?;
    eprintln!(
        "{database}: ready {} after the start (log: {})",
        ms(service.start_to_ready),
        log.display()
    );
    let seeded = seed(&service.base, &token).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_kib = service.rss_kib().unwrap_or(0);

    let mut posts = discord.watch_posts();
    let arrivals: Arrivals = Arc::default();
    let collector = tokio::spawn({
        let arrivals = Arc::clone(&arrivals);
        async move {
            while let Some(posted) = posts.recv().await {
                lock(&arrivals)
                    .entry(posted.content)
                    .or_default()
                    .push(posted.at);
            }
        }
    });
    let sender = EventSender::new(&service.base);
    let mut run_number = 0;
    let mut runs = Vec::new();
    let mut rate = RATES[0];
    let mut next_fixed = 1;
    loop {
        eprintln!("{database}: {rate} messages/s for {} s", length.as_secs());
        let mut run = offer(&sender, &service, &arrivals, run_number, rate, length).await?;
        match stages(url, run_number, &run).await {
            Ok(found) => run.stages = Some(found),
            Err(error) => eprintln!("{database}: where the time went is unknown: {error:#}"),
        }
        run_number += 1;
        eprintln!(
            "{database}: {rate}/s: {}/{} delivered, p50 {} p99 {}",
            run.delivered,
            run.offered,
            ms(run.p50),
            ms(run.p99)
        );
        let sustained = run.sustained();
        runs.push(run);
        if let Some(&fixed) = RATES.get(next_fixed) {
            rate = fixed;
            next_fixed += 1;
        } else if sustained {
            rate = (f64::from(rate) * STEP_UP) as u32;
        } else {
            break;
        }
    }

    let notifications_path = format!("/api/v1/notifications?organizationId={}", seeded.org);
    let auth = format!("Bearer {token}");
    let notifications = closed_loop(service.address, &notifications_path, &auth, length).await?;
    let healthz = closed_loop(service.address, "/healthz", &auth, length).await?;
    let notifications_p99_at_1000 =
        open_loop_get(service.address, &notifications_path, &auth, 1_000, length).await?;

    // Scale-out: a backlog through one process, then through two sharing the database
    // (each takes every other event, as behind a load balancer). SQLite has one process.
    let backlog = 600 * usize::try_from(length.as_secs())?;
    let scale = if database == "PostgreSQL" {
        eprintln!("{database}: a backlog of {backlog} through one process");
        let one = capacity(&[&service], &arrivals, run_number, backlog).await?;
        run_number += 1;
        let mut second_env = env.clone();
        let second_port = free_port()?;
        for (key, value) in &mut second_env {
            if key == "HAZEL_LISTEN" {
                *value = format!("127.0.0.1:{second_port}");
            }
        }
        let second_log = dir.join(format!("{}-second.log", database.to_lowercase()));
        let second = Service::start(binary, &second_env, second_port, &second_log).await?;
        eprintln!("{database}: a backlog of {backlog} through two processes");
        let two = capacity(&[&service, &second], &arrivals, run_number, backlog).await?;
        run_number += 1;
        second.stop().await;
        eprintln!(
            "{database}: one process {:.0}/s, two {:.0}/s",
            one.per_second, two.per_second
        );
        Some(Scale { one, two })
    } else {
        None
    };

    // Routing: the same rate with the seeded links only, then with many more in the database,
    // each on a freshly started process (as an operator's deployment would see them).
    let many = match std::env::var("BENCH_LINKS") {
        Ok(raw) => raw.parse().context("BENCH_LINKS must be a whole number")?,
        Err(_) => MANY_LINKS,
    };
    let few_links = 2 * CHANNELS;
    let start_to_ready = service.start_to_ready;
    service.stop().await;
    let restarted = |run: usize| {
        let (env, log, arrivals) = (&env, &log, &arrivals);
        async move {
            let service = Service::start(binary, env, port, log).await?;
            // The restarted process's Discord Gateway session and catch-up settle first.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let sender = EventSender::new(&service.base);
            let measured = offer(&sender, &service, arrivals, run, ROUTING_RATE, length).await;
            let ready = service.start_to_ready;
            service.stop().await;
            anyhow::Ok((measured?, ready))
        }
    };
    eprintln!("{database}: {ROUTING_RATE}/s with {few_links} links");
    let (few, _) = restarted(run_number).await?;
    run_number += 1;
    eprintln!("{database}: adding {} links", many - few_links);
    let insert_time = add_links(url, &seeded.slack_link, many.saturating_sub(few_links)).await?;
    eprintln!("{database}: {ROUTING_RATE}/s with {many} links");
    let (many_run, start_to_ready_many) = restarted(run_number).await?;
    let routing = Routing {
        few_links,
        many_links: many,
        few,
        many: many_run,
        start_to_ready_many,
        insert_time,
    };
    collector.abort();

    let raw = RawDatabase::open(url).await?;
    let raw_commits = raw.measure(1, Duration::from_secs(3)).await?.cell().rate;
    raw.close().await;
    for violation in slack
        .take_violations()
        .into_iter()
        .chain(discord.take_violations())
    {
        eprintln!("{database}: a simulator saw a request that breaks the spec: {violation}");
    }
    Ok(Report {
        database,
        start_to_ready,
        idle_rss_kib,
        runs,
        raw_commits,
        notifications,
        healthz,
        notifications_p99_at_1000,
        scale,
        routing,
    })
}

/// When each message text arrived on Discord (more than once: a duplicate).
type Arrivals = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// Notifications of the caller, listed by the notifications cells.
const NOTIFICATIONS: usize = 20;

/// Distinct Slack authors the events come from.
const AUTHORS: usize = 20;

fn author(i: usize) -> String {
    format!("U0BENCH{i:03}")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

async fn bootstrap(binary: &Path, env: &[(String, String)]) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(binary)
        .args([
            "bootstrap",
            "--email",
            "bench@example.com",
            "--name",
            "Bench",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .context("running hazel-sync bootstrap")?;
    if !output.status.success() {
        bail!(
            "hazel-sync bootstrap failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// A running `hazel-sync serve`.
struct Service {
    child: tokio::process::Child,
    address: std::net::SocketAddr,
    base: String,
    start_to_ready: Duration,
}

impl Service {
    async fn start(
        binary: &Path,
        env: &[(String, String)],
        port: u16,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let log_file = std::fs::File::create(log)?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("starting hazel-sync serve")?;
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let base = format!("http://{address}");
        let client = reqwest::Client::new();
        loop {
            if let Ok(answer) = client.get(format!("{base}/readyz")).send().await
                && answer.status().is_success()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "hazel-sync serve exited with {status}; see {}",
                    log.display()
                );
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!(
                    "hazel-sync serve was not ready within 30 s; see {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Self {
            child,
            address,
            base,
            start_to_ready: started.elapsed(),
        })
    }

    /// Resident memory now (`VmRSS`), in KiB.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Stops it as an operator would (SIGINT) and waits for it.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
    }
}

struct Seeded {
    org: String,
    /// A link to Slack, the model of the links the routing comparison adds.
    slack_link: String,
}

/// An organization and [`CHANNELS`] channels, each linked to its Slack channel and its
/// Discord channel.
async fn seed(base: &str, token: &str) -> anyhow::Result<Seeded> {
    let client = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    let post = |path: &str, body: Value| {
        let request = client
            .post(format!("{base}/api/v1{path}"))
            .header("authorization", &auth)
            .json(&body);
        let path = path.to_owned();
        async move {
            let answer = request
                .send()
                .await
                .with_context(|| format!("POST {path}"))?;
            let status = answer.status();
            let body: Value = answer.json().await?;
            if !status.is_success() {
                bail!("POST {path} answered {status}: {body}");
            }
            body["data"]["id"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no data.id in the answer to POST {path}"))
        }
    };
    let org = post("/organizations", json!({"name": "Bench"})).await?;
    let slack = post(
        "/connections",
        json!({"organizationId": org, "provider": "slack", "externalWorkspaceId": SLACK_TEAM,
               "credentials": {"botToken": SLACK_TOKEN, "signingSecret": SIGNING_SECRET}}),
    )
    .await?;
    let discord = post(
        "/connections",
        json!({"organizationId": org, "provider": "discord", "externalWorkspaceId": DISCORD_GUILD,
               "credentials": {"botToken": DISCORD_TOKEN}}),
    )
    .await?;
    let mut slack_link = None;
    for i in 0..CHANNELS {
        let channel = post(
            &format!("/organizations/{org}/channels"),
            json!({"name": format!("bench-{i}"), "type": "public"}),
        )
        .await?;
        for (connection, external) in [(&slack, slack_channel(i)), (&discord, discord_channel(i))] {
            let link = post(
                &format!("/connections/{connection}/channel-links"),
                json!({"hazelChannelId": channel, "externalChannelId": external}),
            )
            .await?;
            if connection == &slack {
                slack_link.get_or_insert(link);
            }
        }
    }
    // The caller's notifications list is a page of real rows, not an empty one.
    let members: Value = client
        .get(format!("{base}/api/v1/organizations/{org}/members"))
        .header("authorization", &auth)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let me = members["data"][0]["id"]
        .as_str()
        .context("no member in the seeded organization")?
        .to_owned();
    for i in 0..NOTIFICATIONS {
        post(
            "/notifications",
            json!({"memberId": me, "targetedResourceId": format!("bench-{i}"),
                   "targetedResourceType": "mention", "resourceId": format!("channel-{i}"),
                   "resourceType": "channel"}),
        )
        .await?;
    }
    Ok(Seeded {
        org,
        slack_link: slack_link.context("no Slack link seeded")?,
    })
}

/// Signed Events API requests to the service.
struct EventSender {
    client: reqwest::Client,
    url: String,
    secret: SecretString,
    source: EventSource,
}

impl EventSender {
    fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .unwrap_or_default(),
            url: format!("{base}/webhooks/slack/events"),
            secret: SecretString::from(SIGNING_SECRET.to_owned()),
            source: EventSource {
                team_id: SLACK_TEAM.to_owned(),
                api_app_id: "A0BENCH".to_owned(),
                bot_user_id: "U0BENCHBOT".to_owned(),
            },
        }
    }

    /// The request of message `i` of run `run`, whose text is `text`.
    fn request(&self, run: usize, i: usize, text: &str) -> reqwest::RequestBuilder {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let ts = format!("{}.{:06}", 1_700_000_000 + run, i);
        let payload = event_callback(
            &self.source,
            &format!("Ev0BENCH{run}x{i}"),
            u64::try_from(now).unwrap_or_default(),
            json!({"type": "message", "channel": slack_channel(i % CHANNELS), "user": author(i % AUTHORS),
                   "text": text, "ts": ts, "event_ts": ts, "channel_type": "channel"}),
        );
        let body = payload.to_string();
        let signature = hazel_slack::signature::sign(&self.secret, now, body.as_bytes());
        self.client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(hazel_slack::signature::TIMESTAMP_HEADER, now.to_string())
            .header(hazel_slack::signature::SIGNATURE_HEADER, signature)
            .body(body)
    }
}

/// Offers `rate` messages per second for `length` on a fixed schedule (each send starts at its
/// time whatever the earlier ones are doing, so slow answers cannot hold the load back), then
/// waits for them on Discord. Latency runs from a message's scheduled send to its arrival.
async fn offer(
    sender: &EventSender,
    service: &Service,
    arrivals: &Arrivals,
    run: usize,
    rate: u32,
    length: Duration,
) -> anyhow::Result<RateRun> {
    let offered = (u64::from(rate) * length.as_secs()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now() + Duration::from_millis(100);
    let first_scheduled_micros = i64::try_from(
        (std::time::SystemTime::now() + Duration::from_millis(100))
            .duration_since(std::time::UNIX_EPOCH)?
            .as_micros(),
    )?;
    let texts: Vec<String> = (0..offered).map(|i| format!("bench {run}-{i}")).collect();
    let mut sends = tokio::task::JoinSet::new();
    let mut peak_rss_kib = 0;
    let mut next_sample = start;
    for (i, text) in texts.iter().enumerate() {
        let at = start + interval * u32::try_from(i)?;
        tokio::time::sleep_until(at.into()).await;
        if at >= next_sample {
            peak_rss_kib = peak_rss_kib.max(service.rss_kib().unwrap_or(0));
            next_sample = at + Duration::from_millis(200);
        }
        let request = sender.request(run, i, text);
        sends.spawn(async move {
            match request.send().await {
                Ok(answer) if answer.status().is_success() => Ok(()),
                Ok(answer) => Err(format!("the service answered {}", answer.status())),
                Err(error) => Err(error.to_string()),
            }
        });
        while let Some(done) = sends.try_join_next() {
            if let Err(error) = done? {
                eprintln!("an event was not accepted: {error}");
            }
        }
    }
    while let Some(done) = sends.join_next().await {
        if let Err(error) = done? {
            eprintln!("an event was not accepted: {error}");
        }
    }
    let deadline = start + interval * u32::try_from(offered)? + DRAIN;
    loop {
        peak_rss_kib = peak_rss_kib.max(service.rss_kib().unwrap_or(0));
        let arrived = {
            let arrivals = lock(arrivals);
            texts.iter().filter(|t| arrivals.contains_key(*t)).count()
        };
        if arrived == offered || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = lock(arrivals);
    let mut latencies = Vec::with_capacity(offered);
    let (mut delivered, mut duplicates) = (0, 0);
    for (i, text) in texts.iter().enumerate() {
        let scheduled = start + interval * u32::try_from(i)?;
        match arrivals.get(text) {
            Some(times) => {
                delivered += 1;
                duplicates += times.len() - 1;
                latencies.push(times[0].saturating_duration_since(scheduled));
            }
            // Lost (or later than the drain): counted as the longest wait.
            None => latencies.push(Duration::MAX),
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| quantile(&latencies, q);
    Ok(RateRun {
        rate,
        offered,
        delivered,
        duplicates,
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        peak_rss_kib,
        first_scheduled_micros,
        interval,
        stages: None,
    })
}

/// Reads back, for the messages of run `run` of [`offer`], when the service recorded each
/// receipt, processed it and had the Discord post answered: [`Stages`].
async fn stages(url: &str, run: usize, offered: &RateRun) -> anyhow::Result<Stages> {
    use sea_orm::{ConnectionTrait as _, Statement};
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT r.dedupe_key, r.created_at, r.completed_at, o.completed_at AS delivered_at \
             FROM chat_sync_event_receipts r \
             JOIN chat_sync_outbox o ON o.hazel_message_id = r.hazel_message_id \
             WHERE r.dedupe_key LIKE $1",
            // The receipts of Slack creates are keyed `team:channel:ts:create`, and the
            // bench's ts is `<run second>.<message index>` (see `EventSender::request`).
            [format!("%:{}.%:create", 1_700_000_000 + run).into()],
        ))
        .await?;
    db.close().await?;
    let marker = format!(":{}.", 1_700_000_000 + run);
    let (mut to_receipt, mut to_processed, mut to_delivered) = (Vec::new(), Vec::new(), Vec::new());
    let span = |from: i64, to: i64| Duration::from_micros(u64::try_from(to - from).unwrap_or(0));
    for row in rows {
        let key: String = row.try_get("", "dedupe_key")?;
        let i: u32 = key
            .split_once(&marker)
            .and_then(|(_, rest)| rest.split(':').next())
            .context("a bench receipt key")?
            .parse()?;
        let scheduled =
            offered.first_scheduled_micros + i64::try_from((offered.interval * i).as_micros())?;
        let recorded: i64 = row.try_get("", "created_at")?;
        let (Some(processed), Some(delivered)) = (
            row.try_get::<Option<i64>>("", "completed_at")?,
            row.try_get::<Option<i64>>("", "delivered_at")?,
        ) else {
            continue;
        };
        to_receipt.push(span(scheduled, recorded));
        to_processed.push(span(recorded, processed));
        to_delivered.push(span(processed, delivered));
    }
    anyhow::ensure!(
        !to_receipt.is_empty(),
        "no delivered message of run {run} was found"
    );
    let p50_p99 = |mut spans: Vec<Duration>| {
        spans.sort_unstable();
        (quantile(&spans, 0.50), quantile(&spans, 0.99))
    };
    Ok(Stages {
        to_receipt: p50_p99(to_receipt),
        to_processed: p50_p99(to_processed),
        to_delivered: p50_p99(to_delivered),
    })
}

/// Pushes `count` messages through `services` (taking turns), at most [`IN_FLIGHT`] requests
/// at a time: what the pipeline delivers per second from the first send to the last arrival,
/// and whether every message arrived exactly once.
async fn capacity(
    services: &[&Service],
    arrivals: &Arrivals,
    run: usize,
    count: usize,
) -> anyhow::Result<Capacity> {
    let senders: Vec<EventSender> = services.iter().map(|s| EventSender::new(&s.base)).collect();
    let texts: Vec<String> = (0..count).map(|i| format!("bench {run}-{i}")).collect();
    let limit = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut sends = tokio::task::JoinSet::new();
    let start = Instant::now();
    for (i, text) in texts.iter().enumerate() {
        let permit = Arc::clone(&limit).acquire_owned().await?;
        let request = senders[i % senders.len()].request(run, i, text);
        sends.spawn(async move {
            let answer = request.send().await;
            drop(permit);
            match answer {
                Ok(answer) if answer.status().is_success() => Ok(()),
                Ok(answer) => Err(format!("the service answered {}", answer.status())),
                Err(error) => Err(error.to_string()),
            }
        });
    }
    while let Some(done) = sends.join_next().await {
        if let Err(error) = done? {
            eprintln!("an event was not accepted: {error}");
        }
    }
    let deadline = Instant::now() + DRAIN;
    loop {
        let arrived = {
            let arrivals = lock(arrivals);
            texts.iter().filter(|t| arrivals.contains_key(*t)).count()
        };
        if arrived == count || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = lock(arrivals);
    let (mut delivered, mut duplicates, mut last) = (0, 0, start);
    for text in &texts {
        if let Some(times) = arrivals.get(text) {
            delivered += 1;
            duplicates += times.len() - 1;
            last = last.max(times[0]);
        }
    }
    Ok(Capacity {
        offered: count,
        delivered,
        duplicates,
        per_second: delivered as f64 / last.duration_since(start).as_secs_f64().max(1e-9),
    })
}

/// Adds `count` channels of the organization, each linked to a Slack channel the simulator
/// does not have, straight into the database, modelled on the link `model` (its connection,
/// settings and times). Outbound only, so the start-up catch-up does not read them.
async fn add_links(url: &str, model: &str, count: usize) -> anyhow::Result<Duration> {
    use sea_orm::{ConnectionTrait as _, DbBackend, Statement, TransactionTrait as _};
    /// Rows per statement (PostgreSQL takes at most 65,535 parameters in one).
    const BATCH: usize = 1_000;
    let db = sea_orm::Database::connect(url).await?;
    let backend = db.get_database_backend();
    let placeholder = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let started = Instant::now();
    let txn = db.begin().await?;
    let channel_of: String = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT hazel_channel_id FROM chat_sync_channel_links WHERE id = {}",
                placeholder(1)
            ),
            [model.into()],
        ))
        .await?
        .context("the model link is missing")?
        .try_get("", "hazel_channel_id")?;
    let mut made = 0;
    while made < count {
        let rows = BATCH.min(count - made);
        let (mut channels, mut links) = (Vec::new(), Vec::new());
        let (mut channel_values, mut link_values) = (Vec::new(), Vec::new());
        for i in made..made + rows {
            let channel = hazel_domain::ids::ChannelId::new().to_string();
            let link = hazel_domain::ids::ChannelLinkId::new().to_string();
            let c = channel_values.len();
            channels.push(format!("({}, {})", placeholder(c + 1), placeholder(c + 2)));
            channel_values.extend([channel.clone().into(), format!("routing-{i}").into()]);
            let l = link_values.len();
            links.push(format!(
                "({}, {}, {})",
                placeholder(l + 1),
                placeholder(l + 2),
                placeholder(l + 3)
            ));
            link_values.extend([link.into(), channel.into(), format!("C9ROUTE{i:07}").into()]);
        }
        let n = channel_values.len();
        channel_values.push(channel_of.clone().into());
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO channels (id, organization_id, name, type, parent_channel_id, created_at) \
                 SELECT v.column1, c.organization_id, v.column2, c.type, NULL, c.created_at \
                 FROM (VALUES {}) AS v CROSS JOIN channels c WHERE c.id = {}",
                channels.join(", "),
                placeholder(n + 1)
            ),
            channel_values,
        ))
        .await?;
        let n = link_values.len();
        link_values.push(model.into());
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "INSERT INTO chat_sync_channel_links (id, connection_id, hazel_channel_id, \
                 external_channel_id, external_channel_name, direction, is_active, sync_pins, \
                 mention_mapping, sync_threads_override, sync_reactions_override, \
                 sync_edits_override, sync_deletes_override, created_at, updated_at, deleted_at) \
                 SELECT v.column1, l.connection_id, v.column2, v.column3, NULL, 'outbound', \
                 l.is_active, l.sync_pins, l.mention_mapping, NULL, NULL, NULL, NULL, \
                 l.created_at, l.updated_at, NULL \
                 FROM (VALUES {}) AS v CROSS JOIN chat_sync_channel_links l WHERE l.id = {}",
                links.join(", "),
                placeholder(n + 1)
            ),
            link_values,
        ))
        .await?;
        made += rows;
    }
    txn.commit().await?;
    db.close().await?;
    Ok(started.elapsed())
}

/// GETs of `path` from 20 keep-alive clients, one after another each: requests per second.
async fn closed_loop(
    address: std::net::SocketAddr,
    path: &str,
    auth: &str,
    length: Duration,
) -> anyhow::Result<f64> {
    let path = Arc::new(path.to_owned());
    let auth = Arc::new(auth.to_owned());
    let samples: Samples = drive_with(
        20,
        length,
        || Connection::open(address),
        move |mut connection: Connection| {
            let request = get(&path, &auth);
            async move {
                connection.send(request?).await?;
                Ok(connection)
            }
        },
    )
    .await?;
    Ok(samples.cell().rate)
}

fn get(path: &str, auth: &str) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    Ok(hyper::Request::get(path)
        .header("host", "bench")
        .header("authorization", auth)
        .body(Full::new(Bytes::new()))?)
}

/// GETs of `path` offered at `rate` per second on a fixed schedule for `length`: p99 latency
/// from each request's scheduled time.
async fn open_loop_get(
    address: std::net::SocketAddr,
    path: &str,
    auth: &str,
    rate: u32,
    length: Duration,
) -> anyhow::Result<Duration> {
    // Idle keep-alive connections: a request takes one (or opens another when all are busy)
    // and gives it back.
    let (free, idle) = tokio::sync::mpsc::unbounded_channel::<Connection>();
    for _ in 0..32 {
        free.send(Connection::open(address).await?)?;
    }
    let idle = Arc::new(tokio::sync::Mutex::new(idle));
    let count = (u64::from(rate) * length.as_secs()) as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now() + Duration::from_millis(100);
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..count {
        let scheduled = start + interval * u32::try_from(i)?;
        tokio::time::sleep_until(scheduled.into()).await;
        let request = get(path, auth)?;
        let (free, idle) = (free.clone(), Arc::clone(&idle));
        requests.spawn(async move {
            let connection = idle.lock().await.try_recv().ok();
            let mut connection = match connection {
                Some(connection) => connection,
                None => Connection::open(address).await?,
            };
            connection.send(request).await?;
            let latency = scheduled.elapsed();
            let _ = free.send(connection);
            anyhow::Ok(latency)
        });
    }
    let mut latencies = Vec::with_capacity(count);
    while let Some(done) = requests.join_next().await {
        latencies.push(done??);
    }
    latencies.sort_unstable();
    Ok(quantile(&latencies, 0.99))
}

fn latency(d: Duration) -> String {
    if d == Duration::MAX {
        "lost".to_owned()
    } else {
        ms(d)
    }
}

fn print_report(reports: &[Report]) {
    println!("| database | offered/s | delivered | p50 | p95 | p99 | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for report in reports {
        for run in &report.runs {
            println!(
                "| {} | {} | {}/{}{} | {} | {} | {} | {:.1} MB |",
                report.database,
                run.rate,
                run.delivered,
                run.offered,
                if run.duplicates > 0 {
                    format!(" ({} twice)", run.duplicates)
                } else {
                    String::new()
                },
                latency(run.p50),
                latency(run.p95),
                latency(run.p99),
                run.peak_rss_kib as f64 / 1024.0
            );
        }
    }
    println!();
    println!(
        "| database | offered/s | scheduled → receipt recorded (p50 / p99) | → processed | → Discord post answered |"
    );
    println!("|---|---|---|---|---|");
    for report in reports {
        for run in &report.runs {
            if let Some(stages) = &run.stages {
                let pair = |(p50, p99): (Duration, Duration)| format!("{} / {}", ms(p50), ms(p99));
                println!(
                    "| {} | {} | {} | {} | {} |",
                    report.database,
                    run.rate,
                    pair(stages.to_receipt),
                    pair(stages.to_processed),
                    pair(stages.to_delivered)
                );
            }
        }
    }
    println!();
    println!(
        "| database | highest sustained (p99 < 1 s) | raw commits/s (1 client) | ratio | idle RSS | RSS at highest | start to ready | notifications/s | /healthz/s | ratio | notifications p99 at 1,000/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for report in reports {
        let best = report.highest_sustained();
        let rate = best.map_or(0, |r| r.rate);
        println!(
            "| {} | {}/s | {:.0} | {:.2}x | {:.1} MB | {} | {} | {:.0} | {:.0} | {:.2}x | {} |",
            report.database,
            rate,
            report.raw_commits,
            f64::from(rate) / report.raw_commits.max(f64::MIN_POSITIVE),
            report.idle_rss_kib as f64 / 1024.0,
            best.map_or("-".to_owned(), |r| format!(
                "{:.1} MB",
                r.peak_rss_kib as f64 / 1024.0
            )),
            ms(report.start_to_ready),
            report.notifications,
            report.healthz,
            report.notifications / report.healthz.max(f64::MIN_POSITIVE),
            ms(report.notifications_p99_at_1000),
        );
    }
    println!();
    println!("| database | backlog | one process | two processes | ratio | exactly once |");
    println!("|---|---|---|---|---|---|");
    for report in reports {
        match &report.scale {
            Some(Scale { one, two }) => println!(
                "| {} | {} | {:.0}/s | {:.0}/s | {:.2}x | {} |",
                report.database,
                one.offered,
                one.per_second,
                two.per_second,
                two.per_second / one.per_second.max(f64::MIN_POSITIVE),
                if one.exactly_once() && two.exactly_once() {
                    "yes".to_owned()
                } else {
                    format!(
                        "no: one {}/{} ({} twice), two {}/{} ({} twice)",
                        one.delivered,
                        one.offered,
                        one.duplicates,
                        two.delivered,
                        two.offered,
                        two.duplicates
                    )
                },
            ),
            None => println!(
                "| {} | - | - | - | - | one process per SQLite file |",
                report.database
            ),
        }
    }
    println!();
    println!(
        "| database | rate | links | p50 | p99 | links | p50 | p99 | p99 ratio | ready with many | links added in |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for report in reports {
        let r = &report.routing;
        println!(
            "| {} | {}/s | {} | {} | {} | {} | {} | {} | {:.2}x | {} | {} |",
            report.database,
            ROUTING_RATE,
            r.few_links,
            latency(r.few.p50),
            latency(r.few.p99),
            r.many_links,
            latency(r.many.p50),
            latency(r.many.p99),
            r.many.p99.as_secs_f64() / r.few.p99.as_secs_f64().max(1e-9),
            ms(r.start_to_ready_many),
            ms(r.insert_time),
        );
    }
}

fn write_json(reports: &[Report]) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("BENCH_JSON").map_or_else(
        || {
            std::env::current_exe()
                .unwrap_or_default()
                .with_file_name("bench-e2e.json")
        },
        PathBuf::from,
    );
    let seconds = |d: Duration| {
        if d == Duration::MAX {
            Value::Null
        } else {
            json!(d.as_secs_f64())
        }
    };
    let value: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "database": r.database,
                "startToReadySeconds": r.start_to_ready.as_secs_f64(),
                "idleRssKib": r.idle_rss_kib,
                "rawCommitsPerSecond": r.raw_commits,
                "highestSustainedPerSecond": r.highest_sustained().map(|b| b.rate),
                "notificationsPerSecond": r.notifications,
                "healthzPerSecond": r.healthz,
                "notificationsP99At1000Seconds": seconds(r.notifications_p99_at_1000),
                "twoProcesses": r.scale.as_ref().map(|s| json!({
                    "backlog": s.one.offered,
                    "onePerSecond": s.one.per_second,
                    "twoPerSecond": s.two.per_second,
                    "ratio": s.two.per_second / s.one.per_second.max(f64::MIN_POSITIVE),
                    "exactlyOnce": s.one.exactly_once() && s.two.exactly_once(),
                    "duplicates": s.one.duplicates + s.two.duplicates,
                    "lost": (s.one.offered - s.one.delivered) + (s.two.offered - s.two.delivered),
                })),
                "routing": {
                    "ratePerSecond": ROUTING_RATE,
                    "fewLinks": r.routing.few_links,
                    "manyLinks": r.routing.many_links,
                    "fewP50Seconds": seconds(r.routing.few.p50),
                    "fewP99Seconds": seconds(r.routing.few.p99),
                    "manyP50Seconds": seconds(r.routing.many.p50),
                    "manyP99Seconds": seconds(r.routing.many.p99),
                    "p99Ratio": r.routing.many.p99.as_secs_f64() / r.routing.few.p99.as_secs_f64().max(1e-9),
                    "startToReadyWithManySeconds": r.routing.start_to_ready_many.as_secs_f64(),
                    "linksAddedSeconds": r.routing.insert_time.as_secs_f64(),
                },
                "rates": r.runs.iter().map(|run| json!({
                    "offeredPerSecond": run.rate,
                    "offered": run.offered,
                    "delivered": run.delivered,
                    "duplicates": run.duplicates,
                    "p50Seconds": seconds(run.p50),
                    "p95Seconds": seconds(run.p95),
                    "p99Seconds": seconds(run.p99),
                    "peakRssKib": run.peak_rss_kib,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    std::fs::write(&path, serde_json::to_string_pretty(&value)?)?;
    Ok(path)
}

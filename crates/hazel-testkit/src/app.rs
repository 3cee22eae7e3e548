//! `TestApp`: the real application on port 0 with a fresh database and provider simulators.

use hazel_app::Config;
use hazel_domain::services::Services;
use hazel_persistence::Database;
use secrecy::SecretString;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use std::sync::Arc;
use std::time::Duration;

use hazel_domain::model::chat_sync::Provider;
use hazel_domain::ports::ChatProviders;

use crate::client::Client;
use crate::fake::FakeProvider;
use crate::sim::discord::DiscordSimulator;
use crate::sim::discord_gateway::DiscordGatewaySimulator;
use crate::sim::slack::SlackSimulator;

/// Environment variable naming a PostgreSQL server for tests (an admin URL such as
/// `postgres://postgres@127.0.0.1:5432/postgres`); each test gets its own fresh database there.
pub const POSTGRES_ENV: &str = hazel_persistence::testing::POSTGRES_ENV;

/// Which database a [`TestApp`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the server named by [`POSTGRES_ENV`].
    Postgres,
}

/// A running application for black-box tests. Stops when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The Slack Web API simulator the app talks to.
    pub slack: SlackSimulator,
    /// The Discord REST simulator the app talks to.
    pub discord: DiscordSimulator,
    /// The Discord Gateway simulator the app's Discord sessions connect to (used when
    /// Discord's real adapters are wired, [`TestApp::spawn_bridge_simulated`]).
    pub discord_gateway: DiscordGatewaySimulator,
    /// The wired services (for setting up state without HTTP, e.g. bootstrapping users).
    pub services: Services,
    /// The database, for assertions on what is stored.
    pub database: Database,
    /// The configuration the app was started with.
    pub config: Config,
    /// The in-process fake behind Slack's outbound and inbound ports (unless the app was
    /// spawned with [`TestApp::spawn_slack_simulated`]).
    pub fake_slack: FakeProvider,
    /// The in-process fake behind Discord's outbound and inbound ports.
    pub fake_discord: FakeProvider,
    /// Which adapters serve Slack.
    slack_adapters: SlackAdapters,
    http: reqwest::Client,
    running: Running,
    /// `(admin URL, database URL)` of a PostgreSQL database to drop when the app stops.
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// Spawns on SQLite.
    ///
    /// # Panics
    /// When the application cannot start.
    pub async fn spawn() -> Self {
        Self::spawn_with(Backend::Sqlite, |_| {})
            .await
            .expect("the SQLite backend is always available")
    }

    /// Spawns on `backend`; `None` (after printing why) for PostgreSQL when [`POSTGRES_ENV`] is unset.
    ///
    /// # Panics
    /// When the application cannot start.
    pub async fn spawn_on(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns on `backend` after letting `adjust` change the configuration.
    ///
    /// # Panics
    /// When the application cannot start.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        Self::spawn_inner(backend, SlackAdapters::Fake, adjust).await
    }

    /// Spawns on `backend` with the real Slack adapters (Web API delivery, Events API intake,
    /// catch-up and profiles) talking to [`TestApp::slack`], the simulator; Discord keeps its
    /// fake. `None` for PostgreSQL when [`POSTGRES_ENV`] is unset.
    ///
    /// # Panics
    /// When the application cannot start.
    pub async fn spawn_slack_simulated(backend: Backend) -> Option<Self> {
        Self::spawn_inner(backend, SlackAdapters::Simulated, |_| {}).await
    }

    /// Spawns on `backend` with the real Slack and Discord adapters: Slack against
    /// [`TestApp::slack`], Discord's REST calls against [`TestApp::discord`] and its Gateway
    /// sessions against [`TestApp::discord_gateway`]. `None` for PostgreSQL when
    /// [`POSTGRES_ENV`] is unset.
    ///
    /// # Panics
    /// When the application cannot start.
    pub async fn spawn_bridge_simulated(backend: Backend) -> Option<Self> {
        Self::spawn_inner(backend, SlackAdapters::Bridge, |_| {}).await
    }

    async fn spawn_inner(
        backend: Backend,
        slack_adapters: SlackAdapters,
        adjust: impl FnOnce(&mut Config),
    ) -> Option<Self> {
        hazel_app::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temporary directory");
        let (database_url, postgres) = match backend {
            Backend::Sqlite => (format!("sqlite://{}/hazel.db", dir.path().display()), None),
            Backend::Postgres => {
                // `None` (the skip notice was printed) without a PostgreSQL server to use.
                let admin = hazel_persistence::testing::postgres_admin_url()?;
                let url = hazel_persistence::testing::fresh_postgres_url(&admin)
                    .await
                    .expect("creating a fresh PostgreSQL database");
                (url.clone(), Some((admin, url)))
            }
        };
        let slack = SlackSimulator::start().await;
        let discord = DiscordSimulator::start().await;
        let discord_gateway = DiscordGatewaySimulator::start().await;
        let mut config = Config {
            database_url,
            listen: "127.0.0.1:0".parse().expect("valid address"),
            secret_key: Some(SecretString::from(test_secret_key())),
            slack_api_url: slack.url(),
            discord_api_url: discord.url(),
            discord_gateway_url: discord_gateway.url().to_owned(),
            sync_workers: Some(test_workers()),
            sync_retry: test_retry(),
            sync_sessions: test_sessions(),
            ..Config::default()
        };
        adjust(&mut config);
        let fake_slack = FakeProvider::new(Provider::Slack);
        let fake_discord = FakeProvider::new(Provider::Discord);
        let app = hazel_app::build_with(
            config.clone(),
            with_fakes(&fake_slack, &fake_discord, slack_adapters),
        )
        .await
        .expect("the application starts");
        let base_url = format!("http://{}", app.local_addr());
        let services = app.services().clone();
        let database = app.database().clone();
        let running = Running::start(app);
        Some(Self {
            base_url,
            slack,
            discord,
            discord_gateway,
            services,
            database,
            config,
            fake_slack,
            fake_discord,
            slack_adapters,
            http: reqwest::Client::new(),
            running,
            postgres,
            _dir: dir,
        })
    }

    /// The service's Slack Events API Request URL (`…/webhooks/slack/events`).
    #[must_use]
    pub fn slack_events_url(&self) -> String {
        format!("{}/webhooks/slack/events", self.base_url)
    }

    /// A client without a token.
    #[must_use]
    pub fn anonymous(&self) -> Client {
        Client::new(self.http.clone(), self.base_url.clone(), None)
    }

    /// A client presenting `token`.
    #[must_use]
    pub fn with_token(&self, token: &str) -> Client {
        Client::new(
            self.http.clone(),
            self.base_url.clone(),
            Some(token.to_owned()),
        )
    }

    /// Bootstraps a user named `name` (email `<name>@example.test`) and returns a client acting
    /// as them.
    ///
    /// # Panics
    /// When bootstrapping fails.
    pub async fn user(&self, name: &str) -> Client {
        let email = format!("{}@example.test", name.to_lowercase().replace(' ', "."));
        let out = hazel_app::bootstrap(&self.services, &email, name)
            .await
            .expect("bootstrap a user");
        let mut client = self.with_token(out.token.expose());
        client.user_id = Some(out.user.id.to_string());
        client.email = Some(email);
        client
    }

    /// Starts a second process of the service on the same database with the same fake
    /// providers (a second `hazel-sync serve`), with `workers` as its sync workers.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn spawn_beside(&self, workers: Option<hazel_worker::WorkerSettings>) -> Sidecar {
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            sync_workers: workers,
            ..self.config.clone()
        };
        let app = hazel_app::build_with(
            config,
            with_fakes(&self.fake_slack, &self.fake_discord, self.slack_adapters),
        )
        .await
        .expect("the second process starts");
        let services = app.services().clone();
        Sidecar {
            services,
            base_url: format!("http://{}", app.local_addr()),
            running: Running::start(app),
        }
    }

    /// Ends the process at once, as a kill would: the server and its sync workers are
    /// aborted, with no graceful shutdown; claimed work stays claimed until its lease expires.
    /// The database (and [`TestApp::database`], a pool of the test's own) stays, for a
    /// process started with [`TestApp::spawn_beside`] to carry on.
    pub async fn kill(&mut self) {
        self.running.kill().await;
    }

    /// Stops the server, waiting for it to finish.
    ///
    /// # Panics
    /// When the server task failed.
    pub async fn stop(mut self) {
        self.running.stop().await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.running.signal_stop();
        // Drop the per-test PostgreSQL database. `Drop` cannot await on the test's runtime, so
        // a short-lived thread with its own runtime does it (FORCE closes the app's connections).
        if let Some((admin, url)) = self.postgres.take() {
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|rt| {
                        rt.block_on(hazel_persistence::testing::drop_postgres_database(
                            &admin, &url,
                        ))
                    })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop a test database; .ci/run removes leftovers");
            }
        }
    }
}

/// A second process of the service beside a [`TestApp`]; stops when dropped.
pub struct Sidecar {
    /// Its wired services.
    pub services: Services,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub base_url: String,
    running: Running,
}

impl Sidecar {
    /// Its Slack Events API Request URL (`…/webhooks/slack/events`).
    #[must_use]
    pub fn slack_events_url(&self) -> String {
        format!("{}/webhooks/slack/events", self.base_url)
    }

    /// Ends it at once, without a graceful shutdown (see [`TestApp::kill`]).
    pub async fn kill(mut self) {
        self.running.kill().await;
    }

    /// Stops it gracefully.
    ///
    /// # Panics
    /// When it did not run cleanly.
    pub async fn stop(mut self) {
        self.running.stop().await;
    }
}

/// A running service process of a test: its server task and the signal that stops it
/// gracefully. Dropping it asks the process to stop without waiting.
struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Serves `app` in a task of its own until stopped.
    fn start(app: hazel_app::App) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Aborts the server task, as a kill would.
    async fn kill(&mut self) {
        self.shutdown.take();
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Asks the server to stop gracefully and waits for it.
    async fn stop(&mut self) {
        self.signal_stop();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }

    /// Asks the server to stop gracefully, without waiting.
    fn signal_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Sync workers tuned for tests: short polls and leases, so that work falls due and leases
/// expire within a test's deadline.
#[must_use]
pub fn test_workers() -> hazel_worker::WorkerSettings {
    hazel_worker::WorkerSettings {
        delivery_tasks: 2,
        lease: Duration::from_secs(2),
        idle_poll: Duration::from_millis(20),
        receipt_batch: 16,
        steps_per_claim: 16,
        stats_interval: Duration::from_millis(200),
    }
}

/// Sessions tuned for tests: a scan every 250 ms, 2 s leases renewed every 500 ms, and
/// Socket Mode reconnecting after 20 ms (doubling to 400 ms), so takeovers and reconnects
/// happen within a test's deadline.
#[must_use]
pub fn test_sessions() -> hazel_app::SessionConfig {
    hazel_app::SessionConfig {
        supervisor: hazel_worker::SessionSettings {
            scan_interval: Duration::from_millis(250),
            refused_cooldown: Duration::from_secs(2),
        },
        lease: hazel_domain::model::session::LeaseTiming {
            ttl: Duration::from_secs(2),
            heartbeat: Duration::from_millis(500),
        },
        slack_socket: hazel_slack::SocketSettings {
            min_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(400),
            idle_timeout: Duration::from_secs(30),
        },
    }
}

/// Retries tuned for tests: the same doubling from a 20 ms start, capped at 200 ms, with
/// dead letters after 4 tries.
#[must_use]
pub fn test_retry() -> hazel_domain::services::sync::RetryPolicy {
    hazel_domain::services::sync::RetryPolicy {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 4,
    }
}

/// Which adapters serve Slack in a [`TestApp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlackAdapters {
    /// The in-process [`FakeProvider`] (the engine's own tests).
    Fake,
    /// The real adapters, against the simulator.
    Simulated,
    /// The real adapters of Slack and of Discord, against their simulators.
    Bridge,
}

/// Registers the fakes as Discord's (and, unless Slack is simulated, Slack's) outbound and
/// inbound adapters. A faked platform has no reader either, so no catch-up or profile read
/// reaches the simulator behind the fake's back.
fn with_fakes(
    slack: &FakeProvider,
    discord: &FakeProvider,
    slack_adapters: SlackAdapters,
) -> impl FnOnce(ChatProviders) -> ChatProviders {
    let (slack, discord) = (slack.clone(), discord.clone());
    move |providers| {
        if slack_adapters == SlackAdapters::Bridge {
            return providers;
        }
        let providers = providers
            .with_outbound(Arc::new(discord.clone()))
            .with_inbound(Arc::new(discord))
            .without_reader(Provider::Discord)
            .without_session(Provider::Discord);
        match slack_adapters {
            SlackAdapters::Simulated | SlackAdapters::Bridge => providers,
            SlackAdapters::Fake => providers
                .with_outbound(Arc::new(slack.clone()))
                .with_inbound(Arc::new(slack))
                .without_reader(Provider::Slack),
        }
    }
}

/// A fixed, valid 32-byte key in base64 (tests only).
fn test_secret_key() -> String {
    // 32 bytes of 0x2a.
    "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".to_owned()
}

#![doc = include_str!("../README.md")]

pub mod config;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use hazel_discord::gateway::GatewaySettings;
use hazel_discord::{
    DiscordGateway, DiscordHistory, DiscordInbound, DiscordOutbound, DiscordProvider,
    DiscordSettings,
};
use hazel_domain::model::identity::{TokenSecret, User};
use hazel_domain::model::text::{Email, Name};
use hazel_domain::ports::{ChatProviders, Clock, SealedLinkSecrets, SystemClock};
use hazel_domain::services::Services;
use hazel_domain::services::SyncServices;
use hazel_domain::services::channels::ChannelService;
use hazel_domain::services::chat_sync::{ChatSyncPorts, ChatSyncService};
use hazel_domain::services::identity::IdentityService;
use hazel_domain::services::messages::MessageService;
use hazel_domain::services::notifications::NotificationService;
use hazel_domain::services::sessions::{SessionPorts, SessionService};
use hazel_domain::services::sync::SyncPorts;
use hazel_http::{ApiState, Readiness, SyncMetrics};
use hazel_persistence::{Database, PoolSettings};
use hazel_slack::{SlackInbound, SlackProvider, SlackSettings, SlackSocketMode};
use poem::listener::{Acceptor as _, TcpAcceptor};

pub use config::{Config, SessionConfig};
use hazel_vault::{AesGcmVault, SecretKey};

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Installs the process-wide TLS crypto provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    // Several crates link rustls; without an explicit choice rustls cannot pick a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A wired application, listening but not yet serving.
pub struct App {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    services: Services,
    database: Database,
    workers: Option<hazel_worker::WorkerSettings>,
    sessions: Option<(SessionService, hazel_worker::SessionSettings)>,
    sync_metrics: SyncMetrics,
}

/// Opens the database named by `config` and applies pending migrations.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let pool = PoolSettings {
        max_connections: config.database_max_connections,
    };
    let database = Database::connect_with(&config.database_url, pool)
        .await
        .context("opening the database")?;
    database.migrate().await.context("applying migrations")?;
    Ok(database)
}

/// The credential key: `HAZEL_SECRET_KEY`, else (SQLite only) a key generated once into the
/// data directory.
fn secret_key(config: &Config) -> anyhow::Result<SecretKey> {
    if let Some(encoded) = &config.secret_key {
        return SecretKey::parse(encoded);
    }
    match config.data_dir() {
        Some(dir) => SecretKey::load_or_create(&dir),
        None if config.is_sqlite() => {
            tracing::warn!(
                "in-memory database without HAZEL_SECRET_KEY: credentials are encrypted with a throw-away key"
            );
            Ok(SecretKey::generate())
        }
        None => anyhow::bail!(
            "HAZEL_SECRET_KEY is required when the database is PostgreSQL (a 32-byte key, base64)"
        ),
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("hazel-sync/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")
}

/// Builds the domain services over a database: the one [`Services`] value every driver (the
/// HTTP API, background workers) draws from.
///
/// # Errors
/// When the secret key is invalid or the HTTP client cannot be built.
pub fn services(config: &Config, database: &Database) -> anyhow::Result<Services> {
    services_with(config, database, |providers| providers)
}

/// [`services`] with the provider registry extended by `extend` (tests register in-process
/// fake providers this way).
///
/// # Errors
/// As [`services`].
pub fn services_with(
    config: &Config,
    database: &Database,
    extend: impl FnOnce(ChatProviders) -> ChatProviders,
) -> anyhow::Result<Services> {
    Ok(wire(config, database, extend, SyncMetrics::new()?)?.0)
}

/// The services and the sync metrics their engine reports to.
fn wire(
    config: &Config,
    database: &Database,
    extend: impl FnOnce(ChatProviders) -> ChatProviders,
    sync_metrics: SyncMetrics,
) -> anyhow::Result<(Services, SyncMetrics, SessionService)> {
    let observed = sync_metrics.clone();
    let db = Arc::new(database.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let http = http_client()?;
    // Slack fills every role: its directory, delivery over the Web API, Events API intake,
    // and the reads of catch-up and authors' profiles.
    let slack = Arc::new(SlackProvider::new(
        SlackSettings {
            api_url: config.slack_api_url.clone(),
        },
        http.clone(),
    ));
    let discord_settings = DiscordSettings {
        api_url: config.discord_api_url.clone(),
    };
    let vault = Arc::new(AesGcmVault::new(&secret_key(config)?));
    // Each Discord link's webhook, sealed by the vault, so a restart posts through it again.
    let link_secrets = Arc::new(SealedLinkSecrets::new(db.clone(), vault.clone()));
    let providers = ChatProviders::new()
        .with_directory(slack.clone())
        .with_outbound(slack.clone())
        .with_reader(slack)
        .with_inbound(Arc::new(SlackInbound))
        // Discord: its directory, delivery through a webhook per channel, intake over one
        // Gateway session per connection, and the reads of catch-up and authors' profiles.
        .with_directory(Arc::new(DiscordProvider::new(
            discord_settings.clone(),
            http.clone(),
        )))
        .with_outbound(Arc::new(
            DiscordOutbound::new(&discord_settings, http.clone()).with_link_secrets(link_secrets),
        ))
        .with_reader(Arc::new(DiscordHistory::new(
            &discord_settings,
            http.clone(),
        )))
        .with_inbound(Arc::new(DiscordInbound))
        .with_session(Arc::new(
            DiscordGateway::new(GatewaySettings {
                url: config.discord_gateway_url.clone(),
                ..GatewaySettings::default()
            })
            .with_history(DiscordHistory::new(&discord_settings, http.clone())),
        ))
        .with_session(Arc::new(
            SlackSocketMode::new(
                SlackSettings {
                    api_url: config.slack_api_url.clone(),
                },
                http,
            )
            .with_socket_settings(config.sync_sessions.slack_socket),
        ));
    let providers = extend(providers);
    let chat_sync = ChatSyncService::new(ChatSyncPorts {
        members: db.clone(),
        channels: db.clone(),
        connections: db.clone(),
        links: db.clone(),
        store: db.clone(),
        clock: clock.clone(),
        vault: vault.clone(),
        providers: providers.clone(),
    });
    let sync = SyncServices::new(SyncPorts {
        members: db.clone(),
        channels: db.clone(),
        messages: db.clone(),
        sync: db.clone(),
        queue: db.clone(),
        store: db.clone(),
        clock: clock.clone(),
        vault: vault.clone(),
        providers: providers.clone(),
        chat_sync: chat_sync.clone(),
        retry: config.sync_retry,
        observer: Arc::new(sync_metrics),
    });
    let sessions = SessionService::new(SessionPorts {
        connections: db.clone(),
        leases: db.clone(),
        vault,
        providers,
        ingest: sync.ingest.clone(),
        clock: clock.clone(),
        timing: config.sync_sessions.lease,
        health: chat_sync.clone(),
    });
    Ok((
        Services {
            identity: IdentityService::new(
                db.clone(),
                db.clone(),
                db.clone(),
                db.clone(),
                clock.clone(),
            ),
            channels: ChannelService::new(db.clone(), db.clone(), db.clone(), clock.clone()),
            messages: MessageService::new(
                db.clone(),
                db.clone(),
                db.clone(),
                db.clone(),
                clock.clone(),
            )
            .with_outbox(db.clone()),
            notifications: NotificationService::new(
                db.clone(),
                db.clone(),
                db.clone(),
                db.clone(),
                clock,
            ),
            chat_sync,
            sync,
        },
        observed,
        sessions,
    ))
}

/// Opens the database, applies migrations, wires the services and binds the listener.
///
/// # Errors
/// When any of those steps fails; the error says which.
pub async fn build(config: Config) -> anyhow::Result<App> {
    build_with(config, |providers| providers).await
}

/// [`build`] with the provider registry extended by `extend` (see [`services_with`]).
///
/// # Errors
/// As [`build`].
pub async fn build_with(
    config: Config,
    extend: impl FnOnce(ChatProviders) -> ChatProviders,
) -> anyhow::Result<App> {
    install_crypto_provider();
    let database = open_database(&config).await?;
    let (services, sync_metrics, sessions) = wire(&config, &database, extend, SyncMetrics::new()?)?;
    let acceptor = TcpAcceptor::from_tokio(
        tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?,
    )
    .context("preparing the listener")?;
    let local_addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("reading the bound address")?;
    tracing::info!(backend = database.backend(), "database ready");
    Ok(App {
        acceptor,
        local_addr,
        services,
        database,
        workers: config.sync_workers,
        // Sessions run where the sync workers do; an API-only process runs none.
        sessions: config
            .sync_workers
            .map(|_| (sessions, config.sync_sessions.supervisor)),
        sync_metrics,
    })
}

impl App {
    /// The bound address (useful with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The wired services, for embedding and tests.
    #[must_use]
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The database.
    #[must_use]
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish (up to
    /// [`SHUTDOWN_GRACE`]).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr, "serving");
        // The sync workers run beside the API, drawing from the same services; they stop
        // after the API has, finishing or giving back the work they hold.
        let notices = self.database.work_notices();
        let engine = self.workers.map(|settings| {
            hazel_worker::Engine::start_with_wakeups(
                self.services.sync.clone(),
                Arc::new(SystemClock),
                settings,
                hazel_worker::Wakeups {
                    receipts: notices.receipts,
                    deliveries: notices.deliveries,
                },
            )
        });
        let sessions = self
            .sessions
            .map(|(service, settings)| hazel_worker::SessionSupervisor::start(service, settings));
        let state = ApiState::new(
            self.services,
            Arc::new(DatabaseReadiness(self.database.clone())),
        )
        .with_sync_metrics(self.sync_metrics);
        let served = poem::Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(hazel_http::app(state), shutdown, Some(SHUTDOWN_GRACE))
            .await
            .context("serving HTTP");
        if let Some(sessions) = sessions {
            sessions.shutdown().await;
        }
        if let Some(engine) = engine {
            engine.shutdown().await;
        }
        served?;
        tracing::info!("stopped");
        Ok(())
    }

    /// Serves until SIGTERM or Ctrl-C.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// A user and a fresh token, from `hazel-sync bootstrap`.
#[derive(Debug)]
pub struct BootstrapOutput {
    /// The user.
    pub user: User,
    /// The token, shown once (its `Debug` output hides it).
    pub token: TokenSecret,
    /// Whether the user was created now.
    pub created: bool,
}

/// Creates the user with `email` (unless it exists) and issues a token for it.
///
/// # Errors
/// On invalid email/name (naming the flag) or database failures.
pub async fn bootstrap(
    services: &Services,
    email: &str,
    name: &str,
) -> anyhow::Result<BootstrapOutput> {
    let email = Email::parse("--email", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = Name::parse("--name", name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = services
        .identity
        .bootstrap(email, name)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap failed: {e}"))?;
    Ok(BootstrapOutput {
        token: out.token,
        user: out.user,
        created: out.created,
    })
}

/// Readiness over the database: reachable and fully migrated.
struct DatabaseReadiness(Database);

#[async_trait]
impl Readiness for DatabaseReadiness {
    async fn check(&self) -> Result<(), String> {
        // The probe is unauthenticated: details go to the log, the answer stays generic.
        if let Err(e) = self.0.ping().await {
            tracing::warn!(error = %format!("{e:#}"), "readiness: database unreachable");
            return Err("database unreachable".to_owned());
        }
        match self.0.pending_migrations().await {
            Ok(0) => Ok(()),
            Ok(n) => Err(format!("{n} migrations pending")),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "readiness: cannot read the migration state");
                Err("cannot read the migration state".to_owned())
            }
        }
    }
}

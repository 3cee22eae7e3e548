//! Configuration: defaults, then an optional TOML file, then `HAZEL_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use secrecy::SecretString;
use serde::Deserialize;

/// Default database: an SQLite file under `./data`, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/hazel.db";
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default Slack Web API base URL.
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
/// Default Discord REST API base URL.
pub const DEFAULT_DISCORD_API_URL: &str = "https://discord.com/api/v10";
/// Default Discord Gateway URL.
pub const DEFAULT_DISCORD_GATEWAY_URL: &str = "wss://gateway.discord.gg/?v=10&encoding=json";
/// Default Bot Framework (Teams) API base URL.
pub const DEFAULT_TEAMS_API_URL: &str = "https://smba.trafficmanager.net/teams";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The service's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// The most connections the database pool opens (`None`: 8 for a SQLite file, 10 for
    /// PostgreSQL). A quarter of them (at least one) is kept from writes for reads.
    pub database_max_connections: Option<u32>,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// 32-byte key (base64) for credential encryption.
    pub secret_key: Option<SecretString>,
    /// The externally reachable base URL of this service (for webhook registration).
    pub public_url: Option<String>,
    /// Slack Web API base URL.
    pub slack_api_url: String,
    /// Discord REST API base URL.
    pub discord_api_url: String,
    /// Discord Gateway URL.
    pub discord_gateway_url: String,
    /// Teams (Bot Framework) API base URL.
    pub teams_api_url: String,
    /// Log format.
    pub log_format: LogFormat,
    /// How the sync workers run; `None` runs none (an API-only process).
    pub sync_workers: Option<hazel_worker::WorkerSettings>,
    /// How failed deliveries and receipts are retried.
    pub sync_retry: hazel_domain::services::sync::RetryPolicy,
    /// How long-lived provider sessions (Slack Socket Mode) run; they run in processes that
    /// run sync workers.
    pub sync_sessions: SessionConfig,
}

/// How long-lived provider sessions (Slack Socket Mode, later the Discord gateway) run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionConfig {
    /// How often the supervisor looks for sessions to start.
    pub supervisor: hazel_worker::SessionSettings,
    /// How long a session lease lasts and how often it is renewed.
    pub lease: hazel_domain::model::session::LeaseTiming,
    /// How Socket Mode reconnects.
    pub slack_socket: hazel_slack::SocketSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            database_max_connections: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            secret_key: None,
            public_url: None,
            slack_api_url: DEFAULT_SLACK_API_URL.to_owned(),
            discord_api_url: DEFAULT_DISCORD_API_URL.to_owned(),
            discord_gateway_url: DEFAULT_DISCORD_GATEWAY_URL.to_owned(),
            teams_api_url: DEFAULT_TEAMS_API_URL.to_owned(),
            log_format: LogFormat::Text,
            sync_workers: Some(hazel_worker::WorkerSettings::default()),
            sync_retry: hazel_domain::services::sync::RetryPolicy::default(),
            sync_sessions: SessionConfig::default(),
        }
    }
}

/// The raw, all-optional shape read from the file and the environment.
#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    database_url: Option<String>,
    database_max_connections: Option<String>,
    listen: Option<String>,
    secret_key: Option<SecretString>,
    public_url: Option<String>,
    slack_api_url: Option<String>,
    discord_api_url: Option<String>,
    discord_gateway_url: Option<String>,
    teams_api_url: Option<String>,
    log_format: Option<LogFormat>,
}

impl Config {
    /// Loads the configuration: defaults, then the TOML file at `file` (if given; it must
    /// exist), then `HAZEL_*` environment variables, which win.
    ///
    /// # Errors
    /// When the file cannot be read or a value does not parse; the error names the key.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let raw: RawConfig = builder
            .add_source(config::Environment::with_prefix("HAZEL").try_parsing(false))
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .context("parsing configuration")?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> anyhow::Result<Self> {
        let defaults = Self::default();
        let listen = match raw.listen {
            Some(listen) => listen.parse().with_context(|| {
                format!(
                    "listen (HAZEL_LISTEN) must be an address like {DEFAULT_LISTEN}, got {listen:?}"
                )
            })?,
            None => defaults.listen,
        };
        let url = |value: Option<String>, default: String, key: &str| -> anyhow::Result<String> {
            let value = value.unwrap_or(default);
            anyhow::ensure!(
                value.starts_with("http://")
                    || value.starts_with("https://")
                    || value.starts_with("ws://")
                    || value.starts_with("wss://"),
                "{key} must be an absolute URL, got {value:?}"
            );
            Ok(value.trim_end_matches('/').to_owned())
        };
        let database_url = raw.database_url.unwrap_or(defaults.database_url);
        anyhow::ensure!(
            database_url.starts_with("sqlite:")
                || database_url.starts_with("postgres://")
                || database_url.starts_with("postgresql://"),
            "database_url (HAZEL_DATABASE_URL) must start with sqlite: or postgres://"
        );
        let database_max_connections = match raw.database_max_connections {
            Some(raw) => Some(
                raw.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .with_context(|| {
                        format!(
                            "database_max_connections (HAZEL_DATABASE_MAX_CONNECTIONS) must be \
                             a whole number of at least 1, got {raw:?}"
                        )
                    })?,
            ),
            None => None,
        };
        Ok(Self {
            sync_workers: defaults.sync_workers,
            sync_retry: defaults.sync_retry,
            sync_sessions: defaults.sync_sessions,
            database_url,
            database_max_connections,
            listen,
            secret_key: raw.secret_key,
            public_url: raw.public_url,
            slack_api_url: url(
                raw.slack_api_url,
                defaults.slack_api_url,
                "slack_api_url (HAZEL_SLACK_API_URL)",
            )?,
            discord_api_url: url(
                raw.discord_api_url,
                defaults.discord_api_url,
                "discord_api_url (HAZEL_DISCORD_API_URL)",
            )?,
            discord_gateway_url: url(
                raw.discord_gateway_url,
                defaults.discord_gateway_url,
                "discord_gateway_url (HAZEL_DISCORD_GATEWAY_URL)",
            )?,
            teams_api_url: url(
                raw.teams_api_url,
                defaults.teams_api_url,
                "teams_api_url (HAZEL_TEAMS_API_URL)",
            )?,
            log_format: raw.log_format.unwrap_or_default(),
        })
    }

    /// Whether the database is SQLite.
    #[must_use]
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// The directory holding the SQLite file (and the generated secret key), if there is one.
    #[must_use]
    pub fn data_dir(&self) -> Option<PathBuf> {
        let path = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path.starts_with(":memory:") {
            return None;
        }
        Some(
            Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawConfig {
        RawConfig::default()
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::from_raw(raw()).unwrap();
        assert_eq!(config.database_url, "sqlite://./data/hazel.db");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.slack_api_url, "https://slack.com/api");
        assert_eq!(config.discord_api_url, "https://discord.com/api/v10");
        assert_eq!(config.data_dir(), Some(PathBuf::from("./data")));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Config::from_raw(RawConfig {
            listen: Some("nope".into()),
            ..raw()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("HAZEL_LISTEN"), "{err:#}");
        let err = Config::from_raw(RawConfig {
            database_url: Some("mysql://x".into()),
            ..raw()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("HAZEL_DATABASE_URL"), "{err:#}");
        for bad in ["0", "-1", "many"] {
            let err = Config::from_raw(RawConfig {
                database_max_connections: Some(bad.into()),
                ..raw()
            })
            .unwrap_err();
            assert!(
                format!("{err:#}").contains("HAZEL_DATABASE_MAX_CONNECTIONS"),
                "{err:#}"
            );
        }
        let err = Config::from_raw(RawConfig {
            slack_api_url: Some("slack.com".into()),
            ..raw()
        })
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("HAZEL_SLACK_API_URL"),
            "{err:#}"
        );
    }

    #[test]
    fn the_toml_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hazel.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9191\"\nslack_api_url = \"http://127.0.0.1:1/api/\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.listen.port(), 9191);
        assert_eq!(config.database_max_connections, None);
        assert_eq!(config.slack_api_url, "http://127.0.0.1:1/api");
    }

    #[test]
    fn the_pool_size_is_read() {
        let config = Config::from_raw(RawConfig {
            database_max_connections: Some("24".into()),
            ..raw()
        })
        .unwrap();
        assert_eq!(config.database_max_connections, Some(24));
    }

    #[test]
    fn data_dir_follows_the_sqlite_path() {
        let config = Config {
            database_url: "sqlite:///var/lib/hazel/db.sqlite?mode=rwc".into(),
            ..Config::default()
        };
        assert_eq!(config.data_dir(), Some(PathBuf::from("/var/lib/hazel")));
        let memory = Config {
            database_url: "sqlite::memory:".into(),
            ..Config::default()
        };
        assert_eq!(memory.data_dir(), None);
        let pg = Config {
            database_url: "postgres://x/y".into(),
            ..Config::default()
        };
        assert_eq!(pg.data_dir(), None);
    }
}

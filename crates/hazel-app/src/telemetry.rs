//! The tracing subscriber: `RUST_LOG` filtering, text or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

/// Targets capped below `debug` whatever `RUST_LOG` says, because at `trace` they write out
/// secrets: tungstenite's client handshake logs its request line, which for Slack Socket Mode
/// carries the socket URL's `ticket` (anyone holding it can attach to the app's events).
pub const SECRET_BEARING_TARGETS: &[&str] = &["tungstenite=info"];

/// `filter` with [`SECRET_BEARING_TARGETS`] capped.
#[must_use]
pub fn without_secret_bearing_targets(mut filter: EnvFilter) -> EnvFilter {
    for directive in SECRET_BEARING_TARGETS {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Installs the global subscriber. Logs go to stderr so that command output on stdout (tokens,
/// the OpenAPI document) stays clean.
pub fn init(format: LogFormat) {
    let filter = without_secret_bearing_targets(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests embedding the app) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bearing_targets_stay_capped_even_at_trace() {
        let filter = without_secret_bearing_targets(EnvFilter::new("trace,tungstenite=trace"));
        let shown = filter.to_string();
        assert!(shown.contains("tungstenite=info"), "{shown}");
        assert!(!shown.contains("tungstenite=trace"), "{shown}");
    }
}

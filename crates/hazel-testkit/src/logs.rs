//! Captures every log line of the process, for tests that prove what is (not) logged.
//!
//! Installs a global subscriber at TRACE level that writes into a shared buffer, so it must be
//! used in a test binary of its own (the first subscriber of a process wins).

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static BUFFER: OnceLock<Buffer> = OnceLock::new();

/// Starts capturing (idempotent) at TRACE level for every target, but for the targets the
/// service's own subscriber always caps (`hazel_app::telemetry::SECRET_BEARING_TARGETS`:
/// tungstenite's handshake trace, which writes out socket URLs).
///
/// # Panics
/// When another global subscriber was installed first.
pub fn capture() {
    BUFFER.get_or_init(|| {
        let buffer = Buffer::default();
        let filter = hazel_app::telemetry::without_secret_bearing_targets(
            tracing_subscriber::EnvFilter::new("trace"),
        );
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(buffer.clone())
            .try_init()
            .expect("log capture must be the process's first subscriber");
        buffer
    });
}

/// Everything logged since [`capture`] started.
#[must_use]
pub fn captured() -> String {
    BUFFER
        .get()
        .and_then(|b| {
            b.0.lock()
                .ok()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        })
        .unwrap_or_default()
}

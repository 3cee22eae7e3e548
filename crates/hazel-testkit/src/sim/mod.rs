#![doc = include_str!("README.md")]

pub mod discord;
pub mod slack;
pub mod spec;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use discord::DiscordSimulator;
pub use slack::SlackSimulator;

/// One request a simulator received, with secrets redacted, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method (`GET`).
    pub http_method: String,
    /// The request path (`/api/conversations.list`).
    pub path: String,
    /// The spec route it matched: a Slack method name (`conversations.list`) or a Discord path
    /// template (`/guilds/{guild_id}/channels`); the path itself when nothing matched.
    pub route: String,
    /// Headers, lowercased names, with the credential of `Authorization` (and any cookie)
    /// replaced by `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// Query parameters, then form fields, in order; a `token` value is redacted.
    pub params: Vec<(String, String)>,
    /// The JSON body, when there was one.
    pub body: Option<Value>,
}

impl RecordedRequest {
    /// The value of a (lowercase) header, if present.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of a parameter, if present.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A request taken apart, as the simulators' handlers see it.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) verb: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    pub(crate) json: Option<Value>,
    pub(crate) has_body: bool,
    /// The raw `Authorization` header (never recorded as is).
    pub(crate) authorization: Option<String>,
    headers: Vec<(String, String)>,
}

impl Exchange {
    /// The credential after `scheme ` in the `Authorization` header.
    pub(crate) fn credential(&self, scheme: &str) -> Option<&str> {
        self.authorization
            .as_deref()?
            .strip_prefix(scheme)?
            .strip_prefix(' ')
            .filter(|credential| !credential.is_empty())
    }

    /// The request as recorded: no secret values.
    pub(crate) fn record(&self, route: &str) -> RecordedRequest {
        let redact = |(key, value): &(String, String)| {
            let value = if key == "token" {
                "[redacted]".to_owned()
            } else {
                value.clone()
            };
            (key.clone(), value)
        };
        RecordedRequest {
            http_method: self.verb.clone(),
            path: self.path.clone(),
            route: route.to_owned(),
            headers: self.headers.clone(),
            params: self.query.iter().chain(&self.form).map(redact).collect(),
            body: self.json.clone(),
        }
    }
}

/// What a handler decided to do with a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Answer it.
    Respond(Response<Full<Bytes>>),
    /// Close the connection without answering.
    Drop,
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Adds a header to an answer; values that are not valid header text are skipped.
pub(crate) fn with_header(
    mut response: Response<Full<Bytes>>,
    name: &'static str,
    value: &str,
) -> Response<Full<Bytes>> {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A simulator's protocol logic, called for every request with the state locked.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(&self, exchange: Exchange) -> Outcome;
}

/// Locks a simulator's state, recovering it if a panicking test poisoned the lock.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every simulator keeps besides its platform state: requests and spec violations.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) violations: Vec<String>,
}

impl Journal {
    /// Records a violation of the spec by a request, or by an answer of the simulator itself.
    pub(crate) fn violation(&mut self, request: &Exchange, problem: &str) {
        self.violations
            .push(format!("{} {}: {problem}", request.verb, request.path));
    }
}

/// Panics listing `violations`, unless there are none or the thread already panics (so a
/// failing test shows its own failure first).
pub(crate) fn fail_on_violations(simulator: &str, violations: &[String]) {
    if violations.is_empty() || std::thread::panicking() {
        return;
    }
    panic!(
        "the {simulator} simulator saw {} request(s) that do not follow the official API spec:\n  - {}",
        violations.len(),
        violations.join("\n  - ")
    );
}

/// Loopback on a free port: where simulators listen in tests.
pub(crate) fn any_loopback_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct DroppedOnPurpose;

impl std::fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the simulator on purpose")
    }
}

impl std::error::Error for DroppedOnPurpose {}

/// An HTTP/1.1 server on a loopback address (a free port unless told one), stopped when dropped.
#[derive(Debug)]
pub(crate) struct HttpServer {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `address` and starts serving `handler` on the current Tokio runtime.
    pub(crate) async fn start(handler: Arc<dyn Handler>, address: SocketAddr) -> Self {
        let listener = TcpListener::bind(address)
            .await
            .unwrap_or_else(|error| panic!("a simulator could not bind {address}: {error}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("a simulator has no local address: {error}"));
        let task = tokio::spawn(accept_loop(listener, handler));
        Self { address, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, handler: Arc<dyn Handler>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let handler = Arc::clone(&handler);
                connections.spawn(async move {
                    let service = service_fn(move |request| serve(Arc::clone(&handler), request));
                    // A connection ends with an error when a handler drops it on purpose or the
                    // client goes away; neither concerns the simulator.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(
    handler: Arc<dyn Handler>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DroppedOnPurpose> {
    let exchange = match take_apart(request).await {
        Ok(exchange) => exchange,
        Err(response) => return Ok(response),
    };
    match handler.handle(exchange) {
        Outcome::Respond(response) => Ok(response),
        Outcome::Drop => Err(DroppedOnPurpose),
    }
}

async fn take_apart(request: Request<Incoming>) -> Result<Exchange, Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(json_response(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": "unreadable body"}),
            ));
        }
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (form, json) = if body.is_empty() {
        (Vec::new(), None)
    } else if content_type.starts_with("application/json") {
        (Vec::new(), serde_json::from_slice(&body).ok())
    } else {
        (parse_pairs(&String::from_utf8_lossy(&body)), None)
    };
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let shown = if *name == AUTHORIZATION {
                let scheme = value
                    .to_str()
                    .ok()
                    .and_then(|text| text.split(' ').next())
                    .unwrap_or_default();
                format!("{scheme} [redacted]")
            } else if *name == COOKIE {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), shown)
        })
        .collect();
    Ok(Exchange {
        verb: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parse_pairs(parts.uri.query().unwrap_or_default()),
        form,
        json,
        has_body: !body.is_empty(),
        authorization,
        headers,
    })
}

/// Parses `a=1&b=two%20words` (query strings and urlencoded forms).
fn parse_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

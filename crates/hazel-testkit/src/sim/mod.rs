#![doc = include_str!("README.md")]

pub mod discord;
pub mod discord_gateway;
pub mod slack;
pub mod slack_events;
pub mod slack_socket;
pub mod spec;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use discord::DiscordSimulator;
pub use slack::SlackSimulator;

use spec::{Incoming as SpecRequest, Operation, PathParams, Route, Spec};

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
    /// Headers, lowercased names. `Authorization` keeps only its scheme (`Bearer [redacted]`,
    /// or `[redacted]` when no short alphabetic scheme precedes the credential); every other
    /// header of a sensitive name (see [`is_sensitive`]) is `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// Query parameters, then form fields, in order; values of sensitive names are
    /// `[redacted]`.
    pub params: Vec<(String, String)>,
    /// The JSON body, when there was one, with the values of sensitive keys `[redacted]` at
    /// any depth.
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

/// What a recorded secret is replaced by.
const REDACTED: &str = "[redacted]";

/// Names (of headers, query parameters, form fields and JSON keys) whose values are secrets.
const SENSITIVE_NAMES: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "bot_token",
    "id_token",
    "client_secret",
    "code",
    "signing_secret",
    "secret",
    "password",
    "authorization",
    "proxy_authorization",
    "cookie",
    "set_cookie",
    "api_key",
    "x_api_key",
    "x_slack_signature",
    "webhook_url",
];

/// Whether values under `name` are secrets: one deny-list for headers, parameters and JSON
/// keys, compared case-insensitively with `-` and `_` alike; any name ending in `_token` or
/// `_secret`, or containing `password`, counts too.
#[must_use]
pub fn is_sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    SENSITIVE_NAMES.contains(&name.as_str())
        || name.ends_with("_token")
        || name.ends_with("_secret")
        || name.contains("password")
}

/// An `Authorization` value as recorded: its scheme when that is a short alphabetic word
/// (`Bearer [redacted]`), else `[redacted]` whole (a bare credential has no scheme to keep).
fn recorded_authorization(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, _))
            if (1..=16).contains(&scheme.len())
                && scheme.chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            format!("{scheme} {REDACTED}")
        }
        _ => REDACTED.to_owned(),
    }
}

/// `value` with the values of sensitive keys redacted, at any depth.
fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, item)| {
                    let item = if is_sensitive(key) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact_json(item)
                    };
                    (key.clone(), item)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// Prints a map with every key replaced by `[redacted]`: the simulators key their state by
/// tokens, which a `Debug` print must not show.
pub(crate) struct RedactedKeys<'a, V>(pub(crate) &'a std::collections::HashMap<String, V>);

impl<V: std::fmt::Debug> std::fmt::Debug for RedactedKeys<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.values().map(|value| (REDACTED, value)))
            .finish()
    }
}

/// A request taken apart, as the simulators' handlers see it.
pub(crate) struct Exchange {
    pub(crate) verb: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    pub(crate) json: Option<Value>,
    pub(crate) has_body: bool,
    /// The raw `Authorization` header (never recorded as is).
    pub(crate) authorization: Option<String>,
    /// Raw headers (never recorded as is).
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Exchange {
    /// Only the recorded (redacted) form: the raw request holds credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Exchange").field(&self.record("")).finish()
    }
}

/// `path` with the token of a Discord webhook route (`…/webhooks/{id}/{token}…`) redacted:
/// a webhook's token is its credential, and travels in the path.
fn shown_path(path: &str) -> String {
    let mut segments: Vec<&str> = path.split('/').collect();
    if let Some(at) = segments.iter().position(|segment| *segment == "webhooks")
        && let Some(token) = segments.get_mut(at + 2)
        && !token.is_empty()
    {
        *token = REDACTED;
    }
    segments.join("/")
}

impl Exchange {
    /// The first value of a query parameter.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The credential after `scheme ` in the `Authorization` header; schemes are compared
    /// case-insensitively, as HTTP defines them.
    pub(crate) fn credential(&self, scheme: &str) -> Option<&str> {
        let (given, credential) = self.authorization.as_deref()?.split_once(' ')?;
        let credential = credential.trim();
        (given.eq_ignore_ascii_case(scheme) && !credential.is_empty()).then_some(credential)
    }

    /// The request as recorded: no secret values.
    pub(crate) fn record(&self, route: &str) -> RecordedRequest {
        let redact = |(key, value): &(String, String)| {
            let value = if is_sensitive(key) {
                REDACTED.to_owned()
            } else {
                value.clone()
            };
            (key.clone(), value)
        };
        RecordedRequest {
            http_method: self.verb.clone(),
            path: shown_path(&self.path),
            route: route.to_owned(),
            headers: self.headers.iter().map(redact_header).collect(),
            params: self.query.iter().chain(&self.form).map(redact).collect(),
            body: self.json.as_ref().map(redact_json),
        }
    }
}

/// A header as recorded (see [`RecordedRequest::headers`]).
fn redact_header((name, value): &(String, String)) -> (String, String) {
    let shown = if name == AUTHORIZATION.as_str() {
        recorded_authorization(value)
    } else if is_sensitive(name) {
        REDACTED.to_owned()
    } else {
        value.clone()
    };
    (name.clone(), shown)
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

/// A simulator's protocol logic, called for every request.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(&self, exchange: Exchange) -> Outcome;
}

/// Why the shared pipeline refused a request before it reached the provider's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No route of the spec matches the path.
    UnknownRoute,
    /// The route exists, without this HTTP method.
    WrongVerb,
    /// The request breaks the spec and carries no credential of the provider's scheme.
    Unauthenticated,
    /// The request breaks the spec otherwise.
    Invalid,
    /// The spec has the route, the simulator does not implement it yet.
    Unimplemented,
    /// The credential is unknown.
    UnknownCredential,
    /// The credential was revoked.
    RevokedCredential,
}

/// What an implementation answered.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A success: its body is checked against the spec's success schema, then sent as JSON
    /// with HTTP 200 and these headers.
    Success {
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// Any other answer, sent as is.
    Other(Outcome),
}

/// A request that passed the spec checks, with the route that answers it.
pub(crate) struct Call<'a, P: Protocol> {
    pub(crate) exchange: &'a Exchange,
    /// The spec route's template (`/channels/{channel_id}`).
    pub(crate) template: &'static str,
    pub(crate) operation: &'static Operation,
    pub(crate) params: PathParams,
    pub(crate) implementation: P::Implementation,
}

/// What a provider plugs into the shared simulator core: its spec, its answers to refused
/// requests, its credentials, failures and implemented routes. The core owns the order in
/// which they apply (see sim/README.md).
pub(crate) trait Protocol: Sized + Send + Sync + 'static {
    /// The provider's name in messages (`Slack`).
    const NAME: &'static str;
    /// The scheme of the provider's `Authorization` header (`Bearer`).
    const SCHEME: &'static str;
    /// Where the API lives on the simulator (`/api/v10`).
    const API_PREFIX: &'static str;
    /// The scripted platform: workspaces, tokens, channels, …
    type State: Default + std::fmt::Debug + Send + 'static;
    /// How a scripted call fails.
    type Failure: std::fmt::Debug + Send + 'static;
    /// Whom a valid credential belongs to.
    type Principal;
    /// The code that answers one route.
    type Implementation: Copy;

    /// The provider's spec.
    fn spec() -> &'static Spec;
    /// The name a request to `path` is recorded under, and the spec route (with its bound
    /// path parameters) it names, if any.
    fn locate(path: &str) -> (String, Option<(&'static Route, PathParams)>);
    /// The provider's answer to a request refused before its route's code runs.
    fn reject(rejection: Rejection) -> Outcome;
    /// The code answering `verb` on the spec route `template`, if the simulator has it.
    fn implementation(verb: &str, template: &str) -> Option<Self::Implementation>;
    /// The principal of the request's credential, or why it is refused.
    fn authenticate(state: &Self::State, exchange: &Exchange)
    -> Result<Self::Principal, Rejection>;
    /// The keys a scripted failure of `verb template` may be queued under, most specific
    /// first.
    fn failure_keys(verb: &str, template: &str) -> Vec<String>;
    /// The answer of a scripted failure.
    fn fail(
        state: &Self::State,
        principal: &Self::Principal,
        operation: &Operation,
        failure: Self::Failure,
    ) -> Outcome;
    /// Query parameters of `template` that the provider documents but the vendored spec
    /// predates (Slack's `include_all_metadata`): they are accepted, not reported.
    fn documented_params(template: &str) -> &'static [&'static str] {
        let _ = template;
        &[]
    }

    /// The part of a successful answer of `template` that the vendored spec describes, when
    /// the answer also carries fields the provider documents elsewhere (Slack's
    /// `response_metadata`, a message's `metadata`); `None` to check the whole answer.
    fn spec_view(template: &str, body: &Value) -> Option<Value> {
        let _ = (template, body);
        None
    }

    /// Answers a valid call; problems the provider would refuse it for go to `refused` as
    /// violations.
    fn answer(
        state: &Self::State,
        principal: &Self::Principal,
        call: &Call<'_, Self>,
        refused: &mut Vec<String>,
    ) -> Reply;
}

/// A simulator's mutable side: its journal, scripted failures and platform state.
pub(crate) struct Shared<P: Protocol> {
    pub(crate) journal: Journal,
    failures: HashMap<String, VecDeque<P::Failure>>,
    /// Calls under a key still to answer normally before its queued failures fire.
    passes: HashMap<String, usize>,
    pub(crate) state: P::State,
}

impl<P: Protocol> Default for Shared<P> {
    fn default() -> Self {
        Self {
            journal: Journal::default(),
            failures: HashMap::new(),
            passes: HashMap::new(),
            state: P::State::default(),
        }
    }
}

impl<P: Protocol> std::fmt::Debug for Shared<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("journal", &self.journal)
            .field("failures", &self.failures)
            .field("state", &self.state)
            .finish()
    }
}

impl<P: Protocol> Shared<P> {
    /// Answers one request: spec checks, then the route's implementation, the credential,
    /// a scripted failure and finally the route's code, in that order.
    fn serve(&mut self, exchange: &Exchange) -> Outcome {
        let spec = P::spec();
        let (name, located) = P::locate(&exchange.path);
        self.journal.requests.push(exchange.record(&name));
        let Some((route, params)) = located else {
            self.journal.violation(
                exchange,
                &format!(
                    "no route of {}'s spec matches (the API lives under {})",
                    P::NAME,
                    P::API_PREFIX
                ),
            );
            return P::reject(Rejection::UnknownRoute);
        };
        let verb = exchange.verb.to_ascii_uppercase();
        let Some(operation) = route.operation(&verb) else {
            let allowed: Vec<&str> = route.verbs().collect();
            self.journal.violation(
                exchange,
                &format!(
                    "the spec calls {} with {}",
                    route.template,
                    allowed.join(", ")
                ),
            );
            return P::reject(Rejection::WrongVerb);
        };
        let documented = P::documented_params(&route.template);
        let query: Vec<(String, String)> = exchange
            .query
            .iter()
            .filter(|(name, _)| !documented.contains(&name.as_str()))
            .cloned()
            .collect();
        let problems = spec.check_request(
            operation,
            &SpecRequest {
                authorization: exchange.authorization.as_deref(),
                path_params: params.clone(),
                query: &query,
                form: &exchange.form,
                json: exchange.json.as_ref(),
                has_body: exchange.has_body,
            },
        );
        if !problems.is_empty() {
            for problem in &problems {
                self.journal.violation(exchange, problem);
            }
            return P::reject(if exchange.credential(P::SCHEME).is_none() {
                Rejection::Unauthenticated
            } else {
                Rejection::Invalid
            });
        }
        // A route without an implementation is reported whatever the credential, so a missing
        // simulation never hides behind an authentication failure.
        let Some(implementation) = P::implementation(&verb, &route.template) else {
            self.journal.violation(
                exchange,
                &format!(
                    "the {} simulator does not implement this route yet (see sim/README.md)",
                    P::NAME
                ),
            );
            return P::reject(Rejection::Unimplemented);
        };
        // As on the real platforms, the credential is checked before anything else can fail.
        let principal = match P::authenticate(&self.state, exchange) {
            Ok(principal) => principal,
            Err(rejection) => return P::reject(rejection),
        };
        let failure = P::failure_keys(&verb, &route.template)
            .iter()
            .find_map(|key| {
                let queue = self
                    .failures
                    .get_mut(key)
                    .filter(|queue| !queue.is_empty())?;
                match self.passes.get_mut(key) {
                    Some(passes) if *passes > 0 => {
                        *passes -= 1;
                        None
                    }
                    _ => queue.pop_front(),
                }
            });
        if let Some(failure) = failure {
            return P::fail(&self.state, &principal, operation, failure);
        }
        let call = Call {
            exchange,
            template: &route.template,
            operation,
            params,
            implementation,
        };
        let mut refused = Vec::new();
        let reply = P::answer(&self.state, &principal, &call, &mut refused);
        for problem in &refused {
            self.journal.violation(exchange, problem);
        }
        match reply {
            Reply::Success { body, headers } => {
                let view = P::spec_view(&route.template, &body);
                for problem in
                    spec.check_success(&verb, &route.template, view.as_ref().unwrap_or(&body))
                {
                    self.journal.violation(
                        exchange,
                        &format!("the simulator's own answer breaks the spec: {problem}"),
                    );
                }
                let mut response = json_response(StatusCode::OK, &body);
                for (name, value) in headers {
                    response = with_header(response, name, &value);
                }
                Outcome::Respond(response)
            }
            Reply::Other(outcome) => outcome,
        }
    }
}

/// What every simulator is: an HTTP server speaking protocol `P` over shared state. It
/// panics on drop while it holds unchecked violations.
pub(crate) struct Core<P: Protocol> {
    server: HttpServer,
    shared: Arc<Mutex<Shared<P>>>,
}

impl<P: Protocol> std::fmt::Debug for Core<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("server", &self.server)
            .field("shared", &self.shared)
            .finish()
    }
}

/// The [`Handler`] of a [`Core`]: its shared state, served by protocol `P`.
struct CoreHandler<P: Protocol> {
    shared: Arc<Mutex<Shared<P>>>,
}

impl<P: Protocol> Handler for CoreHandler<P> {
    fn handle(&self, exchange: Exchange) -> Outcome {
        lock(&self.shared).serve(&exchange)
    }
}

impl<P: Protocol> Core<P> {
    /// Binds `address` (port 0: a free one) and starts serving on the current Tokio runtime.
    ///
    /// # Panics
    /// When the address cannot be bound.
    pub(crate) async fn start(address: SocketAddr) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let handler = CoreHandler {
            shared: Arc::clone(&shared),
        };
        let server = HttpServer::start(Arc::new(handler), address).await;
        Self { server, shared }
    }

    /// `http://127.0.0.1:PORT` followed by the API prefix.
    pub(crate) fn url(&self) -> String {
        format!(
            "{}{}",
            self.server.origin(),
            P::API_PREFIX.trim_end_matches('/')
        )
    }

    /// Locks the shared side (journal, failures, platform state).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Shared<P>> {
        lock(&self.shared)
    }

    /// A recorder of violations found outside a request (in what the simulator emits), kept
    /// in the same journal as the requests' own.
    pub(crate) fn violation_recorder(&self) -> Arc<dyn Fn(String) + Send + Sync> {
        let shared = Arc::clone(&self.shared);
        Arc::new(move |problem| lock(&shared).journal.violations.push(problem))
    }

    /// Queues a failure under `key` (one of [`Protocol::failure_keys`]).
    pub(crate) fn fail_next(&self, key: String, failure: P::Failure) {
        self.lock()
            .failures
            .entry(key)
            .or_default()
            .push_back(failure);
    }

    /// Queues a failure under `key` that fires after `passes` more calls under it were
    /// answered normally (a listing refused on its third page).
    pub(crate) fn fail_after(&self, key: String, passes: usize, failure: P::Failure) {
        let mut shared = self.lock();
        shared.passes.insert(key.clone(), passes);
        shared.failures.entry(key).or_default().push_back(failure);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().journal.requests.clone()
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.lock().journal.violations.clone()
    }

    pub(crate) fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().journal.violations)
    }

    /// Panics listing the violations seen so far, if any.
    pub(crate) fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(
            violations.is_empty(),
            "the {} simulator saw requests that do not follow {}'s spec:\n  - {}",
            P::NAME,
            P::NAME,
            violations.join("\n  - ")
        );
    }
}

impl<P: Protocol> Drop for Core<P> {
    fn drop(&mut self) {
        fail_on_violations(P::NAME, &lock(&self.shared).journal.violations);
    }
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
        self.violations.push(format!(
            "{} {}: {problem}",
            request.verb,
            shown_path(&request.path)
        ));
    }
}

/// Panics listing `violations`, unless there are none or the thread already panics (so a
/// failing test shows its own failure first).
fn fail_on_violations(simulator: &str, violations: &[String]) {
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
    // Kept raw here; redacted whenever recorded or printed (`Exchange::record`).
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
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

pub(crate) fn percent_decode(text: &str) -> String {
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

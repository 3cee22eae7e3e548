//! The providers' official API specs, parsed once per process, and the checks the simulators
//! make of every request they receive and every answer they give.
//!
//! Both specs are vendored under `crates/hazel-testkit/specs/` (MIT, see the LICENSE files
//! there) so the checks run on a clean clone.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Slack's Web API spec (Swagger 2.0), as published by Slack.
static SLACK_SPEC: &str =
    include_str!("../../specs/slack/slack_web_openapi_v2_without_examples.json");
/// Discord's REST API spec (OpenAPI 3.1), as published by Discord.
static DISCORD_SPEC: &str = include_str!("../../specs/discord/openapi.json");

/// Slack methods the vendored spec predates (`apps.connections.open`, Socket Mode), written
/// down from Slack's method documentation in the same Swagger 2.0 form and merged into it.
static SLACK_SUPPLEMENT: &str = include_str!("../../specs/slack/socket_mode.json");

static SLACK: LazyLock<Spec> =
    LazyLock::new(|| Spec::parse_with(Flavor::Slack, SLACK_SPEC, Some(SLACK_SUPPLEMENT)));
static DISCORD: LazyLock<Spec> = LazyLock::new(|| Spec::parse(Flavor::Discord, DISCORD_SPEC));

/// Slack's Events API spec (AsyncAPI 1.x), as published by Slack.
static SLACK_EVENTS_SPEC: &str = include_str!("../../specs/slack/slack_events_api_async_v1.json");

static SLACK_EVENTS: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(SLACK_EVENTS_SPEC).expect("the vendored Slack Events API spec is JSON")
});

/// The problems of an Events API request body (an `event_callback` wrapper) measured
/// against the payload schema of its event's topic in Slack's Events API spec (`message` →
/// `message.channels`, `reaction_added` → `reaction.added`, …); empty when it conforms, or
/// names the event type the spec lacks. Other bodies (`url_verification`) are not checked.
#[must_use]
pub fn check_slack_event(payload: &Value) -> Vec<String> {
    let root = &*SLACK_EVENTS;
    let kind = payload
        .pointer("/event/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Only `event_callback` bodies are described by the spec's topics (its `url.verification`
    // topic reuses the event wrapper, which a challenge does not have).
    if payload.get("type").and_then(Value::as_str) != Some("event_callback") {
        return Vec::new();
    }
    let topic = match kind {
        "message" => match payload
            .pointer("/event/channel_type")
            .and_then(Value::as_str)
        {
            Some("group") => "message.groups".to_owned(),
            _ => "message.channels".to_owned(),
        },
        other => other.replace('_', "."),
    };
    let Some(schema) = root.pointer(&format!(
        "/topics/{}/subscribe/payload",
        topic.replace('/', "~1")
    )) else {
        return vec![format!("the Events API spec has no topic {topic:?}")];
    };
    let mut problems = Vec::new();
    check_shape(root, payload, schema, "$", &mut problems, 0);
    problems
}

/// Slack's Web API spec: routes are method names (`auth.test`).
pub fn slack() -> &'static Spec {
    &SLACK
}

/// Discord's REST API spec: routes are path templates (`/guilds/{guild_id}`).
pub fn discord() -> &'static Spec {
    &DISCORD
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Slack,
    Discord,
}

/// One parsed API spec.
#[derive(Debug)]
pub struct Spec {
    root: Value,
    routes: Vec<Route>,
}

/// One path of a spec with its operations.
#[derive(Debug)]
pub struct Route {
    /// The path as the spec writes it, without Slack's leading `/` (`auth.test`,
    /// `/guilds/{guild_id}`).
    pub template: String,
    segments: Vec<Segment>,
    operations: BTreeMap<String, Operation>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Location {
    Query,
    Form,
    Header,
    Path,
}

#[derive(Debug)]
struct Param {
    name: String,
    location: Location,
    required: bool,
    /// The parameter's schema (Swagger 2 keeps `type` on the parameter itself).
    schema: Value,
}

/// What the spec says about the `Authorization` header.
#[derive(Debug)]
struct Auth {
    required: bool,
    /// Accepted schemes (`Bearer`, `Bot`).
    schemes: Vec<&'static str>,
}

/// One HTTP method of one route.
#[derive(Debug)]
pub struct Operation {
    /// The spec's `operationId`.
    pub id: String,
    /// Slack: the OAuth scopes the spec lists for the method (any one of them suffices).
    pub scopes: Vec<String>,
    params: Vec<Param>,
    body: Option<Body>,
    auth: Auth,
    success: Option<Value>,
}

#[derive(Debug)]
struct Body {
    required: bool,
    schema: Option<Value>,
}

/// Path parameters bound by a route template, in order (`guild_id` → `81384788765712384`).
pub(crate) type PathParams = Vec<(String, String)>;

/// A request as the checks see it.
#[derive(Debug, Default)]
pub(crate) struct Incoming<'a> {
    /// The `Authorization` header.
    pub(crate) authorization: Option<&'a str>,
    /// Path parameters bound by the route template.
    pub(crate) path_params: Vec<(String, String)>,
    /// Query string parameters.
    pub(crate) query: &'a [(String, String)],
    /// Form fields of an `application/x-www-form-urlencoded` body.
    pub(crate) form: &'a [(String, String)],
    /// A JSON body.
    pub(crate) json: Option<&'a Value>,
    /// Whether the request had a body at all.
    pub(crate) has_body: bool,
}

impl Spec {
    fn parse(flavor: Flavor, text: &str) -> Self {
        Self::parse_with(flavor, text, None)
    }

    /// Parses `text`, with the paths of `supplement` (a spec of the same form) added.
    fn parse_with(flavor: Flavor, text: &str, supplement: Option<&str>) -> Self {
        let mut root: Value = serde_json::from_str(text)
            .unwrap_or_else(|error| panic!("the vendored {flavor:?} spec is not JSON: {error}"));
        if let Some(supplement) = supplement {
            let extra: Value = serde_json::from_str(supplement).unwrap_or_else(|error| {
                panic!("the {flavor:?} spec supplement is not JSON: {error}")
            });
            if let (Some(paths), Some(added)) = (
                root.get_mut("paths").and_then(Value::as_object_mut),
                extra.get("paths").and_then(Value::as_object),
            ) {
                for (path, item) in added {
                    paths.entry(path.clone()).or_insert_with(|| item.clone());
                }
            }
        }
        let mut routes = Vec::new();
        if let Some(paths) = root.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                routes.push(Route::parse(flavor, path, item));
            }
        }
        Self { root, routes }
    }

    /// The route whose template matches `path` (Slack: a method name; Discord: a path below
    /// the API base), preferring literal segments over parameters, with the bound parameters.
    pub(crate) fn route(&self, path: &str) -> Option<(&Route, PathParams)> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(&Route, PathParams, usize)> = None;
        for route in &self.routes {
            if route.segments.is_empty() {
                if route.template == path {
                    return Some((route, Vec::new()));
                }
                continue;
            }
            if let Some((params, literals)) = route.bind(&parts)
                && best.as_ref().is_none_or(|(_, _, most)| literals > *most)
            {
                best = Some((route, params, literals));
            }
        }
        best.map(|(route, params, _)| (route, params))
    }

    /// The route with exactly this template, if the spec has it.
    pub fn route_by_template(&self, template: &str) -> Option<&Route> {
        self.routes.iter().find(|route| route.template == template)
    }

    /// The problems of `value` measured against the success (2xx) schema of `verb template`;
    /// empty when it conforms. Checks types, `required`, `enum`/`const` and closed objects.
    #[must_use]
    pub fn check_success(&self, verb: &str, template: &str, value: &Value) -> Vec<String> {
        let Some(operation) = self
            .route_by_template(template)
            .and_then(|route| route.operation(verb))
        else {
            return vec![format!("{verb} {template} is not in the spec")];
        };
        let mut problems = Vec::new();
        if let Some(schema) = &operation.success {
            check_shape(&self.root, value, schema, "$", &mut problems, 0);
        }
        problems
    }

    /// The problems of `incoming` measured against `operation` (missing or unknown
    /// parameters, parameters of the wrong type, a missing required body or body field, a
    /// missing `Authorization` header); empty when it conforms.
    pub(crate) fn check_request(
        &self,
        operation: &Operation,
        incoming: &Incoming<'_>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        check_auth(&operation.auth, incoming.authorization, &mut problems);
        let json_fields: Vec<(String, String)> = incoming
            .json
            .and_then(Value::as_object)
            .map(|object| {
                object
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for param in &operation.params {
            // The token of Slack's spec travels in the Authorization header (checked above).
            if param.name == "token" {
                continue;
            }
            let found: Vec<&str> = match param.location {
                Location::Query => values(incoming.query, &param.name),
                Location::Path => values(&incoming.path_params, &param.name),
                Location::Form => {
                    let mut found = values(incoming.form, &param.name);
                    found.extend(values(&json_fields, &param.name));
                    found
                }
                Location::Header => continue,
            };
            if found.is_empty() {
                if param.required {
                    problems.push(format!(
                        "missing required {:?} parameter `{}`",
                        param.location, param.name
                    ));
                }
                continue;
            }
            // JSON body fields are typed by JSON itself; only textual values are parsed here.
            if param.location != Location::Form || incoming.json.is_none() {
                for raw in found {
                    if let Err(problem) = check_scalar(&self.root, raw, &param.schema) {
                        let shown = if super::is_sensitive(&param.name) {
                            "[redacted]".to_owned()
                        } else {
                            format!("{raw:?}")
                        };
                        problems.push(format!(
                            "{:?} parameter `{}` = {shown}: {problem}",
                            param.location, param.name
                        ));
                    }
                }
            }
        }
        let known = |location: Location, name: &str| {
            name == "token"
                || operation
                    .params
                    .iter()
                    .any(|param| param.location == location && param.name == name)
        };
        for (name, _) in incoming.query {
            if !known(Location::Query, name) {
                problems.push(format!("query parameter `{name}` is not in the spec"));
            }
        }
        for (name, _) in incoming.form {
            if !known(Location::Form, name) {
                problems.push(format!("form field `{name}` is not in the spec"));
            }
        }
        if let Some(body) = &operation.body {
            match (incoming.json, &body.schema) {
                (Some(json), Some(schema)) => {
                    for field in required_fields(&self.root, schema) {
                        if json.get(&field).is_none() {
                            problems.push(format!("missing required body field `{field}`"));
                        }
                    }
                }
                (None, _) if body.required => {
                    problems.push("missing required JSON body".to_owned());
                }
                _ => {}
            }
        } else if incoming.has_body && incoming.form.is_empty() && json_fields.is_empty() {
            problems.push("a body was sent to an operation that takes none".to_owned());
        }
        problems
    }
}

impl Route {
    fn parse(flavor: Flavor, path: &str, item: &Value) -> Self {
        let (template, segments) = match flavor {
            Flavor::Slack => (path.trim_start_matches('/').to_owned(), Vec::new()),
            Flavor::Discord => (
                path.to_owned(),
                path.trim_start_matches('/')
                    .split('/')
                    .map(
                        |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_owned()),
                            None => Segment::Literal(part.to_owned()),
                        },
                    )
                    .collect(),
            ),
        };
        let shared = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut operations = BTreeMap::new();
        if let Some(object) = item.as_object() {
            for (verb, op) in object {
                if verb == "parameters" || !op.is_object() {
                    continue;
                }
                operations.insert(
                    verb.to_ascii_uppercase(),
                    Operation::parse(flavor, &shared, op),
                );
            }
        }
        Self {
            template,
            segments,
            operations,
        }
    }

    /// Binds `parts` to this template: the path parameters and the count of literal segments.
    fn bind(&self, parts: &[&str]) -> Option<(Vec<(String, String)>, usize)> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        let mut literals = 0;
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal == part => literals += 1,
                Segment::Literal(_) => return None,
                Segment::Param(_) if part.is_empty() => return None,
                Segment::Param(name) => params.push((name.clone(), (*part).to_owned())),
            }
        }
        Some((params, literals))
    }

    /// The operation for an HTTP method (`GET`), if the spec has it.
    #[must_use]
    pub fn operation(&self, verb: &str) -> Option<&Operation> {
        self.operations.get(&verb.to_ascii_uppercase())
    }

    /// The HTTP methods the spec allows on this route.
    pub fn verbs(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }
}

impl Operation {
    fn parse(flavor: Flavor, shared: &[Value], op: &Value) -> Self {
        let own = op
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut params: Vec<Param> = Vec::new();
        for raw in shared.iter().chain(&own) {
            let name = raw.get("name").and_then(Value::as_str).unwrap_or_default();
            let location = match raw.get("in").and_then(Value::as_str) {
                Some("query") => Location::Query,
                Some("formData") => Location::Form,
                Some("path") => Location::Path,
                _ => Location::Header,
            };
            let schema = raw.get("schema").cloned().unwrap_or_else(|| {
                let mut schema = serde_json::Map::new();
                for key in ["type", "pattern", "enum"] {
                    if let Some(value) = raw.get(key) {
                        schema.insert(key.to_owned(), value.clone());
                    }
                }
                Value::Object(schema)
            });
            let param = Param {
                name: name.to_owned(),
                location,
                required: raw
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                schema,
            };
            // An operation's own parameter overrides the path item's one of the same name.
            params.retain(|p| !(p.name == param.name && p.location == param.location));
            params.push(param);
        }
        let security: Vec<&serde_json::Map<String, Value>> = op
            .get("security")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default();
        let scopes = security
            .iter()
            .flat_map(|requirement| requirement.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .filter(|scope| *scope != "none")
            .map(str::to_owned)
            .collect();
        let auth = match flavor {
            Flavor::Slack => Auth {
                required: params.iter().any(|p| p.name == "token"),
                schemes: vec!["Bearer"],
            },
            Flavor::Discord => {
                let mut schemes = Vec::new();
                if security.iter().any(|r| r.contains_key("BotToken")) {
                    schemes.push("Bot");
                }
                if security.iter().any(|r| r.contains_key("OAuth2")) {
                    schemes.push("Bearer");
                }
                Auth {
                    required: !security.is_empty() && !security.iter().any(|r| r.is_empty()),
                    schemes,
                }
            }
        };
        let body = op.get("requestBody").map(|body| Body {
            required: body
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            schema: body.pointer("/content/application~1json/schema").cloned(),
        });
        let success = op.get("responses").and_then(|responses| {
            ["200", "201"].iter().find_map(|status| {
                let response = responses.get(*status)?;
                response
                    .get("schema")
                    .or_else(|| response.pointer("/content/application~1json/schema"))
                    .cloned()
            })
        });
        Self {
            id: op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            scopes,
            params,
            body,
            auth,
            success,
        }
    }
}

fn values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

fn check_auth(auth: &Auth, header: Option<&str>, problems: &mut Vec<String>) {
    let expected = auth.schemes.join(" or ");
    match header {
        None if auth.required => {
            problems.push(format!("missing `Authorization: {expected} …` header"))
        }
        None => {}
        Some(value) => {
            let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
            // Authentication schemes are case-insensitive (RFC 9110, section 11.1).
            let known = auth
                .schemes
                .iter()
                .any(|expected| expected.eq_ignore_ascii_case(scheme));
            if !known || credential.trim().is_empty() {
                problems.push(format!(
                    "the Authorization header is not `{expected} <credential>`"
                ));
            }
        }
    }
}

/// Follows a `$ref` (`#/definitions/x`, `#/components/schemas/x`) within the spec.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..16 {
        match current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        {
            Some(target) => current = target,
            None => break,
        }
    }
    current
}

/// The top-level required fields of an object schema (following `$ref` and `allOf`).
fn required_fields(root: &Value, schema: &Value) -> Vec<String> {
    let schema = resolve(root, schema);
    let mut fields: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            fields.extend(required_fields(root, part));
        }
    }
    fields
}

/// Checks a textual parameter value against a scalar schema.
fn check_scalar(root: &Value, raw: &str, schema: &Value) -> Result<(), String> {
    let schema = resolve(root, schema);
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let typed = types.is_empty()
        || types.iter().any(|kind| match *kind {
            "integer" => raw.parse::<i64>().is_ok(),
            "number" => raw.parse::<f64>().is_ok(),
            "boolean" => matches!(raw, "true" | "false" | "1" | "0"),
            _ => true,
        });
    if !typed {
        return Err(format!("not a {}", types.join(" or ")));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let matches = Regex::new(pattern)
            .map(|re| re.is_match(raw))
            .unwrap_or(true);
        if !matches {
            return Err(format!("does not match the pattern {pattern}"));
        }
    }
    // Discord's snowflakes are 64-bit unsigned integers written in decimal; the pattern alone
    // lets `99999999999999999999` through.
    if schema.get("format").and_then(Value::as_str) == Some("snowflake")
        && raw.parse::<u64>().is_err()
    {
        return Err("is not a snowflake (a 64-bit unsigned integer)".to_owned());
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let listed = options.iter().any(|option| match option {
            Value::String(text) => text == raw,
            Value::Number(number) => number.to_string() == raw,
            Value::Bool(flag) => flag.to_string() == raw,
            _ => false,
        });
        if !listed {
            return Err("is not one of the values the spec lists".to_owned());
        }
    }
    Ok(())
}

fn json_type_matches(kind: &str, value: &Value) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

/// A small JSON Schema checker, enough for the specs' response schemas: `$ref`, `allOf`,
/// `oneOf`/`anyOf` (any alternative), Slack's tuple `items` used as alternatives, `type`
/// (one or several), `enum`, `const`, `required`, `properties`, closed objects
/// (`additionalProperties: false`) and array `items`. Formats and patterns are not checked.
fn check_shape(
    root: &Value,
    value: &Value,
    schema: &Value,
    at: &str,
    problems: &mut Vec<String>,
    depth: usize,
) {
    if depth > 48 {
        return;
    }
    let schema = resolve(root, schema);
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|kind| json_type_matches(kind, value)) {
        problems.push(format!(
            "{at}: expected {}, got {value}",
            types.join(" or ")
        ));
        return;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        problems.push(format!(
            "{at}: {value} is not one of {}",
            Value::from(options.clone())
        ));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        problems.push(format!("{at}: expected {constant}, got {value}"));
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            check_shape(root, value, part, at, problems, depth + 1);
        }
    }
    let mut alternatives: Vec<&Value> = Vec::new();
    for key in ["oneOf", "anyOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            alternatives.extend(list);
        }
    }
    if !value.is_array()
        && let Some(list) = schema.get("items").and_then(Value::as_array)
    {
        alternatives.extend(list);
    }
    if !alternatives.is_empty() {
        let mut closest: Option<Vec<String>> = None;
        for alternative in alternatives {
            let mut found = Vec::new();
            check_shape(root, value, alternative, at, &mut found, depth + 1);
            if found.is_empty() {
                closest = None;
                break;
            }
            if closest.as_ref().is_none_or(|best| found.len() < best.len()) {
                closest = Some(found);
            }
        }
        if let Some(found) = closest {
            problems.push(format!("{at}: matches none of the alternatives"));
            problems.extend(found);
        }
    }
    if let Some(object) = value.as_object() {
        for field in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(field) {
                problems.push(format!("{at}: missing required field `{field}`"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        for (key, item) in object {
            match properties.and_then(|props| props.get(key)) {
                Some(property) => check_shape(
                    root,
                    item,
                    property,
                    &format!("{at}.{key}"),
                    problems,
                    depth + 1,
                ),
                None if closed => problems.push(format!("{at}: field `{key}` is not in the spec")),
                None => {}
            }
        }
    }
    if let (Some(items), Some(schema_items)) = (value.as_array(), schema.get("items"))
        && schema_items.is_object()
    {
        for (index, item) in items.iter().enumerate() {
            check_shape(
                root,
                item,
                schema_items,
                &format!("{at}[{index}]"),
                problems,
                depth + 1,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_specs_parse_into_routes() {
        assert!(slack().route("auth.test").is_some());
        assert!(slack().route("no.such.method").is_none());
        let (route, params) = discord().route("/guilds/123/members/456").unwrap();
        assert_eq!(route.template, "/guilds/{guild_id}/members/{user_id}");
        assert_eq!(
            params,
            [
                ("guild_id".to_owned(), "123".to_owned()),
                ("user_id".to_owned(), "456".to_owned())
            ]
        );
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let (route, _) = discord().route("/users/@me").unwrap();
        assert_eq!(route.template, "/users/@me");
    }

    #[test]
    fn the_shape_checker_reports_missing_fields_and_wrong_types() {
        let answer = json!({"ok": true, "url": "u", "team": "T", "user": "u", "team_id": 5});

        let problems = slack().check_success("GET", "auth.test", &answer);

        assert!(
            problems.iter().any(|p| p.contains("`user_id`")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("$.team_id")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_shape_checker_follows_refs_alternatives_and_enums() {
        let channel = json!({
            "id": "1", "type": 3, "flags": 0, "guild_id": "2", "name": "x", "position": 0,
            "parent_id": "not-a-snowflake-but-a-string",
        });

        let problems =
            discord().check_success("GET", "/guilds/{guild_id}/channels", &json!([channel]));
        let fine = discord().check_success(
            "GET",
            "/guilds/{guild_id}/channels",
            &json!([{"id": "1", "type": 0, "flags": 0, "guild_id": "2", "name": "x", "position": 0}]),
        );

        assert!(
            problems.iter().any(|p| p.contains("alternatives")),
            "{problems:?}"
        );
        assert!(fine.is_empty(), "{fine:?}");
    }

    #[test]
    fn requests_are_checked_for_auth_parameters_and_bodies() {
        let (route, path_params) = discord().route("/guilds/abc/members/search").unwrap();
        let operation = route.operation("GET").unwrap();
        let query = [
            ("limit".to_owned(), "ten".to_owned()),
            ("extra".to_owned(), "1".to_owned()),
        ];

        let problems = discord().check_request(
            operation,
            &Incoming {
                authorization: Some("Bearer x"),
                path_params,
                query: &query,
                ..Incoming::default()
            },
        );

        assert_eq!(problems.len(), 5, "{problems:?}");
        for expected in [
            "Authorization",
            "`guild_id`",
            "`query`",
            "`limit`",
            "`extra`",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }
}

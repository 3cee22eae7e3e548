//! The OpenAPI document as committed and served: poem-openapi's document plus the rules its
//! registry cannot express, so the document says everything the server enforces.
//!
//! - Every object a request body can contain is closed (`additionalProperties: false`): every
//!   request type denies unknown fields (`#[serde(deny_unknown_fields)]`), and poem-openapi has
//!   no way to say so in the schema.
//! - An optional field without a default may be `null`, which means the same as leaving it out
//!   (serde reads both as `None`), so the document says it is nullable.
//! - Rules that tie two fields together, which the server checks once the fields are parsed
//!   (a thread needs a parent channel; a message needs text or attachments).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::text::visible_text_pattern;

/// Rules across fields, by request schema name, added as `anyOf`.
fn cross_field_rules() -> Vec<(&'static str, Value)> {
    vec![
        (
            "CreateChannel",
            json!([
                {"properties": {"type": {"enum": ["thread"]},
                                "parentChannelId": {"type": "string"}},
                 "required": ["parentChannelId"]},
                {"properties": {"type": {"enum": ["public", "private"]}},
                 "not": {"required": ["parentChannelId"]}}
            ]),
        ),
        (
            "CreateConnection",
            json!([
                {"properties": {"provider": {"enum": ["slack"]},
                                "credentials": {"$ref": "#/components/schemas/SlackCredentials"}}},
                {"properties": {"provider": {"enum": ["discord"]},
                                "credentials": {"$ref": "#/components/schemas/DiscordCredentials"}}}
            ]),
        ),
        (
            "CreateMessage",
            json!([
                {"properties": {"content": {"pattern": visible_text_pattern()}}},
                {"properties": {"attachments": {"type": "array", "minItems": 1}},
                 "required": ["attachments"]}
            ]),
        ),
    ]
}

/// Refines poem-openapi's document (`document`, JSON); answers it pretty-printed.
///
/// # Errors
/// When `document` is not a JSON object with `components.schemas` (it always is).
pub(crate) fn refine(document: &str) -> Result<String, serde_json::Error> {
    let mut spec: Value = serde_json::from_str(document)?;
    let roots = request_body_refs(&spec);
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in reachable(schemas, roots) {
            if let Some(schema) = schemas.get_mut(&name).and_then(Value::as_object_mut)
                && schema.contains_key("properties")
                && !schema.contains_key("additionalProperties")
            {
                schema.insert("additionalProperties".to_owned(), Value::Bool(false));
                mark_nullable(schema);
            }
        }
        for (name, any_of) in cross_field_rules() {
            if let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) {
                schema.insert("anyOf".to_owned(), any_of);
            }
        }
    }
    serde_json::to_string_pretty(&spec)
}

/// Marks the optional properties without a default of `schema` nullable.
fn mark_nullable(schema: &mut Map<String, Value>) {
    let required: BTreeSet<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect();
    let properties = schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|properties| properties.iter_mut());
    for (name, property) in properties {
        if let Some(property) = property.as_object_mut()
            && !required.contains(name)
            && !property.contains_key("default")
        {
            property.insert("nullable".to_owned(), Value::Bool(true));
        }
    }
}

/// The component schemas request bodies name directly.
fn request_body_refs(spec: &Value) -> Vec<String> {
    let mut refs = Vec::new();
    let paths = spec.get("paths").and_then(Value::as_object);
    for operation in paths
        .into_iter()
        .flat_map(Map::values)
        .filter_map(Value::as_object)
    {
        for body in operation.values().filter_map(|op| op.get("requestBody")) {
            collect_refs(body, &mut refs);
        }
    }
    refs
}

/// The schemas named by `roots` and every schema they name, transitively.
fn reachable(schemas: &Map<String, Value>, roots: Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = roots;
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone())
            && let Some(schema) = schemas.get(&name)
        {
            collect_refs(schema, &mut todo);
        }
    }
    seen
}

/// Every `$ref: #/components/schemas/<name>` inside `value`.
fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The paths of the document: the methods each supports (for `Allow` on 405 answers) and the
/// names of its path parameters.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowedMethods {
    paths: Vec<(Vec<String>, Vec<String>)>,
}

impl AllowedMethods {
    /// The template of the document that `path` matches, preferring literal segments
    /// (`/notifications/delete-by-message-ids` over `/notifications/{id}`).
    fn template(&self, path: &str) -> Option<&(Vec<String>, Vec<String>)> {
        let given = segments(path);
        self.paths
            .iter()
            .filter(|(template, _)| {
                template.len() == given.len()
                    && template
                        .iter()
                        .zip(&given)
                        .all(|(t, g)| (is_variable(t) && !g.is_empty()) || t == g)
            })
            .max_by_key(|(template, _)| template.iter().filter(|t| !is_variable(t)).count())
    }

    /// The name of the `index`-th path parameter of the template `path` matches (poem-openapi
    /// reports path parameters as `param0`, `param1`, ...).
    pub(crate) fn path_parameter(&self, path: &str, index: usize) -> Option<String> {
        let (template, _) = self.template(path)?;
        template
            .iter()
            .filter(|t| is_variable(t))
            .nth(index)
            .map(|t| t[1..t.len() - 1].to_owned())
    }

    /// Reads the paths and methods of `spec` (the refined document), plus the operational
    /// routes outside it.
    pub(crate) fn from_spec(spec: &Value) -> Self {
        let mut paths: Vec<(Vec<String>, Vec<String>)> = spec
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let mut methods: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flat_map(Map::keys)
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                methods.sort();
                (segments(path), methods)
            })
            .collect();
        for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
            paths.push((segments(path), vec!["GET".to_owned()]));
        }
        Self { paths }
    }

    /// The `Allow` value for `path`: its methods, comma separated; empty when no path of the
    /// document matches.
    pub(crate) fn allow(&self, path: &str) -> String {
        self.template(path)
            .map(|(_, methods)| methods.join(", "))
            .unwrap_or_default()
    }
}

fn is_variable(segment: &str) -> bool {
    segment.len() > 2 && segment.starts_with('{') && segment.ends_with('}')
}

fn segments(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        serde_json::from_str(&crate::openapi_json()).unwrap()
    }

    #[test]
    fn every_object_of_a_request_body_is_closed() {
        let spec = document();
        let schemas = spec["components"]["schemas"].as_object().unwrap();
        let names = reachable(schemas, request_body_refs(&spec));
        for name in [
            "CreateOrganization",
            "CreateMessage",
            "AttachmentInput",
            "LinkSettingsPatch",
        ] {
            assert!(names.contains(name), "{name}");
        }
        // A provider's own payload is open: Slack adds fields to its envelopes over time.
        assert_eq!(
            schemas["SlackEventEnvelope"]["additionalProperties"],
            json!({})
        );
        for name in names
            .into_iter()
            .filter(|name| name != "SlackEventEnvelope")
        {
            let schema = &schemas[&name];
            if schema.get("properties").is_some() {
                assert_eq!(schema["additionalProperties"], false, "{name}");
            }
        }
        let create = &schemas["CreateOrganization"]["properties"];
        assert_eq!(create["slug"]["nullable"], true);
        assert!(create["name"].get("nullable").is_none());
        assert!(
            schemas["SelectChannels"]["properties"]["syncAll"]
                .get("nullable")
                .is_none()
        );
        // Answers stay open to additions.
        assert!(schemas["Message"].get("additionalProperties").is_none());
    }

    #[test]
    fn cross_field_rules_name_existing_fields() {
        let spec = document();
        for (name, any_of) in cross_field_rules() {
            let schema = &spec["components"]["schemas"][name];
            assert_eq!(schema["anyOf"], any_of, "{name}");
            let mut named = Vec::new();
            for branch in any_of.as_array().unwrap() {
                named.extend(branch["properties"].as_object().unwrap().keys().cloned());
            }
            for field in named {
                assert!(schema["properties"].get(&field).is_some(), "{name}.{field}");
            }
        }
    }

    #[test]
    fn documented_list_limits_are_the_domain_limits() {
        use hazel_domain::services::messages::MAX_ATTACHMENTS;
        use hazel_domain::services::notifications::MAX_MESSAGE_IDS;

        let spec = document();
        let schemas = &spec["components"]["schemas"];
        assert_eq!(
            schemas["CreateMessage"]["properties"]["attachments"]["maxItems"],
            MAX_ATTACHMENTS
        );
        assert_eq!(
            schemas["DeleteByMessageIds"]["properties"]["messageIds"]["maxItems"],
            MAX_MESSAGE_IDS
        );
    }

    #[test]
    fn allowed_methods_come_from_the_document() {
        let allowed = AllowedMethods::from_spec(&document());
        assert_eq!(allowed.allow("/api/v1/organizations"), "GET, POST");
        assert_eq!(
            allowed.allow("/api/v1/messages/0190a8c4-7c2e-7c5e-9b1a-3f4e5d6c7b8a"),
            "DELETE, PATCH"
        );
        assert_eq!(allowed.allow("/healthz"), "GET");
        assert_eq!(
            allowed.allow("/api/v1/notifications/delete-by-message-ids"),
            "POST"
        );
        assert_eq!(
            allowed
                .path_parameter("/api/v1/messages/x/reactions/y", 1)
                .as_deref(),
            Some("emoji")
        );
        assert_eq!(
            allowed
                .path_parameter("/api/v1/organizations/x/members", 0)
                .as_deref(),
            Some("orgId")
        );
        assert_eq!(allowed.path_parameter("/api/v1/organizations", 0), None);
        assert_eq!(allowed.allow("/nowhere"), "");
    }
}

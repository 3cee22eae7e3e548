//! The OAuth scopes the Slack adapter needs from a bot token: exactly those that the calls
//! it makes (and the events it reads) require, each named with what needs it.
//! `manifest.yaml` at the crate's root asks for the same set (a test checks it).

/// Each bot scope the adapter needs, with the Web API calls (or Events API events) that need
/// it. Nothing else is asked for: `team:read` is not, since nothing calls `team.info`.
pub const SCOPE_TABLE: &[(&str, &str)] = &[
    (
        "channels:read",
        "conversations.list, conversations.info (public channels)",
    ),
    (
        "channels:join",
        "conversations.join (linking a public channel the bot is not in)",
    ),
    (
        "groups:read",
        "conversations.list, conversations.info (private channels)",
    ),
    (
        "channels:history",
        "conversations.history, conversations.replies; message.channels events",
    ),
    (
        "groups:history",
        "conversations.history, conversations.replies; message.groups events",
    ),
    ("chat:write", "chat.postMessage, chat.update, chat.delete"),
    (
        "chat:write.customize",
        "chat.postMessage with username and icon_url",
    ),
    ("reactions:read", "reaction_added, reaction_removed events"),
    ("reactions:write", "reactions.add, reactions.remove"),
    ("pins:read", "pin_added, pin_removed events"),
    ("pins:write", "pins.add, pins.remove"),
    (
        "users:read",
        "bots.info (the bot's app id when validating), users.info (authors' names and avatars)",
    ),
];

/// Bot token scopes Hazel Sync needs, checked when a connection's credentials are validated:
/// the scopes of [`SCOPE_TABLE`], in its order.
pub const REQUIRED_SCOPES: &[&str] = &[
    "channels:read",
    "channels:join",
    "groups:read",
    "channels:history",
    "groups:history",
    "chat:write",
    "chat:write.customize",
    "reactions:read",
    "reactions:write",
    "pins:read",
    "pins:write",
    "users:read",
];

/// Parses the comma-separated scope list of an `x-oauth-scopes` header or a `needed` field.
pub(crate) fn parse_scope_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The required scopes absent from `granted`, in the order of [`REQUIRED_SCOPES`].
pub(crate) fn missing_scopes(granted: &[String]) -> Vec<String> {
    REQUIRED_SCOPES
        .iter()
        .filter(|required| !granted.iter().any(|scope| scope == *required))
        .map(|scope| (*scope).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bot scopes of `manifest.yaml` (`oauth_config.scopes.bot`), read line by line: the
    /// manifest is plain YAML of a fixed shape.
    fn manifest_bot_scopes() -> Vec<String> {
        let manifest = include_str!("../manifest.yaml");
        let mut scopes = Vec::new();
        let mut in_bot = false;
        for line in manifest.lines() {
            let trimmed = line.trim();
            if trimmed == "bot:" {
                in_bot = true;
            } else if in_bot {
                match trimmed.strip_prefix("- ") {
                    Some(scope) => scopes.push(scope.trim().to_owned()),
                    None if trimmed.is_empty() || trimmed.starts_with('#') => {}
                    None => in_bot = false,
                }
            }
        }
        scopes
    }

    #[test]
    fn the_table_the_required_list_and_the_manifest_agree() {
        let table: Vec<&str> = SCOPE_TABLE.iter().map(|(scope, _)| *scope).collect();
        assert_eq!(table, REQUIRED_SCOPES);
        let mut manifest = manifest_bot_scopes();
        manifest.sort();
        let mut required: Vec<String> = REQUIRED_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        required.sort();
        assert_eq!(manifest, required);
        assert!(!REQUIRED_SCOPES.contains(&"team:read"));
        assert!(SCOPE_TABLE.iter().all(|(_, why)| !why.is_empty()));
    }

    #[test]
    fn missing_scopes_keep_the_table_order() {
        let granted = vec!["chat:write".to_owned(), "channels:read".to_owned()];
        let missing = missing_scopes(&granted);
        assert_eq!(missing.len(), REQUIRED_SCOPES.len() - 2);
        assert_eq!(missing[0], "channels:join");
        assert_eq!(parse_scope_list(" a, b ,,c"), ["a", "b", "c"]);
    }
}

//! The OAuth scopes the sync engine needs from a Slack bot token.

/// Bot token scopes Hazel Sync needs, checked when a connection's credentials are validated.
///
/// | scope | why |
/// |---|---|
/// | `channels:read`, `groups:read` | list public and private channels (`conversations.list`) |
/// | `channels:history`, `groups:history` | read messages and threads of linked channels |
/// | `chat:write` | post, edit and delete synced messages |
/// | `chat:write.customize` | show the Hazel author's name and avatar on synced messages |
/// | `reactions:read`, `reactions:write` | mirror reactions both ways |
/// | `pins:read`, `pins:write` | mirror pins both ways (links with `syncPins`) |
/// | `users:read` | resolve Slack authors' names and avatars, and map mentions |
/// | `team:read` | read the workspace's name and icon |
pub const REQUIRED_SCOPES: &[&str] = &[
    "channels:read",
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
    "team:read",
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

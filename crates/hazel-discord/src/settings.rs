//! Configuration of the Discord adapter.

/// Where the adapter reaches the Discord REST API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordSettings {
    /// Base URL of the versioned REST API (`https://discord.com/api/v10`). Tests point it at a
    /// local simulator (`HAZEL_DISCORD_API_URL`).
    pub api_url: String,
}

impl DiscordSettings {
    /// Discord's production REST API, version 10.
    pub const DEFAULT_API_URL: &'static str = "https://discord.com/api/v10";
}

impl Default for DiscordSettings {
    fn default() -> Self {
        Self {
            api_url: Self::DEFAULT_API_URL.to_owned(),
        }
    }
}

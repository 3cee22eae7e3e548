//! Configuration of the Slack adapter.

/// Where the adapter reaches the Slack Web API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackSettings {
    /// Base URL of the Web API, without a trailing method name (`https://slack.com/api`).
    /// Tests point it at a local simulator (`HAZEL_SLACK_API_URL`).
    pub api_url: String,
}

impl SlackSettings {
    /// Slack's production Web API.
    pub const DEFAULT_API_URL: &'static str = "https://slack.com/api";
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            api_url: Self::DEFAULT_API_URL.to_owned(),
        }
    }
}

//! The inbound port: turning a chat platform's input into normalized events.

use async_trait::async_trait;

use crate::model::chat_sync::{Credentials, ExternalWorkspaceId, Provider};
use crate::model::sync::{InboundError, InboundInput, InboundOutcome, KnownMention};

/// One chat platform's read side: authenticates its input and decodes it into
/// [`InboundEvent`](crate::model::sync::InboundEvent)s. Input that fails verification is
/// refused before anything is stored.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ChatInbound: Send + Sync {
    /// Which platform this is.
    fn provider(&self) -> Provider;

    /// The workspace `input` claims to come from (Slack `team_id`), read without trusting
    /// it, so the service can find the connection whose secrets verify it.
    ///
    /// # Errors
    /// [`InboundError::Malformed`] when the input names no workspace.
    fn workspace_of(&self, input: &InboundInput) -> Result<ExternalWorkspaceId, InboundError>;

    /// Whether `input` is of a kind that names no workspace by design (Slack's
    /// `url_verification` challenge): it is then verified with the credentials of each of the
    /// platform's connections. Read without trusting it; `false` unless the adapter says so.
    fn names_no_workspace(&self, input: &InboundInput) -> bool {
        let _ = input;
        false
    }

    /// The text of an external message (in the platform's format, as decoded) in Hazel
    /// Markdown: formatting converted, mentions of `mentions` as `@[member:<id>]` when
    /// `mention_mapping` is on and the user is a member, else their plain name. The text as
    /// it is unless the adapter says otherwise.
    fn to_hazel_markdown(
        &self,
        text: &str,
        mentions: &[KnownMention],
        mention_mapping: bool,
    ) -> String {
        let _ = (mentions, mention_mapping);
        text.to_owned()
    }

    /// Verifies `input` with the connection's `credentials` (Slack signature v0 within 300 s
    /// of `now`, Teams Bot Framework token, …) and decodes it.
    ///
    /// # Errors
    /// [`InboundError::Unauthenticated`] or [`InboundError::Stale`] for input that is not
    /// authentic (answer 401, store nothing); [`InboundError::Malformed`] for authentic input
    /// that cannot be read.
    async fn verify_and_decode(
        &self,
        input: &InboundInput,
        credentials: &Credentials,
        now: crate::model::Timestamp,
    ) -> Result<InboundOutcome, InboundError>;
}

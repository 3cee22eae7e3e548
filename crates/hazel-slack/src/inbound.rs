//! [`SlackInbound`]: the [`ChatInbound`] port for the Events API.

use async_trait::async_trait;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{Credentials, ExternalWorkspaceId, Provider};
use hazel_domain::model::sync::{InboundError, InboundInput, InboundOutcome};
use hazel_domain::ports::ChatInbound;

use crate::events::{Decoded, SlackPayload, claimed_team, decode};
use crate::signature::{SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, verify};

/// The Slack adapter of [`ChatInbound`]: verifies Events API requests (signature v0 within
/// 300 s) and decodes them. It holds no state; any process may run it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlackInbound;

impl SlackInbound {
    /// Whether `input` is a `url_verification` challenge, which names no team: the route
    /// verifies it with the signing secret of any Slack connection (or of the one being set
    /// up) and answers its challenge.
    #[must_use]
    pub fn is_url_verification(input: &InboundInput) -> bool {
        matches!(
            decode(&input.body),
            Ok(SlackPayload::UrlVerification { .. })
        )
    }
}

#[async_trait]
impl ChatInbound for SlackInbound {
    fn provider(&self) -> Provider {
        Provider::Slack
    }

    fn workspace_of(&self, input: &InboundInput) -> Result<ExternalWorkspaceId, InboundError> {
        let team = claimed_team(&input.body).ok_or_else(|| InboundError::Malformed {
            reason: "the Slack payload names no team_id".to_owned(),
        })?;
        ExternalWorkspaceId::parse("team_id", &team).map_err(|_| InboundError::Malformed {
            reason: "the Slack payload's team_id is unusable".to_owned(),
        })
    }

    fn names_no_workspace(&self, input: &InboundInput) -> bool {
        Self::is_url_verification(input)
    }

    async fn verify_and_decode(
        &self,
        input: &InboundInput,
        credentials: &Credentials,
        now: Timestamp,
    ) -> Result<InboundOutcome, InboundError> {
        let Credentials::Slack { signing_secret, .. } = credentials else {
            return Err(InboundError::Unauthenticated {
                reason: "not a Slack connection".to_owned(),
            });
        };
        verify(
            signing_secret,
            input.header(TIMESTAMP_HEADER),
            input.header(SIGNATURE_HEADER),
            &input.body,
            now,
        )
        .map_err(|error| match error {
            SignatureError::Stale => InboundError::Stale,
            other => InboundError::Unauthenticated {
                reason: other.to_string(),
            },
        })?;
        let payload = decode(&input.body).map_err(|error| InboundError::Malformed {
            reason: error.to_string(),
        })?;
        Ok(match payload {
            SlackPayload::UrlVerification { challenge } => InboundOutcome::Challenge(challenge),
            SlackPayload::Callback(callback) => match callback.event {
                Decoded::Event(event) => InboundOutcome::Events(vec![*event]),
                Decoded::Ignored(reason) => {
                    // The port has no place for the reason; it is logged for the operator.
                    tracing::debug!(
                        slack.event_id = %callback.event_id,
                        reason = %reason.describe(),
                        "Slack event ignored"
                    );
                    InboundOutcome::Events(Vec::new())
                }
            },
            SlackPayload::Other { kind } => {
                tracing::debug!(slack.payload = %kind, "Slack payload without events");
                InboundOutcome::Events(Vec::new())
            }
        })
    }
}

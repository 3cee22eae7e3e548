//! [`SlackInbound`]: the [`ChatInbound`] port for the Events API.

use async_trait::async_trait;
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{Credentials, ExternalWorkspaceId, Provider};
use hazel_domain::model::sync::{InboundError, InboundInput, InboundOutcome, KnownMention};
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

    fn to_hazel_markdown(
        &self,
        text: &str,
        mentions: &[KnownMention],
        mention_mapping: bool,
    ) -> String {
        crate::mrkdwn::to_markdown(text, mention_mapping, &|user| {
            mentions
                .iter()
                .find(|known| known.user.as_str() == user)
                .map(|known| crate::mrkdwn::MentionedUser {
                    member: known.member,
                    display_name: known.display_name.clone(),
                })
        })
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

#[cfg(test)]
mod tests {
    use hazel_domain::ids::MemberId;
    use hazel_domain::model::external::ExternalUserId;

    use super::*;

    fn known(user: &str, member: Option<MemberId>, name: Option<&str>) -> KnownMention {
        KnownMention {
            user: ExternalUserId::parse("user", user).unwrap(),
            member,
            display_name: name.map(str::to_owned),
        }
    }

    #[test]
    fn texts_become_markdown_with_members_mapped_and_others_named() {
        let bob = MemberId::new();
        let mentions = [
            known("U0BOB", Some(bob), Some("Bob")),
            known("U0EVE", None, Some("Eve")),
        ];
        let text = "*hi* <@U0BOB>, <@U0EVE> and <@U0NOBODY> &lt;3 `*code*`";
        assert_eq!(
            SlackInbound.to_hazel_markdown(text, &mentions, true),
            format!("**hi** @[member:{bob}], @Eve and @U0NOBODY <3 `*code*`")
        );
        // Without mention mapping a member is their name too.
        assert_eq!(
            SlackInbound.to_hazel_markdown("<@U0BOB>", &mentions, false),
            "@Bob"
        );
    }
}

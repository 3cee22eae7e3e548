//! Unit tests of the sync engine's policy and services, with mocked ports.

use std::sync::Arc;
use std::time::Duration;

use super::policy::*;
use super::*;
use crate::ids::{ChannelId, MessageLinkId, OrganizationId, ReceiptId, SyncConnectionId};
use crate::model::channel::{Channel, ChannelKind};
use crate::model::chat_sync::{
    BotIdentity, ChannelLink, ConnectionSettings, ConnectionSettingsPatch, ConnectionStatus,
    Direction, ExternalChannelId, ExternalWorkspaceId, JsonObject, LinkSettings, Provider,
    ProviderErrorCode, SealedCredentials, SyncConnection,
};
use crate::model::delivery::{
    ContentHash, DeliveryState, EventReceipt, IgnoreReason, LinkSource, MessageLink, ReceiptLease,
    ReceiptSource,
};
use crate::model::external::{ExternalMessageId, ExternalUserId};
use crate::model::sync::{
    AuthFailure, AuthorKind, DedupeKey, DeliveryError, ExternalAuthor, ExternalMessage,
    ExternalRefs, InboundEvent, InboundEventKind, OriginMarker, RateLimitScope, ReactionEmoji,
};
use crate::model::text::Name;
use crate::ports::{
    Change, ChatProviders, MockChannelRepository, MockConnectionRepository, MockCredentialVault,
    MockMemberRepository, MockMessageRepository, MockStore, MockSyncQueue, MockSyncRepository,
    SyncChange,
};
use crate::services::chat_sync::{ChatSyncPorts, ChatSyncService};
use crate::services::test_support::{at, clock, committed};

fn connection(status: ConnectionStatus) -> SyncConnection {
    SyncConnection {
        id: SyncConnectionId::new(),
        organization_id: OrganizationId::new(),
        provider: Provider::Slack,
        external_workspace_id: ExternalWorkspaceId::parse("w", "T1").unwrap(),
        external_workspace_name: None,
        name: Name::parse("n", "Slack").unwrap(),
        status,
        integration_connection_id: None,
        credentials: Some(SealedCredentials::from_bytes(vec![9])),
        bot: Some(BotIdentity {
            user_id: ExternalUserId::parse("u", "UBOT").unwrap(),
            bot_id: None,
            app_id: None,
        }),
        settings: ConnectionSettings::default(),
        metadata: JsonObject::empty(),
        last_sync_at: None,
        created_at: at(),
        updated_at: at(),
        created_by: crate::ids::UserId::new(),
    }
}

fn route(channel: ChannelId, external: &str, direction: Direction) -> Route {
    let connection = connection(ConnectionStatus::Connected);
    Route {
        link: ChannelLink {
            id: crate::ids::ChannelLinkId::new(),
            connection_id: connection.id,
            hazel_channel_id: channel,
            external_channel_id: ExternalChannelId::parse("c", external).unwrap(),
            external_channel_name: None,
            direction,
            is_active: true,
            settings: LinkSettings::default(),
            created_at: at(),
            updated_at: at(),
        },
        connection,
    }
}

fn ext_message(id: &str, author: &str) -> ExternalMessage {
    ExternalMessage {
        id: ExternalMessageId::parse("m", id).unwrap(),
        author: ExternalAuthor {
            id: ExternalUserId::parse("u", author).unwrap(),
            name: "Sam".to_owned(),
            avatar_url: None,
            kind: AuthorKind::Person,
        },
        text: "hello".to_owned(),
        thread: None,
        attachments: vec![],
        mentions: vec![],
        origin: None,
    }
}

fn event(channel: &str, kind: InboundEventKind) -> InboundEvent {
    InboundEvent {
        dedupe_key: DedupeKey::new("k1"),
        workspace: ExternalWorkspaceId::parse("w", "T1").unwrap(),
        channel: ExternalChannelId::parse("c", channel).unwrap(),
        occurred_at: at(),
        kind,
    }
}

// ----------------------------------------------------------------------------------------
// Routing.

#[test]
fn fan_out_reaches_every_other_outbound_link_never_the_source() {
    let channel = ChannelId::new();
    let a = route(channel, "CA", Direction::Both);
    let b = route(channel, "CB", Direction::Both);
    let c = route(channel, "CC", Direction::Outbound);
    let d = route(channel, "CD", Direction::Inbound);
    let routes = vec![a.clone(), b.clone(), c.clone(), d];
    let targets: Vec<_> = outbound_targets(DeliveryKind::MessageCreate, &routes, Some(a.link.id))
        .into_iter()
        .map(|r| r.link.id)
        .collect();
    assert_eq!(targets, vec![b.link.id, c.link.id]);
    let native: Vec<_> = outbound_targets(DeliveryKind::MessageCreate, &routes, None)
        .into_iter()
        .map(|r| r.link.id)
        .collect();
    assert_eq!(native, vec![a.link.id, b.link.id, c.link.id]);
}

#[test]
fn each_refusal_has_its_reason() {
    let channel = ChannelId::new();
    let mut inactive = route(channel, "C1", Direction::Both);
    inactive.link.is_active = false;
    let mut paused = route(channel, "C2", Direction::Both);
    paused.connection.status = ConnectionStatus::Disconnected;
    let mut failing = route(channel, "C3", Direction::Both);
    failing.connection.status = ConnectionStatus::Error {
        code: ProviderErrorCode::AuthExpired,
        message: "x".into(),
    };
    let outbound_only = route(channel, "C4", Direction::Outbound);
    let inbound_only = route(channel, "C5", Direction::Inbound);
    let mut no_edits = route(channel, "C6", Direction::Both);
    no_edits.link.settings.overrides = ConnectionSettingsPatch {
        sync_edits: Some(false),
        ..ConnectionSettingsPatch::default()
    };
    let create = DeliveryKind::MessageCreate;
    let table = [
        (
            inbound_refusal(create, &inactive),
            Some(IgnoreReason::LinkInactive),
        ),
        (
            inbound_refusal(create, &paused),
            Some(IgnoreReason::ConnectionNotConnected),
        ),
        (
            inbound_refusal(create, &failing),
            Some(IgnoreReason::ConnectionNotConnected),
        ),
        (
            inbound_refusal(create, &outbound_only),
            Some(IgnoreReason::DirectionDisallows),
        ),
        (inbound_refusal(create, &inbound_only), None),
        (
            outbound_refusal(create, &inbound_only),
            Some(IgnoreReason::DirectionDisallows),
        ),
        (outbound_refusal(create, &outbound_only), None),
        (
            outbound_refusal(DeliveryKind::MessageEdit, &no_edits),
            Some(IgnoreReason::SettingDisabled),
        ),
        (
            outbound_refusal(DeliveryKind::MessageDelete, &no_edits),
            None,
        ),
        (
            outbound_refusal(DeliveryKind::PinAdd, &outbound_only),
            Some(IgnoreReason::SettingDisabled),
        ),
    ];
    for (index, (got, want)) in table.into_iter().enumerate() {
        assert_eq!(got, want, "row {index}");
    }
}

#[test]
fn connection_switches_apply_unless_the_link_overrides_them() {
    let mut r = route(ChannelId::new(), "C1", Direction::Both);
    r.connection.settings.sync_reactions = false;
    assert!(!kind_enabled(DeliveryKind::ReactionAdd, &r));
    r.link.settings.overrides.sync_reactions = Some(true);
    assert!(kind_enabled(DeliveryKind::ReactionRemove, &r));
    r.connection.settings.sync_deletes = false;
    assert!(!kind_enabled(DeliveryKind::MessageDelete, &r));
    r.link.settings.sync_pins = true;
    assert!(kind_enabled(DeliveryKind::PinRemove, &r));
}

// ----------------------------------------------------------------------------------------
// Echo suppression.

#[test]
fn our_own_bot_and_origin_marker_are_echoes_other_bots_are_content() {
    let bot = BotIdentity {
        user_id: ExternalUserId::parse("u", "UBOT").unwrap(),
        bot_id: Some(crate::model::external::ExternalBotId::parse("b", "B1").unwrap()),
        app_id: None,
    };
    let mine = ext_message("1", "UBOT");
    let mut marked = ext_message("2", "U1");
    marked.origin = Some(OriginMarker {
        hazel_message_id: crate::ids::MessageId::new(),
    });
    let mut our_bot_id = ext_message("3", "UOTHER");
    our_bot_id.author.kind = AuthorKind::Bot {
        bot_id: Some(crate::model::external::ExternalBotId::parse("b", "B1").unwrap()),
    };
    let mut ci_bot = ext_message("4", "UCI");
    ci_bot.author.kind = AuthorKind::Bot {
        bot_id: Some(crate::model::external::ExternalBotId::parse("b", "B9").unwrap()),
    };
    let react = |user: &str| InboundEventKind::ReactionAdded {
        message: ExternalMessageId::parse("m", "1").unwrap(),
        user: ExternalUserId::parse("u", user).unwrap(),
        emoji: ReactionEmoji::Unicode("👍".into()),
    };
    let table = [
        (
            InboundEventKind::MessageCreated(mine),
            Some(IgnoreReason::OwnBot),
        ),
        (
            InboundEventKind::MessageEdited(marked),
            Some(IgnoreReason::OwnOrigin),
        ),
        (
            InboundEventKind::MessageCreated(our_bot_id),
            Some(IgnoreReason::OwnBot),
        ),
        (InboundEventKind::MessageCreated(ci_bot), None),
        (react("UBOT"), Some(IgnoreReason::OwnBot)),
        (react("U1"), None),
    ];
    for (kind, want) in table {
        assert_eq!(
            own_echo(&event("C1", kind.clone()), Some(&bot)),
            want,
            "{kind:?}"
        );
    }
}

#[test]
fn what_the_link_last_wrote_does_not_bounce() {
    let link = MessageLink {
        id: MessageLinkId::new(),
        channel_link_id: crate::ids::ChannelLinkId::new(),
        hazel_message_id: crate::ids::MessageId::new(),
        external: ExternalRefs::single(ExternalMessageId::parse("m", "1").unwrap()),
        source: LinkSource::Hazel,
        thread: None,
        content_hash: ContentHash::of("edited"),
        reactions: [ReactionEmoji::Unicode("👍".into())].into_iter().collect(),
        pinned: false,
        created_at: at(),
        updated_at: at(),
    };
    assert!(edit_is_echo(&link, "edited"));
    assert!(!edit_is_echo(&link, "edited again"));
    assert!(reaction_is_echo(
        &link,
        &ReactionEmoji::Unicode("👍".into()),
        true
    ));
    assert!(!reaction_is_echo(
        &link,
        &ReactionEmoji::Unicode("👍".into()),
        false
    ));
    assert!(reaction_is_echo(
        &link,
        &ReactionEmoji::Unicode("🎉".into()),
        false
    ));
}

// ----------------------------------------------------------------------------------------
// Retry class and backoff.

#[test]
fn backoff_doubles_from_one_second_with_jitter_and_caps_at_five_minutes() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(1));
    assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(500));
    assert_eq!(policy.backoff(4, 1.0), Duration::from_secs(8));
    assert_eq!(policy.backoff(20, 1.0), Duration::from_secs(300));
    assert_eq!(policy.backoff(200, 0.0), Duration::from_secs(150));
    for attempts in 1..12 {
        let low = policy.backoff(attempts, 0.0);
        let high = policy.backoff(attempts, 1.0);
        assert!(low <= high && high <= policy.cap, "{attempts}");
    }
}

#[test]
fn each_failure_class_has_its_next_step() {
    let policy = RetryPolicy::default();
    let reason = || "x".to_owned();
    let rate = DeliveryError::RateLimited {
        retry_after: Duration::from_secs(7),
        scope: RateLimitScope::Route,
    };
    let table = [
        (
            rate.clone(),
            1,
            RetryDecision::Retry {
                after: Duration::from_secs(7),
                resolve_first: false,
            },
        ),
        (
            DeliveryError::Transient { reason: reason() },
            3,
            RetryDecision::Retry {
                after: Duration::from_secs(4),
                resolve_first: false,
            },
        ),
        (
            DeliveryError::Ambiguous { reason: reason() },
            1,
            RetryDecision::Retry {
                after: Duration::from_secs(1),
                resolve_first: true,
            },
        ),
        (
            DeliveryError::Transient { reason: reason() },
            10,
            RetryDecision::DeadLetter,
        ),
        (rate, 10, RetryDecision::DeadLetter),
        (
            DeliveryError::Auth {
                code: AuthFailure::AuthExpired,
                reason: reason(),
            },
            10,
            RetryDecision::HoldForCredentials(AuthFailure::AuthExpired),
        ),
        (
            DeliveryError::Rejected { reason: reason() },
            1,
            RetryDecision::DeadLetter,
        ),
        (
            DeliveryError::Gone { reason: reason() },
            1,
            RetryDecision::Gone,
        ),
    ];
    for (error, attempts, want) in table {
        assert_eq!(
            policy.decide(&error, attempts, 1.0),
            want,
            "{error:?} after {attempts}"
        );
    }
}

// ----------------------------------------------------------------------------------------
// Services with mocked ports.

struct Mocks {
    members: MockMemberRepository,
    channels: MockChannelRepository,
    messages: MockMessageRepository,
    sync: MockSyncRepository,
    queue: MockSyncQueue,
    store: MockStore,
}

impl Mocks {
    fn new() -> Self {
        Self {
            members: MockMemberRepository::new(),
            channels: MockChannelRepository::new(),
            messages: MockMessageRepository::new(),
            sync: MockSyncRepository::new(),
            queue: MockSyncQueue::new(),
            store: MockStore::new(),
        }
    }

    fn ports(self) -> SyncPorts {
        self.ports_with(ChatProviders::new(), MockCredentialVault::new())
    }

    /// The ports, with these provider adapters and this vault.
    fn ports_with(self, providers: ChatProviders, vault: MockCredentialVault) -> SyncPorts {
        let members = Arc::new(self.members);
        let channels = Arc::new(self.channels);
        let store = Arc::new(self.store);
        let clock = Arc::new(clock());
        let vault = Arc::new(vault);
        SyncPorts {
            members: members.clone(),
            channels: channels.clone(),
            messages: Arc::new(self.messages),
            sync: Arc::new(self.sync),
            queue: Arc::new(self.queue),
            store: store.clone(),
            clock: clock.clone(),
            vault: vault.clone(),
            providers,
            chat_sync: ChatSyncService::new(ChatSyncPorts {
                members,
                channels,
                connections: Arc::new(MockConnectionRepository::new()),
                links: Arc::new(crate::ports::MockChannelLinkRepository::new()),
                store,
                clock,
                vault,
                providers: ChatProviders::new(),
            }),
            retry: RetryPolicy::default(),
            observer: Arc::new(crate::ports::NoObserver),
        }
    }
}

fn lease(connection: SyncConnectionId, event: InboundEvent) -> ReceiptLease {
    ReceiptLease {
        receipt: EventReceipt {
            id: ReceiptId::new(),
            connection_id: connection,
            source: ReceiptSource::Webhook,
            dedupe_key: event.dedupe_key.clone(),
            event,
            state: DeliveryState::due(at()),
            hazel_message_id: None,
            channel_link_id: None,
            created_at: at(),
        },
        worker: crate::ids::WorkerId::new(),
        expires_at: at(),
    }
}

fn hazel_channel(id: ChannelId, org: OrganizationId) -> Channel {
    Channel {
        id,
        organization_id: org,
        name: Name::parse("n", "general").unwrap(),
        kind: ChannelKind::Public,
        created_at: at(),
    }
}

#[tokio::test]
async fn an_inbound_message_is_one_changeset_written_fanned_out_and_receipted() {
    let channel = ChannelId::new();
    let source = route(channel, "CA", Direction::Both);
    let other = route(channel, "CB", Direction::Both);
    let routes = vec![source.clone(), other.clone()];
    let mut mocks = Mocks::new();
    let found = source.clone();
    mocks
        .sync
        .expect_route_for_external()
        .returning(move |_, _| Ok(Some(found.clone())));
    mocks
        .sync
        .expect_routes_for_channel()
        .returning(move |_| Ok(routes.clone()));
    mocks
        .sync
        .expect_message_link_by_external()
        .returning(|_, _| Ok(None));
    mocks
        .sync
        .expect_shadow_member()
        .returning(|_, _, _| Ok(None));
    let org = source.connection.organization_id;
    mocks
        .channels
        .expect_find()
        .returning(move |id| Ok(Some(hazel_channel(id, org))));
    let (source_link, other_link) = (source.link.id, other.link.id);
    mocks
        .store
        .expect_commit()
        .withf(move |changes| {
            let kinds: Vec<&str> = changes
                .iter()
                .map(|c| match c {
                    Change::Sync(s) => s.kind(),
                    Change::InsertMember(_) => "InsertMember",
                    Change::InsertMessage(_) => "InsertMessage",
                    _ => "other",
                })
                .collect();
            let targets: Vec<_> = changes
                .iter()
                .filter_map(|c| match c {
                    Change::Sync(SyncChange::EnqueueDelivery(d)) => Some(d.channel_link_id),
                    _ => None,
                })
                .collect();
            kinds
                == [
                    "Sync::HoldsReceiptLease",
                    "InsertMember",
                    "InsertMessage",
                    "Sync::InsertMessageLink",
                    "Sync::EnqueueDelivery",
                    "Sync::SetReceiptState",
                    "Sync::TouchLastSync",
                ]
                && targets == [other_link]
                && targets != [source_link]
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let service = IngestService::new(mocks.ports());
    let lease = lease(
        source.connection.id,
        event(
            "CA",
            InboundEventKind::MessageCreated(ext_message("1.1", "U1")),
        ),
    );
    assert_eq!(
        service.process(&lease).await.unwrap(),
        ReceiptReport::Processed
    );
}

#[tokio::test]
async fn an_echo_is_ignored_with_its_reason_and_writes_nothing_else() {
    let source = route(ChannelId::new(), "CA", Direction::Both);
    let mut mocks = Mocks::new();
    let found = source.clone();
    mocks
        .sync
        .expect_route_for_external()
        .returning(move |_, _| Ok(Some(found.clone())));
    mocks
        .store
        .expect_commit()
        .withf(|changes| {
            changes.len() == 2
                && matches!(
                    changes.as_slice()[1],
                    Change::Sync(SyncChange::SetReceiptState {
                        state: DeliveryState::Ignored {
                            reason: IgnoreReason::OwnBot,
                            ..
                        },
                        ..
                    })
                )
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let service = IngestService::new(mocks.ports());
    let lease = lease(
        source.connection.id,
        event(
            "CA",
            InboundEventKind::MessageCreated(ext_message("1.1", "UBOT")),
        ),
    );
    assert_eq!(
        service.process(&lease).await.unwrap(),
        ReceiptReport::Ignored(IgnoreReason::OwnBot)
    );
}

#[tokio::test]
async fn a_failing_receipt_is_retried_then_dead_lettered() {
    let mut mocks = Mocks::new();
    mocks
        .sync
        .expect_route_for_external()
        .returning(|_, _| Err(crate::ports::RepoError::Unexpected(anyhow::anyhow!("down"))));
    mocks
        .store
        .expect_commit()
        .withf(|changes| {
            matches!(
                changes.as_slice()[1],
                Change::Sync(SyncChange::SetReceiptState {
                    state: DeliveryState::Failed { attempts: 10, .. },
                    ..
                })
            )
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let service = IngestService::new(mocks.ports());
    let mut lease = lease(
        SyncConnectionId::new(),
        event(
            "CA",
            InboundEventKind::MessageDeleted {
                message: ExternalMessageId::parse("m", "1").unwrap(),
            },
        ),
    );
    lease.receipt.state = DeliveryState::Pending {
        attempts: 9,
        next_attempt_at: at(),
        last_error: None,
        unresolved_since: None,
    };
    assert_eq!(
        service.process(&lease).await.unwrap(),
        ReceiptReport::DeadLettered
    );
}

#[tokio::test]
async fn a_receipt_whose_lease_was_taken_over_writes_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .sync
        .expect_route_for_external()
        .returning(|_, _| Ok(None));
    mocks
        .store
        .expect_commit()
        .times(1)
        .returning(|_| Err(crate::services::test_support::matched_nothing(0)));
    let service = IngestService::new(mocks.ports());
    let lease = lease(
        SyncConnectionId::new(),
        event(
            "CA",
            InboundEventKind::MessageDeleted {
                message: ExternalMessageId::parse("m", "1").unwrap(),
            },
        ),
    );
    assert_eq!(
        service.process(&lease).await.unwrap(),
        ReceiptReport::LeaseLost
    );
}

/// Mocks for a pin event through `source`, whose channel also has the links `others`; the
/// pinned message `1.1` is linked to a live Hazel message when `linked`, synced as `pinned`.
fn pinning(source: &Route, others: &[Route], linked: bool, pinned: bool) -> Mocks {
    let mut routes = vec![source.clone()];
    routes.extend(others.iter().cloned());
    let mut mocks = Mocks::new();
    let found = source.clone();
    mocks
        .sync
        .expect_route_for_external()
        .returning(move |_, _| Ok(Some(found.clone())));
    mocks
        .sync
        .expect_routes_for_channel()
        .returning(move |_| Ok(routes.clone()));
    let org = source.connection.organization_id;
    let channel = source.link.hazel_channel_id;
    mocks
        .channels
        .expect_find()
        .returning(move |id| Ok(Some(hazel_channel(id, org))));
    let link = source.link.id;
    let hazel = crate::ids::MessageId::new();
    mocks
        .sync
        .expect_message_link_by_external()
        .returning(move |_, external| {
            Ok(linked.then(|| MessageLink {
                id: MessageLinkId::new(),
                channel_link_id: link,
                hazel_message_id: hazel,
                external: ExternalRefs::single(external.clone()),
                source: LinkSource::External,
                thread: None,
                content_hash: ContentHash::of("hello"),
                reactions: Default::default(),
                pinned,
                created_at: at(),
                updated_at: at(),
            }))
        });
    mocks
        .messages
        .expect_find()
        .returning(move |id| Ok(Some(view(channel, id).message)));
    mocks
}

fn pin_event(source: &Route, added: bool) -> ReceiptLease {
    let message = ExternalMessageId::parse("m", "1.1").unwrap();
    let by = Some(ExternalUserId::parse("u", "U1").unwrap());
    let kind = if added {
        InboundEventKind::PinAdded { message, by }
    } else {
        InboundEventKind::PinRemoved { message, by }
    };
    lease(source.connection.id, event("CA", kind))
}

fn pins_on(mut route: Route) -> Route {
    route.link.settings.sync_pins = true;
    route
}

#[tokio::test]
async fn a_pin_is_relayed_to_the_other_links_that_sync_pins_and_nothing_is_written() {
    let channel = ChannelId::new();
    let source = pins_on(route(channel, "CA", Direction::Both));
    let syncing = pins_on(route(channel, "CB", Direction::Both));
    let not_syncing = route(channel, "CC", Direction::Both);
    let inbound_only = pins_on(route(channel, "CD", Direction::Inbound));
    for added in [true, false] {
        let mut mocks = pinning(
            &source,
            &[syncing.clone(), not_syncing.clone(), inbound_only.clone()],
            true,
            !added,
        );
        let (source_link, target) = (source.link.id, syncing.link.id);
        let kind = if added {
            DeliveryKind::PinAdd
        } else {
            DeliveryKind::PinRemove
        };
        mocks
            .store
            .expect_commit()
            .withf(move |changes| {
                let deliveries: Vec<_> = changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::Sync(SyncChange::EnqueueDelivery(d)) => {
                            Some((d.channel_link_id, d.kind))
                        }
                        _ => None,
                    })
                    .collect();
                let writes_hazel = changes.iter().any(|c| !matches!(c, Change::Sync(_)));
                let pin_state = changes.iter().any(|c| {
                    matches!(c, Change::Sync(SyncChange::SetMessageLinkPinned { pinned, .. })
                        if *pinned == added)
                });
                deliveries == [(target, kind)]
                    && !writes_hazel
                    && pin_state
                    && changes.iter().any(|c| {
                        matches!(c, Change::Sync(SyncChange::SetReceiptState {
                            state: DeliveryState::Delivered { .. },
                            channel_link_id: Some(link),
                            hazel_message_id: Some(_),
                            ..
                        }) if *link == source_link)
                    })
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let service = IngestService::new(mocks.ports());
        assert_eq!(
            service.process(&pin_event(&source, added)).await.unwrap(),
            ReceiptReport::Processed
        );
    }
}

#[tokio::test]
async fn a_pin_through_a_link_without_sync_pins_or_sending_no_way_in_relays_nothing() {
    let channel = ChannelId::new();
    let other = pins_on(route(channel, "CB", Direction::Both));
    for (source, reason) in [
        (
            route(channel, "CA", Direction::Both),
            IgnoreReason::SettingDisabled,
        ),
        (
            pins_on(route(channel, "CA", Direction::Outbound)),
            IgnoreReason::DirectionDisallows,
        ),
    ] {
        let mut mocks = pinning(&source, std::slice::from_ref(&other), true, false);
        mocks
            .store
            .expect_commit()
            .withf(|changes| {
                !changes
                    .iter()
                    .any(|c| matches!(c, Change::Sync(SyncChange::EnqueueDelivery(_))))
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let service = IngestService::new(mocks.ports());
        assert_eq!(
            service.process(&pin_event(&source, true)).await.unwrap(),
            ReceiptReport::Ignored(reason)
        );
    }
}

#[tokio::test]
async fn a_pin_or_unpin_already_in_sync_relays_nothing() {
    let channel = ChannelId::new();
    let source = pins_on(route(channel, "CA", Direction::Both));
    let other = pins_on(route(channel, "CB", Direction::Both));
    for added in [true, false] {
        // Pinned already when pinned again; unpinned already when unpinned again.
        let mut mocks = pinning(&source, std::slice::from_ref(&other), true, added);
        mocks
            .store
            .expect_commit()
            .withf(|changes| {
                !changes.iter().any(|c| {
                    matches!(
                        c,
                        Change::Sync(
                            SyncChange::EnqueueDelivery(_)
                                | SyncChange::SetMessageLinkPinned { .. }
                        )
                    )
                })
            })
            .times(1)
            .returning(|c| Ok(committed(c.len())));
        let service = IngestService::new(mocks.ports());
        assert_eq!(
            service.process(&pin_event(&source, added)).await.unwrap(),
            ReceiptReport::Ignored(IgnoreReason::AlreadyInSync)
        );
    }
}

#[tokio::test]
async fn a_pin_by_our_own_bot_does_not_bounce_and_one_of_a_message_never_synced_is_ignored() {
    let channel = ChannelId::new();
    let source = pins_on(route(channel, "CA", Direction::Both));
    let other = pins_on(route(channel, "CB", Direction::Both));

    let mut mocks = pinning(&source, std::slice::from_ref(&other), true, false);
    mocks
        .store
        .expect_commit()
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let service = IngestService::new(mocks.ports());
    let mut own = pin_event(&source, true);
    own.receipt.event.kind = InboundEventKind::PinAdded {
        message: ExternalMessageId::parse("m", "1.1").unwrap(),
        by: Some(ExternalUserId::parse("u", "UBOT").unwrap()),
    };
    assert_eq!(
        service.process(&own).await.unwrap(),
        ReceiptReport::Ignored(IgnoreReason::OwnBot)
    );

    let mut mocks = pinning(&source, std::slice::from_ref(&other), false, false);
    mocks
        .store
        .expect_commit()
        .withf(|changes| {
            !changes
                .iter()
                .any(|c| matches!(c, Change::Sync(SyncChange::EnqueueDelivery(_))))
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let service = IngestService::new(mocks.ports());
    let mut unknown = pin_event(&source, true);
    // The last try: it is no longer waited for.
    unknown.receipt.state = DeliveryState::Pending {
        attempts: 2,
        next_attempt_at: at(),
        last_error: None,
        unresolved_since: None,
    };
    assert_eq!(
        service.process(&unknown).await.unwrap(),
        ReceiptReport::Ignored(IgnoreReason::MessageNotLinked)
    );
}

/// Mocks for receipts of channel `CA` of `source`, with `existing` authors already shadow
/// members, and every read a batch or a single receipt makes.
fn ingesting(source: &Route, other: &Route, existing: &[&str]) -> Mocks {
    let routes = vec![source.clone(), other.clone()];
    let mut mocks = Mocks::new();
    let found = source.clone();
    mocks
        .sync
        .expect_route_for_external()
        .returning(move |_, _| Ok(Some(found.clone())));
    mocks
        .sync
        .expect_routes_for_channel()
        .returning(move |_| Ok(routes.clone()));
    mocks
        .sync
        .expect_message_link_by_external()
        .returning(|_, _| Ok(None));
    mocks
        .sync
        .expect_message_links_by_external()
        .returning(|_, _| Ok(Vec::new()));
    let org = source.connection.organization_id;
    let members: Vec<crate::model::identity::Member> = existing
        .iter()
        .map(|user| crate::model::identity::Member {
            id: crate::ids::MemberId::new(),
            organization_id: org,
            kind: crate::model::identity::MemberKind::Shadow {
                provider: Provider::Slack,
                external_user_id: ExternalUserId::parse("u", user).unwrap(),
            },
            name: Name::parse("n", user).unwrap(),
            avatar_url: None,
            role: crate::model::identity::Role::Member,
            created_at: at(),
        })
        .collect();
    let one = members.clone();
    mocks.sync.expect_shadow_member().returning(move |_, _, user| {
        Ok(one.iter().find(|m| matches!(&m.kind,
            crate::model::identity::MemberKind::Shadow { external_user_id, .. } if external_user_id == user)).cloned())
    });
    mocks
        .sync
        .expect_shadow_members()
        .returning(move |_, _, _| Ok(members.clone()));
    mocks
        .channels
        .expect_find()
        .returning(move |id| Ok(Some(hazel_channel(id, org))));
    mocks
}

fn created(source: &Route, id: &str, author: &str) -> ReceiptLease {
    lease(
        source.connection.id,
        event(
            "CA",
            InboundEventKind::MessageCreated(ext_message(id, author)),
        ),
    )
}

/// The receipts a changeset's lease guards name.
fn guarded_receipts(changes: &crate::ports::Changeset) -> Vec<ReceiptId> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Sync(SyncChange::HoldsReceiptLease { id, .. }) => Some(*id),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn new_messages_of_one_channel_are_one_changeset_each_behind_its_own_lease() {
    let channel = ChannelId::new();
    let source = route(channel, "CA", Direction::Both);
    let other = route(channel, "CB", Direction::Both);
    let mut mocks = ingesting(&source, &other, &["U2"]);
    let leases = vec![
        created(&source, "1.1", "U1"),
        created(&source, "1.2", "U1"),
        created(&source, "1.3", "U2"),
    ];
    let ids: Vec<ReceiptId> = leases.iter().map(|l| l.receipt.id).collect();
    let other_link = other.link.id;
    mocks
        .store
        .expect_commit()
        .withf(move |changes| {
            let count = |kind: &str| {
                changes
                    .iter()
                    .filter(|c| match c {
                        Change::Sync(s) => s.kind() == kind,
                        Change::InsertMember(_) => kind == "InsertMember",
                        Change::InsertMessage(_) => kind == "InsertMessage",
                        _ => false,
                    })
                    .count()
            };
            // Each receipt's writes follow its own guard, and each guard must match.
            let guards_expect_one = (0..changes.len())
                .filter(|&i| {
                    matches!(
                        changes.as_slice()[i],
                        Change::Sync(SyncChange::HoldsReceiptLease { .. })
                    )
                })
                .all(|i| changes.expectation(i).is_some());
            let fanned_out = changes.iter().all(|c| match c {
                Change::Sync(SyncChange::EnqueueDelivery(d)) => d.channel_link_id == other_link,
                _ => true,
            });
            guarded_receipts(changes) == ids
                && guards_expect_one
                && fanned_out
                // The new author once, the known one never.
                && count("InsertMember") == 1
                && count("InsertMessage") == 3
                && count("Sync::InsertMessageLink") == 3
                && count("Sync::EnqueueDelivery") == 3
                && count("Sync::SetReceiptState") == 3
                && count("Sync::TouchLastSync") == 1
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let service = IngestService::new(mocks.ports());
    let reports: Vec<_> = service
        .process_together(&leases)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reports, vec![ReceiptReport::Processed; 3]);
}

#[tokio::test]
async fn in_a_batch_a_lost_lease_writes_nothing_and_a_failing_receipt_fails_alone() {
    let channel = ChannelId::new();
    let source = route(channel, "CA", Direction::Both);
    let other = route(channel, "CB", Direction::Both);
    let mut mocks = ingesting(&source, &other, &[]);
    let leases = vec![
        created(&source, "1.1", "U1"),
        created(&source, "1.2", "U2"),
        created(&source, "1.3", "U3"),
        created(&source, "1.4", "U4"),
    ];
    let (lost, failing) = (leases[1].receipt.id, leases[2].receipt.id);
    let commits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&commits);
    mocks.store.expect_commit().returning(move |changes| {
        seen.lock().unwrap().push(changes.clone());
        let guards = guarded_receipts(&changes);
        let writes = changes
            .iter()
            .any(|c| matches!(c, Change::InsertMessage(_)));
        if guards.len() > 1 {
            // The batch: the second receipt's lease was taken over.
            return Err(crate::services::test_support::matched_nothing(7));
        }
        if guards == [lost] {
            return Err(crate::services::test_support::matched_nothing(0));
        }
        if guards == [failing] && writes {
            return Err(crate::ports::StoreError::Unexpected(anyhow::anyhow!(
                "the disk is full"
            )));
        }
        Ok(committed(changes.len()))
    });
    let service = IngestService::new(mocks.ports());
    let reports: Vec<_> = service
        .process_together(&leases)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reports,
        vec![
            ReceiptReport::Processed,
            ReceiptReport::LeaseLost,
            ReceiptReport::RetryScheduled,
            ReceiptReport::Processed,
        ]
    );
    let commits = commits.lock().unwrap();
    // The batch, then each receipt alone, then the failing one's retry.
    assert_eq!(commits.len(), 1 + 4 + 1);
    let retry = commits
        .iter()
        .rfind(|c| guarded_receipts(c) == [failing])
        .unwrap();
    assert!(retry.iter().any(|c| matches!(
        c,
        Change::Sync(SyncChange::SetReceiptState {
            state: DeliveryState::Pending { attempts: 1, .. },
            ..
        })
    )));
    assert!(!retry.iter().any(|c| matches!(c, Change::InsertMessage(_))));
}

#[tokio::test]
async fn receipts_not_of_new_top_level_messages_are_processed_one_by_one() {
    let channel = ChannelId::new();
    let source = route(channel, "CA", Direction::Both);
    let other = route(channel, "CB", Direction::Both);
    let mut mocks = ingesting(&source, &other, &[]);
    let mut reply = ext_message("1.2", "U1");
    reply.thread = Some(crate::model::sync::ThreadRef {
        parent: ExternalMessageId::parse("m", "1.1").unwrap(),
        channel: None,
    });
    let leases = vec![
        lease(
            source.connection.id,
            event("CA", InboundEventKind::MessageCreated(reply)),
        ),
        created(&source, "1.3", "UBOT"),
    ];
    assert!(!IngestService::joins_batches(&leases[0]));
    assert!(IngestService::joins_batches(&leases[1]));
    mocks
        .store
        .expect_commit()
        .withf(|changes| guarded_receipts(changes).len() == 1)
        .times(2)
        .returning(|c| Ok(committed(c.len())));
    let service = IngestService::new(mocks.ports());
    let reports: Vec<_> = service
        .process_together(&leases)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        reports,
        vec![
            ReceiptReport::Processed,
            ReceiptReport::Ignored(IgnoreReason::OwnBot),
        ]
    );
}

#[test]
fn native_writes_enqueue_one_row_per_target_link() {
    let channel = ChannelId::new();
    let a = route(channel, "CA", Direction::Both);
    let mut b = route(channel, "CB", Direction::Both);
    b.connection.status = ConnectionStatus::Disconnected;
    let message = crate::ids::MessageId::new();
    let changes = outbox_changes(
        DeliveryKind::MessageEdit,
        &[a.clone(), b],
        None,
        message,
        None,
        at(),
    );
    assert_eq!(changes.len(), 1);
    match &changes[0] {
        SyncChange::EnqueueDelivery(delivery) => {
            assert_eq!(delivery.channel_link_id, a.link.id);
            assert_eq!(delivery.hazel_message_id, message);
            assert_eq!(delivery.kind, DeliveryKind::MessageEdit);
            assert_eq!(delivery.state, DeliveryState::due(at()));
        }
        other => panic!("unexpected change {other:?}"),
    }
}

// ----------------------------------------------------------------------------------------
// Delivery with mocked ports.

fn queued(route: &Route, message: crate::ids::MessageId) -> crate::model::delivery::QueuedDelivery {
    crate::model::delivery::QueuedDelivery {
        delivery: crate::model::delivery::Delivery {
            id: crate::ids::DeliveryId::new(),
            connection_id: route.connection.id,
            channel_link_id: route.link.id,
            kind: DeliveryKind::MessageCreate,
            hazel_message_id: message,
            emoji: None,
            state: DeliveryState::due(at() - time::Duration::seconds(1)),
            created_at: at(),
        },
        sequence: 1,
        external_message_id: None,
    }
}

fn view(channel: ChannelId, id: crate::ids::MessageId) -> crate::model::message::MessageView {
    let author = crate::services::test_support::member_of(
        &crate::services::test_support::user("ada"),
        OrganizationId::new(),
        crate::model::identity::Role::Member,
    );
    crate::model::message::MessageView {
        message: crate::model::message::Message {
            id,
            channel_id: channel,
            author_id: author.id,
            content: crate::model::message::MessageContent::parse("c", "hello").unwrap(),
            parent_message_id: None,
            attachments: vec![],
            created_at: at(),
            edited_at: None,
            deleted_at: None,
        },
        author,
        reactions: vec![],
    }
}

/// Ports for one claimed link whose queue holds one create, the platform answering `answer`.
fn delivering(
    answer: Result<ExternalRefs, DeliveryError>,
    expect_commits: impl Fn(&crate::ports::Changeset) -> bool + Send + Sync + 'static,
    commits: usize,
) -> (DeliveryService, crate::model::delivery::LinkClaim) {
    let channel = ChannelId::new();
    let target = route(channel, "C1", Direction::Both);
    let message = crate::ids::MessageId::new();
    let item = queued(&target, message);
    let mut mocks = Mocks::new();
    let head = item.clone();
    let mut served = false;
    mocks.queue.expect_queue_head().returning(move |_, _| {
        // The queue holds the create until it was taken once.
        let answer = if served {
            Vec::new()
        } else {
            vec![head.clone()]
        };
        served = true;
        Ok(answer)
    });
    let found = target.clone();
    mocks
        .sync
        .expect_route()
        .returning(move |_| Ok(Some(found.clone())));
    mocks.sync.expect_message_link().returning(|_, _| Ok(None));
    mocks
        .messages
        .expect_view()
        .returning(move |id| Ok(Some(view(channel, id))));
    // The head's creates are read ahead together.
    mocks
        .sync
        .expect_message_links()
        .returning(|_, _| Ok(Vec::new()));
    mocks
        .sync
        .expect_message_views()
        .returning(move |ids| Ok(ids.iter().map(|id| view(channel, *id)).collect()));
    mocks
        .store
        .expect_commit()
        .withf(expect_commits)
        .times(commits)
        .returning(|c| Ok(committed(c.len())));
    let mut outbound = crate::ports::MockChatOutbound::new();
    outbound.expect_provider().return_const(Provider::Slack);
    outbound
        .expect_post()
        .times(1)
        .returning(move |_, _| answer.clone());
    let mut vault = MockCredentialVault::new();
    vault.expect_open().returning(|_, _| {
        Ok(crate::model::chat_sync::Credentials::slack(
            &secrecy::SecretString::from("xoxb-1-2-abc".to_owned()),
            &secrecy::SecretString::from("0123456789abcdef0123456789abcdef".to_owned()),
            None,
        )
        .unwrap())
    });
    let mut ports = mocks.ports();
    ports.vault = Arc::new(vault);
    ports.providers = ChatProviders::new().with_outbound(Arc::new(outbound));
    let claim = crate::model::delivery::LinkClaim {
        channel_link_id: target.link.id,
        connection_id: target.connection.id,
        worker: crate::ids::WorkerId::new(),
        expires_at: at() + time::Duration::seconds(30),
    };
    (DeliveryService::new(ports), claim)
}

/// Whether the changeset marks deliveries "sent, outcome unknown" before their call.
fn marks(changes: &crate::ports::Changeset) -> bool {
    changes.iter().any(|c| {
        matches!(c, Change::Sync(SyncChange::MarkUnresolved { ids, at: when }) if !ids.is_empty() && *when == at())
    })
}

fn first_state(changes: &crate::ports::Changeset) -> Option<&DeliveryState> {
    changes.iter().find_map(|c| match c {
        Change::Sync(SyncChange::SetDeliveryState { state, .. }) => Some(state),
        _ => None,
    })
}

#[tokio::test]
async fn a_delivered_create_records_its_parts_in_a_message_link_behind_the_claim() {
    let refs = ExternalRefs::new(vec![
        ExternalMessageId::parse("m", "1.1").unwrap(),
        ExternalMessageId::parse("m", "1.2").unwrap(),
    ])
    .unwrap();
    let (service, claim) = delivering(
        Ok(refs),
        |changes| {
            matches!(
                changes.first(),
                Some(Change::Sync(SyncChange::HoldsLinkClaim { .. }))
            ) && (marks(changes)
                || match first_state(changes) {
                    // The mark before the call, then the outcome with every part linked.
                    Some(DeliveryState::Delivered { attempts: 1, .. }) => changes.iter().any(|c| {
                        matches!(c, Change::Sync(SyncChange::InsertMessageLink(l))
                        if l.external.parts().len() == 2 && l.source == LinkSource::Hazel)
                    }),
                    _ => false,
                })
        },
        2,
    );
    let report = service.run_claim(&claim, 10).await.unwrap();
    let steps: Vec<_> = report.steps.into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        steps,
        vec![DeliveryStep::Delivered(DeliveryKind::MessageCreate)]
    );
}

#[tokio::test]
async fn a_rate_limited_create_waits_the_retry_after_and_holds_the_queue() {
    let (service, claim) = delivering(
        Err(DeliveryError::RateLimited {
            retry_after: Duration::from_secs(9),
            scope: RateLimitScope::Route,
        }),
        |changes| match first_state(changes) {
            None => marks(changes),
            Some(DeliveryState::Pending {
                attempts: 1,
                next_attempt_at,
                last_error: Some(error),
                unresolved_since: None,
            }) => *next_attempt_at == at() + Duration::from_secs(9) && error.code == "RATE_LIMITED",
            _ => false,
        },
        2,
    );
    let report = service.run_claim(&claim, 10).await.unwrap();
    let steps: Vec<_> = report.steps.into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![DeliveryStep::RetryScheduled]);
}

#[tokio::test]
async fn refused_credentials_set_the_connection_to_error_and_hold_the_delivery() {
    let (service, claim) = delivering(
        Err(DeliveryError::Auth {
            code: AuthFailure::AuthExpired,
            reason: "token_revoked".into(),
        }),
        |changes| {
            let status = changes.iter().any(|c| {
                matches!(
                    c,
                    Change::SetConnectionStatusIfUnchanged {
                        status: ConnectionStatus::Error {
                            code: ProviderErrorCode::AuthExpired,
                            ..
                        },
                        ..
                    }
                )
            });
            status
                || matches!(
                    first_state(changes),
                    Some(DeliveryState::Pending { last_error: Some(e), .. }) if e.code == "AUTH"
                )
                || marks(changes)
        },
        3,
    );
    let report = service.run_claim(&claim, 10).await.unwrap();
    let steps: Vec<_> = report.steps.into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![DeliveryStep::Held]);
}

// ----------------------------------------------------------------------------------------
// Catch-up and authors' profiles.

fn slack_credentials() -> crate::model::chat_sync::Credentials {
    crate::model::chat_sync::Credentials::Slack {
        bot_token: secrecy::SecretString::from("xoxb-1".to_owned()),
        signing_secret: secrecy::SecretString::from("s".to_owned()),
        app_token: None,
    }
}

fn opening_vault() -> MockCredentialVault {
    let mut vault = MockCredentialVault::new();
    vault
        .expect_open()
        .returning(|_, _| Ok(slack_credentials()));
    vault
}

#[tokio::test]
async fn catch_up_reads_each_readable_link_after_its_last_synced_message() {
    use crate::ports::{HistoryRequest, MockChatReader};
    let channel = ChannelId::new();
    let readable = route(channel, "CA", Direction::Both);
    let outbound_only = route(channel, "CB", Direction::Outbound);
    let mut inactive = route(channel, "CC", Direction::Both);
    inactive.link.is_active = false;
    let mut paused = route(channel, "CD", Direction::Inbound);
    paused.connection.status = ConnectionStatus::Disconnected;
    let routes = vec![readable.clone(), outbound_only, inactive, paused];
    let mut mocks = Mocks::new();
    mocks
        .sync
        .expect_readable_routes()
        .withf(|provider| *provider == Provider::Slack)
        .returning(move |_| Ok(routes.clone()));
    let link = readable.link.id;
    mocks
        .sync
        .expect_latest_message_link()
        .withf(move |asked| *asked == link)
        .times(1)
        .returning(move |link| {
            Ok(Some(MessageLink {
                id: MessageLinkId::new(),
                channel_link_id: link,
                hazel_message_id: crate::ids::MessageId::new(),
                external: ExternalRefs::new(vec![
                    ExternalMessageId::parse("m", "1.1").unwrap(),
                    ExternalMessageId::parse("m", "1.2").unwrap(),
                ])
                .unwrap(),
                source: LinkSource::Hazel,
                thread: None,
                content_hash: ContentHash::of("x"),
                reactions: Default::default(),
                pinned: false,
                created_at: at(),
                updated_at: at(),
            }))
        });
    let connection = readable.connection.id;
    mocks
        .store
        .expect_commit()
        .withf(move |changes| {
            changes.len() == 2
                && changes.iter().all(|change| {
                    matches!(change, Change::Sync(SyncChange::InsertReceipt(receipt))
                        if receipt.source == ReceiptSource::Backfill
                            && receipt.connection_id == connection)
                })
        })
        .times(1)
        .returning(|_| Ok(committed(2)));
    let mut reader = MockChatReader::new();
    reader.expect_provider().return_const(Provider::Slack);
    reader
        .expect_history_since()
        .withf(|request: &HistoryRequest| {
            request.channel.as_str() == "CA"
                && request.after.as_ref().map(ExternalMessageId::as_str) == Some("1.2")
                // The connection's bot, so the reader can leave its own messages out.
                && request
                    .bot
                    .as_ref()
                    .is_some_and(|bot| bot.user_id.as_str() == "UBOT")
        })
        .times(1)
        .returning(|_| {
            Ok(vec![
                event(
                    "CA",
                    InboundEventKind::MessageCreated(ext_message("1.3", "U1")),
                ),
                event(
                    "CA",
                    InboundEventKind::MessageCreated(ext_message("1.4", "U2")),
                ),
            ])
        });
    let providers = ChatProviders::new().with_reader(Arc::new(reader));
    let service = IngestService::new(mocks.ports_with(providers, opening_vault()));

    let report = service.catch_up().await.unwrap();

    assert_eq!(report.links_read, 1);
    assert_eq!(report.recorded, 2);
    assert!(report.failed.is_empty());
}

#[tokio::test]
async fn a_link_whose_history_cannot_be_read_is_reported_and_the_others_are_read() {
    use crate::ports::MockChatReader;
    let channel = ChannelId::new();
    let failing = route(channel, "CA", Direction::Both);
    let fine = route(channel, "CB", Direction::Both);
    let routes = vec![failing.clone(), fine];
    let mut mocks = Mocks::new();
    mocks
        .sync
        .expect_readable_routes()
        .returning(move |_| Ok(routes.clone()));
    mocks
        .sync
        .expect_latest_message_link()
        .returning(|_| Ok(None));
    let mut reader = MockChatReader::new();
    reader.expect_provider().return_const(Provider::Slack);
    reader.expect_history_since().returning(|request| {
        // Nothing synced yet: the read starts at the link's creation.
        assert_eq!(request.since, at());
        assert!(request.after.is_none());
        if request.channel.as_str() == "CA" {
            Err(DeliveryError::RateLimited {
                retry_after: Duration::from_secs(30),
                scope: RateLimitScope::Route,
            })
        } else {
            Ok(Vec::new())
        }
    });
    let providers = ChatProviders::new().with_reader(Arc::new(reader));
    let service = IngestService::new(mocks.ports_with(providers, opening_vault()));

    let report = service.catch_up().await.unwrap();

    assert_eq!(report.links_read, 1);
    assert_eq!(report.recorded, 0);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, failing.link.id);
    assert!(
        report.failed[0].1.contains("rate limited"),
        "{:?}",
        report.failed
    );
}

#[tokio::test]
async fn a_new_author_without_a_profile_gets_the_platforms_name_and_avatar() {
    use crate::ports::{ExternalProfile, MockChatReader};
    let channel = ChannelId::new();
    let source = route(channel, "CA", Direction::Both);
    let routes = vec![source.clone()];
    let mut mocks = Mocks::new();
    let found = source.clone();
    mocks
        .sync
        .expect_route_for_external()
        .returning(move |_, _| Ok(Some(found.clone())));
    mocks
        .sync
        .expect_routes_for_channel()
        .returning(move |_| Ok(routes.clone()));
    mocks
        .sync
        .expect_message_link_by_external()
        .returning(|_, _| Ok(None));
    mocks
        .sync
        .expect_shadow_member()
        .returning(|_, _, _| Ok(None));
    let org = source.connection.organization_id;
    mocks
        .channels
        .expect_find()
        .returning(move |id| Ok(Some(hazel_channel(id, org))));
    mocks
        .store
        .expect_commit()
        .withf(|changes| {
            changes.iter().any(|change| {
                matches!(change, Change::InsertMember(member)
                    if member.name.as_str() == "Sam Slack"
                        && member.avatar_url.as_ref().map(|u| u.as_str())
                            == Some("https://example.com/sam.png"))
            })
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let mut reader = MockChatReader::new();
    reader.expect_provider().return_const(Provider::Slack);
    reader
        .expect_user_profile()
        .withf(|_, _, user| user.as_str() == "U1")
        .times(1)
        .returning(|_, _, _| {
            Ok(Some(ExternalProfile {
                name: "Sam Slack".to_owned(),
                avatar_url: Some(
                    crate::model::text::Url::parse("u", "https://example.com/sam.png").unwrap(),
                ),
            }))
        });
    let providers = ChatProviders::new().with_reader(Arc::new(reader));
    let service = IngestService::new(mocks.ports_with(providers, opening_vault()));
    let lease = lease(
        source.connection.id,
        event(
            "CA",
            InboundEventKind::MessageCreated(ext_message("1.1", "U1")),
        ),
    );
    assert_eq!(
        service.process(&lease).await.unwrap(),
        ReceiptReport::Processed
    );
}

#[tokio::test]
async fn a_heads_creates_are_read_together_and_posted_in_order_with_their_outcomes_together() {
    let channel = ChannelId::new();
    let target = route(channel, "C1", Direction::Both);
    let messages: Vec<crate::ids::MessageId> =
        (0..3).map(|_| crate::ids::MessageId::new()).collect();
    let head: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut item = queued(&target, *m);
            item.sequence = i as i64 + 1;
            item
        })
        .collect();
    let mut mocks = Mocks::new();
    let mut served = false;
    let queue = head.clone();
    mocks.queue.expect_queue_head().returning(move |_, _| {
        let answer = if served { Vec::new() } else { queue.clone() };
        served = true;
        Ok(answer)
    });
    let found = target.clone();
    mocks
        .sync
        .expect_route()
        .returning(move |_| Ok(Some(found.clone())));
    // The second message is linked already (delivered before a crash, say).
    let linked = messages[1];
    let link = target.link.id;
    mocks
        .sync
        .expect_message_links()
        .times(1)
        .returning(move |_, ids| {
            assert_eq!(ids.len(), 3);
            Ok(vec![MessageLink {
                id: MessageLinkId::new(),
                channel_link_id: link,
                hazel_message_id: linked,
                external: ExternalRefs::single(ExternalMessageId::parse("m", "9.9").unwrap()),
                source: LinkSource::Hazel,
                thread: None,
                content_hash: ContentHash::of("hello"),
                reactions: Default::default(),
                pinned: false,
                created_at: at(),
                updated_at: at(),
            }])
        });
    mocks
        .sync
        .expect_message_views()
        .times(1)
        .returning(move |ids| Ok(ids.iter().map(|id| view(channel, *id)).collect()));
    // Nothing is read per delivery.
    mocks.sync.expect_message_link().never();
    mocks.messages.expect_view().never();
    mocks.messages.expect_find().never();
    let commits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&commits);
    mocks.store.expect_commit().returning(move |c| {
        seen.lock().unwrap().push(c.clone());
        Ok(committed(c.len()))
    });
    let posted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let order = Arc::clone(&posted);
    let mut outbound = crate::ports::MockChatOutbound::new();
    outbound.expect_provider().return_const(Provider::Slack);
    outbound
        .expect_post()
        .times(2)
        .returning(move |_, message| {
            let mut order = order.lock().unwrap();
            order.push(message.origin.hazel_message_id);
            Ok(ExternalRefs::single(
                ExternalMessageId::parse("m", &format!("1.{}", order.len())).unwrap(),
            ))
        });
    let mut vault = MockCredentialVault::new();
    vault.expect_open().returning(|_, _| {
        Ok(crate::model::chat_sync::Credentials::slack(
            &secrecy::SecretString::from("xoxb-1-2-abc".to_owned()),
            &secrecy::SecretString::from("0123456789abcdef0123456789abcdef".to_owned()),
            None,
        )
        .unwrap())
    });
    let mut ports = mocks.ports();
    ports.vault = Arc::new(vault);
    ports.providers = ChatProviders::new().with_outbound(Arc::new(outbound));
    let claim = crate::model::delivery::LinkClaim {
        channel_link_id: target.link.id,
        connection_id: target.connection.id,
        worker: crate::ids::WorkerId::new(),
        expires_at: at() + time::Duration::seconds(30),
    };
    let report = DeliveryService::new(ports)
        .run_claim(&claim, 10)
        .await
        .unwrap();
    let steps: Vec<_> = report.steps.into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        steps,
        vec![
            DeliveryStep::Delivered(DeliveryKind::MessageCreate),
            DeliveryStep::Ignored(IgnoreReason::AlreadyInSync),
            DeliveryStep::Delivered(DeliveryKind::MessageCreate),
        ]
    );
    assert_eq!(*posted.lock().unwrap(), vec![messages[0], messages[2]]);
    let commits = commits.lock().unwrap();
    // The mark of all three, the ignored one, then both outcomes in one commit.
    assert_eq!(commits.len(), 3);
    let outcomes: Vec<_> = commits[2]
        .iter()
        .filter_map(|c| match c {
            Change::Sync(SyncChange::InsertMessageLink(l)) => Some(l.hazel_message_id),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, vec![messages[0], messages[2]]);
    let touches = commits[2]
        .iter()
        .filter(|c| matches!(c, Change::Sync(SyncChange::TouchLastSync { .. })))
        .count();
    assert_eq!(touches, 1, "one touch of lastSyncAt per commit");
    assert!(matches!(
        commits[2].iter().next(),
        Some(Change::Sync(SyncChange::HoldsLinkClaim { .. }))
    ));
}

#[tokio::test]
async fn a_lost_thread_reply_is_looked_for_among_the_threads_replies_and_not_posted_twice() {
    let channel = ChannelId::new();
    let target = route(channel, "C1", Direction::Both);
    let (parent, reply) = (crate::ids::MessageId::new(), crate::ids::MessageId::new());
    let mut item = queued(&target, reply);
    item.delivery.state = DeliveryState::Pending {
        attempts: 1,
        next_attempt_at: at() - time::Duration::seconds(1),
        last_error: None,
        unresolved_since: Some(at() - time::Duration::seconds(5)),
    };
    let mut mocks = Mocks::new();
    let mut served = false;
    mocks.queue.expect_queue_head().returning(move |_, _| {
        let answer = if served {
            Vec::new()
        } else {
            vec![item.clone()]
        };
        served = true;
        Ok(answer)
    });
    let found = target.clone();
    mocks
        .sync
        .expect_route()
        .returning(move |_| Ok(Some(found.clone())));
    let link = target.link.id;
    mocks.sync.expect_message_link().returning(move |_, id| {
        Ok((id == parent).then(|| MessageLink {
            id: MessageLinkId::new(),
            channel_link_id: link,
            hazel_message_id: parent,
            external: ExternalRefs::single(ExternalMessageId::parse("m", "1.1").unwrap()),
            source: LinkSource::External,
            thread: None,
            content_hash: ContentHash::of("hello"),
            reactions: Default::default(),
            pinned: false,
            created_at: at(),
            updated_at: at(),
        }))
    });
    mocks
        .sync
        .expect_message_links()
        .returning(|_, _| Ok(Vec::new()));
    mocks
        .sync
        .expect_message_views()
        .returning(|_| Ok(Vec::new()));
    mocks.messages.expect_view().returning(move |id| {
        let mut view = view(channel, id);
        view.message.parent_message_id = Some(parent);
        Ok(Some(view))
    });
    mocks
        .store
        .expect_commit()
        .withf(|changes| {
            matches!(first_state(changes), Some(DeliveryState::Delivered { .. }))
                && changes.iter().any(|c| {
                    matches!(c, Change::Sync(SyncChange::InsertMessageLink(l))
                        if l.external.root().as_str() == "1.2"
                            && l.thread.as_ref().is_some_and(|t| t.parent.as_str() == "1.1"))
                })
        })
        .times(1)
        .returning(|c| Ok(committed(c.len())));
    let mut outbound = crate::ports::MockChatOutbound::new();
    outbound.expect_provider().return_const(Provider::Slack);
    outbound
        .expect_find_by_origin()
        .withf(|_, message, _| {
            matches!(&message.thread, crate::model::sync::ThreadTarget::Reply(t) if t.parent.as_str() == "1.1")
        })
        .times(1)
        .returning(|_, _, _| {
            Ok(Some(ExternalRefs::single(
                ExternalMessageId::parse("m", "1.2").unwrap(),
            )))
        });
    outbound.expect_post().never();
    let mut ports = mocks.ports();
    ports.vault = Arc::new(opening_vault());
    ports.providers = ChatProviders::new().with_outbound(Arc::new(outbound));
    let claim = crate::model::delivery::LinkClaim {
        channel_link_id: target.link.id,
        connection_id: target.connection.id,
        worker: crate::ids::WorkerId::new(),
        expires_at: at() + time::Duration::seconds(30),
    };
    let report = DeliveryService::new(ports)
        .run_claim(&claim, 10)
        .await
        .unwrap();
    let steps: Vec<_> = report.steps.into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        steps,
        vec![DeliveryStep::Delivered(DeliveryKind::MessageCreate)]
    );
}

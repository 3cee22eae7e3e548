//! Ports: the traits adapters implement. Services hold them as `Arc<dyn Port>`.

pub mod chat_inbound;
pub mod chat_outbound;
pub mod chat_provider;
pub mod chat_reader;
pub mod clock;
pub mod repositories;
pub mod session;
pub mod store;
pub mod sync;
pub mod vault;

pub use chat_inbound::ChatInbound;
pub use chat_outbound::ChatOutbound;
pub use chat_provider::{ChatDirectory, ChatProviders};
pub use chat_reader::{ChatReader, ExternalProfile, HistoryRequest};
pub use clock::{Clock, SystemClock};
pub use repositories::{
    ChannelLinkRepository, ChannelRepository, ConnectionRepository, ConnectionView,
    MemberRepository, MessageRepository, NotificationFilter, NotificationRepository,
    OrganizationRepository, RepoError, UserRepository,
};
pub use session::{
    ChatSession, SessionConnections, SessionEnd, SessionLeaseError, SessionLeases, SessionSink,
    SessionSinkError, SessionTarget,
};
pub use store::{
    Change, ChangeOutcome, Changeset, Committed, ConnectionColumns, Expectation, Guarded,
    LinkColumns, PreconditionFailure, Store, StoreError, SyncChange, UniqueRule,
};
pub use sync::{
    DeliveryFilter, DeliveryRecord, DeliveryRef, NoObserver, QueueError, QueueStats, SyncObserver,
    SyncOutcome, SyncQueue, SyncRepository,
};
pub use vault::{
    CredentialVault, LinkSecretError, LinkSecretStore, LinkSecrets, SealedLinkSecrets, VaultError,
};

#[cfg(any(test, feature = "mocks"))]
pub use chat_inbound::MockChatInbound;
#[cfg(any(test, feature = "mocks"))]
pub use chat_outbound::MockChatOutbound;
#[cfg(any(test, feature = "mocks"))]
pub use chat_provider::MockChatDirectory;
#[cfg(any(test, feature = "mocks"))]
pub use chat_reader::MockChatReader;
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use repositories::{
    MockChannelLinkRepository, MockChannelRepository, MockConnectionRepository,
    MockMemberRepository, MockMessageRepository, MockNotificationRepository,
    MockOrganizationRepository, MockUserRepository,
};
#[cfg(any(test, feature = "mocks"))]
pub use session::{MockChatSession, MockSessionConnections, MockSessionLeases, MockSessionSink};
#[cfg(any(test, feature = "mocks"))]
pub use store::MockStore;
#[cfg(any(test, feature = "mocks"))]
pub use sync::{MockSyncObserver, MockSyncQueue, MockSyncRepository};
#[cfg(any(test, feature = "mocks"))]
pub use vault::{MockCredentialVault, MockLinkSecretStore, MockLinkSecrets};

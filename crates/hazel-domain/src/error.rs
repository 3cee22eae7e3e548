//! Errors shared by the domain: input validation, the building blocks every use case's error
//! enum is composed of, and the flat [`DomainError`] the use cases not yet given their own enum
//! still return.
//!
//! Each use case names exactly the failures it can have in its own `thiserror` enum (next to the
//! service). The HTTP adapter maps each enum to its operation's statuses with an exhaustive
//! `match`, so a new failure cannot reach a client before someone decides its status.

use std::fmt;

use crate::model::chat_sync::ProviderError;

/// Input that failed validation, naming the offending field (in the API's camelCase).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    field: String,
    message: String,
}

impl ValidationError {
    /// A validation failure of `field`, described by `message`.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The name of the invalid field.
    #[must_use]
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Which kind of resource was not found; each maps to its own error code at the API edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotFound {
    /// An organization.
    Organization,
    /// A member.
    Member,
    /// A channel.
    Channel,
    /// A message.
    Message,
    /// A reaction.
    Reaction,
    /// A notification (`NotificationNotFoundError`).
    Notification,
    /// A chat-sync connection (`ChatSyncConnectionNotFoundError`).
    Connection,
    /// A channel link (`ChatSyncChannelLinkNotFoundError`).
    ChannelLink,
}

impl NotFound {
    /// A human-readable name of the resource kind.
    #[must_use]
    pub fn resource(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Member => "member",
            Self::Channel => "channel",
            Self::Message => "message",
            Self::Reaction => "reaction",
            Self::Notification => "notification",
            Self::Connection => "connection",
            Self::ChannelLink => "channel link",
        }
    }
}

/// The error every domain service returns. Expected outcomes are named variants; anything else
/// is [`DomainError::Unexpected`], whose details are logged but never answered.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input failed validation.
    #[error("invalid input: {0}")]
    Validation(#[from] ValidationError),
    /// No token, or a token that matches no user.
    #[error("missing or invalid credentials")]
    Unauthenticated,
    /// The caller is known but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The resource does not exist or is not visible to the caller.
    #[error("{} not found", .0.resource())]
    NotFound(NotFound),
    /// A live connection already exists for (organization, provider, external workspace).
    #[error("a live connection already exists for this organization, provider and workspace")]
    ConnectionExists,
    /// The Hazel channel or the external channel is already linked in this connection.
    #[error("the Hazel channel or the external channel is already linked in this connection")]
    ChannelLinkExists,
    /// A connection has neither credentials nor a usable integration connection.
    #[error("{0}")]
    IntegrationNotConnected(String),
    /// The chat provider refused or failed a request.
    #[error("provider error: {0}")]
    Provider(ProviderError),
    /// Anything else: a bug or an infrastructure failure.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl DomainError {
    /// Shorthand for a [`DomainError::Forbidden`] with a reason.
    #[must_use]
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::Forbidden(reason.into())
    }
}

impl From<MembershipError> for DomainError {
    fn from(err: MembershipError) -> Self {
        match err {
            MembershipError::OrganizationNotFound => Self::NotFound(NotFound::Organization),
            MembershipError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

impl From<AdminError> for DomainError {
    fn from(err: AdminError) -> Self {
        match err {
            AdminError::OrganizationNotFound => Self::NotFound(NotFound::Organization),
            AdminError::Forbidden(reason) => Self::Forbidden(reason),
            AdminError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// Why the caller's membership of an organization could not be established. A non-member sees
/// the organization as absent.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The organization does not exist or the caller is not a member.
    #[error("organization not found")]
    OrganizationNotFound,
    /// A failed read.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why the caller may not act as an owner or admin of an organization.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The organization does not exist or the caller is not a member.
    #[error("organization not found")]
    OrganizationNotFound,
    /// The caller is a member but neither an owner nor an admin.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A failed read.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<MembershipError> for AdminError {
    fn from(err: MembershipError) -> Self {
        match err {
            MembershipError::OrganizationNotFound => Self::OrganizationNotFound,
            MembershipError::Unexpected(e) => Self::Unexpected(e),
        }
    }
}

/// Implements `From<RepoError>` for use-case error enums with an `Unexpected(anyhow::Error)`
/// variant: a failed read is always unexpected.
macro_rules! unexpected_on_read_failure {
    ($($error:ty),+ $(,)?) => {
        $(
            impl From<$crate::ports::RepoError> for $error {
                fn from(err: $crate::ports::RepoError) -> Self {
                    match err {
                        $crate::ports::RepoError::Unexpected(e) => Self::Unexpected(e),
                    }
                }
            }
        )+
    };
}

pub(crate) use unexpected_on_read_failure;

unexpected_on_read_failure!(MembershipError, AdminError);

/// Result alias for domain services.
pub type DomainResult<T> = Result<T, DomainError>;

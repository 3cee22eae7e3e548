//! Errors shared by the domain: input validation and the building blocks every use case's
//! error enum is composed of.
//!
//! Each use case names exactly the failures it can have in its own `thiserror` enum (next to the
//! service). The HTTP adapter maps each enum to its operation's statuses with an exhaustive
//! `match`, so a new failure cannot reach a client before someone decides its status.

use std::fmt;

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

/// Implements `From<$from>` for each target enum by moving every variant of `$from` into the
/// target's variant of the same name. The variants must be listed in full: the `match` is
/// exhaustive over `$from`, so a building block that grows a failure makes every use case that
/// absorbs it decide about it.
macro_rules! from_variants {
    ($from:ident => [$($to:ident),+] $variants:tt) => {
        $($crate::error::from_variants!(@one $from => $to $variants);)+
    };
    (@one $from:ident => $to:ident { $($variant:ident $(($bind:ident))?),+ $(,)? }) => {
        impl From<$from> for $to {
            fn from(err: $from) -> Self {
                match err {
                    $($from::$variant $(($bind))? => Self::$variant $(($bind))?,)+
                }
            }
        }
    };
}

pub(crate) use from_variants;

unexpected_on_read_failure!(MembershipError, AdminError);

//! Users, API tokens, organizations and members.

use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use super::Timestamp;
use super::chat_sync::Provider;
use super::external::ExternalUserId;
use super::text::{Email, Name, Slug, Url};
use crate::error::ValidationError;
use crate::ids::{ApiTokenId, MemberId, OrganizationId, UserId};

/// A person who can authenticate and belong to organizations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique, lowercased email address.
    pub email: Email,
    /// Display name.
    pub name: Name,
    /// When the user was created.
    pub created_at: Timestamp,
}

/// A bearer token in clear text. Only ever shown once, to the user it was issued for.
#[derive(Debug)]
pub struct TokenSecret(SecretString);

impl TokenSecret {
    const PREFIX: &'static str = "hzl_";

    /// Generates a new random token (256 bits from the operating system's generator).
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Self(SecretString::from(format!("{}{encoded}", Self::PREFIX)))
    }

    /// Wraps a token presented by a client.
    #[must_use]
    pub fn presented(raw: &str) -> Self {
        Self(SecretString::from(raw.to_owned()))
    }

    /// The token text, for handing to its user exactly once.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The stored form: SHA-256 of the token, hex encoded. Tokens carry 256 bits of entropy,
    /// so a fast hash is enough (there is nothing to brute-force).
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(
            self.0.expose_secret().as_bytes(),
        )))
    }
}

/// The stored, one-way form of a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// Wraps a hash read back from storage.
    #[must_use]
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The hex digest.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored API token: its hash and owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// Id.
    pub id: ApiTokenId,
    /// Owner.
    pub user_id: UserId,
    /// SHA-256 of the secret.
    pub hash: TokenHash,
    /// When it was issued.
    pub created_at: Timestamp,
}

/// An organization (a tenant). Every other resource belongs to exactly one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Display name.
    pub name: Name,
    /// Unique URL-friendly handle.
    pub slug: Slug,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A member's role in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Full control, including other owners.
    Owner,
    /// Manages members, connections and other people's content.
    Admin,
    /// Reads and writes messages.
    Member,
}

impl Role {
    /// Owners and admins may administer the organization.
    #[must_use]
    pub fn is_admin(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }

    /// The wire and storage name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses a role name.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` for anything but `owner`, `admin`, `member`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err(ValidationError::new(
                field,
                "must be one of owner, admin, member",
            )),
        }
    }
}

/// Who stands behind a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberKind {
    /// A Hazel user.
    Native {
        /// The user.
        user_id: UserId,
    },
    /// An author on an external platform, mirrored so synced messages have an author.
    Shadow {
        /// The platform.
        provider: Provider,
        /// The author's id there.
        external_user_id: ExternalUserId,
    },
}

/// A member of an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Id.
    pub id: MemberId,
    /// The organization.
    pub organization_id: OrganizationId,
    /// A Hazel user or an external author.
    pub kind: MemberKind,
    /// Display name.
    pub name: Name,
    /// Avatar image.
    pub avatar_url: Option<Url>,
    /// Role; shadow members are always [`Role::Member`].
    pub role: Role,
    /// When the member was added.
    pub created_at: Timestamp,
}

impl Member {
    /// The user behind a native member.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        match &self.kind {
            MemberKind::Native { user_id } => Some(*user_id),
            MemberKind::Shadow { .. } => None,
        }
    }

    /// Whether a person can read notifications as this member.
    #[must_use]
    pub fn is_native(&self) -> bool {
        matches!(self.kind, MemberKind::Native { .. })
    }
}

/// A member together with the email of its user, as listed by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberProfile {
    /// The member.
    pub member: Member,
    /// The user's email, for native members.
    pub email: Option<Email>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_unique_and_hash_deterministically() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("hzl_"));
        assert_eq!(a.hash(), TokenSecret::presented(a.expose()).hash());
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash().as_str().len(), 64);
    }

    #[test]
    fn token_debug_output_hides_the_secret() {
        let token = TokenSecret::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }

    #[test]
    fn roles_parse_and_rank() {
        assert_eq!(Role::parse("role", "admin"), Ok(Role::Admin));
        assert_eq!(Role::parse("role", "root").unwrap_err().field(), "role");
        assert!(Role::Owner.is_admin() && Role::Admin.is_admin() && !Role::Member.is_admin());
    }
}

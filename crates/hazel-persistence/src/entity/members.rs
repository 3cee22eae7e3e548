//! `members`: native members carry `user_id`, shadow members `external_provider` and
//! `external_user_id` (a check constraint keeps exactly one form).

use anyhow::{Context as _, bail};
use hazel_domain::model::chat_sync::Provider;
use hazel_domain::model::identity::{Member, MemberKind, Role};
use hazel_domain::model::text::{Name, Url};
use sea_orm::entity::prelude::*;

use super::{from_db, parse_id, to_db};
use hazel_domain::model::chat_sync::ExternalUserId;

/// A row of `members`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub organization_id: String,
    pub user_id: Option<String>,
    pub external_provider: Option<String>,
    pub external_user_id: Option<String>,
    pub name: String,
    pub avatar_url: Option<String>,
    pub role: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain member.
    pub(crate) fn into_domain(self) -> anyhow::Result<Member> {
        let member = || -> anyhow::Result<Member> {
            let kind = match (
                self.user_id.as_deref(),
                self.external_provider.as_deref(),
                self.external_user_id.as_deref(),
            ) {
                (Some(user_id), None, None) => MemberKind::Native {
                    user_id: parse_id("user_id", user_id)?,
                },
                (None, Some(provider), Some(external_user_id)) => MemberKind::Shadow {
                    provider: Provider::parse("external_provider", provider)?,
                    external_user_id: ExternalUserId::parse("external_user_id", external_user_id)?,
                },
                _ => bail!("a member must have either a user or an external identity"),
            };
            Ok(Member {
                id: parse_id("id", &self.id)?,
                organization_id: parse_id("organization_id", &self.organization_id)?,
                kind,
                name: Name::parse("name", &self.name)?,
                avatar_url: self
                    .avatar_url
                    .as_deref()
                    .map(|url| Url::parse("avatar_url", url))
                    .transpose()?,
                role: Role::parse("role", &self.role)?,
                created_at: from_db(self.created_at),
            })
        };
        member().with_context(|| format!("unreadable members row {}", self.id))
    }
}

impl From<&Member> for Model {
    fn from(member: &Member) -> Self {
        let (user_id, external_provider, external_user_id) = match &member.kind {
            MemberKind::Native { user_id } => (Some(user_id.to_string()), None, None),
            MemberKind::Shadow {
                provider,
                external_user_id,
            } => (
                None,
                Some(provider.as_str().to_owned()),
                Some(external_user_id.as_str().to_owned()),
            ),
        };
        Self {
            id: member.id.to_string(),
            organization_id: member.organization_id.to_string(),
            user_id,
            external_provider,
            external_user_id,
            name: member.name.as_str().to_owned(),
            avatar_url: member.avatar_url.as_ref().map(|u| u.as_str().to_owned()),
            role: member.role.as_str().to_owned(),
            created_at: to_db(member.created_at),
        }
    }
}

//! `notifications`: `dedupe_key` is unique where present.

use anyhow::Context as _;
use hazel_domain::model::notification::Notification;
use hazel_domain::model::text::Opaque;
use sea_orm::entity::prelude::*;

use super::{from_db, from_db_opt, parse_id, stored_opaque, to_db, to_db_opt};

/// A row of `notifications`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub organization_id: String,
    pub member_id: String,
    pub targeted_resource_id: Option<String>,
    pub targeted_resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub resource_type: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub read_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

fn opaque(column: &str, raw: Option<&str>) -> anyhow::Result<Option<Opaque>> {
    raw.map(|raw| stored_opaque(column, raw)).transpose()
}

impl Model {
    /// The domain notification.
    pub(crate) fn into_domain(self) -> anyhow::Result<Notification> {
        let notification = || -> anyhow::Result<Notification> {
            Ok(Notification {
                id: parse_id("id", &self.id)?,
                member_id: parse_id("member_id", &self.member_id)?,
                organization_id: parse_id("organization_id", &self.organization_id)?,
                targeted_resource_id: opaque(
                    "targeted_resource_id",
                    self.targeted_resource_id.as_deref(),
                )?,
                targeted_resource_type: opaque(
                    "targeted_resource_type",
                    self.targeted_resource_type.as_deref(),
                )?,
                resource_id: opaque("resource_id", self.resource_id.as_deref())?,
                resource_type: opaque("resource_type", self.resource_type.as_deref())?,
                dedupe_key: self.dedupe_key.clone(),
                created_at: from_db(self.created_at),
                read_at: from_db_opt(self.read_at),
            })
        };
        notification().with_context(|| format!("unreadable notifications row {}", self.id))
    }
}

impl From<&Notification> for Model {
    fn from(n: &Notification) -> Self {
        let text = |value: &Option<Opaque>| value.as_ref().map(|v| v.as_str().to_owned());
        Self {
            id: n.id.to_string(),
            organization_id: n.organization_id.to_string(),
            member_id: n.member_id.to_string(),
            targeted_resource_id: text(&n.targeted_resource_id),
            targeted_resource_type: text(&n.targeted_resource_type),
            resource_id: text(&n.resource_id),
            resource_type: text(&n.resource_type),
            dedupe_key: n.dedupe_key.clone(),
            created_at: to_db(n.created_at),
            read_at: to_db_opt(n.read_at),
        }
    }
}

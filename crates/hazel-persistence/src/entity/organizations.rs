//! `organizations`.

use anyhow::Context as _;
use hazel_domain::model::identity::Organization;
use hazel_domain::model::text::{Name, Slug};
use sea_orm::entity::prelude::*;

use super::{from_db, parse_id, to_db};

/// A row of `organizations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub slug: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain organization.
    pub(crate) fn into_domain(self) -> anyhow::Result<Organization> {
        let organization = || -> anyhow::Result<Organization> {
            Ok(Organization {
                id: parse_id("id", &self.id)?,
                name: Name::parse("name", &self.name)?,
                slug: Slug::parse("slug", &self.slug)?,
                created_at: from_db(self.created_at),
            })
        };
        organization().with_context(|| format!("unreadable organizations row {}", self.id))
    }
}

impl From<&Organization> for Model {
    fn from(organization: &Organization) -> Self {
        Self {
            id: organization.id.to_string(),
            name: organization.name.as_str().to_owned(),
            slug: organization.slug.as_str().to_owned(),
            created_at: to_db(organization.created_at),
        }
    }
}

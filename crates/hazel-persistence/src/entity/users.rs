//! `users`.

use anyhow::Context as _;
use hazel_domain::model::identity::User;
use hazel_domain::model::text::{Email, Name};
use sea_orm::entity::prelude::*;

use super::{from_db, parse_id, to_db};

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The domain user.
    pub(crate) fn into_domain(self) -> anyhow::Result<User> {
        let user = || -> anyhow::Result<User> {
            Ok(User {
                id: parse_id("id", &self.id)?,
                email: Email::parse("email", &self.email)?,
                name: Name::parse("name", &self.name)?,
                created_at: from_db(self.created_at),
            })
        };
        user().with_context(|| format!("unreadable users row {}", self.id))
    }
}

impl From<&User> for Model {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            created_at: to_db(user.created_at),
        }
    }
}

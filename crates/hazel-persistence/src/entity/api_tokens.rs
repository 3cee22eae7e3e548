//! `api_tokens`. Only written; tokens are read through a subquery of `users`.

use hazel_domain::model::identity::ApiToken;
use sea_orm::entity::prelude::*;

use super::to_db;

/// A row of `api_tokens`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub hash: String,
    pub created_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl From<&ApiToken> for Model {
    fn from(token: &ApiToken) -> Self {
        Self {
            id: token.id.to_string(),
            user_id: token.user_id.to_string(),
            hash: token.hash.as_str().to_owned(),
            created_at: to_db(token.created_at),
        }
    }
}

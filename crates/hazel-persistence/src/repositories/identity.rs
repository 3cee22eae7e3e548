//! Users, organizations and members.

use std::collections::HashMap;

use async_trait::async_trait;
use hazel_domain::ids::{MemberId, OrganizationId, UserId};
use hazel_domain::model::identity::{Member, MemberProfile, Organization, TokenHash, User};
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::model::text::Email;
use hazel_domain::ports::{MemberRepository, OrganizationRepository, RepoError, UserRepository};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};

use super::{convert, convert_opt};
use crate::Database;
use crate::entity::{api_tokens, members, organizations, users};
use crate::error::ReadResultExt as _;
use crate::page::{Order, page_of, to_page};

#[async_trait]
impl UserRepository for Database {
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let row = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.connection())
            .await
            .read("finding a user by email")?;
        convert_opt(row, users::Model::into_domain)
    }

    async fn find_by_token(&self, hash: &TokenHash) -> Result<Option<User>, RepoError> {
        if let Some(user) = self.reads().users_by_token.get(hash.as_str()) {
            return Ok(Some(user));
        }
        let holder = Query::select()
            .column(api_tokens::Column::UserId)
            .from(api_tokens::Entity)
            .and_where(api_tokens::Column::Hash.eq(hash.as_str()))
            .to_owned();
        let row = users::Entity::find()
            .filter(users::Column::Id.in_subquery(holder))
            .one(self.connection())
            .await
            .read("finding a user by token")?;
        let user = convert_opt(row, users::Model::into_domain)?;
        if let Some(user) = &user {
            self.reads()
                .users_by_token
                .insert(hash.as_str().to_owned(), user.clone());
        }
        Ok(user)
    }
}

#[async_trait]
impl OrganizationRepository for Database {
    async fn find(&self, id: OrganizationId) -> Result<Option<Organization>, RepoError> {
        let row = organizations::Entity::find_by_id(id.to_string())
            .one(self.connection())
            .await
            .read("finding an organization")?;
        convert_opt(row, organizations::Model::into_domain)
    }

    async fn list_for_user(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> Result<Page<Organization>, RepoError> {
        let memberships = Query::select()
            .column(members::Column::OrganizationId)
            .from(members::Entity)
            .and_where(members::Column::UserId.eq(user.to_string()))
            .to_owned();
        let select = organizations::Entity::find()
            .filter(organizations::Column::Id.in_subquery(memberships));
        let rows = page_of(select, organizations::Column::Id, Order::OldestFirst, page)
            .all(self.connection())
            .await
            .read("listing a user's organizations")?;
        let organizations = convert(rows, organizations::Model::into_domain)?;
        Ok(to_page(organizations, page, |o| o.id.to_string()))
    }
}

#[async_trait]
impl MemberRepository for Database {
    async fn find(&self, id: MemberId) -> Result<Option<Member>, RepoError> {
        let row = members::Entity::find_by_id(id.to_string())
            .one(self.connection())
            .await
            .read("finding a member")?;
        convert_opt(row, members::Model::into_domain)
    }

    async fn find_for_user(
        &self,
        organization: OrganizationId,
        user: UserId,
    ) -> Result<Option<Member>, RepoError> {
        let key = (organization, user);
        if let Some(member) = self.reads().memberships.get(&key) {
            return Ok(Some(member));
        }
        let row = members::Entity::find()
            .filter(members::Column::OrganizationId.eq(organization.to_string()))
            .filter(members::Column::UserId.eq(user.to_string()))
            .one(self.connection())
            .await
            .read("finding a user's membership")?;
        let member = convert_opt(row, members::Model::into_domain)?;
        if let Some(member) = &member {
            self.reads().memberships.insert(key, member.clone());
        }
        Ok(member)
    }

    async fn find_many(
        &self,
        organization: OrganizationId,
        ids: &[MemberId],
    ) -> Result<Vec<Member>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = members::Entity::find()
            .filter(members::Column::OrganizationId.eq(organization.to_string()))
            .filter(members::Column::Id.is_in(ids.iter().map(ToString::to_string)))
            .order_by_asc(members::Column::Id)
            .all(self.connection())
            .await
            .read("finding members by id")?;
        convert(rows, members::Model::into_domain)
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<Member>, RepoError> {
        let rows = members::Entity::find()
            .filter(members::Column::UserId.eq(user.to_string()))
            .order_by_asc(members::Column::Id)
            .all(self.connection())
            .await
            .read("listing a user's memberships")?;
        convert(rows, members::Model::into_domain)
    }

    async fn list(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<MemberProfile>, RepoError> {
        let select = members::Entity::find()
            .filter(members::Column::OrganizationId.eq(organization.to_string()));
        let rows = page_of(select, members::Column::Id, Order::OldestFirst, page)
            .all(self.connection())
            .await
            .read("listing an organization's members")?;
        let members = convert(rows, members::Model::into_domain)?;
        let mut emails = self.emails_of(&members).await?;
        let profiles = members
            .into_iter()
            .map(|member| {
                let email = member.user_id().and_then(|user| emails.remove(&user));
                MemberProfile { member, email }
            })
            .collect();
        Ok(to_page(profiles, page, |p| p.member.id.to_string()))
    }

    async fn list_native(&self, organization: OrganizationId) -> Result<Vec<Member>, RepoError> {
        let rows = members::Entity::find()
            .filter(members::Column::OrganizationId.eq(organization.to_string()))
            .filter(members::Column::UserId.is_not_null())
            .order_by_asc(members::Column::Id)
            .all(self.connection())
            .await
            .read("listing an organization's native members")?;
        convert(rows, members::Model::into_domain)
    }
}

impl Database {
    /// The emails of the users behind native `members`, in one query.
    async fn emails_of(&self, members: &[Member]) -> Result<HashMap<UserId, Email>, RepoError> {
        let user_ids: Vec<String> = members
            .iter()
            .filter_map(Member::user_id)
            .map(|id| id.to_string())
            .collect();
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = users::Entity::find()
            .filter(users::Column::Id.is_in(user_ids))
            .all(self.connection())
            .await
            .read("reading members' emails")?;
        Ok(convert(rows, users::Model::into_domain)?
            .into_iter()
            .map(|user| (user.id, user.email))
            .collect())
    }
}

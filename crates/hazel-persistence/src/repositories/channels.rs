//! Channels.

use async_trait::async_trait;
use hazel_domain::ids::{ChannelId, OrganizationId};
use hazel_domain::model::channel::Channel;
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::ports::{ChannelRepository, RepoError};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use super::{convert, convert_opt};
use crate::Database;
use crate::entity::channels;
use crate::error::ReadResultExt as _;
use crate::page::{Order, page_of, to_page};

#[async_trait]
impl ChannelRepository for Database {
    async fn find(&self, id: ChannelId) -> Result<Option<Channel>, RepoError> {
        if let Some(channel) = self.reads().channels.get(&id) {
            return Ok(Some(channel));
        }
        let row = channels::Entity::find_by_id(id.to_string())
            .one(self.connection())
            .await
            .read("finding a channel")?;
        let channel = convert_opt(row, channels::Model::into_domain)?;
        if let Some(channel) = &channel {
            self.reads().channels.insert(id, channel.clone());
        }
        Ok(channel)
    }

    async fn list(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<Channel>, RepoError> {
        let select = channels::Entity::find()
            .filter(channels::Column::OrganizationId.eq(organization.to_string()));
        let rows = page_of(select, channels::Column::Id, Order::OldestFirst, page)
            .all(self.connection())
            .await
            .read("listing an organization's channels")?;
        let channels = convert(rows, channels::Model::into_domain)?;
        Ok(to_page(channels, page, |c| c.id.to_string()))
    }
}

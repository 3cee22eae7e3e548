//! Live chat-sync connections and channel links (soft-deleted rows never appear).

use std::collections::HashMap;

use async_trait::async_trait;
use hazel_domain::ids::{ChannelLinkId, OrganizationId, SyncConnectionId};
use hazel_domain::model::chat_sync::{ChannelLink, ExternalWorkspaceId, Provider, SyncConnection};
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::ports::{ChannelLinkRepository, ConnectionRepository, ConnectionView, RepoError};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Select,
};

use super::{convert, convert_opt};
use crate::Database;
use crate::entity::{channel_links, connections};
use crate::error::ReadResultExt as _;
use crate::page::{Order, page_of, to_page};

fn live_connections() -> Select<connections::Entity> {
    connections::Entity::find().filter(connections::Column::DeletedAt.is_null())
}

fn live_links() -> Select<channel_links::Entity> {
    channel_links::Entity::find().filter(channel_links::Column::DeletedAt.is_null())
}

#[async_trait]
impl ConnectionRepository for Database {
    async fn find(&self, id: SyncConnectionId) -> Result<Option<ConnectionView>, RepoError> {
        let row = live_connections()
            .filter(connections::Column::Id.eq(id.to_string()))
            .one(self.connection())
            .await
            .read("finding a connection")?;
        match convert_opt(row, connections::Model::into_domain)? {
            Some(connection) => Ok(self.connection_views(vec![connection]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn find_by_workspace(
        &self,
        organization: OrganizationId,
        provider: Provider,
        workspace: &ExternalWorkspaceId,
    ) -> Result<Option<SyncConnection>, RepoError> {
        let row = live_connections()
            .filter(connections::Column::OrganizationId.eq(organization.to_string()))
            .filter(connections::Column::Provider.eq(provider.as_str()))
            .filter(connections::Column::ExternalWorkspaceId.eq(workspace.as_str()))
            .one(self.connection())
            .await
            .read("finding a connection by workspace")?;
        convert_opt(row, connections::Model::into_domain)
    }

    async fn list(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<ConnectionView>, RepoError> {
        let select = live_connections()
            .filter(connections::Column::OrganizationId.eq(organization.to_string()));
        let rows = page_of(select, connections::Column::Id, Order::OldestFirst, page)
            .all(self.connection())
            .await
            .read("listing an organization's connections")?;
        let connections = to_page(convert(rows, connections::Model::into_domain)?, page, |c| {
            c.id.to_string()
        });
        Ok(Page {
            items: self.connection_views(connections.items).await?,
            next_cursor: connections.next_cursor,
        })
    }
}

impl Database {
    /// Pairs each connection with its number of live, active links: one grouped query.
    async fn connection_views(
        &self,
        connections: Vec<SyncConnection>,
    ) -> Result<Vec<ConnectionView>, RepoError> {
        if connections.is_empty() {
            return Ok(Vec::new());
        }
        let ids = connections.iter().map(|c| c.id.to_string());
        let counts: HashMap<String, i64> = live_links()
            .select_only()
            .column(channel_links::Column::ConnectionId)
            .column_as(
                Expr::col(channel_links::Column::Id).count(),
                "channel_count",
            )
            .filter(channel_links::Column::ConnectionId.is_in(ids))
            .filter(channel_links::Column::IsActive.eq(true))
            .group_by(channel_links::Column::ConnectionId)
            .into_tuple::<(String, i64)>()
            .all(self.connection())
            .await
            .read("counting connections' channel links")?
            .into_iter()
            .collect();
        Ok(connections
            .into_iter()
            .map(|connection| {
                let count = counts.get(&connection.id.to_string()).copied().unwrap_or(0);
                ConnectionView {
                    channel_count: count.unsigned_abs(),
                    connection,
                }
            })
            .collect())
    }
}

#[async_trait]
impl ChannelLinkRepository for Database {
    async fn find(&self, id: ChannelLinkId) -> Result<Option<ChannelLink>, RepoError> {
        let row = live_links()
            .filter(channel_links::Column::Id.eq(id.to_string()))
            .one(self.connection())
            .await
            .read("finding a channel link")?;
        convert_opt(row, channel_links::Model::into_domain)
    }

    async fn list(
        &self,
        connection: SyncConnectionId,
        page: &PageRequest,
    ) -> Result<Page<ChannelLink>, RepoError> {
        let select =
            live_links().filter(channel_links::Column::ConnectionId.eq(connection.to_string()));
        let rows = page_of(select, channel_links::Column::Id, Order::OldestFirst, page)
            .all(self.connection())
            .await
            .read("listing a connection's channel links")?;
        let links = convert(rows, channel_links::Model::into_domain)?;
        Ok(to_page(links, page, |l| l.id.to_string()))
    }

    async fn list_all(&self, connection: SyncConnectionId) -> Result<Vec<ChannelLink>, RepoError> {
        let rows = live_links()
            .filter(channel_links::Column::ConnectionId.eq(connection.to_string()))
            .order_by_asc(channel_links::Column::Id)
            .all(self.connection())
            .await
            .read("listing all of a connection's channel links")?;
        convert(rows, channel_links::Model::into_domain)
    }
}

//! [`SyncRepository`]: routes, message links, shadow members and deliveries.

use std::collections::HashMap;

use async_trait::async_trait;
use hazel_domain::ids::{
    ChannelId, ChannelLinkId, DeliveryId, MessageId, OrganizationId, ReceiptId, SyncConnectionId,
};
use hazel_domain::model::chat_sync::{
    ConnectionStatus, Direction, ExternalChannelId, Provider, SyncConnection,
};
use hazel_domain::model::delivery::MessageLink;
use hazel_domain::model::external::{ExternalMessageId, ExternalUserId, ExternalWorkspaceId};
use hazel_domain::model::identity::Member;
use hazel_domain::model::message::{Emoji, MessageView};
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::ports::{DeliveryFilter, DeliveryRecord, DeliveryRef, RepoError, SyncRepository};
use hazel_domain::services::sync::Route;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryResult, Value,
};

use super::{
    MESSAGE_LINK_COLUMNS, OUTBOX_COLUMNS, RECEIPT_COLUMNS, message_link_of, queued_of, receipt_of,
    statement,
};
use crate::Database;
use crate::entity::{channel_links, connections, members, reactions};
use crate::error::ReadResultExt as _;

fn unexpected(err: anyhow::Error) -> RepoError {
    RepoError::Unexpected(err)
}

impl Database {
    /// Runs a read with `$n` placeholders.
    pub(crate) async fn read_rows(
        &self,
        sql: &str,
        values: Vec<Value>,
        doing: &str,
    ) -> Result<Vec<QueryResult>, RepoError> {
        let backend = self.connection().get_database_backend();
        self.connection()
            .query_all_raw(statement(backend, sql, values))
            .await
            .read(doing)
    }

    /// Live links matching `filter`, each with its live connection.
    async fn routes_where(
        &self,
        filter: sea_orm::Condition,
        doing: &str,
    ) -> Result<Vec<Route>, RepoError> {
        let links = channel_links::Entity::find()
            .filter(channel_links::Column::DeletedAt.is_null())
            .filter(filter)
            .all(self.connection())
            .await
            .read(doing)?;
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = links.iter().map(|l| l.connection_id.clone()).collect();
        let connections: HashMap<String, SyncConnection> = connections::Entity::find()
            .filter(connections::Column::DeletedAt.is_null())
            .filter(connections::Column::Id.is_in(ids))
            .all(self.connection())
            .await
            .read(doing)?
            .into_iter()
            .map(|row| Ok((row.id.clone(), row.into_domain()?)))
            .collect::<anyhow::Result<_>>()
            .map_err(unexpected)?;
        let mut routes = Vec::with_capacity(links.len());
        for row in links {
            let Some(connection) = connections.get(&row.connection_id).cloned() else {
                continue;
            };
            routes.push(Route {
                link: row.into_domain().map_err(unexpected)?,
                connection,
            });
        }
        routes.sort_by_key(|r| r.link.id);
        Ok(routes)
    }

    /// The message links of `link` whose `column` is any of `values`, in one query.
    async fn message_links_where(
        &self,
        link: ChannelLinkId,
        column: &str,
        values: Vec<String>,
        doing: &str,
    ) -> Result<Vec<MessageLink>, RepoError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (2..values.len() + 2).map(|n| format!("${n}")).collect();
        let mut bound: Vec<Value> = Vec::with_capacity(values.len() + 1);
        bound.push(link.to_string().into());
        bound.extend(values.into_iter().map(Value::from));
        let rows = self
            .read_rows(
                &format!(
                    "SELECT {MESSAGE_LINK_COLUMNS} FROM chat_sync_message_links \
                     WHERE channel_link_id = $1 AND {column} IN ({})",
                    placeholders.join(", ")
                ),
                bound,
                doing,
            )
            .await?;
        rows.iter()
            .map(message_link_of)
            .collect::<anyhow::Result<_>>()
            .map_err(unexpected)
    }

    fn outbox_record(row: &QueryResult) -> anyhow::Result<DeliveryRecord> {
        let queued = queued_of(row)?;
        Ok(DeliveryRecord {
            id: DeliveryRef::Outbound(queued.delivery.id),
            connection_id: queued.delivery.connection_id,
            channel_link_id: Some(queued.delivery.channel_link_id),
            kind: Some(queued.delivery.kind),
            hazel_message_id: Some(queued.delivery.hazel_message_id),
            external_message_id: queued.external_message_id,
            state: queued.delivery.state,
            created_at: queued.delivery.created_at,
        })
    }

    fn receipt_record(row: &QueryResult) -> anyhow::Result<DeliveryRecord> {
        use hazel_domain::model::sync::InboundEventKind as K;
        let receipt = receipt_of(row)?;
        let external = match &receipt.event.kind {
            K::MessageCreated(m) | K::MessageEdited(m) => Some(m.id.clone()),
            K::MessageDeleted { message }
            | K::ReactionAdded { message, .. }
            | K::ReactionRemoved { message, .. }
            | K::PinAdded { message, .. }
            | K::PinRemoved { message, .. } => Some(message.clone()),
            K::ThreadStarted { thread, .. } => Some(thread.parent.clone()),
        };
        Ok(DeliveryRecord {
            id: DeliveryRef::Inbound(receipt.id),
            connection_id: receipt.connection_id,
            channel_link_id: receipt.channel_link_id,
            kind: Some(receipt.kind()),
            hazel_message_id: receipt.hazel_message_id,
            external_message_id: external,
            state: receipt.state,
            created_at: receipt.created_at,
        })
    }

    /// One table's deliveries of a connection, newest first, at most `limit`.
    async fn deliveries_of(
        &self,
        table: &str,
        columns: &str,
        connection: SyncConnectionId,
        filter: DeliveryFilter,
        page: &PageRequest,
        limit: u32,
    ) -> Result<Vec<QueryResult>, RepoError> {
        let mut sql = format!("SELECT {columns} FROM {table} WHERE connection_id = $1");
        let mut values: Vec<Value> = vec![connection.to_string().into()];
        if let Some(status) = filter.status {
            values.push(status.as_str().into());
            sql.push_str(&format!(" AND status = ${}", values.len()));
        }
        if let Some(after) = &page.after {
            values.push(after.clone().into());
            sql.push_str(&format!(" AND id < ${}", values.len()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        self.read_rows(&sql, values, "listing deliveries").await
    }
}

#[async_trait]
impl SyncRepository for Database {
    async fn routes_for_channel(&self, channel: ChannelId) -> Result<Vec<Route>, RepoError> {
        let routes = self
            .reads()
            .routes
            .read_through(channel, |_| true, async {
                self.routes_where(
                    sea_orm::Condition::all()
                        .add(channel_links::Column::HazelChannelId.eq(channel.to_string())),
                    "finding a channel's routes",
                )
                .await
                .map(std::sync::Arc::new)
            })
            .await?;
        Ok(routes.as_ref().clone())
    }

    async fn route(&self, link: ChannelLinkId) -> Result<Option<Route>, RepoError> {
        self.reads()
            .route_by_link
            .read_through(link, |route| route.is_some(), async {
                Ok(self
                    .routes_where(
                        sea_orm::Condition::all()
                            .add(channel_links::Column::Id.eq(link.to_string())),
                        "finding a route",
                    )
                    .await?
                    .pop())
            })
            .await
    }

    async fn route_for_external(
        &self,
        connection: SyncConnectionId,
        channel: &ExternalChannelId,
    ) -> Result<Option<Route>, RepoError> {
        let key = (connection, channel.as_str().to_owned());
        self.reads()
            .route_by_external
            .read_through(key, |route| route.is_some(), async {
                Ok(self
                    .routes_where(
                        sea_orm::Condition::all()
                            .add(channel_links::Column::ConnectionId.eq(connection.to_string()))
                            .add(channel_links::Column::ExternalChannelId.eq(channel.as_str())),
                        "finding the route of an external channel",
                    )
                    .await?
                    .pop())
            })
            .await
    }

    async fn connections_for_workspace(
        &self,
        provider: Provider,
        workspace: &ExternalWorkspaceId,
    ) -> Result<Vec<SyncConnection>, RepoError> {
        let key = (provider, workspace.as_str().to_owned());
        let found = self
            .reads()
            .workspace_connections
            .read_through(key, |found| !found.is_empty(), async {
                connections::Entity::find()
                    .filter(connections::Column::DeletedAt.is_null())
                    .filter(connections::Column::Provider.eq(provider.as_str()))
                    .filter(connections::Column::ExternalWorkspaceId.eq(workspace.as_str()))
                    .all(self.connection())
                    .await
                    .read("finding a workspace's connections")?
                    .into_iter()
                    .map(connections::Model::into_domain)
                    .collect::<anyhow::Result<Vec<_>>>()
                    .map(std::sync::Arc::new)
                    .map_err(unexpected)
            })
            .await?;
        Ok(found.as_ref().clone())
    }

    async fn connections_for_provider(
        &self,
        provider: Provider,
    ) -> Result<Vec<SyncConnection>, RepoError> {
        connections::Entity::find()
            .filter(connections::Column::DeletedAt.is_null())
            .filter(connections::Column::Provider.eq(provider.as_str()))
            .all(self.connection())
            .await
            .read("finding a provider's connections")?
            .into_iter()
            .map(connections::Model::into_domain)
            .collect::<anyhow::Result<_>>()
            .map_err(unexpected)
    }

    async fn readable_routes(&self, provider: Provider) -> Result<Vec<Route>, RepoError> {
        let ids: Vec<String> = self
            .connections_for_provider(provider)
            .await?
            .into_iter()
            .filter(|connection| connection.status == ConnectionStatus::Connected)
            .map(|connection| connection.id.to_string())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.routes_where(
            sea_orm::Condition::all()
                .add(channel_links::Column::ConnectionId.is_in(ids))
                .add(channel_links::Column::IsActive.eq(true))
                .add(channel_links::Column::Direction.ne(Direction::Outbound.as_str())),
            "finding a provider's readable routes",
        )
        .await
    }

    async fn latest_message_link(
        &self,
        link: ChannelLinkId,
    ) -> Result<Option<MessageLink>, RepoError> {
        let rows = self
            .read_rows(
                &format!(
                    "SELECT {MESSAGE_LINK_COLUMNS} FROM chat_sync_message_links \
                     WHERE channel_link_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                vec![link.to_string().into()],
                "finding a link's latest message link",
            )
            .await?;
        rows.first()
            .map(message_link_of)
            .transpose()
            .map_err(unexpected)
    }

    async fn message_link(
        &self,
        link: ChannelLinkId,
        message: MessageId,
    ) -> Result<Option<MessageLink>, RepoError> {
        let rows = self
            .read_rows(
                &format!(
                    "SELECT {MESSAGE_LINK_COLUMNS} FROM chat_sync_message_links \
                     WHERE channel_link_id = $1 AND hazel_message_id = $2"
                ),
                vec![link.to_string().into(), message.to_string().into()],
                "finding a message link",
            )
            .await?;
        rows.first()
            .map(message_link_of)
            .transpose()
            .map_err(unexpected)
    }

    async fn message_link_by_external(
        &self,
        link: ChannelLinkId,
        external: &ExternalMessageId,
    ) -> Result<Option<MessageLink>, RepoError> {
        let rows = self
            .read_rows(
                &format!(
                    "SELECT {MESSAGE_LINK_COLUMNS} FROM chat_sync_message_links \
                     WHERE channel_link_id = $1 AND external_root_id = $2"
                ),
                vec![link.to_string().into(), external.as_str().into()],
                "finding a message link by its external message",
            )
            .await?;
        rows.first()
            .map(message_link_of)
            .transpose()
            .map_err(unexpected)
    }

    async fn message_links(
        &self,
        link: ChannelLinkId,
        messages: &[MessageId],
    ) -> Result<Vec<MessageLink>, RepoError> {
        let ids: Vec<String> = messages.iter().map(ToString::to_string).collect();
        self.message_links_where(link, "hazel_message_id", ids, "finding message links")
            .await
    }

    async fn message_links_by_external(
        &self,
        link: ChannelLinkId,
        externals: &[ExternalMessageId],
    ) -> Result<Vec<MessageLink>, RepoError> {
        let ids: Vec<String> = externals.iter().map(|e| e.as_str().to_owned()).collect();
        self.message_links_where(
            link,
            "external_root_id",
            ids,
            "finding message links by their external messages",
        )
        .await
    }

    async fn pinned_message_links(
        &self,
        link: ChannelLinkId,
    ) -> Result<Vec<MessageLink>, RepoError> {
        let rows = self
            .read_rows(
                &format!(
                    "SELECT {MESSAGE_LINK_COLUMNS} FROM chat_sync_message_links \
                     WHERE channel_link_id = $1 AND pinned = $2"
                ),
                vec![link.to_string().into(), true.into()],
                "finding the pinned message links",
            )
            .await?;
        rows.iter()
            .map(message_link_of)
            .collect::<anyhow::Result<_>>()
            .map_err(unexpected)
    }

    async fn message_views(&self, messages: &[MessageId]) -> Result<Vec<MessageView>, RepoError> {
        self.views_by_ids(messages).await
    }

    async fn shadow_members(
        &self,
        organization: OrganizationId,
        provider: Provider,
        users: &[ExternalUserId],
    ) -> Result<Vec<Member>, RepoError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        members::Entity::find()
            .filter(members::Column::OrganizationId.eq(organization.to_string()))
            .filter(members::Column::ExternalProvider.eq(provider.as_str()))
            .filter(
                members::Column::ExternalUserId.is_in(users.iter().map(|u| u.as_str().to_owned())),
            )
            .all(self.connection())
            .await
            .read("finding shadow members")?
            .into_iter()
            .map(members::Model::into_domain)
            .collect::<anyhow::Result<_>>()
            .map_err(unexpected)
    }

    async fn shadow_member(
        &self,
        organization: OrganizationId,
        provider: Provider,
        user: &ExternalUserId,
    ) -> Result<Option<Member>, RepoError> {
        members::Entity::find()
            .filter(members::Column::OrganizationId.eq(organization.to_string()))
            .filter(members::Column::ExternalProvider.eq(provider.as_str()))
            .filter(members::Column::ExternalUserId.eq(user.as_str()))
            .one(self.connection())
            .await
            .read("finding a shadow member")?
            .map(members::Model::into_domain)
            .transpose()
            .map_err(unexpected)
    }

    async fn has_reaction(&self, message: MessageId, emoji: &Emoji) -> Result<bool, RepoError> {
        let count = reactions::Entity::find()
            .filter(reactions::Column::MessageId.eq(message.to_string()))
            .filter(reactions::Column::Emoji.eq(emoji.as_str()))
            .count(self.connection())
            .await
            .read("counting a message's reactions")?;
        Ok(count > 0)
    }

    async fn delivery(&self, id: DeliveryRef) -> Result<Option<DeliveryRecord>, RepoError> {
        let record = match id {
            DeliveryRef::Outbound(id) => self
                .read_rows(
                    &format!("SELECT {OUTBOX_COLUMNS} FROM chat_sync_outbox WHERE id = $1"),
                    vec![id.to_string().into()],
                    "finding a delivery",
                )
                .await?
                .first()
                .map(Self::outbox_record),
            DeliveryRef::Inbound(id) => self
                .read_rows(
                    &format!(
                        "SELECT {RECEIPT_COLUMNS} FROM chat_sync_event_receipts WHERE id = $1"
                    ),
                    vec![id.to_string().into()],
                    "finding a receipt",
                )
                .await?
                .first()
                .map(Self::receipt_record),
        };
        record.transpose().map_err(unexpected)
    }

    async fn find_delivery(&self, raw_id: &str) -> Result<Option<DeliveryRecord>, RepoError> {
        let Ok(id) = DeliveryId::parse("id", raw_id) else {
            return Ok(None);
        };
        if let Some(found) = self.delivery(DeliveryRef::Outbound(id)).await? {
            return Ok(Some(found));
        }
        let Ok(id) = ReceiptId::parse("id", raw_id) else {
            return Ok(None);
        };
        self.delivery(DeliveryRef::Inbound(id)).await
    }

    async fn list_deliveries(
        &self,
        connection: SyncConnectionId,
        filter: DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<DeliveryRecord>, RepoError> {
        use hazel_domain::model::delivery::DeliveryDirection as D;
        let limit = page.limit.saturating_add(1);
        let mut records = Vec::new();
        if filter.direction != Some(D::Inbound) {
            for row in self
                .deliveries_of(
                    "chat_sync_outbox",
                    OUTBOX_COLUMNS,
                    connection,
                    filter,
                    page,
                    limit,
                )
                .await?
            {
                records.push(Self::outbox_record(&row).map_err(unexpected)?);
            }
        }
        if filter.direction != Some(D::Outbound) {
            for row in self
                .deliveries_of(
                    "chat_sync_event_receipts",
                    RECEIPT_COLUMNS,
                    connection,
                    filter,
                    page,
                    limit,
                )
                .await?
            {
                records.push(Self::receipt_record(&row).map_err(unexpected)?);
            }
        }
        // Both tables' ids are UUID v7: their canonical strings sort by creation time.
        records.sort_by_key(|r| std::cmp::Reverse(r.id.to_hyphenated()));
        records.truncate(limit as usize);
        Ok(Page::from_overfetch(records, page.limit, |r| {
            r.id.to_hyphenated()
        }))
    }

    async fn failed_deliveries(
        &self,
        connection: SyncConnectionId,
        limit: u64,
    ) -> Result<Vec<DeliveryRef>, RepoError> {
        let mut found = Vec::new();
        for (table, outbound) in [
            ("chat_sync_outbox", true),
            ("chat_sync_event_receipts", false),
        ] {
            let rows = self
                .read_rows(
                    &format!(
                        "SELECT id FROM {table} WHERE connection_id = $1 AND status = 'failed' \
                         ORDER BY id LIMIT {limit}"
                    ),
                    vec![connection.to_string().into()],
                    "listing dead letters",
                )
                .await?;
            for row in rows {
                let id: String = row.try_get("", "id").read("reading a dead letter's id")?;
                found.push(if outbound {
                    DeliveryRef::Outbound(crate::entity::parse_id("id", &id).map_err(unexpected)?)
                } else {
                    DeliveryRef::Inbound(crate::entity::parse_id("id", &id).map_err(unexpected)?)
                });
            }
        }
        Ok(found)
    }
}

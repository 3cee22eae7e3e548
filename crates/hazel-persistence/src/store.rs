//! [`Store`]: one database transaction per changeset.

use anyhow::Context as _;
use async_trait::async_trait;
use hazel_domain::ids::{ChannelLinkId, MemberId, MessageId, SyncConnectionId, TransactionId};
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{ConnectionSettingsPatch, ConnectionStatus};
use hazel_domain::ports::{
    Change, ChangeOutcome, Committed, ConnectionColumns, LinkColumns, Store, StoreError,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbErr, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _, Statement, UpdateMany,
};

use crate::Database;
use crate::entity::{
    api_tokens, channel_links, channels, connections, members, messages, notifications,
    organizations, reactions, to_db, to_db_opt, users,
};
use crate::error::{db_error, is_unique_violation};

/// Takes the next transaction id. The row lock this `UPDATE` takes is held until the
/// transaction ends, so a second writer waits here until the first commits: ids are strictly
/// increasing in commit order across the whole database, on both backends. `commit` explains
/// why it is the last statement.
const NEXT_TRANSACTION_ID: &str =
    "UPDATE transaction_counter SET value = value + 1 WHERE id = 1 RETURNING value";

/// Why one change could not be applied.
enum ApplyError {
    /// The database refused it.
    Db(DbErr),
    /// It could not be encoded for storage.
    Encode(anyhow::Error),
}

impl From<DbErr> for ApplyError {
    fn from(err: DbErr) -> Self {
        Self::Db(err)
    }
}

#[async_trait]
impl Store for Database {
    /// Applies the changes, in order, in one transaction whose last statement before `COMMIT`
    /// takes the transaction id.
    ///
    /// Outcomes: inserts answer [`ChangeOutcome::Applied`], or [`ChangeOutcome::Skipped`] for
    /// a reaction or deduplicated notification that already exists; updates and deletes answer
    /// [`ChangeOutcome::Affected`] with the number of rows they matched (for
    /// `DeleteConnection`, the connection itself: 0 or 1).
    async fn commit(&self, changes: Vec<Change>) -> Result<Committed, StoreError> {
        let _gate = self.write_gate().await;
        let txn = self.begin_write().await?;
        let mut outcomes = Vec::with_capacity(changes.len());
        for (change_index, change) in changes.into_iter().enumerate() {
            let kind = kind_of(&change);
            match apply(&txn, change).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(ApplyError::Db(err)) if is_unique_violation(&err) => {
                    tracing::debug!(
                        change_index,
                        kind,
                        "changeset conflicts with an existing row"
                    );
                    rollback(txn).await;
                    return Err(StoreError::Conflict { change_index });
                }
                Err(ApplyError::Db(err)) => {
                    let err = db_error(err, &format!("applying change {change_index} ({kind})"));
                    return Err(abort(txn, err).await.into());
                }
                Err(ApplyError::Encode(err)) => {
                    let err = err.context(format!("encoding change {change_index} ({kind})"));
                    return Err(abort(txn, err).await.into());
                }
            }
        }
        // The counter is taken last, right before COMMIT. Its row lock is held from here until
        // the transaction ends, so a writer that takes the counter after this one waits until
        // this one has committed (or rolled back, undoing the increment): the order in which
        // writers take the counter is their commit order, and ids are strictly increasing in
        // commit order without gaps. Writers only queue for the counter for the time of a
        // COMMIT instead of for their whole transaction. No deadlock can involve the counter:
        // a transaction holding it takes no other lock afterwards.
        let transaction_id = match next_transaction_id(&txn).await {
            Ok(id) => id,
            Err(err) => return Err(abort(txn, err).await.into()),
        };
        txn.commit()
            .await
            .map_err(|err| db_error(err, "committing a transaction"))?;
        Ok(Committed {
            transaction_id,
            outcomes,
        })
    }
}

async fn next_transaction_id(txn: &DatabaseTransaction) -> anyhow::Result<TransactionId> {
    let row = txn
        .query_one_raw(Statement::from_string(
            txn.get_database_backend(),
            NEXT_TRANSACTION_ID,
        ))
        .await
        .map_err(|err| db_error(err, "taking a transaction id"))?
        .context("the transaction counter row is missing; are migrations applied?")?;
    let value: i64 = row
        .try_get("", "value")
        .map_err(|err| db_error(err, "reading the transaction id"))?;
    Ok(TransactionId::from_counter(value))
}

/// Rolls back after a failure; a failed rollback is logged, the original error returned.
async fn abort(txn: DatabaseTransaction, err: anyhow::Error) -> anyhow::Error {
    rollback(txn).await;
    err
}

async fn rollback(txn: DatabaseTransaction) {
    if let Err(err) = txn.rollback().await {
        // The connection is discarded by the pool when the rollback fails, so nothing of the
        // transaction can be committed later; the caller's error is the one worth answering.
        tracing::warn!(error = %err, "rolling back a transaction failed");
    }
}

/// A name for a change, for logs and error context (never its data).
fn kind_of(change: &Change) -> &'static str {
    match change {
        Change::InsertUser(_) => "InsertUser",
        Change::InsertApiToken(_) => "InsertApiToken",
        Change::InsertOrganization(_) => "InsertOrganization",
        Change::InsertMember(_) => "InsertMember",
        Change::InsertChannel(_) => "InsertChannel",
        Change::InsertMessage(_) => "InsertMessage",
        Change::EditMessage { .. } => "EditMessage",
        Change::DeleteMessage { .. } => "DeleteMessage",
        Change::InsertReaction(_) => "InsertReaction",
        Change::DeleteReaction(_) => "DeleteReaction",
        Change::InsertNotification(_) => "InsertNotification",
        Change::SetNotificationRead { .. } => "SetNotificationRead",
        Change::DeleteNotification(_) => "DeleteNotification",
        Change::DeleteMessageNotifications { .. } => "DeleteMessageNotifications",
        Change::DeleteReactionNotifications(_) => "DeleteReactionNotifications",
        Change::InsertConnection(_) => "InsertConnection",
        Change::PatchConnection { .. } => "PatchConnection",
        Change::DeleteConnection { .. } => "DeleteConnection",
        Change::InsertChannelLink(_) => "InsertChannelLink",
        Change::PatchChannelLink { .. } => "PatchChannelLink",
        Change::DeleteChannelLink { .. } => "DeleteChannelLink",
    }
}

async fn apply(txn: &DatabaseTransaction, change: Change) -> Result<ChangeOutcome, ApplyError> {
    let outcome = match change {
        Change::InsertUser(user) => {
            users::Entity::insert(users::Model::from(&user).into_active_model())
                .exec_without_returning(txn)
                .await?;
            ChangeOutcome::Applied
        }
        Change::InsertApiToken(token) => {
            api_tokens::Entity::insert(api_tokens::Model::from(&token).into_active_model())
                .exec_without_returning(txn)
                .await?;
            ChangeOutcome::Applied
        }
        Change::InsertOrganization(organization) => {
            organizations::Entity::insert(
                organizations::Model::from(&organization).into_active_model(),
            )
            .exec_without_returning(txn)
            .await?;
            ChangeOutcome::Applied
        }
        Change::InsertMember(member) => {
            members::Entity::insert(members::Model::from(&member).into_active_model())
                .exec_without_returning(txn)
                .await?;
            ChangeOutcome::Applied
        }
        Change::InsertChannel(channel) => {
            channels::Entity::insert(channels::Model::from(&channel).into_active_model())
                .exec_without_returning(txn)
                .await?;
            ChangeOutcome::Applied
        }
        Change::InsertMessage(message) => {
            let row = messages::Model::try_from(&message).map_err(ApplyError::Encode)?;
            messages::Entity::insert(row.into_active_model())
                .exec_without_returning(txn)
                .await?;
            ChangeOutcome::Applied
        }
        Change::EditMessage {
            id,
            content,
            edited_at,
        } => {
            let result = live_message(id)
                .col_expr(messages::Column::Content, Expr::value(content.as_str()))
                .col_expr(messages::Column::EditedAt, Expr::value(to_db(edited_at)))
                .exec(txn)
                .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::DeleteMessage { id, at } => {
            let result = live_message(id)
                .col_expr(messages::Column::DeletedAt, Expr::value(to_db(at)))
                .exec(txn)
                .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::InsertReaction(reaction) => {
            let inserted =
                reactions::Entity::insert(reactions::Model::from(&reaction).into_active_model())
                    .on_conflict(
                        OnConflict::columns([
                            reactions::Column::MessageId,
                            reactions::Column::MemberId,
                            reactions::Column::Emoji,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                    .exec_without_returning(txn)
                    .await?;
            inserted_or_skipped(inserted)
        }
        Change::DeleteReaction(id) => {
            let result = reactions::Entity::delete_many()
                .filter(reactions::Column::Id.eq(id.to_string()))
                .exec(txn)
                .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::InsertNotification(notification) => {
            // Conflicts on the primary key still fail: only the dedupe key is idempotent.
            let inserted = notifications::Entity::insert(
                notifications::Model::from(&notification).into_active_model(),
            )
            .on_conflict(
                OnConflict::column(notifications::Column::DedupeKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
            inserted_or_skipped(inserted)
        }
        Change::SetNotificationRead { id, read_at } => {
            let result = notifications::Entity::update_many()
                .col_expr(
                    notifications::Column::ReadAt,
                    Expr::value(to_db_opt(read_at)),
                )
                .filter(notifications::Column::Id.eq(id.to_string()))
                .exec(txn)
                .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::DeleteNotification(id) => {
            let result = notifications::Entity::delete_many()
                .filter(notifications::Column::Id.eq(id.to_string()))
                .exec(txn)
                .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::DeleteMessageNotifications {
            member_id,
            message_ids,
        } => delete_message_notifications(txn, member_id, &message_ids).await?,
        Change::DeleteReactionNotifications(id) => {
            let result = notifications::Entity::delete_many()
                .filter(notifications::Column::TargetedResourceId.eq(id.to_string()))
                .filter(notifications::Column::TargetedResourceType.eq("reaction"))
                .exec(txn)
                .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::InsertConnection(connection) => {
            connections::Entity::insert(connections::Model::from(&connection).into_active_model())
                .exec_without_returning(txn)
                .await?;
            ChangeOutcome::Applied
        }
        Change::PatchConnection {
            id,
            columns,
            updated_at,
        } => {
            let result = patch_connection(id, columns, updated_at).exec(txn).await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::DeleteConnection { id, at } => {
            let id = id.to_string();
            let connection = soft_delete(
                connections::Entity::update_many()
                    .filter(connections::Column::Id.eq(id.as_str()))
                    .filter(connections::Column::DeletedAt.is_null()),
                connections::Column::DeletedAt,
                connections::Column::UpdatedAt,
                at,
            )
            .exec(txn)
            .await?;
            soft_delete(
                channel_links::Entity::update_many()
                    .filter(channel_links::Column::ConnectionId.eq(id.as_str()))
                    .filter(channel_links::Column::DeletedAt.is_null()),
                channel_links::Column::DeletedAt,
                channel_links::Column::UpdatedAt,
                at,
            )
            .exec(txn)
            .await?;
            ChangeOutcome::Affected(connection.rows_affected)
        }
        Change::InsertChannelLink(link) => {
            channel_links::Entity::insert(channel_links::Model::from(&link).into_active_model())
                .exec_without_returning(txn)
                .await?;
            ChangeOutcome::Applied
        }
        Change::PatchChannelLink {
            id,
            columns,
            updated_at,
        } => {
            let result = patch_channel_link(id, columns, updated_at)
                .exec(txn)
                .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::DeleteChannelLink { id, at } => {
            let result = soft_delete(
                channel_links::Entity::update_many()
                    .filter(channel_links::Column::Id.eq(id.to_string()))
                    .filter(channel_links::Column::DeletedAt.is_null()),
                channel_links::Column::DeletedAt,
                channel_links::Column::UpdatedAt,
                at,
            )
            .exec(txn)
            .await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
    };
    Ok(outcome)
}

/// An `INSERT … ON CONFLICT DO NOTHING` wrote a row, or found an equivalent one.
fn inserted_or_skipped(rows: u64) -> ChangeOutcome {
    if rows == 0 {
        ChangeOutcome::Skipped
    } else {
        ChangeOutcome::Applied
    }
}

/// An update of one message, as long as it is not deleted: a write that lost a race to a
/// delete matches nothing instead of bringing the message back.
fn live_message(id: MessageId) -> UpdateMany<messages::Entity> {
    messages::Entity::update_many()
        .filter(messages::Column::Id.eq(id.to_string()))
        .filter(messages::Column::DeletedAt.is_null())
}

/// Sets `column` to `value` when the value is given; an absent value leaves the column as
/// stored.
fn set_if<E: sea_orm::EntityTrait, V: Into<sea_orm::Value>>(
    update: UpdateMany<E>,
    column: E::Column,
    value: Option<V>,
) -> UpdateMany<E> {
    match value {
        Some(value) => update.col_expr(column, Expr::value(value)),
        None => update,
    }
}

/// Writes exactly the given columns of a live connection (and `updated_at`), so that values
/// read earlier are never written back over a concurrent change.
fn patch_connection(
    id: SyncConnectionId,
    columns: ConnectionColumns,
    updated_at: Timestamp,
) -> UpdateMany<connections::Entity> {
    use connections::Column as C;

    let ConnectionColumns {
        name,
        external_workspace_name,
        fallback_workspace_name,
        credentials,
        bot,
        status,
        settings,
        metadata,
    } = columns;
    let mut update = connections::Entity::update_many()
        .filter(C::Id.eq(id.to_string()))
        .filter(C::DeletedAt.is_null())
        .col_expr(C::UpdatedAt, Expr::value(to_db(updated_at)));
    update = set_if(update, C::Name, name.map(|n| n.as_str().to_owned()));
    update = match (external_workspace_name, fallback_workspace_name) {
        (Some(name), _) => update.col_expr(
            C::ExternalWorkspaceName,
            Expr::value(name.as_str().to_owned()),
        ),
        // Fills the column only where it is still NULL, in the same statement, so a name set
        // by a concurrent request is kept.
        (None, Some(fallback)) => update.col_expr(
            C::ExternalWorkspaceName,
            SimpleExpr::from(Func::coalesce([
                Expr::col(C::ExternalWorkspaceName),
                Expr::value(fallback.as_str().to_owned()),
            ])),
        ),
        (None, None) => update,
    };
    update = set_if(
        update,
        C::Credentials,
        credentials.map(|c| c.as_bytes().to_vec()),
    );
    if let Some(bot) = bot {
        // The three columns are one identity: all are written, absent ids as NULL.
        let (user_id, bot_id, app_id) = connections::bot_columns(Some(&bot));
        update = update
            .col_expr(C::ExternalBotUserId, Expr::value(user_id))
            .col_expr(C::ExternalBotId, Expr::value(bot_id))
            .col_expr(C::ExternalAppId, Expr::value(app_id));
    }
    if let Some(status) = status {
        let (error_code, error_message) = match &status {
            ConnectionStatus::Connected | ConnectionStatus::Disconnected => (None, None),
            ConnectionStatus::Error { code, message } => {
                (Some(code.as_str().to_owned()), Some(message.clone()))
            }
        };
        update = update
            .col_expr(C::Status, Expr::value(status.as_str()))
            .col_expr(C::ErrorCode, Expr::value(error_code))
            .col_expr(C::ErrorMessage, Expr::value(error_message));
    }
    let ConnectionSettingsPatch {
        sync_threads,
        sync_reactions,
        sync_edits,
        sync_deletes,
    } = settings;
    update = set_if(update, C::SyncThreads, sync_threads);
    update = set_if(update, C::SyncReactions, sync_reactions);
    update = set_if(update, C::SyncEdits, sync_edits);
    update = set_if(update, C::SyncDeletes, sync_deletes);
    set_if(update, C::Metadata, metadata.map(|m| m.as_str().to_owned()))
}

/// Writes exactly the given columns of a live channel link (and `updated_at`).
fn patch_channel_link(
    id: ChannelLinkId,
    columns: LinkColumns,
    updated_at: Timestamp,
) -> UpdateMany<channel_links::Entity> {
    use channel_links::Column as C;

    let LinkColumns {
        direction,
        is_active,
        settings,
    } = columns;
    let ConnectionSettingsPatch {
        sync_threads,
        sync_reactions,
        sync_edits,
        sync_deletes,
    } = settings.overrides;
    let mut update = channel_links::Entity::update_many()
        .filter(C::Id.eq(id.to_string()))
        .filter(C::DeletedAt.is_null())
        .col_expr(C::UpdatedAt, Expr::value(to_db(updated_at)));
    update = set_if(update, C::Direction, direction.map(|d| d.as_str()));
    update = set_if(update, C::IsActive, is_active);
    update = set_if(update, C::SyncPins, settings.sync_pins);
    update = set_if(update, C::MentionMapping, settings.mention_mapping);
    // A present override replaces the stored one; an absent one keeps it (an override is
    // never cleared back to "use the connection's value" by a patch).
    update = set_if(update, C::SyncThreadsOverride, sync_threads);
    update = set_if(update, C::SyncReactionsOverride, sync_reactions);
    update = set_if(update, C::SyncEditsOverride, sync_edits);
    set_if(update, C::SyncDeletesOverride, sync_deletes)
}

/// Marks the selected rows deleted (and updated) at `at`.
fn soft_delete<E: sea_orm::EntityTrait>(
    update: UpdateMany<E>,
    deleted_at: E::Column,
    updated_at: E::Column,
    at: Timestamp,
) -> UpdateMany<E> {
    let at = to_db(at);
    update
        .col_expr(deleted_at, Expr::value(at))
        .col_expr(updated_at, Expr::value(at))
}

/// Deletes `member_id`'s notifications about any of `message_ids`: those targeting one of the
/// messages, and those whose resource is one of them as a `message`.
async fn delete_message_notifications(
    txn: &DatabaseTransaction,
    member_id: MemberId,
    message_ids: &[MessageId],
) -> Result<ChangeOutcome, DbErr> {
    if message_ids.is_empty() {
        return Ok(ChangeOutcome::Affected(0));
    }
    let ids: Vec<String> = message_ids.iter().map(ToString::to_string).collect();
    let about_the_messages = notifications::Column::TargetedResourceId
        .is_in(ids.iter().cloned())
        .or(notifications::Column::ResourceType
            .eq("message")
            .and(notifications::Column::ResourceId.is_in(ids)));
    let result = notifications::Entity::delete_many()
        .filter(notifications::Column::MemberId.eq(member_id.to_string()))
        .filter(about_the_messages)
        .exec(txn)
        .await?;
    Ok(ChangeOutcome::Affected(result.rows_affected))
}

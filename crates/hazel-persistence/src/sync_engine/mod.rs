//! The sync engine's tables: event receipts, the outbox, message links and link claims.
//! [`apply`] writes the [`SyncChange`]s of a changeset inside the store's transaction;
//! `repository.rs` reads them, and `queue.rs` takes and gives back leases.
//!
//! Statements are plain SQL written once for both backends with `$n` placeholders (SQLite
//! reads them as `?n`); queue times are integer microseconds since the Unix epoch.

mod event;
mod queue;
mod repository;

use std::collections::BTreeSet;

use anyhow::Context as _;
use hazel_domain::model::Timestamp;
use hazel_domain::model::delivery::{
    ContentHash, Delivery, DeliveryKind, DeliveryState, EventReceipt, IgnoreReason, LastError,
    LinkSource, MessageLink, QueuedDelivery, ReceiptSource,
};
use hazel_domain::model::external::ExternalMessageId;
use hazel_domain::model::message::Emoji;
use hazel_domain::model::sync::{ExternalRefs, ReactionEmoji, ThreadRef};
use hazel_domain::ports::{ChangeOutcome, SyncChange};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait as _, QueryFilter as _, QueryResult, Statement, Value,
};

use crate::entity::{connections, parse_id, parse_id_opt, to_db};

/// Microseconds since the Unix epoch.
pub(crate) fn micros(at: Timestamp) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// Reads [`micros`] back.
pub(crate) fn from_micros(value: i64) -> anyhow::Result<Timestamp> {
    Timestamp::from_unix_timestamp_nanos(i128::from(value) * 1_000)
        .context("a stored time is out of range")
}

/// A statement for `backend` from SQL with `$n` placeholders.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The columns every state writes.
struct StateColumns {
    status: &'static str,
    reason: Option<String>,
    attempts: i64,
    next_attempt_at: Option<i64>,
    unresolved_since: Option<i64>,
    error_code: Option<String>,
    error_message: Option<String>,
    completed_at: Option<i64>,
}

fn state_columns(state: &DeliveryState) -> StateColumns {
    let error = |e: Option<&LastError>| {
        (
            e.map(|e| e.code.clone()),
            e.map(|e| e.message.chars().take(1_000).collect::<String>()),
        )
    };
    match state {
        DeliveryState::Pending {
            attempts,
            next_attempt_at,
            last_error,
            unresolved_since,
        } => {
            let (error_code, error_message) = error(last_error.as_ref());
            StateColumns {
                status: "pending",
                reason: None,
                attempts: i64::from(*attempts),
                next_attempt_at: Some(micros(*next_attempt_at)),
                unresolved_since: unresolved_since.map(micros),
                error_code,
                error_message,
                completed_at: None,
            }
        }
        DeliveryState::Delivered {
            attempts,
            completed_at,
        } => StateColumns {
            status: "delivered",
            reason: None,
            attempts: i64::from(*attempts),
            next_attempt_at: None,
            unresolved_since: None,
            error_code: None,
            error_message: None,
            completed_at: Some(micros(*completed_at)),
        },
        DeliveryState::Failed {
            attempts,
            last_error,
            completed_at,
        } => {
            let (error_code, error_message) = error(Some(last_error));
            StateColumns {
                status: "failed",
                reason: None,
                attempts: i64::from(*attempts),
                next_attempt_at: None,
                unresolved_since: None,
                error_code,
                error_message,
                completed_at: Some(micros(*completed_at)),
            }
        }
        DeliveryState::Ignored {
            reason,
            completed_at,
        } => StateColumns {
            status: "ignored",
            reason: Some(reason.as_str().to_owned()),
            attempts: 0,
            next_attempt_at: None,
            unresolved_since: None,
            error_code: None,
            error_message: None,
            completed_at: Some(micros(*completed_at)),
        },
    }
}

/// Reads the state columns of an outbox or receipt row (`unresolved_since` only exists on
/// the outbox).
fn state_of(row: &QueryResult, with_unresolved: bool) -> anyhow::Result<DeliveryState> {
    let status: String = row.try_get("", "status")?;
    let attempts = u32::try_from(row.try_get::<i64>("", "attempts")?).unwrap_or(u32::MAX);
    let code: Option<String> = row.try_get("", "last_error_code")?;
    let message: Option<String> = row.try_get("", "last_error_message")?;
    let last_error = code.map(|code| LastError {
        code,
        message: message.unwrap_or_default(),
    });
    let completed_at = || -> anyhow::Result<Timestamp> {
        let at: Option<i64> = row.try_get("", "completed_at")?;
        from_micros(at.context("a finished row without completed_at")?)
    };
    Ok(match status.as_str() {
        "pending" => {
            let next: Option<i64> = row.try_get("", "next_attempt_at")?;
            let unresolved: Option<i64> = if with_unresolved {
                row.try_get("", "unresolved_since")?
            } else {
                None
            };
            DeliveryState::Pending {
                attempts,
                next_attempt_at: from_micros(next.context("a pending row without a due time")?)?,
                last_error,
                unresolved_since: unresolved.map(from_micros).transpose()?,
            }
        }
        "delivered" => DeliveryState::Delivered {
            attempts,
            completed_at: completed_at()?,
        },
        "failed" => DeliveryState::Failed {
            attempts,
            last_error: last_error.context("a failed row without its error")?,
            completed_at: completed_at()?,
        },
        "ignored" => {
            let reason: Option<String> = row.try_get("", "reason")?;
            DeliveryState::Ignored {
                reason: reason
                    .as_deref()
                    .and_then(IgnoreReason::from_stored)
                    .context("an ignored row without a known reason")?,
                completed_at: completed_at()?,
            }
        }
        other => anyhow::bail!("unknown status {other:?}"),
    })
}

/// The columns of an outbox row, in [`OUTBOX_COLUMNS`] order.
const OUTBOX_COLUMNS: &str = "id, connection_id, channel_link_id, sequence, kind, hazel_message_id, \
    emoji, status, reason, attempts, next_attempt_at, unresolved_since, last_error_code, \
    last_error_message, external_message_id, created_at, completed_at";

fn queued_of(row: &QueryResult) -> anyhow::Result<QueuedDelivery> {
    let id: String = row.try_get("", "id")?;
    let read = || -> anyhow::Result<QueuedDelivery> {
        let kind: String = row.try_get("", "kind")?;
        let emoji: Option<String> = row.try_get("", "emoji")?;
        let external: Option<String> = row.try_get("", "external_message_id")?;
        Ok(QueuedDelivery {
            delivery: Delivery {
                id: parse_id("id", &id)?,
                connection_id: parse_id(
                    "connection_id",
                    &row.try_get::<String>("", "connection_id")?,
                )?,
                channel_link_id: parse_id(
                    "channel_link_id",
                    &row.try_get::<String>("", "channel_link_id")?,
                )?,
                kind: DeliveryKind::parse("kind", &kind)?,
                hazel_message_id: parse_id(
                    "hazel_message_id",
                    &row.try_get::<String>("", "hazel_message_id")?,
                )?,
                emoji: emoji.map(|e| Emoji::parse("emoji", &e)).transpose()?,
                state: state_of(row, true)?,
                created_at: from_micros(row.try_get("", "created_at")?)?,
            },
            sequence: row.try_get("", "sequence")?,
            external_message_id: external
                .map(|e| ExternalMessageId::parse("external_message_id", &e))
                .transpose()?,
        })
    };
    read().with_context(|| format!("unreadable chat_sync_outbox row {id}"))
}

/// The columns of a receipt row.
const RECEIPT_COLUMNS: &str = "id, connection_id, source, dedupe_key, kind, event, status, reason, \
    attempts, next_attempt_at, last_error_code, last_error_message, hazel_message_id, \
    channel_link_id, external_message_id, lease_owner, lease_expires_at, created_at, completed_at";

fn receipt_of(row: &QueryResult) -> anyhow::Result<EventReceipt> {
    let id: String = row.try_get("", "id")?;
    let read = || -> anyhow::Result<EventReceipt> {
        let source: String = row.try_get("", "source")?;
        let event: String = row.try_get("", "event")?;
        let event = event::decode(&event)?;
        Ok(EventReceipt {
            id: parse_id("id", &id)?,
            connection_id: parse_id(
                "connection_id",
                &row.try_get::<String>("", "connection_id")?,
            )?,
            source: ReceiptSource::from_stored(&source).context("unknown receipt source")?,
            dedupe_key: event.dedupe_key.clone(),
            event,
            state: state_of(row, false)?,
            hazel_message_id: parse_id_opt(
                "hazel_message_id",
                row.try_get::<Option<String>>("", "hazel_message_id")?
                    .as_deref(),
            )?,
            channel_link_id: parse_id_opt(
                "channel_link_id",
                row.try_get::<Option<String>>("", "channel_link_id")?
                    .as_deref(),
            )?,
            created_at: from_micros(row.try_get("", "created_at")?)?,
        })
    };
    read().with_context(|| format!("unreadable chat_sync_event_receipts row {id}"))
}

/// The columns of a message link row.
const MESSAGE_LINK_COLUMNS: &str = "id, channel_link_id, hazel_message_id, external_root_id, \
    external_parts, source, thread_parent_id, thread_channel_id, content_hash, reactions, \
    created_at, updated_at, pinned";

fn message_link_of(row: &QueryResult) -> anyhow::Result<MessageLink> {
    let id: String = row.try_get("", "id")?;
    let read = || -> anyhow::Result<MessageLink> {
        let parts: Vec<String> =
            serde_json::from_str(&row.try_get::<String>("", "external_parts")?)?;
        let parts = parts
            .iter()
            .map(|p| ExternalMessageId::parse("external_parts", p))
            .collect::<Result<Vec<_>, _>>()?;
        let reactions: Vec<String> =
            serde_json::from_str(&row.try_get::<String>("", "reactions")?)?;
        let thread_parent: Option<String> = row.try_get("", "thread_parent_id")?;
        let thread_channel: Option<String> = row.try_get("", "thread_channel_id")?;
        let source: String = row.try_get("", "source")?;
        Ok(MessageLink {
            id: parse_id("id", &id)?,
            channel_link_id: parse_id(
                "channel_link_id",
                &row.try_get::<String>("", "channel_link_id")?,
            )?,
            hazel_message_id: parse_id(
                "hazel_message_id",
                &row.try_get::<String>("", "hazel_message_id")?,
            )?,
            external: ExternalRefs::new(parts).context("a message link without parts")?,
            source: LinkSource::from_stored(&source).context("unknown link source")?,
            thread: thread_parent
                .map(|parent| -> anyhow::Result<ThreadRef> {
                    Ok(ThreadRef {
                        parent: ExternalMessageId::parse("thread_parent_id", &parent)?,
                        channel: thread_channel
                            .as_deref()
                            .map(|c| {
                                hazel_domain::model::chat_sync::ExternalChannelId::parse(
                                    "thread_channel_id",
                                    c,
                                )
                            })
                            .transpose()?,
                    })
                })
                .transpose()?,
            content_hash: ContentHash::from_stored(row.try_get("", "content_hash")?),
            reactions: reactions
                .iter()
                .map(|r| event::emoji_of(r))
                .collect::<anyhow::Result<BTreeSet<_>>>()?,
            pinned: row.try_get("", "pinned")?,
            created_at: from_micros(row.try_get("", "created_at")?)?,
            updated_at: from_micros(row.try_get("", "updated_at")?)?,
        })
    };
    read().with_context(|| format!("unreadable chat_sync_message_links row {id}"))
}

fn parts_json(refs: &ExternalRefs) -> String {
    let parts: Vec<&str> = refs.parts().iter().map(ExternalMessageId::as_str).collect();
    serde_json::Value::from(parts).to_string()
}

fn reactions_json(reactions: &BTreeSet<ReactionEmoji>) -> String {
    let texts: Vec<String> = reactions.iter().map(event::emoji_text).collect();
    serde_json::Value::from(texts).to_string()
}

fn encode_error(err: anyhow::Error) -> DbErr {
    DbErr::Custom(format!("{err:#}"))
}

/// The `INSERT` of a receipt, which writes nothing when its dedupe key is known already.
pub(crate) fn receipt_insert(
    backend: DbBackend,
    receipt: &EventReceipt,
) -> Result<Statement, DbErr> {
    receipts_insert(backend, &[receipt], false)
}

/// [`receipt_insert`] of several receipts in one statement; `returning`: it answers the `id`
/// of each receipt it wrote (the others had a known dedupe key, or repeat an earlier one of
/// the statement).
pub(crate) fn receipts_insert(
    backend: DbBackend,
    receipts: &[&EventReceipt],
    returning: bool,
) -> Result<Statement, DbErr> {
    let mut values: Vec<Value> = Vec::with_capacity(receipts.len() * 14);
    let mut rows = Vec::with_capacity(receipts.len());
    for receipt in receipts {
        let json = event::encode(&receipt.event).map_err(encode_error)?;
        let s = state_columns(&receipt.state);
        let kind = receipt.kind().as_str();
        let first = values.len();
        values.extend([
            receipt.id.to_string().into(),
            receipt.connection_id.to_string().into(),
            receipt.source.as_str().into(),
            receipt.dedupe_key.as_str().into(),
            kind.into(),
            json.into(),
            s.status.into(),
            s.reason.into(),
            s.attempts.into(),
            s.next_attempt_at.into(),
            micros(receipt.created_at).into(),
            s.error_code.into(),
            s.error_message.into(),
            s.completed_at.into(),
        ]);
        let cells: Vec<String> = (first + 1..=values.len())
            .map(|n| format!("${n}"))
            .collect();
        rows.push(format!("({})", cells.join(", ")));
    }
    Ok(statement(
        backend,
        &format!(
            "INSERT INTO chat_sync_event_receipts (id, connection_id, source, dedupe_key, \
             kind, event, status, reason, attempts, next_attempt_at, created_at, \
             last_error_code, last_error_message, completed_at) VALUES {} \
             ON CONFLICT (connection_id, source, dedupe_key) DO NOTHING{}",
            rows.join(", "),
            if returning { " RETURNING id" } else { "" }
        ),
        values,
    ))
}

/// Which changes [`apply_run`] writes with one statement when several come in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// [`SyncChange::InsertMessageLink`]: one multi-row `INSERT`.
    MessageLinks,
    /// [`SyncChange::SetDeliveryState`]: one `UPDATE … FROM (VALUES …)`.
    DeliveryStates,
    /// [`SyncChange::SetReceiptState`]: one `UPDATE … FROM (VALUES …)`.
    ReceiptStates,
    /// [`SyncChange::EnqueueDelivery`]: one multi-row `INSERT` (on SQLite after one read of
    /// the links' last sequences).
    Deliveries,
    /// [`SyncChange::HoldsReceiptLease`] guards of one worker at one time: one no-op
    /// `UPDATE … WHERE id IN (…)` answering the ids it matched.
    ReceiptLeases,
}

/// The run an unguarded `change` may join on `backend`, if any.
pub(crate) fn run_kind(change: &SyncChange, backend: DbBackend) -> Option<RunKind> {
    match change {
        SyncChange::InsertMessageLink(_) => Some(RunKind::MessageLinks),
        SyncChange::SetDeliveryState { .. } => Some(RunKind::DeliveryStates),
        // PostgreSQL answers a run of these no faster than one statement each (measured:
        // the single-row statements are prepared once per connection, a run's shape
        // differs with its length); SQLite pays a round trip to its thread per statement.
        SyncChange::SetReceiptState { .. } if backend == DbBackend::Sqlite => {
            Some(RunKind::ReceiptStates)
        }
        SyncChange::EnqueueDelivery(_) if backend == DbBackend::Sqlite => Some(RunKind::Deliveries),
        _ => None,
    }
}

/// The run a guarded `change` may join, if any: its outcomes are checked against each
/// change's expectation afterwards, as one by one.
pub(crate) fn guard_run_kind(change: &SyncChange) -> Option<RunKind> {
    match change {
        SyncChange::HoldsReceiptLease { .. } => Some(RunKind::ReceiptLeases),
        _ => None,
    }
}

/// Writes a run of changes of `kind` with one statement (an outbox run on SQLite reads the
/// links' last sequences first), answering each change's outcome as [`apply`] would. A
/// failing statement writes nothing (the caller rolls back to a savepoint and applies them
/// one by one to find which failed). `None` when the run cannot be written as one (the same
/// row twice, guards of different holders, a change of another kind).
pub(crate) async fn apply_run(
    txn: &DatabaseTransaction,
    kind: RunKind,
    changes: &[&SyncChange],
) -> Result<Option<Vec<ChangeOutcome>>, DbErr> {
    let backend = txn.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    let mut values: Vec<Value> = Vec::new();
    let mut rows: Vec<String> = Vec::new();
    let mut row = |values: &mut Vec<Value>, row: Vec<Value>, casts: &[&str]| {
        let first = rows.is_empty() && postgres;
        let cells: Vec<String> = row
            .into_iter()
            .zip(casts)
            .map(|(value, cast)| {
                values.push(value);
                // PostgreSQL types a VALUES list by its first row.
                if first {
                    format!("${}::{cast}", values.len())
                } else {
                    format!("${}", values.len())
                }
            })
            .collect();
        rows.push(format!("({})", cells.join(", ")));
    };
    match kind {
        RunKind::MessageLinks => {
            for change in changes {
                let SyncChange::InsertMessageLink(link) = change else {
                    return Ok(None);
                };
                row(
                    &mut values,
                    vec![
                        link.id.to_string().into(),
                        link.channel_link_id.to_string().into(),
                        link.hazel_message_id.to_string().into(),
                        link.external.root().as_str().into(),
                        parts_json(&link.external).into(),
                        link.source.as_str().into(),
                        link.thread.as_ref().map(|t| t.parent.to_string()).into(),
                        link.thread
                            .as_ref()
                            .and_then(|t| t.channel.as_ref())
                            .map(ToString::to_string)
                            .into(),
                        link.content_hash.as_str().into(),
                        reactions_json(&link.reactions).into(),
                        micros(link.created_at).into(),
                        micros(link.updated_at).into(),
                        link.pinned.into(),
                    ],
                    &[
                        "text", "text", "text", "text", "text", "text", "text", "text", "text",
                        "text", "bigint", "bigint", "boolean",
                    ],
                );
            }
            txn.execute_raw(statement(
                backend,
                &format!(
                    "INSERT INTO chat_sync_message_links ({MESSAGE_LINK_COLUMNS}) VALUES {}",
                    rows.join(", ")
                ),
                values,
            ))
            .await?;
            Ok(Some(vec![ChangeOutcome::Applied; changes.len()]))
        }
        RunKind::DeliveryStates => {
            let mut ids = Vec::with_capacity(changes.len());
            for change in changes {
                let SyncChange::SetDeliveryState {
                    id,
                    state,
                    external_message_id,
                } = change
                else {
                    return Ok(None);
                };
                let s = state_columns(state);
                ids.push(id.to_string());
                row(
                    &mut values,
                    vec![
                        id.to_string().into(),
                        s.status.into(),
                        s.reason.into(),
                        s.attempts.into(),
                        s.next_attempt_at.into(),
                        s.unresolved_since.into(),
                        s.error_code.into(),
                        s.error_message.into(),
                        s.completed_at.into(),
                        external_message_id
                            .as_ref()
                            .map(|e| e.as_str().to_owned())
                            .into(),
                    ],
                    &[
                        "text", "text", "text", "bigint", "bigint", "bigint", "text", "text",
                        "bigint", "text",
                    ],
                );
            }
            returned_ids(
                txn,
                statement(
                    backend,
                    &format!(
                        "UPDATE chat_sync_outbox AS o SET status = v.column2, reason = v.column3, \
                         attempts = v.column4, next_attempt_at = v.column5, \
                         unresolved_since = v.column6, last_error_code = v.column7, \
                         last_error_message = v.column8, completed_at = v.column9, \
                         external_message_id = COALESCE(v.column10, o.external_message_id) \
                         FROM (VALUES {}) AS v WHERE o.id = v.column1 RETURNING id",
                        rows.join(", ")
                    ),
                    values,
                ),
                &ids,
            )
            .await
        }
        RunKind::ReceiptStates => {
            let mut ids = Vec::with_capacity(changes.len());
            for change in changes {
                let SyncChange::SetReceiptState {
                    id,
                    state,
                    hazel_message_id,
                    channel_link_id,
                } = change
                else {
                    return Ok(None);
                };
                let s = state_columns(state);
                ids.push(id.to_string());
                row(
                    &mut values,
                    vec![
                        id.to_string().into(),
                        s.status.into(),
                        s.reason.into(),
                        s.attempts.into(),
                        s.next_attempt_at.into(),
                        s.error_code.into(),
                        s.error_message.into(),
                        s.completed_at.into(),
                        hazel_message_id.map(|m| m.to_string()).into(),
                        channel_link_id.map(|l| l.to_string()).into(),
                    ],
                    &[
                        "text", "text", "text", "bigint", "bigint", "text", "text", "bigint",
                        "text", "text",
                    ],
                );
            }
            returned_ids(
                txn,
                statement(
                    backend,
                    &format!(
                        "UPDATE chat_sync_event_receipts AS r SET status = v.column2, \
                         reason = v.column3, attempts = v.column4, next_attempt_at = v.column5, \
                         last_error_code = v.column6, last_error_message = v.column7, \
                         completed_at = v.column8, \
                         hazel_message_id = COALESCE(v.column9, r.hazel_message_id), \
                         channel_link_id = COALESCE(v.column10, r.channel_link_id), \
                         lease_owner = NULL, lease_expires_at = NULL \
                         FROM (VALUES {}) AS v WHERE r.id = v.column1 RETURNING id",
                        rows.join(", ")
                    ),
                    values,
                ),
                &ids,
            )
            .await
        }
        RunKind::ReceiptLeases => {
            let mut ids = Vec::with_capacity(changes.len());
            let mut holder = None;
            for change in changes {
                let SyncChange::HoldsReceiptLease { id, worker, now } = change else {
                    return Ok(None);
                };
                if *holder.get_or_insert((worker, now)) != (worker, now) {
                    return Ok(None);
                }
                ids.push(id.to_string());
            }
            let Some((worker, now)) = holder else {
                return Ok(None);
            };
            let mut values: Vec<Value> = vec![worker.to_string().into(), micros(*now).into()];
            let placeholders: Vec<String> = ids
                .iter()
                .map(|id| {
                    values.push(id.clone().into());
                    format!("${}", values.len())
                })
                .collect();
            // A no-op write, as one guard is: it takes the rows' locks (PostgreSQL).
            returned_ids(
                txn,
                statement(
                    backend,
                    &format!(
                        "UPDATE chat_sync_event_receipts SET lease_owner = lease_owner \
                         WHERE lease_owner = $1 AND lease_expires_at > $2 AND id IN ({}) \
                         RETURNING id",
                        placeholders.join(", ")
                    ),
                    values,
                ),
                &ids,
            )
            .await
        }
        RunKind::Deliveries => {
            let mut deliveries = Vec::with_capacity(changes.len());
            for change in changes {
                let SyncChange::EnqueueDelivery(delivery) = change else {
                    return Ok(None);
                };
                deliveries.push(&**delivery);
            }
            let mut next = next_sequences(txn, &deliveries).await?;
            for delivery in deliveries {
                let sequence = next
                    .get_mut(&delivery.channel_link_id.to_string())
                    .map(|next| {
                        let taken = *next;
                        *next += 1;
                        taken
                    });
                let s = state_columns(&delivery.state);
                row(
                    &mut values,
                    vec![
                        delivery.id.to_string().into(),
                        delivery.connection_id.to_string().into(),
                        delivery.channel_link_id.to_string().into(),
                        sequence.into(),
                        delivery.kind.as_str().into(),
                        delivery.hazel_message_id.to_string().into(),
                        delivery
                            .emoji
                            .as_ref()
                            .map(|e| e.as_str().to_owned())
                            .into(),
                        s.status.into(),
                        s.attempts.into(),
                        s.next_attempt_at.into(),
                        micros(delivery.created_at).into(),
                        s.reason.into(),
                        s.unresolved_since.into(),
                        s.error_code.into(),
                        s.error_message.into(),
                        s.completed_at.into(),
                    ],
                    &[
                        "text", "text", "text", "bigint", "text", "text", "text", "text", "bigint",
                        "bigint", "bigint", "text", "bigint", "text", "text", "bigint",
                    ],
                );
            }
            txn.execute_raw(statement(
                backend,
                &format!(
                    "INSERT INTO chat_sync_outbox (id, connection_id, channel_link_id, sequence, \
                     kind, hazel_message_id, emoji, status, attempts, next_attempt_at, \
                     created_at, reason, unresolved_since, last_error_code, last_error_message, \
                     completed_at) VALUES {}",
                    rows.join(", ")
                ),
                values,
            ))
            .await?;
            Ok(Some(vec![ChangeOutcome::Applied; changes.len()]))
        }
    }
}

/// Runs `statement`, which answers the `id` of each row it wrote, and answers for each of
/// `ids` whether it was among them; `None` when `ids` names a row twice (a run cannot tell
/// which of the two was meant).
async fn returned_ids(
    txn: &DatabaseTransaction,
    statement: Statement,
    ids: &[String],
) -> Result<Option<Vec<ChangeOutcome>>, DbErr> {
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    if distinct.len() != ids.len() {
        return Ok(None);
    }
    let written: std::collections::HashSet<String> = txn
        .query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "id"))
        .collect::<Result<_, _>>()?;
    Ok(Some(
        ids.iter()
            .map(|id| ChangeOutcome::Affected(u64::from(written.contains(id))))
            .collect(),
    ))
}

/// The next free outbox sequence of each link `deliveries` go to (SQLite, whose one writer
/// makes the link's last sequence stable until this transaction commits).
async fn next_sequences(
    txn: &DatabaseTransaction,
    deliveries: &[&Delivery],
) -> Result<std::collections::HashMap<String, i64>, DbErr> {
    let links: BTreeSet<String> = deliveries
        .iter()
        .map(|d| d.channel_link_id.to_string())
        .collect();
    let mut values: Vec<Value> = Vec::new();
    let placeholders: Vec<String> = links
        .iter()
        .map(|link| {
            values.push(link.clone().into());
            format!("${}", values.len())
        })
        .collect();
    let mut next: std::collections::HashMap<String, i64> =
        links.into_iter().map(|link| (link, 1)).collect();
    for row in txn
        .query_all_raw(statement(
            txn.get_database_backend(),
            &format!(
                "SELECT channel_link_id, MAX(sequence) AS last FROM chat_sync_outbox \
                 WHERE channel_link_id IN ({}) GROUP BY channel_link_id",
                placeholders.join(", ")
            ),
            values,
        ))
        .await?
    {
        let link: String = row.try_get("", "channel_link_id")?;
        let last: i64 = row.try_get("", "last")?;
        next.insert(link, last + 1);
    }
    Ok(next)
}

/// Applies one sync change inside the store's transaction.
pub(crate) async fn apply(
    txn: &DatabaseTransaction,
    change: SyncChange,
) -> Result<ChangeOutcome, DbErr> {
    let backend = txn.get_database_backend();
    let run = |sql: &str, values: Vec<Value>| statement(backend, sql, values);
    let affected = |rows: u64| ChangeOutcome::Affected(rows);
    Ok(match change {
        SyncChange::InsertReceipt(receipt) => {
            let rows = txn
                .execute_raw(receipt_insert(backend, &receipt)?)
                .await?
                .rows_affected();
            if rows == 0 {
                ChangeOutcome::Skipped
            } else {
                ChangeOutcome::Applied
            }
        }
        SyncChange::HoldsReceiptLease { id, worker, now } => {
            // A no-op write: it takes the row's lock (PostgreSQL), so a worker taking the
            // lease over waits for this transaction and then sees its outcome.
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_event_receipts SET lease_owner = lease_owner \
                     WHERE id = $1 AND lease_owner = $2 AND lease_expires_at > $3",
                    vec![
                        id.to_string().into(),
                        worker.to_string().into(),
                        micros(now).into(),
                    ],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::SetReceiptState {
            id,
            state,
            hazel_message_id,
            channel_link_id,
        } => {
            let s = state_columns(&state);
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_event_receipts SET status = $2, reason = $3, attempts = $4, \
                     next_attempt_at = $5, last_error_code = $6, last_error_message = $7, \
                     completed_at = $8, hazel_message_id = COALESCE($9, hazel_message_id), \
                     channel_link_id = COALESCE($10, channel_link_id), lease_owner = NULL, \
                     lease_expires_at = NULL WHERE id = $1",
                    vec![
                        id.to_string().into(),
                        s.status.into(),
                        s.reason.into(),
                        s.attempts.into(),
                        s.next_attempt_at.into(),
                        s.error_code.into(),
                        s.error_message.into(),
                        s.completed_at.into(),
                        hazel_message_id.map(|m| m.to_string()).into(),
                        channel_link_id.map(|l| l.to_string()).into(),
                    ],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::RequeueReceipt { id, at } => {
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_event_receipts SET status = 'pending', attempts = 0, \
                     next_attempt_at = $2, completed_at = NULL, lease_owner = NULL, \
                     lease_expires_at = NULL WHERE id = $1 AND status = 'failed'",
                    vec![id.to_string().into(), micros(at).into()],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::EnqueueDelivery(delivery) => {
            // The link's order. PostgreSQL: a sequence (no counter row, writers run in
            // parallel); SQLite, which has one writer: one more than the link's last.
            let sequence = match backend {
                DbBackend::Postgres => "nextval('chat_sync_outbox_sequence')",
                _ => {
                    "(SELECT COALESCE(MAX(sequence), 0) + 1 FROM chat_sync_outbox \
                     WHERE channel_link_id = $3)"
                }
            };
            let s = state_columns(&delivery.state);
            txn.execute_raw(run(
                &format!(
                    "INSERT INTO chat_sync_outbox (id, connection_id, channel_link_id, sequence, \
                     kind, hazel_message_id, emoji, status, attempts, next_attempt_at, \
                     created_at, reason, unresolved_since, last_error_code, last_error_message, \
                     completed_at) VALUES ($1, $2, $3, {sequence}, $4, $5, $6, $7, $8, $9, $10, \
                     $11, $12, $13, $14, $15)"
                ),
                vec![
                    delivery.id.to_string().into(),
                    delivery.connection_id.to_string().into(),
                    delivery.channel_link_id.to_string().into(),
                    delivery.kind.as_str().into(),
                    delivery.hazel_message_id.to_string().into(),
                    delivery.emoji.map(|e| e.as_str().to_owned()).into(),
                    s.status.into(),
                    s.attempts.into(),
                    s.next_attempt_at.into(),
                    micros(delivery.created_at).into(),
                    s.reason.into(),
                    s.unresolved_since.into(),
                    s.error_code.into(),
                    s.error_message.into(),
                    s.completed_at.into(),
                ],
            ))
            .await?;
            ChangeOutcome::Applied
        }
        SyncChange::HoldsLinkClaim { link, worker, now } => {
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_link_claims SET worker_id = worker_id \
                     WHERE channel_link_id = $1 AND worker_id = $2 AND expires_at > $3",
                    vec![
                        link.to_string().into(),
                        worker.to_string().into(),
                        micros(now).into(),
                    ],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::SetDeliveryState {
            id,
            state,
            external_message_id,
        } => {
            let s = state_columns(&state);
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_outbox SET status = $2, reason = $3, attempts = $4, \
                     next_attempt_at = $5, unresolved_since = $6, last_error_code = $7, \
                     last_error_message = $8, completed_at = $9, \
                     external_message_id = COALESCE($10, external_message_id) WHERE id = $1",
                    vec![
                        id.to_string().into(),
                        s.status.into(),
                        s.reason.into(),
                        s.attempts.into(),
                        s.next_attempt_at.into(),
                        s.unresolved_since.into(),
                        s.error_code.into(),
                        s.error_message.into(),
                        s.completed_at.into(),
                        external_message_id.map(|e| e.as_str().to_owned()).into(),
                    ],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::MarkUnresolved { ids, at } => {
            if ids.is_empty() {
                return Ok(affected(0));
            }
            let placeholders: Vec<String> = (2..ids.len() + 2).map(|n| format!("${n}")).collect();
            let mut values: Vec<Value> = Vec::with_capacity(ids.len() + 1);
            values.push(micros(at).into());
            values.extend(ids.iter().map(|id| Value::from(id.to_string())));
            let rows = txn
                .execute_raw(run(
                    &format!(
                        "UPDATE chat_sync_outbox SET unresolved_since = $1 \
                         WHERE status = 'pending' AND id IN ({})",
                        placeholders.join(", ")
                    ),
                    values,
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::RequeueDelivery { id, at } => {
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_outbox SET status = 'pending', attempts = 0, \
                     next_attempt_at = $2, completed_at = NULL WHERE id = $1 AND status = 'failed'",
                    vec![id.to_string().into(), micros(at).into()],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::InsertMessageLink(link) => {
            txn.execute_raw(run(
                &format!(
                    "INSERT INTO chat_sync_message_links ({MESSAGE_LINK_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ),
                vec![
                    link.id.to_string().into(),
                    link.channel_link_id.to_string().into(),
                    link.hazel_message_id.to_string().into(),
                    link.external.root().as_str().into(),
                    parts_json(&link.external).into(),
                    link.source.as_str().into(),
                    link.thread.as_ref().map(|t| t.parent.to_string()).into(),
                    link.thread
                        .as_ref()
                        .and_then(|t| t.channel.as_ref())
                        .map(ToString::to_string)
                        .into(),
                    link.content_hash.as_str().into(),
                    reactions_json(&link.reactions).into(),
                    micros(link.created_at).into(),
                    micros(link.updated_at).into(),
                    link.pinned.into(),
                ],
            ))
            .await?;
            ChangeOutcome::Applied
        }
        SyncChange::UpdateMessageLink {
            id,
            external,
            thread,
            content_hash,
            reactions,
            updated_at,
        } => {
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_message_links SET external_root_id = $2, \
                     external_parts = $3, thread_parent_id = $4, thread_channel_id = $5, \
                     content_hash = $6, reactions = $7, updated_at = $8 WHERE id = $1",
                    vec![
                        id.to_string().into(),
                        external.root().as_str().into(),
                        parts_json(&external).into(),
                        thread.as_ref().map(|t| t.parent.to_string()).into(),
                        thread
                            .as_ref()
                            .and_then(|t| t.channel.as_ref())
                            .map(ToString::to_string)
                            .into(),
                        content_hash.as_str().into(),
                        reactions_json(&reactions).into(),
                        micros(updated_at).into(),
                    ],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::SetMessageLinkPinned {
            id,
            pinned,
            updated_at,
        } => {
            let rows = txn
                .execute_raw(run(
                    "UPDATE chat_sync_message_links SET pinned = $2, updated_at = $3 WHERE id = $1",
                    vec![
                        id.to_string().into(),
                        pinned.into(),
                        micros(updated_at).into(),
                    ],
                ))
                .await?
                .rows_affected();
            affected(rows)
        }
        SyncChange::TouchLastSync {
            connection,
            at,
            coalesce,
        } => {
            use connections::Column as C;
            let threshold = at - coalesce;
            // Only a row older than the window is written, so most syncs read the row and
            // write nothing; `updated_at` stays, so status compare-and-sets are undisturbed.
            let result = connections::Entity::update_many()
                .col_expr(C::LastSyncAt, Expr::value(to_db(at)))
                .filter(C::Id.eq(connection.to_string()))
                .filter(C::DeletedAt.is_null())
                .filter(
                    Condition::any()
                        .add(C::LastSyncAt.is_null())
                        .add(C::LastSyncAt.lt(to_db(threshold))),
                )
                .exec(txn)
                .await?;
            affected(result.rows_affected)
        }
    })
}

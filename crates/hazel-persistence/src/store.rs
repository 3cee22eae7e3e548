//! [`Store`]: one database transaction per changeset.
//!
//! PostgreSQL runs each changeset in a transaction of its own, concurrently (at most as many as
//! the write permits allow, so reads always find a connection), and answers the transaction's
//! own id. SQLite allows one writer at a time: changesets queue, and the writer commits every
//! changeset waiting in one transaction, each in its own savepoint ("group commit"), so a batch
//! pays for one durable commit.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use hazel_domain::ids::{ChannelLinkId, MemberId, MessageId, SyncConnectionId, TransactionId};
use hazel_domain::model::Timestamp;
use hazel_domain::model::chat_sync::{ConnectionSettingsPatch, ConnectionStatus};
use hazel_domain::ports::{
    Change, ChangeOutcome, Changeset, Committed, ConnectionColumns, Expectation, Guarded,
    LinkColumns, PreconditionFailure, Store, StoreError, SyncChange,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait as _, IntoActiveModel as _, QueryFilter as _, QueryTrait as _, Statement,
    UpdateMany,
};
use tokio::sync::oneshot;

use crate::Database;
use crate::cache::NotificationsTouched;
use crate::database::Pending;
use crate::entity::{
    api_tokens, channel_links, channels, connections, members, messages, notifications,
    organizations, reactions, to_db, to_db_opt, users,
};
use crate::error::{Refused, classify, db_error};

/// How many times a changeset (SQLite: a batch) is run before a deadlock, serialization
/// failure or busy database is answered as unexpected.
pub(crate) const MAX_ATTEMPTS: u32 = 4;
/// The pause before the first retry; doubled for each further one.
const RETRY_PAUSE: Duration = Duration::from_millis(5);
/// The most changesets one SQLite transaction commits; later ones wait for the next batch.
const MAX_BATCH: usize = 256;

/// PostgreSQL: the transaction's own id, as logical replication reports it. No lock, no row.
const CURRENT_XACT_ID: &str = "SELECT pg_current_xact_id()::xid::text AS value";

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

/// Why a changeset did not commit in this attempt.
enum Refusal {
    /// The answer for the caller: nothing more to try.
    Answer(StoreError),
    /// A deadlock, serialization failure or busy database: run it again in a new transaction.
    Retry(anyhow::Error),
}

impl Refusal {
    /// Classifies a database error met while `doing` something.
    fn from_db(err: DbErr, doing: &str) -> Self {
        match classify(&err) {
            Refused::Retryable => Self::Retry(db_error(err, doing)),
            Refused::Unique(_) | Refused::Other => {
                Self::Answer(StoreError::Unexpected(db_error(err, doing)))
            }
        }
    }
}

#[async_trait]
impl Store for Database {
    /// Applies the changes, in order, in one transaction, checking each guarded change right
    /// after it is applied.
    ///
    /// Outcomes: inserts answer [`ChangeOutcome::Applied`], or [`ChangeOutcome::Skipped`] for
    /// a reaction or deduplicated notification that already exists; updates and deletes answer
    /// [`ChangeOutcome::Affected`] with the number of rows they matched (for
    /// `DeleteConnection`, the connection itself: 0 or 1).
    async fn commit(&self, changeset: Changeset) -> Result<Committed, StoreError> {
        let changes_routes = changeset.as_slice().iter().any(changes_routes);
        let rings = crate::WorkNotices::rings_for(&changeset);
        let notifications = NotificationsTouched::of(changeset.as_slice());
        let committed = if self.is_sqlite() {
            self.group_commit(changeset).await
        } else {
            self.commit_postgres(changeset).await
        };
        if committed.is_ok() {
            self.inner_notices().ring(rings);
        }
        if changes_routes {
            // Whether it committed or not (a failure may be ambiguous): the next message
            // write reads its channel's routes afresh.
            self.reads().forget_routes();
        }
        notifications.forget_from(&self.reads().notifications);
        committed
    }
}

impl Database {
    /// PostgreSQL: one transaction per changeset, retried on deadlocks and serialization
    /// failures.
    async fn commit_postgres(&self, changeset: Changeset) -> Result<Committed, StoreError> {
        let _permit = self.write_permit().await?;
        let mut attempt = 1;
        loop {
            match self.attempt_postgres(changeset.clone()).await {
                Ok(committed) => return Ok(committed),
                Err(Refusal::Answer(err)) => return Err(err),
                Err(Refusal::Retry(err)) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, error = %err, "retrying a changeset");
                    tokio::time::sleep(RETRY_PAUSE * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
                Err(Refusal::Retry(err)) => {
                    return Err(StoreError::Unexpected(
                        err.context(format!("gave up after {MAX_ATTEMPTS} attempts")),
                    ));
                }
            }
        }
    }

    async fn attempt_postgres(&self, changeset: Changeset) -> Result<Committed, Refusal> {
        if let [single] = changeset.as_slice()
            && changeset.expectation(0).is_none()
            && let Some(insert) = plain_insert(single, DbBackend::Postgres)
        {
            let insert = insert.map_err(|err| {
                Refusal::Answer(StoreError::Unexpected(
                    err.context(format!("encoding change 0 ({})", kind_of(single))),
                ))
            })?;
            return self.insert_alone(insert, kind_of(single)).await;
        }
        // Webhook intake records one receipt per call: one statement too.
        if let [Change::Sync(SyncChange::InsertReceipt(receipt))] = changeset.as_slice()
            && changeset.expectation(0).is_none()
        {
            let insert = crate::sync_engine::receipt_insert(DbBackend::Postgres, receipt).map_err(
                |err| {
                    Refusal::Answer(StoreError::Unexpected(db_error(
                        err,
                        "encoding change 0 (Sync::InsertReceipt)",
                    )))
                },
            )?;
            return self.receipt_alone(insert).await;
        }
        let txn = self
            .begin_write()
            .await
            .map_err(|err| Refusal::from_db(err, "beginning a transaction"))?;
        let outcomes = match apply_changeset(&txn, changeset).await {
            Ok(outcomes) => outcomes,
            Err(refusal) => {
                rollback(txn).await;
                return Err(refusal);
            }
        };
        let transaction_id = match read_id(&txn, CURRENT_XACT_ID).await {
            Ok(id) => id,
            Err(refusal) => {
                rollback(txn).await;
                return Err(refusal);
            }
        };
        txn.commit()
            .await
            .map_err(|err| Refusal::from_db(err, "committing a transaction"))?;
        Ok(Committed {
            transaction_id,
            outcomes,
        })
    }

    /// PostgreSQL: a changeset of one plain insert, as one statement in a transaction of its
    /// own that also answers the transaction's id: one round trip instead of four (`BEGIN`,
    /// the insert, the id, `COMMIT`). The insert either writes its row or fails, so there is
    /// nothing to roll back.
    async fn insert_alone(&self, insert: Statement, kind: &str) -> Result<Committed, Refusal> {
        let Statement { sql, values, .. } = insert;
        let sql = format!(
            "WITH inserted AS ({sql} RETURNING 1) \
             SELECT pg_current_xact_id()::xid::text AS value FROM inserted"
        );
        let statement = match values {
            Some(values) => Statement::from_sql_and_values(DbBackend::Postgres, sql, values),
            None => Statement::from_string(DbBackend::Postgres, sql),
        };
        let row = self
            .connection()
            .query_one_raw(statement)
            .await
            .map_err(|err| refused_change(err, 0, kind))?
            .context("the insert answered no row")
            .map_err(|err| Refusal::Answer(err.into()))?;
        let value = row
            .try_get::<String>("", "value")
            .map_err(|err| db_error(err, "reading the transaction id"))
            .and_then(|text| text.parse::<u64>().context("parsing the transaction id"))
            .map_err(|err| Refusal::Answer(err.into()))?;
        Ok(Committed {
            transaction_id: TransactionId::new(value),
            outcomes: vec![ChangeOutcome::Applied],
        })
    }

    /// PostgreSQL: a changeset of one receipt insert (which skips a known dedupe key), as one
    /// statement that answers the transaction's id and whether the row was written.
    async fn receipt_alone(&self, insert: Statement) -> Result<Committed, Refusal> {
        let kind = "Sync::InsertReceipt";
        let Statement { sql, values, .. } = insert;
        let sql = format!(
            "WITH inserted AS ({sql} RETURNING 1) \
             SELECT pg_current_xact_id()::xid::text AS value, \
               (SELECT COUNT(*) FROM inserted) AS inserted"
        );
        let statement = match values {
            Some(values) => Statement::from_sql_and_values(DbBackend::Postgres, sql, values),
            None => Statement::from_string(DbBackend::Postgres, sql),
        };
        let row = self
            .connection()
            .query_one_raw(statement)
            .await
            .map_err(|err| refused_change(err, 0, kind))?
            .context("the insert answered no row")
            .map_err(|err| Refusal::Answer(err.into()))?;
        let read = || -> anyhow::Result<(u64, i64)> {
            let value = row
                .try_get::<String>("", "value")
                .map_err(|err| db_error(err, "reading the transaction id"))?
                .parse::<u64>()
                .context("parsing the transaction id")?;
            let inserted = row
                .try_get::<i64>("", "inserted")
                .map_err(|err| db_error(err, "reading whether the receipt was new"))?;
            Ok((value, inserted))
        };
        let (value, inserted) = read().map_err(|err| Refusal::Answer(err.into()))?;
        Ok(Committed {
            transaction_id: TransactionId::new(value),
            outcomes: vec![if inserted > 0 {
                ChangeOutcome::Applied
            } else {
                ChangeOutcome::Skipped
            }],
        })
    }

    /// SQLite: queues the changeset for the single writer and waits for its answer, which
    /// comes after the COMMIT of the batch that carried it.
    ///
    /// Whoever takes the write gate commits every changeset queued so far, its own included
    /// unless an earlier writer took it. The batch runs in a task of its own that holds the
    /// gate until the batch is committed and answered, so a caller that gives up (a client
    /// that disconnects) never abandons the other changesets of its batch.
    async fn group_commit(&self, changeset: Changeset) -> Result<Committed, StoreError> {
        let (reply, mut answer) = oneshot::channel();
        self.enqueue(Pending { changeset, reply });
        // Another caller's batch may carry this changeset: its answer can come before the
        // gate does, and then there is nothing left to wait for. Waiting for the gate anyway
        // would make every caller of a batch take the gate in turn afterwards, each
        // committing only what arrived meanwhile: batches of one.
        let gate = tokio::select! {
            biased;
            answered = &mut answer => return answered.unwrap_or_else(|_| writer_stopped()),
            gate = self.lock_write_gate() => gate,
        };
        let batch = self.take_batch(MAX_BATCH);
        if !batch.is_empty() {
            let db = self.clone();
            tokio::spawn(async move {
                db.commit_batch(batch).await;
                drop(gate);
            });
        } else {
            drop(gate);
        }
        answer.await.unwrap_or_else(|_| writer_stopped())
    }

    /// Commits `batch` in one transaction, each changeset in its own savepoint, and answers
    /// each caller after the COMMIT.
    async fn commit_batch(&self, batch: Vec<Pending>) {
        self.count_batch(batch.len());
        let mut attempt = 1;
        let answers = loop {
            let changesets = batch.iter().map(|p| p.changeset.clone()).collect();
            match self.attempt_batch(changesets).await {
                Ok(answers) => break answers,
                Err(err) if attempt < MAX_ATTEMPTS && is_retry(&err) => {
                    tracing::debug!(attempt, error = %err.1, "retrying a batch");
                    tokio::time::sleep(RETRY_PAUSE * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
                Err((_, err)) => {
                    let message = format!("{err:#}");
                    break batch
                        .iter()
                        .map(|_| {
                            Err(StoreError::Unexpected(anyhow::anyhow!(
                                "committing a batch of changesets failed: {message}"
                            )))
                        })
                        .collect();
                }
            }
        };
        for (pending, answer) in batch.into_iter().zip(answers) {
            // A caller that stopped waiting no longer needs its answer.
            let _ = pending.reply.send(answer);
        }
    }

    /// One try at a batch: the per-changeset answers, or why the whole batch failed (and
    /// whether trying again may help).
    ///
    /// Each changeset opens a savepoint and a failing one rolls back to it. Savepoints of
    /// applied changesets are not released: the next one nests inside, and `COMMIT` commits
    /// them all, which saves a statement (a round trip to the connection's thread) per
    /// changeset. The counter is likewise advanced once per batch, by the number of applied
    /// changesets, which take the values in order.
    async fn attempt_batch(
        &self,
        changesets: Vec<Changeset>,
    ) -> Result<Vec<Result<Committed, StoreError>>, (bool, anyhow::Error)> {
        let batch_error = |err: DbErr, doing: &str| {
            let retry = classify(&err) == Refused::Retryable;
            (retry, db_error(err, doing))
        };
        let txn = self
            .begin_write()
            .await
            .map_err(|err| batch_error(err, "beginning a transaction"))?;
        let mut results: Vec<Option<Result<Vec<ChangeOutcome>, StoreError>>> =
            (0..changesets.len()).map(|_| None).collect();
        let mut changesets: Vec<Option<Changeset>> = changesets.into_iter().map(Some).collect();
        let together = match insert_messages_together(&txn, &mut changesets, &mut results).await {
            Ok(()) => insert_receipts_together(&txn, &mut changesets, &mut results).await,
            Err(err) => Err(err),
        };
        if let Err(err) = together {
            rollback(txn).await;
            return Err(err);
        }
        for (index, changeset) in changesets.into_iter().enumerate() {
            // Changesets already applied by the combined insert.
            let Some(changeset) = changeset else { continue };
            let savepoint = needs_savepoint(&changeset);
            if savepoint
                && let Err(err) = txn.execute_unprepared(&format!("SAVEPOINT c{index}")).await
            {
                rollback(txn).await;
                return Err(batch_error(err, "opening a savepoint"));
            }
            match apply_changeset(&txn, changeset).await {
                Ok(outcomes) => results[index] = Some(Ok(outcomes)),
                Err(refusal) => {
                    if savepoint
                        && let Err(err) = txn
                            .execute_unprepared(&format!("ROLLBACK TO c{index}"))
                            .await
                    {
                        rollback(txn).await;
                        return Err(batch_error(err, "rolling back to a savepoint"));
                    }
                    match refusal {
                        Refusal::Answer(err) => results[index] = Some(Err(err)),
                        // The writer holds the write lock, so a busy database here is not
                        // expected; run the whole batch again.
                        Refusal::Retry(err) => {
                            rollback(txn).await;
                            return Err((true, err));
                        }
                    }
                }
            }
        }
        let results: Vec<Result<Vec<ChangeOutcome>, StoreError>> = results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| {
                    Err(StoreError::Unexpected(anyhow::anyhow!(
                        "a changeset of the batch was not applied"
                    )))
                })
            })
            .collect();
        let applied = results.iter().filter(|r| r.is_ok()).count();
        let mut next = 0;
        if applied > 0 {
            let sql = format!(
                "UPDATE transaction_counter SET value = value + {applied} WHERE id = 1 \
                 RETURNING value"
            );
            match read_id(&txn, &sql).await {
                // The batch's last id; the applied changesets take the values before it.
                Ok(last) => next = last.value() + 1 - applied as u64,
                Err(refusal) => {
                    rollback(txn).await;
                    return Err(match refusal {
                        Refusal::Retry(err) => (true, err),
                        Refusal::Answer(err) => (false, anyhow::Error::new(err)),
                    });
                }
            }
        }
        txn.commit()
            .await
            .map_err(|err| batch_error(err, "committing a transaction"))?;
        Ok(results
            .into_iter()
            .map(|result| {
                result.map(|outcomes| {
                    let transaction_id = TransactionId::new(next);
                    next += 1;
                    Committed {
                        transaction_id,
                        outcomes,
                    }
                })
            })
            .collect())
    }
}

/// SQLite: writes every changeset of the batch that is one unguarded message insert (a message
/// without mentions, the most common write) with one multi-row `INSERT`, a single round trip to
/// the connection's thread instead of one per message, and marks them applied.
///
/// When that statement fails (a conflict or foreign-key failure of one of its rows), SQLite
/// undoes the statement alone and the changesets are left for the loop that applies each
/// in turn, so each failing one answers its own error and the others still commit. A busy
/// or locked database fails the whole batch, to be run again.
async fn insert_messages_together(
    txn: &DatabaseTransaction,
    changesets: &mut [Option<Changeset>],
    results: &mut [Option<Result<Vec<ChangeOutcome>, StoreError>>],
) -> Result<(), (bool, anyhow::Error)> {
    let mut indexes = Vec::new();
    let mut rows = Vec::new();
    for (index, changeset) in changesets.iter().enumerate() {
        if let Some(changeset) = changeset
            && let [Change::InsertMessage(message)] = changeset.as_slice()
            && changeset.expectation(0).is_none()
            && let Ok(row) = messages::Model::try_from(message)
        {
            indexes.push(index);
            rows.push(row.into_active_model());
        }
    }
    if indexes.len() < 2 {
        return Ok(());
    }
    let count = indexes.len();
    match messages::Entity::insert_many(rows).exec(txn).await {
        Ok(_) => {
            for index in indexes {
                changesets[index] = None;
                results[index] = Some(Ok(vec![ChangeOutcome::Applied]));
            }
            Ok(())
        }
        Err(err) if classify(&err) == Refused::Retryable => {
            Err((true, db_error(err, "inserting a batch's messages")))
        }
        Err(err) => {
            tracing::debug!(count, error = %err, "a combined insert failed; applying one by one");
            Ok(())
        }
    }
}

/// SQLite: writes every changeset of the batch that only records receipts (webhook intake:
/// one event per changeset, usually) with one multi-row `INSERT … ON CONFLICT DO NOTHING
/// RETURNING id`, and marks them applied: each receipt answers `Applied` when the statement
/// wrote it and `Skipped` when its dedupe key was known (or repeated by an earlier changeset
/// of the batch, which then wrote it), as one by one.
///
/// When the statement fails, SQLite undoes it alone and the changesets are left to the loop
/// that applies each in turn; a busy or locked database fails the whole batch, to be run
/// again.
async fn insert_receipts_together(
    txn: &DatabaseTransaction,
    changesets: &mut [Option<Changeset>],
    results: &mut [Option<Result<Vec<ChangeOutcome>, StoreError>>],
) -> Result<(), (bool, anyhow::Error)> {
    let mut indexes = Vec::new();
    let mut receipts = Vec::new();
    for (index, changeset) in changesets.iter().enumerate() {
        let Some(changeset) = changeset else { continue };
        let only_receipts = !changeset.is_empty()
            && (0..changeset.len()).all(|i| changeset.expectation(i).is_none())
            && changeset
                .iter()
                .all(|change| matches!(change, Change::Sync(SyncChange::InsertReceipt(_))));
        if only_receipts {
            indexes.push(index);
            receipts.extend(changeset.iter().filter_map(|change| match change {
                Change::Sync(SyncChange::InsertReceipt(receipt)) => Some(&**receipt),
                _ => None,
            }));
        }
    }
    if receipts.len() < 2 {
        return Ok(());
    }
    let count = receipts.len();
    let written: Result<HashSet<String>, DbErr> = async {
        let insert = crate::sync_engine::receipts_insert(DbBackend::Sqlite, &receipts, true)?;
        txn.query_all_raw(insert)
            .await?
            .iter()
            .map(|row| row.try_get::<String>("", "id"))
            .collect()
    }
    .await;
    match written {
        Ok(written) => {
            for index in indexes {
                let Some(changeset) = changesets[index].take() else {
                    continue;
                };
                let outcomes = changeset
                    .iter()
                    .map(|change| match change {
                        Change::Sync(SyncChange::InsertReceipt(receipt))
                            if written.contains(&receipt.id.to_string()) =>
                        {
                            ChangeOutcome::Applied
                        }
                        _ => ChangeOutcome::Skipped,
                    })
                    .collect();
                results[index] = Some(Ok(outcomes));
            }
            Ok(())
        }
        Err(err) if classify(&err) == Refused::Retryable => {
            Err((true, db_error(err, "inserting a batch's receipts")))
        }
        Err(err) => {
            tracing::debug!(count, error = %err, "a combined insert failed; applying one by one");
            Ok(())
        }
    }
}

/// Whether `change` can change which links a channel's messages are queued for, or how: links
/// and connections (their status and settings) are what the cached routes hold.
fn changes_routes(change: &Change) -> bool {
    matches!(
        change,
        Change::InsertConnection(_)
            | Change::PatchConnection { .. }
            | Change::SetConnectionStatusIfUnchanged { .. }
            | Change::DeleteConnection { .. }
            | Change::InsertChannelLink(_)
            | Change::PatchChannelLink { .. }
            | Change::DeleteChannelLink { .. }
    )
}

/// The answer of a caller whose batch's writer ended without sending one.
fn writer_stopped() -> Result<Committed, StoreError> {
    Err(StoreError::Unexpected(anyhow::anyhow!(
        "the writer stopped before answering"
    )))
}

/// Whether a failure of `changeset` could leave part of it written, so that it needs a
/// savepoint to roll back to. A changeset of one unguarded single-statement change cannot: a
/// statement that fails is undone by SQLite on its own. Skipping the savepoint saves a round
/// trip to the connection's thread for the most common writes (a message without mentions).
fn needs_savepoint(changeset: &Changeset) -> bool {
    match changeset.as_slice() {
        [] => false,
        [single] => {
            changeset.expectation(0).is_some() || matches!(single, Change::DeleteConnection { .. })
        }
        _ => true,
    }
}

fn is_retry(err: &(bool, anyhow::Error)) -> bool {
    err.0
}

/// What a database error met while applying the change at `change_index` means.
fn refused_change(err: DbErr, change_index: usize, kind: &str) -> Refusal {
    match classify(&err) {
        Refused::Unique(Some(constraint)) => {
            tracing::debug!(change_index, kind, ?constraint, "changeset conflicts");
            Refusal::Answer(StoreError::Conflict {
                change_index,
                constraint,
            })
        }
        Refused::Unique(None) | Refused::Other => Refusal::Answer(StoreError::Unexpected(
            db_error(err, &format!("applying change {change_index} ({kind})")),
        )),
        Refused::Retryable => Refusal::Retry(db_error(
            err,
            &format!("applying change {change_index} ({kind})"),
        )),
    }
}

/// Applies a changeset's changes in order, checking each guarded change's expectation.
async fn apply_changeset(
    txn: &DatabaseTransaction,
    changeset: Changeset,
) -> Result<Vec<ChangeOutcome>, Refusal> {
    let backend = txn.get_database_backend();
    let mut outcomes = Vec::with_capacity(changeset.len());
    let mut guarded = changeset.into_guarded().peekable();
    // Runs of changes of one kind (a batch of delivery outcomes, a channel's new messages
    // with their receipts' guards and states) are written with one statement each, in the
    // changeset's order; a run that fails is undone and applied change by change, so the
    // failure names its change as it would otherwise. A guarded run's outcomes are checked
    // like single changes'.
    let mut change_index = 0;
    while let Some(first) = guarded.next() {
        let kind = run_of(&first, backend);
        let mut segment = vec![first];
        if kind.is_some() {
            while let Some(next) = guarded.next_if(|g| run_of(g, backend) == kind) {
                segment.push(next);
            }
        }
        let mut answers = None;
        if let Some(kind) = kind
            && segment.len() >= 2
        {
            let savepoint = format!("run{change_index}");
            txn.execute_unprepared(&format!("SAVEPOINT {savepoint}"))
                .await
                .map_err(|err| Refusal::from_db(err, "opening a savepoint"))?;
            match apply_run(txn, kind, &segment).await {
                Ok(written) => answers = written,
                Err(err) if classify(&err) == Refused::Retryable => {
                    return Err(Refusal::from_db(err, "writing a run of changes"));
                }
                Err(err) => {
                    tracing::debug!(change_index, error = %err, "a run of changes failed; applying one by one");
                    txn.execute_unprepared(&format!("ROLLBACK TO SAVEPOINT {savepoint}"))
                        .await
                        .map_err(|err| Refusal::from_db(err, "rolling back to a savepoint"))?;
                }
            }
        }
        let mut answers = answers.map(Vec::into_iter);
        for guarded in segment {
            let kind = kind_of(&guarded.change);
            let outcome = match answers.as_mut().and_then(Iterator::next) {
                Some(outcome) => outcome,
                None => match apply(txn, guarded.change).await {
                    Ok(outcome) => outcome,
                    Err(ApplyError::Db(err)) => {
                        return Err(refused_change(err, change_index, kind));
                    }
                    Err(ApplyError::Encode(err)) => {
                        let err = err.context(format!("encoding change {change_index} ({kind})"));
                        return Err(Refusal::Answer(StoreError::Unexpected(err)));
                    }
                },
            };
            if let Some(expected) = guarded.expectation
                && !expected.is_met_by(outcome)
            {
                tracing::debug!(change_index, kind, ?outcome, "changeset refused by a guard");
                return Err(Refusal::Answer(StoreError::Precondition {
                    change_index,
                    failure: PreconditionFailure { expected, outcome },
                }));
            }
            outcomes.push(outcome);
            change_index += 1;
        }
    }
    Ok(outcomes)
}

/// A run of changes of one kind that [`apply_run`] writes with one statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    /// Unguarded [`Change::InsertMessage`]s: one multi-row `INSERT`.
    Messages,
    /// The sync engine's runs.
    Sync(crate::sync_engine::RunKind),
}

/// The run `guarded` may join on `backend`, if any.
fn run_of(guarded: &Guarded, backend: DbBackend) -> Option<Run> {
    match (&guarded.change, guarded.expectation) {
        (Change::InsertMessage(_), None) => Some(Run::Messages),
        (Change::Sync(change), None) => {
            crate::sync_engine::run_kind(change, backend).map(Run::Sync)
        }
        (Change::Sync(change), Some(Expectation::ExactlyOne)) => {
            crate::sync_engine::guard_run_kind(change).map(Run::Sync)
        }
        _ => None,
    }
}

/// Writes a run of changes of one kind, answering each change's outcome as [`apply`] would
/// (before its expectation is checked); `None` when the run cannot be written as one.
async fn apply_run(
    txn: &DatabaseTransaction,
    kind: Run,
    guarded: &[Guarded],
) -> Result<Option<Vec<ChangeOutcome>>, DbErr> {
    match kind {
        Run::Messages => {
            let mut rows = Vec::with_capacity(guarded.len());
            for g in guarded {
                let Change::InsertMessage(message) = &g.change else {
                    return Ok(None);
                };
                let Ok(row) = messages::Model::try_from(message) else {
                    return Ok(None);
                };
                rows.push(row.into_active_model());
            }
            messages::Entity::insert_many(rows).exec(txn).await?;
            Ok(Some(vec![ChangeOutcome::Applied; guarded.len()]))
        }
        Run::Sync(kind) => {
            let changes: Vec<&SyncChange> = guarded
                .iter()
                .filter_map(|g| match &g.change {
                    Change::Sync(change) => Some(change),
                    _ => None,
                })
                .collect();
            if changes.len() != guarded.len() {
                return Ok(None);
            }
            crate::sync_engine::apply_run(txn, kind, &changes).await
        }
    }
}

/// Runs `sql`, which answers one row with a `value` column, as the transaction id.
async fn read_id(txn: &DatabaseTransaction, sql: &str) -> Result<TransactionId, Refusal> {
    let doing = "taking a transaction id";
    let row = txn
        .query_one_raw(Statement::from_string(txn.get_database_backend(), sql))
        .await
        .map_err(|err| Refusal::from_db(err, doing))?
        .context("the transaction counter row is missing; are migrations applied?")
        .map_err(|err| Refusal::Answer(err.into()))?;
    let value = match row.try_get::<i64>("", "value") {
        Ok(value) => u64::try_from(value).context("a negative transaction id"),
        Err(_) => row
            .try_get::<String>("", "value")
            .map_err(|err| db_error(err, "reading the transaction id"))
            .and_then(|text| text.parse::<u64>().context("parsing the transaction id")),
    }
    .map_err(|err| Refusal::Answer(err.into()))?;
    Ok(TransactionId::new(value))
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
        Change::SetConnectionStatusIfUnchanged { .. } => "SetConnectionStatusIfUnchanged",
        Change::DeleteConnection { .. } => "DeleteConnection",
        Change::InsertChannelLink(_) => "InsertChannelLink",
        Change::PatchChannelLink { .. } => "PatchChannelLink",
        Change::DeleteChannelLink { .. } => "DeleteChannelLink",
        Change::Sync(change) => change.kind(),
    }
}

/// The `INSERT` of a change that inserts one row and conflicts on every uniqueness rule
/// (`None` for any other change).
fn plain_insert(change: &Change, backend: DbBackend) -> Option<Result<Statement, anyhow::Error>> {
    let statement = match change {
        Change::InsertUser(user) => {
            users::Entity::insert(users::Model::from(user).into_active_model()).build(backend)
        }
        Change::InsertApiToken(token) => {
            api_tokens::Entity::insert(api_tokens::Model::from(token).into_active_model())
                .build(backend)
        }
        Change::InsertOrganization(organization) => organizations::Entity::insert(
            organizations::Model::from(organization).into_active_model(),
        )
        .build(backend),
        Change::InsertMember(member) => {
            members::Entity::insert(members::Model::from(member).into_active_model()).build(backend)
        }
        Change::InsertChannel(channel) => {
            channels::Entity::insert(channels::Model::from(channel).into_active_model())
                .build(backend)
        }
        Change::InsertMessage(message) => match messages::Model::try_from(message) {
            Ok(row) => messages::Entity::insert(row.into_active_model()).build(backend),
            Err(err) => return Some(Err(err)),
        },
        Change::InsertConnection(connection) => {
            connections::Entity::insert(connections::Model::from(connection).into_active_model())
                .build(backend)
        }
        Change::InsertChannelLink(link) => {
            channel_links::Entity::insert(channel_links::Model::from(link).into_active_model())
                .build(backend)
        }
        _ => return None,
    };
    Some(Ok(statement))
}

async fn apply(txn: &DatabaseTransaction, change: Change) -> Result<ChangeOutcome, ApplyError> {
    let outcome = match change {
        Change::InsertUser(_)
        | Change::InsertApiToken(_)
        | Change::InsertOrganization(_)
        | Change::InsertMember(_)
        | Change::InsertChannel(_)
        | Change::InsertMessage(_)
        | Change::InsertConnection(_)
        | Change::InsertChannelLink(_) => {
            let statement = plain_insert(&change, txn.get_database_backend())
                .transpose()
                .map_err(ApplyError::Encode)?
                .ok_or_else(|| ApplyError::Encode(anyhow::anyhow!("not a plain insert")))?;
            txn.execute_raw(statement).await?;
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
        Change::PatchConnection {
            id,
            columns,
            updated_at,
        } => {
            let result = patch_connection(id, columns, updated_at).exec(txn).await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::SetConnectionStatusIfUnchanged {
            id,
            seen_updated_at,
            status,
            updated_at,
        } => {
            let result = patch_connection(
                id,
                ConnectionColumns {
                    status: Some(status),
                    ..ConnectionColumns::default()
                },
                updated_at,
            )
            .filter(connections::Column::UpdatedAt.eq(to_db(seen_updated_at)))
            .exec(txn)
            .await?;
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
            forget_link_secrets(
                txn,
                "channel_link_id IN (SELECT id FROM chat_sync_channel_links \
                 WHERE connection_id = $1)",
                id,
            )
            .await?;
            ChangeOutcome::Affected(connection.rows_affected)
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
            forget_link_secrets(txn, "channel_link_id = $1", id.to_string()).await?;
            ChangeOutcome::Affected(result.rows_affected)
        }
        Change::Sync(change) => crate::sync_engine::apply(txn, change).await?,
    };
    Ok(outcome)
}

/// Removes the link secrets (a Discord link's webhook token) of the links `condition`
/// names with `id` as `$1`, in the transaction that deletes them: a deleted link keeps no
/// secret behind.
async fn forget_link_secrets(
    txn: &DatabaseTransaction,
    condition: &str,
    id: String,
) -> Result<(), DbErr> {
    txn.execute_raw(crate::sync_engine::statement(
        txn.get_database_backend(),
        &format!("DELETE FROM chat_sync_link_secrets WHERE {condition}"),
        vec![id.into()],
    ))
    .await?;
    Ok(())
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

//! [`LinkSecretStore`] over `chat_sync_link_secrets`: one sealed secret per channel link
//! (the Discord link's webhook), written over on change. The bytes are sealed by the vault
//! before they reach this adapter, which never sees the secret itself.

use async_trait::async_trait;
use hazel_domain::ids::ChannelLinkId;
use hazel_domain::model::chat_sync::SealedLinkSecret;
use hazel_domain::ports::{LinkSecretError, LinkSecretStore};
use sea_orm::{ConnectionTrait as _, Value};

use crate::Database;
use crate::error::db_error;
use crate::sync_engine::{micros, statement};

impl Database {
    /// Runs one link-secret write in a transaction of its own; on SQLite it waits for the
    /// one writer like every write.
    async fn link_secret_write(
        &self,
        sql: &str,
        values: Vec<Value>,
        doing: &str,
    ) -> Result<(), LinkSecretError> {
        let unexpected = |e: anyhow::Error| LinkSecretError::Unexpected(e);
        let _gate = if self.is_sqlite() {
            Some(self.lock_write_gate().await)
        } else {
            None
        };
        let _permit = if self.is_sqlite() {
            None
        } else {
            Some(
                self.write_permit()
                    .await
                    .map_err(|e| unexpected(anyhow::Error::new(e)))?,
            )
        };
        let backend = self.connection().get_database_backend();
        let txn = self
            .begin_write()
            .await
            .map_err(|e| unexpected(db_error(e, "beginning a link secret write")))?;
        if let Err(err) = txn.execute_raw(statement(backend, sql, values)).await {
            let _ = txn.rollback().await;
            return Err(unexpected(db_error(err, doing)));
        }
        txn.commit()
            .await
            .map_err(|e| unexpected(db_error(e, "committing a link secret write")))
    }
}

#[async_trait]
impl LinkSecretStore for Database {
    async fn sealed(
        &self,
        link: ChannelLinkId,
    ) -> Result<Option<SealedLinkSecret>, LinkSecretError> {
        let backend = self.connection().get_database_backend();
        let row = self
            .connection()
            .query_one_raw(statement(
                backend,
                "SELECT sealed FROM chat_sync_link_secrets WHERE channel_link_id = $1",
                vec![link.to_string().into()],
            ))
            .await
            .map_err(|e| LinkSecretError::Unexpected(db_error(e, "reading a link secret")))?;
        row.map(|row| {
            row.try_get::<Vec<u8>>("", "sealed")
                .map(SealedLinkSecret::from_bytes)
                .map_err(|e| LinkSecretError::Unexpected(db_error(e, "reading a link secret")))
        })
        .transpose()
    }

    async fn put(
        &self,
        link: ChannelLinkId,
        sealed: SealedLinkSecret,
    ) -> Result<(), LinkSecretError> {
        let now = micros(time::OffsetDateTime::now_utc());
        self.link_secret_write(
            "INSERT INTO chat_sync_link_secrets (channel_link_id, sealed, updated_at) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (channel_link_id) DO UPDATE \
               SET sealed = excluded.sealed, updated_at = excluded.updated_at",
            vec![
                link.to_string().into(),
                sealed.as_bytes().to_vec().into(),
                now.into(),
            ],
            "storing a link secret",
        )
        .await
    }

    async fn remove(&self, link: ChannelLinkId) -> Result<(), LinkSecretError> {
        self.link_secret_write(
            "DELETE FROM chat_sync_link_secrets WHERE channel_link_id = $1",
            vec![link.to_string().into()],
            "removing a link secret",
        )
        .await
    }
}

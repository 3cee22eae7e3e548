//! Channel links: create, list, change and delete.

use super::*;

impl ChatSyncService {
    /// Links a Hazel channel of the connection's organization to an external channel.
    ///
    /// # Errors
    /// [`CreateLinkError::ConnectionNotFound`] for an unknown connection;
    /// [`CreateLinkError::ChannelNotFound`] for a Hazel channel of another organization;
    /// [`CreateLinkError::ChannelLinkExists`]; [`CreateLinkError::Forbidden`];
    /// [`CreateLinkError::Provider`] with `InsufficientPermissions` when the bot cannot sync
    /// the external channel (unknown to it, of a kind that holds no messages, or lacking
    /// permissions there, which the error names), or when the provider cannot be asked;
    /// [`CreateLinkError::IntegrationNotConnected`] when the connection's credentials cannot
    /// be used.
    pub async fn create_link(
        &self,
        caller: &Caller,
        connection_id: SyncConnectionId,
        new: NewLink,
    ) -> Result<Mutation<ChannelLink>, CreateLinkError> {
        let connection = self.administered(caller, connection_id).await?.connection;
        self.channels
            .find(new.hazel_channel_id)
            .await?
            .filter(|c| c.organization_id == connection.organization_id)
            .ok_or(CreateLinkError::ChannelNotFound)?;
        let existing = self.links.list_all(connection_id).await?;
        if existing.iter().any(|l| {
            l.hazel_channel_id == new.hazel_channel_id
                || l.external_channel_id == new.external_channel_id
        }) {
            return Err(CreateLinkError::ChannelLinkExists);
        }
        // Only channels the bot can read and post in may be linked; the provider decides.
        let credentials = self.credentials_of(&connection)?;
        let eligibility = self
            .adapter(connection.provider)?
            .check_channel(
                &connection.external_workspace_id,
                &credentials,
                &new.external_channel_id,
            )
            .await
            .map_err(CreateLinkError::Provider)?;
        match eligibility {
            // A public channel the bot has not joined yet may be linked (SYNC.md: joined on
            // link); joining it (Slack `conversations.join`) is the provider adapter's part.
            ChannelEligibility::Eligible | ChannelEligibility::Joinable => {}
            ChannelEligibility::Ineligible(reason) => {
                return Err(CreateLinkError::Provider(
                    reason.into_error(&new.external_channel_id),
                ));
            }
        }
        let now = self.clock.now();
        let link = ChannelLink {
            id: ChannelLinkId::new(),
            connection_id,
            hazel_channel_id: new.hazel_channel_id,
            external_channel_id: new.external_channel_id,
            external_channel_name: new.external_channel_name,
            direction: new.direction.unwrap_or_default(),
            is_active: true,
            settings: LinkSettings::default().patched(new.settings),
            created_at: now,
            updated_at: now,
        };
        let committed = self
            .store
            .commit(vec![Change::InsertChannelLink(link.clone())].into())
            .await
            .map_err(conflict_to(LINK_RULES, CreateLinkError::ChannelLinkExists))?;
        Ok(Mutation {
            data: link,
            transaction_id: committed.transaction_id,
        })
    }

    /// Live links of a connection.
    ///
    /// # Errors
    /// [`ConnectionAccessError::ConnectionNotFound`] for unknown or invisible connections.
    pub async fn list_links(
        &self,
        caller: &Caller,
        connection_id: SyncConnectionId,
        page: &PageRequest,
    ) -> Result<Page<ChannelLink>, ConnectionAccessError> {
        self.visible(caller, connection_id).await?;
        Ok(self.links.list(connection_id, page).await?)
    }

    async fn administered_link(
        &self,
        caller: &Caller,
        id: ChannelLinkId,
    ) -> Result<ChannelLink, LinkAdminError> {
        let link = self
            .links
            .find(id)
            .await?
            .ok_or(LinkAdminError::ChannelLinkNotFound)?;
        self.administered(caller, link.connection_id)
            .await
            .map_err(|e| match e {
                ConnectionAdminError::ConnectionNotFound => LinkAdminError::ChannelLinkNotFound,
                ConnectionAdminError::Forbidden(reason) => LinkAdminError::Forbidden(reason),
                ConnectionAdminError::Unexpected(e) => LinkAdminError::Unexpected(e),
            })?;
        Ok(link)
    }

    /// Changes a link's direction, activity or settings. Only the fields the patch names are
    /// written, so a concurrent change of the others (for example `select_channels` toggling
    /// the activity) is kept; the answer is the link as stored after the write.
    ///
    /// # Errors
    /// [`LinkAdminError::ChannelLinkNotFound`] (also when the link is deleted while this
    /// request is under way) / [`LinkAdminError::Forbidden`].
    pub async fn update_link(
        &self,
        caller: &Caller,
        id: ChannelLinkId,
        patch: LinkPatch,
    ) -> Result<Mutation<ChannelLink>, LinkAdminError> {
        self.administered_link(caller, id).await?;
        let not_found = || LinkAdminError::ChannelLinkNotFound;
        let committed = self
            .store
            .commit(
                Changeset::new().with(
                    Change::PatchChannelLink {
                        id,
                        columns: LinkColumns {
                            direction: patch.direction,
                            is_active: patch.is_active,
                            settings: patch.settings,
                        },
                        updated_at: self.clock.now(),
                    }
                    .expect_one(),
                ),
            )
            .await
            .map_err(gone_unless_applied(0, LinkAdminError::ChannelLinkNotFound))?;
        let link = self.links.find(id).await?.ok_or_else(not_found)?;
        Ok(Mutation {
            data: link,
            transaction_id: committed.transaction_id,
        })
    }

    /// Soft-deletes a link.
    ///
    /// # Errors
    /// [`LinkAdminError::ChannelLinkNotFound`] (also when a concurrent request deletes it first)
    /// / [`LinkAdminError::Forbidden`].
    pub async fn delete_link(
        &self,
        caller: &Caller,
        id: ChannelLinkId,
    ) -> Result<TransactionId, LinkAdminError> {
        self.administered_link(caller, id).await?;
        let committed = self
            .store
            .commit(
                Changeset::new().with(
                    Change::DeleteChannelLink {
                        id,
                        at: self.clock.now(),
                    }
                    .expect_one(),
                ),
            )
            .await
            .map_err(gone_unless_applied(0, LinkAdminError::ChannelLinkNotFound))?;
        Ok(committed.transaction_id)
    }
}

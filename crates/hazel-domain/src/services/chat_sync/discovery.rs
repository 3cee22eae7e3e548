//! Channel discovery: the provider's channels, live, and the selection of those to sync.

use super::*;

impl ChatSyncService {
    async fn discover(
        &self,
        connection: &SyncConnection,
    ) -> Result<(Vec<ExternalChannel>, Vec<ChannelLink>), DiscoveryError> {
        let credentials = self.credentials_of(connection)?;
        let channels = self
            .adapter(connection.provider)?
            .list_channels(&connection.external_workspace_id, &credentials)
            .await
            .map_err(DiscoveryError::Provider)?;
        let links = self.links.list_all(connection.id).await?;
        Ok((channels, links))
    }

    fn mark(channels: Vec<ExternalChannel>, links: &[ChannelLink]) -> Vec<DiscoveredChannel> {
        let synced: BTreeSet<&str> = links
            .iter()
            .filter(|l| l.is_active)
            .map(|l| l.external_channel_id.as_str())
            .collect();
        channels
            .into_iter()
            .map(|channel| DiscoveredChannel {
                sync_enabled: synced.contains(channel.id.as_str()),
                channel,
            })
            .collect()
    }

    /// Joins every channel of `selected` whose listing says the bot is not a member.
    async fn join_unjoined(
        &self,
        connection: &SyncConnection,
        channels: &[ExternalChannel],
        selected: &BTreeSet<&str>,
    ) -> Result<HashSet<ExternalChannelId>, DiscoveryError> {
        let unjoined: Vec<&ExternalChannel> = channels
            .iter()
            .filter(|c| !c.bot_is_member && selected.contains(c.id.as_str()))
            .collect();
        let mut joined = HashSet::new();
        if unjoined.is_empty() {
            return Ok(joined);
        }
        let adapter = self.adapter(connection.provider)?;
        let credentials = self.credentials_of(connection)?;
        for channel in unjoined {
            adapter
                .join_channel(&connection.external_workspace_id, &credentials, &channel.id)
                .await
                .map_err(DiscoveryError::Provider)?;
            joined.insert(channel.id.clone());
        }
        Ok(joined)
    }

    /// The provider's channels, live, marked with whether they are synced.
    ///
    /// # Errors
    /// [`ListExternalChannelsError::ConnectionNotFound`];
    /// [`ListExternalChannelsError::Provider`] when the provider refuses.
    pub async fn list_external_channels(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
    ) -> Result<Vec<DiscoveredChannel>, ListExternalChannelsError> {
        let (view, _) = self.visible(caller, id).await?;
        let (channels, links) = self.discover(&view.connection).await?;
        Ok(Self::mark(channels, &links))
    }

    /// Syncs exactly the selected external channels: creates a Hazel channel and a `both` link
    /// for each newly selected one, reactivates inactive links of selected ones, and deactivates
    /// links of unselected ones, in one transaction.
    ///
    /// # Errors
    /// [`SelectChannelsError::Validation`] on `channelIds` naming a channel the provider does not
    /// list; [`SelectChannelsError::ChannelLinkExists`] when a concurrent selection linked one of
    /// them first; otherwise as [`ChatSyncService::list_external_channels`], and
    /// [`SelectChannelsError::Forbidden`] unless the caller administers the organization.
    pub async fn select_channels(
        &self,
        caller: &Caller,
        id: SyncConnectionId,
        channel_ids: Vec<ExternalChannelId>,
        sync_all: bool,
    ) -> Result<Mutation<Vec<DiscoveredChannel>>, SelectChannelsError> {
        let connection = self.administered(caller, id).await?.connection;
        let (mut channels, links) = self.discover(&connection).await?;
        // Providers page their lists, and pages can overlap while channels are created: a
        // channel listed twice must be linked once, not inserted twice (which would conflict).
        let mut seen = HashSet::new();
        channels.retain(|c| seen.insert(c.id.clone()));
        let by_id: HashMap<&str, &ExternalChannel> =
            channels.iter().map(|c| (c.id.as_str(), c)).collect();
        if let Some(unknown) = channel_ids.iter().find(|c| !by_id.contains_key(c.as_str())) {
            return Err(ValidationError::new(
                "channelIds",
                format!(
                    "{} is not a channel of this workspace that the bot can see",
                    unknown.as_str()
                ),
            )
            .into());
        }
        let selected: BTreeSet<&str> = if sync_all {
            by_id.keys().copied().collect()
        } else {
            channel_ids.iter().map(ExternalChannelId::as_str).collect()
        };
        // A public channel the bot has not joined sends no events: join each selected one
        // now, before anything is stored, so a refusal leaves the selection unchanged. The
        // listing already says who is a member, so the workspace is not listed again.
        let joined = self
            .join_unjoined(&connection, &channels, &selected)
            .await?;
        let now = self.clock.now();
        let mut changes = Vec::new();
        for link in &links {
            let wanted = selected.contains(link.external_channel_id.as_str());
            if wanted != link.is_active {
                // Only the flag: a concurrent `update_link` of direction or settings stays.
                changes.push(Change::PatchChannelLink {
                    id: link.id,
                    columns: LinkColumns {
                        is_active: Some(wanted),
                        ..LinkColumns::default()
                    },
                    updated_at: now,
                });
            }
        }
        let linked: BTreeSet<&str> = links
            .iter()
            .map(|l| l.external_channel_id.as_str())
            .collect();
        for external in channels
            .iter()
            .filter(|c| selected.contains(c.id.as_str()) && !linked.contains(c.id.as_str()))
        {
            let channel = Channel {
                id: ChannelId::new(),
                organization_id: connection.organization_id,
                name: Name::parse("name", &external.name)
                    .or_else(|_| Name::parse("name", external.id.as_str()))
                    .map_err(SelectChannelsError::Validation)?,
                kind: if external.is_private {
                    ChannelKind::Private
                } else {
                    ChannelKind::Public
                },
                created_at: now,
            };
            let link = ChannelLink {
                id: ChannelLinkId::new(),
                connection_id: connection.id,
                hazel_channel_id: channel.id,
                external_channel_id: external.id.clone(),
                external_channel_name: Name::parse("externalChannelName", &external.name).ok(),
                direction: Direction::Both,
                is_active: true,
                settings: LinkSettings::default(),
                created_at: now,
                updated_at: now,
            };
            changes.push(Change::InsertChannel(channel));
            changes.push(Change::InsertChannelLink(link));
        }
        // Hazel channel names are not unique (the API lets two channels share a name), so the
        // names derived here cannot conflict. A link conflict means a concurrent selection
        // linked the same external channel first; any other conflict is unexpected.
        let committed = self
            .store
            .commit(changes.into())
            .await
            .map_err(conflict_to(
                LINK_RULES,
                SelectChannelsError::ChannelLinkExists,
            ))?;
        for channel in &mut channels {
            channel.bot_is_member |= joined.contains(&channel.id);
        }
        let links = self.links.list_all(connection.id).await?;
        Ok(Mutation {
            data: Self::mark(channels, &links),
            transaction_id: committed.transaction_id,
        })
    }
}

//! Notifications.

use async_trait::async_trait;
use hazel_domain::ids::NotificationId;
use hazel_domain::model::notification::Notification;
use hazel_domain::model::page::{Page, PageRequest};
use hazel_domain::ports::{NotificationFilter, NotificationRepository, RepoError};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use std::sync::Arc;

use super::{convert, convert_opt};
use crate::Database;
use crate::cache::first_page_key;
use crate::entity::notifications;
use crate::error::ReadResultExt as _;
use crate::page::{Order, page_of, to_page};

#[async_trait]
impl NotificationRepository for Database {
    async fn find(&self, id: NotificationId) -> Result<Option<Notification>, RepoError> {
        let row = notifications::Entity::find_by_id(id.to_string())
            .one(self.connection())
            .await
            .read("finding a notification")?;
        convert_opt(row, notifications::Model::into_domain)
    }

    async fn list(
        &self,
        filter: &NotificationFilter,
        page: &PageRequest,
    ) -> Result<Page<Notification>, RepoError> {
        if filter.member_ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        let read = async {
            let member_ids = filter.member_ids.iter().map(ToString::to_string);
            let mut select = notifications::Entity::find()
                .filter(notifications::Column::MemberId.is_in(member_ids));
            if filter.unread_only {
                select = select.filter(notifications::Column::ReadAt.is_null());
            }
            let rows = page_of(select, notifications::Column::Id, Order::NewestFirst, page)
                .all(self.connection())
                .await
                .read("listing notifications")?;
            let notifications = convert(rows, notifications::Model::into_domain)?;
            Ok::<_, RepoError>(Arc::new(to_page(notifications, page, |n| n.id.to_string())))
        };
        // A member's first page (the list clients poll) may be answered from memory.
        let listed = match first_page_key(filter, page) {
            Some(key) => {
                self.reads()
                    .notifications
                    .read_through(key, |_| true, read)
                    .await?
            }
            None => read.await?,
        };
        Ok(Arc::unwrap_or_clone(listed))
    }
}

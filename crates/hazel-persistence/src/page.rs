//! Cursor pagination over id-ordered lists.

use hazel_domain::model::page::{Page, PageRequest};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter as _, QueryOrder as _, QuerySelect as _, Select,
};

/// The order of a list. Ids are UUID v7 strings, so id order is creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Ascending ids.
    OldestFirst,
    /// Descending ids.
    NewestFirst,
}

/// Restricts `select` to the rows after the cursor, in `order`, fetching one row more than the
/// page holds so that [`Page::from_overfetch`] can tell whether another page exists.
pub(crate) fn page_of<E: EntityTrait>(
    select: Select<E>,
    id: E::Column,
    order: Order,
    page: &PageRequest,
) -> Select<E> {
    let select = match (page.after.as_deref().map(canonical_id), order) {
        (None, _) => select,
        (Some(after), Order::OldestFirst) => select.filter(id.gt(after)),
        (Some(after), Order::NewestFirst) => select.filter(id.lt(after)),
    };
    let select = match order {
        Order::OldestFirst => select.order_by_asc(id),
        Order::NewestFirst => select.order_by_desc(id),
    };
    select.limit(u64::from(page.limit) + 1)
}

/// Builds the page from the over-fetched rows.
pub(crate) fn to_page<T>(
    rows: Vec<T>,
    page: &PageRequest,
    id_of: impl Fn(&T) -> String,
) -> Page<T> {
    Page::from_overfetch(rows, page.limit, id_of)
}

/// The stored form of a cursor id. Cursors hold a UUID in any spelling the UUID parser
/// accepts; ids are stored lowercase and hyphenated, and compared as text.
fn canonical_id(raw: &str) -> String {
    uuid::Uuid::parse_str(raw).map_or_else(|_| raw.to_owned(), |id| id.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_ids_are_compared_in_their_stored_form() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(canonical_id(&id.to_string().to_uppercase()), id.to_string());
        assert_eq!(canonical_id(&id.simple().to_string()), id.to_string());
    }
}

//! Cursor pagination. Lists are ordered by id (UUID v7, so by creation time); the cursor is
//! the last id of the previous page, so pages stay stable while rows are inserted.

use base64::Engine as _;

use crate::error::ValidationError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 200;

/// A request for one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, 1..=200.
    pub limit: u32,
    /// Continue after this id (exclusive), in the list's order.
    pub after: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl PageRequest {
    /// Parses `?limit=` and `?cursor=`.
    ///
    /// # Errors
    /// [`ValidationError`] on `limit` outside 1..=200, or on `cursor` when it is not one this
    /// service issued.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, ValidationError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(l) if (1..=i64::from(MAX_LIMIT)).contains(&l) => u32::try_from(l)
                .map_err(|_| ValidationError::new("limit", "must be between 1 and 200"))?,
            Some(_) => return Err(ValidationError::new("limit", "must be between 1 and 200")),
        };
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(Self { limit, after })
    }
}

/// The shape of every cursor, as a regular expression: the 16 bytes of an id in unpadded
/// base64url (22 characters; the last one carries only 2 bits, so it is one of `AQgw`). Every
/// string of this shape is a cursor, so the API can document the rule exactly.
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{21}[AQgw]$";

fn decode_cursor(cursor: &str) -> Result<String, ValidationError> {
    let invalid = || {
        ValidationError::new(
            "cursor",
            "must be a cursor: 22 characters of unpadded base64url",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let id = uuid::Uuid::from_slice(&bytes).map_err(|_| invalid())?;
    Ok(id.hyphenated().to_string())
}

/// Encodes the id a next page starts after. Ids are UUIDs; text that is not one (never
/// produced by the stores) is encoded as the nil id, which starts a list from its beginning.
#[must_use]
pub fn encode_cursor(last_id: &str) -> String {
    let id = uuid::Uuid::parse_str(last_id).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells that another
    /// page exists.
    #[must_use]
    pub fn from_overfetch(mut rows: Vec<T>, limit: u32, id_of: impl Fn(&T) -> String) -> Self {
        let limit = limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(&id_of(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// Converts the items, keeping the cursor.
    #[must_use]
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageRequest::parse(None, None).map(|p| p.limit), Ok(50));
        assert_eq!(
            PageRequest::parse(Some(200), None).map(|p| p.limit),
            Ok(200)
        );
        for bad in [0, -1, 201] {
            assert_eq!(
                PageRequest::parse(Some(bad), None).unwrap_err().field(),
                "limit"
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = uuid::Uuid::now_v7().to_string();
        let page = PageRequest::parse(None, Some(&encode_cursor(&id))).unwrap();
        assert_eq!(encode_cursor(&id).len(), 22);
        assert_eq!(page.after, Some(id));
        for bad in [
            "%%%",
            "bm90LWEtdXVpZA",
            "",
            "AAAAAAAAAAAAAAAAAAAAAB",
            "AAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(
                PageRequest::parse(None, Some(bad)).unwrap_err().field(),
                "cursor"
            );
        }
    }

    #[test]
    fn every_string_of_the_documented_shape_is_a_cursor() {
        let pattern = regex_lite_shape;
        for cursor in [
            "AAAAAAAAAAAAAAAAAAAAAA",
            "__________________-_-w",
            "abcdefghijklmnopqrstuQ",
        ] {
            assert!(pattern(cursor), "{cursor}");
            assert!(PageRequest::parse(None, Some(cursor)).is_ok(), "{cursor}");
        }
    }

    /// [`CURSOR_PATTERN`], spelled out.
    fn regex_lite_shape(cursor: &str) -> bool {
        let chars: Vec<char> = cursor.chars().collect();
        chars.len() == 22
            && chars[..21]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            && "AQgw".contains(chars[21])
    }

    #[test]
    fn overfetch_yields_a_cursor_only_when_more_rows_exist() {
        let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let page = Page::from_overfetch(ids.clone(), 2, Clone::clone);
        assert_eq!(page.items, ids[..2]);
        assert_eq!(page.next_cursor, Some(encode_cursor(&ids[1])));
        let last = Page::from_overfetch(vec!["a", "b"], 2, |s| (*s).to_owned());
        assert_eq!(last.next_cursor, None);
    }
}

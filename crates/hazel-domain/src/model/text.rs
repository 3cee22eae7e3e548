//! Text value objects that parse once and are valid from then on.

use crate::error::ValidationError;

fn bounded(field: &str, raw: &str, max_chars: usize) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(ValidationError::new(
            field,
            "must not contain bidirectional override characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Whether `c` is a bidirectional embedding, override or isolate (U+202A–U+202E,
/// U+2066–U+2069): in a name, such a character can make text display in an order other than
/// the one it is stored in.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Parses and trims `raw`; `field` names the input in the error.
            ///
            /// # Errors
            /// [`ValidationError`] when empty, too long, or containing control characters or
            /// bidirectional override characters.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
                bounded(field, raw, $max).map(Self)
            }

            /// The value.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A display name of a person, organization, channel or connection.
    Name,
    200
);

/// An organization slug: lowercase letters, digits and single hyphens, 2–64 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Parses a slug given by a client.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` when the slug has characters other than `a-z`, `0-9`, `-`,
    /// starts or ends with `-`, or is not 2–64 characters long.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let ok_chars = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(2..=64).contains(&raw.len())
            || !ok_chars
            || raw.starts_with('-')
            || raw.ends_with('-')
            || raw.contains("--")
        {
            return Err(ValidationError::new(
                field,
                "must be 2-64 characters of a-z, 0-9 and single hyphens, not starting or ending with a hyphen",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Derives a slug from a name ("Acme Corp!" → "acme-corp"), with a suffix to keep it unique.
    #[must_use]
    pub fn derive(name: &Name, suffix: &str) -> Self {
        let mut slug = String::new();
        for c in name.as_str().chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let mut slug: String = slug.trim_end_matches('-').chars().take(48).collect();
        if slug.len() < 2 {
            slug = "org".to_owned();
        }
        slug = slug.trim_end_matches('-').to_owned();
        slug.push('-');
        slug.push_str(suffix);
        Self(slug)
    }

    /// The value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, lowercased. Only the shape is checked (`local@domain.tld`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses an email address.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` when the address is not of the form `local@domain.tld`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim().to_lowercase();
        let valid = value.chars().count() <= 254
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && domain.contains('.')
                    && !domain.contains('@')
            });
        if valid {
            Ok(Self(value))
        } else {
            Err(ValidationError::new(field, "must be an email address"))
        }
    }

    /// The value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An http(s) URL, as given (attachments, avatars).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url(String);

impl Url {
    /// Parses an absolute `http://` or `https://` URL of at most 2048 characters.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` otherwise.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"));
        match rest {
            Some(rest)
                if !rest.is_empty()
                    && raw.chars().count() <= 2048
                    && !raw.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Ok(Self(raw.to_owned()))
            }
            _ => Err(ValidationError::new(
                field,
                "must be an absolute http(s) URL",
            )),
        }
    }

    /// The value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-form opaque text with a length limit (external ids, resource types, error codes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opaque(String);

impl Opaque {
    /// Parses a non-empty string of at most `max` characters without whitespace at the ends
    /// or control characters.
    ///
    /// # Errors
    /// [`ValidationError`] on `field` otherwise.
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if raw.chars().count() > max {
            return Err(ValidationError::new(
                field,
                format!("must be at most {max} characters"),
            ));
        }
        if raw.trim() != raw || raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters or surrounding whitespace",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("name", "  Ada ").map(|n| n.0),
            Ok("Ada".to_owned())
        );
        for bad in ["", "   ", "a\u{0}b", "a\u{202E}b", "\u{2066}x", "x\u{2069}"] {
            assert_eq!(
                Name::parse("name", bad).unwrap_err().field(),
                "name",
                "{bad:?}"
            );
        }
        assert!(Name::parse("name", &"x".repeat(201)).is_err());
        assert!(Name::parse("name", &"x".repeat(200)).is_ok());
    }

    #[test]
    fn slugs_accept_only_the_documented_shape() {
        for good in ["acme", "acme-corp", "a1"] {
            assert!(Slug::parse("slug", good).is_ok(), "{good}");
        }
        for bad in ["A", "-acme", "acme-", "ac--me", "ac me", "x", "é-x"] {
            assert!(Slug::parse("slug", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_slugs_are_valid_slugs() {
        for name in ["Acme Corp!", "  ", "Ünïcode Ørg", "a"] {
            let Ok(name) = Name::parse("n", name) else {
                continue;
            };
            let slug = Slug::derive(&name, "1a2b");
            assert!(
                Slug::parse("slug", slug.as_str()).is_ok(),
                "{}",
                slug.as_str()
            );
        }
    }

    #[test]
    fn emails_are_lowercased_and_shape_checked() {
        assert_eq!(
            Email::parse("email", "Ada@Example.COM").map(|e| e.0),
            Ok("ada@example.com".into())
        );
        for bad in ["ada", "ada@", "@x.io", "ada@x", "a b@x.io", "a@x.io."] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(Url::parse("url", "https://x.io/a.png").is_ok());
        for bad in ["ftp://x", "x.io", "https://", "https://a b"] {
            assert!(Url::parse("url", bad).is_err(), "{bad}");
        }
    }
}

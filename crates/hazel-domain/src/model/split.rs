//! Splitting a message that is longer than a destination allows into parts, at paragraph, then
//! line, then word boundaries. A code block cut in two is closed at the end of one part and
//! reopened (with its language) at the start of the next, so every part renders on its own.
//! Nothing is ever dropped for its length.

/// The shortest limit fences are handled at; below it parts are cut without them.
const MIN_FENCED_LIMIT: usize = 16;

/// What closes an open code block at the end of a part.
const CLOSE_FENCE: &str = "\n```";

/// Splits `text` into parts of at most `limit` characters (Unicode scalar values), in order.
/// A text that fits is answered as one part; an empty text as one empty part. A `limit` of 0
/// is treated as 1.
#[must_use]
pub fn split_message(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    if text.chars().count() <= limit {
        return vec![text.to_owned()];
    }
    let fenced = limit >= MIN_FENCED_LIMIT;
    let mut parts = Vec::new();
    let mut rest = text;
    let mut reopen = String::new();
    loop {
        let prefix_len = reopen.chars().count();
        if prefix_len + rest.chars().count() <= limit {
            parts.push(format!("{reopen}{rest}"));
            break;
        }
        // Room is kept for the closing fence, which a part may need.
        let reserve = if fenced { CLOSE_FENCE.len() } else { 0 };
        let budget = limit.saturating_sub(prefix_len + reserve).max(1);
        let (cut, skip) = cut_point(rest, budget);
        let mut part = format!("{reopen}{}", &rest[..cut]);
        rest = &rest[cut + skip..];
        reopen.clear();
        if fenced && let Some(language) = open_fence(&part) {
            part.push_str(CLOSE_FENCE);
            // A language too long to repeat within the limit is left out of the reopening
            // fence rather than leaving no room for the text.
            let language = if language.chars().count() <= limit / 4 {
                language
            } else {
                String::new()
            };
            reopen = format!("```{language}\n");
        }
        parts.push(part);
        if rest.is_empty() {
            break;
        }
    }
    parts
}

/// Where to cut `text` so that the part holds at most `budget` characters: the byte index of
/// the cut and how many separator bytes after it are dropped. Prefers the last paragraph
/// break, then line break, then space, else cuts at the budget.
fn cut_point(text: &str, budget: usize) -> (usize, usize) {
    let window_end = text
        .char_indices()
        .nth(budget)
        .map_or(text.len(), |(index, _)| index);
    let window = &text[..window_end];
    for separator in ["\n\n", "\n", " "] {
        if let Some(index) = window.rfind(separator)
            && index > 0
        {
            return (index, separator.len());
        }
    }
    (window_end, 0)
}

/// The language of the code block still open at the end of `part`, if one is (`""` for a
/// block without a language).
fn open_fence(part: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for line in part.lines() {
        let trimmed = line.trim_start();
        if let Some(after) = trimmed.strip_prefix("```") {
            open = match open {
                Some(_) => None,
                None => Some(after.split_whitespace().next().unwrap_or("").to_owned()),
            };
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng as _, SeedableRng as _};

    use super::*;

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    /// Every part fits, and every part but the last closes the code blocks it opens (the
    /// last leaves open what the input itself leaves open).
    fn check_shape(text: &str, limit: usize) -> Vec<String> {
        let parts = split_message(text, limit);
        assert!(!parts.is_empty());
        for (index, part) in parts.iter().enumerate() {
            assert!(chars(part) <= limit, "{} > {limit}: {part:?}", chars(part));
            if limit >= MIN_FENCED_LIMIT && index + 1 < parts.len() {
                assert_eq!(open_fence(part), None, "unbalanced fence in {part:?}");
            }
        }
        parts
    }

    /// [`check_shape`], and (for text without fences) nothing but whitespace at the cuts is
    /// lost: a hard cut splits one word in two, and joining the pieces gives it back.
    fn check(text: &str, limit: usize) -> Vec<String> {
        let parts = check_shape(text, limit);
        if !text.contains('`') {
            let rejoined: String = parts.iter().flat_map(|p| p.split_whitespace()).collect();
            let original: String = text.split_whitespace().collect();
            assert_eq!(rejoined, original);
        }
        parts
    }

    #[test]
    fn a_text_that_fits_is_one_part() {
        assert_eq!(split_message("hello", 5), vec!["hello"]);
        assert_eq!(split_message("", 10), vec![""]);
    }

    #[test]
    fn boundaries_are_preferred_in_order() {
        let table: [(&str, usize, &[&str]); 4] = [
            ("aaaa\n\nbbbb\ncccc", 12, &["aaaa", "bbbb\ncccc"]),
            ("aaaa bbbb\ncccc dddd", 12, &["aaaa bbbb", "cccc dddd"]),
            ("aaaa bbbb cccc", 10, &["aaaa bbbb", "cccc"]),
            ("abcdefghij", 4, &["abcd", "efgh", "ij"]),
        ];
        for (text, limit, expected) in table {
            assert_eq!(split_message(text, limit), expected, "{text:?} at {limit}");
        }
    }

    #[test]
    fn a_cut_code_block_is_closed_and_reopened_with_its_language() {
        let body: String = (0..30).map(|i| format!("let x{i} = {i};\n")).collect();
        let text = format!("intro\n\n```rust\n{body}```\nend");
        let parts = check(&text, 120);
        assert!(parts.len() >= 3, "{parts:#?}");
        let reopened = parts
            .windows(2)
            .filter(|w| w[0].ends_with("\n```") && w[1].starts_with("```rust\n"))
            .count();
        assert!(reopened >= 1, "{parts:#?}");
        assert_eq!(open_fence(parts.last().unwrap()), None);
    }

    #[test]
    fn five_thousand_characters_at_two_thousand_make_three_parts() {
        let text: String = (0..1000).map(|i| format!("w{:03} ", i % 1000)).collect();
        let text = text.trim_end();
        assert_eq!(chars(text), 4999);
        let parts = check(text, 2000);
        assert_eq!(parts.len(), 3);
    }

    #[test]
    fn multibyte_text_is_cut_at_characters_not_bytes() {
        let text = "é".repeat(25);
        let parts = check(&text, 10);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
    }

    fn random_text(rng: &mut StdRng, atoms: &[&str]) -> String {
        let len = rng.random_range(0..400);
        (0..len)
            .map(|_| atoms[rng.random_range(0..atoms.len())])
            .collect()
    }

    #[test]
    fn random_texts_lose_nothing_and_fit() {
        let mut rng = StdRng::seed_from_u64(7);
        let atoms = ["word", "é", "🦀", " ", " ", "\n", "\n\n", "longerword"];
        for _ in 0..300 {
            let text = random_text(&mut rng, &atoms);
            check(&text, rng.random_range(1..120));
        }
    }

    #[test]
    fn random_texts_with_code_blocks_fit_and_balance() {
        let mut rng = StdRng::seed_from_u64(11);
        let atoms = [
            "word",
            "🦀",
            " ",
            "\n",
            "\n\n",
            "\n```\n",
            "\n```js\n",
            "x```",
        ];
        for _ in 0..300 {
            let text = random_text(&mut rng, &atoms);
            check_shape(&text, rng.random_range(16..160));
        }
    }
}

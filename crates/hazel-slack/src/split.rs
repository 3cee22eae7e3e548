//! Splitting a text longer than Slack allows into parts.
//!
//! A cut is made at the last paragraph break (`\n\n`) that keeps the part within the limit,
//! else the last line break, else the last space, else at a character boundary. A code block
//! (```` ``` ````) cut in two is closed at the end of its part and reopened at the start of
//! the next, so both parts still show code. Nothing is ever dropped.

/// The most characters one Slack message's `text` may have.
pub const SLACK_MAX_CHARS: usize = 40_000;

/// What closes a code block cut at the end of a part, and reopens it in the next.
const FENCE: &str = "```";

/// `text` in parts of at most `limit` characters (fences added by a cut included). A text
/// within the limit is one part; an empty text is one empty part.
#[must_use]
pub fn split(text: &str, limit: usize) -> Vec<String> {
    // Room for a closing fence (with its line break) and a reopening one.
    let limit = limit.max((FENCE.len() + 1) * 2 + 1);
    let mut parts = Vec::new();
    let mut rest = text.to_owned();
    loop {
        if rest.chars().count() <= limit {
            parts.push(rest);
            return parts;
        }
        // Room for the closing fence a cut inside a code block adds.
        let room = if rest.contains(FENCE) {
            FENCE.len() + 1
        } else {
            0
        };
        let budget = limit - room;
        let cut = cut_at(&rest, budget);
        let (head, tail) = rest.split_at(cut);
        let mut head = head.to_owned();
        let mut tail = tail.to_owned();
        if head.matches(FENCE).count() % 2 == 1 {
            // The cut is inside a code block: close it here and reopen it in the next part.
            if !head.ends_with('\n') {
                head.push('\n');
            }
            head.push_str(FENCE);
            tail = format!("{FENCE}\n{tail}");
        }
        parts.push(head);
        rest = tail;
    }
}

/// The byte offset at which to cut `text` so that the head has at most `budget` characters,
/// preferring a paragraph break, then a line break, then a space. A separator stays at the
/// end of the head, so joining the parts gives the text back (when no fence was added).
fn cut_at(text: &str, budget: usize) -> usize {
    let hard = text
        .char_indices()
        .nth(budget)
        .map_or(text.len(), |(at, _)| at);
    let window = &text[..hard];
    for separator in ["\n\n", "\n", " "] {
        if let Some(at) = window.rfind(separator).filter(|at| *at > 0) {
            return at + separator.len();
        }
    }
    hard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_one_part() {
        assert_eq!(split("hello", 100), vec!["hello"]);
        assert_eq!(split("", 100), vec![""]);
    }

    #[test]
    fn cuts_prefer_paragraphs_then_lines_then_words() {
        let table = [
            (
                "aaaa bbbb\n\ncccc dddd",
                14,
                vec!["aaaa bbbb\n\n", "cccc dddd"],
            ),
            ("aaaa bbbb\ncccc dddd", 14, vec!["aaaa bbbb\n", "cccc dddd"]),
            ("aaaa bbbb cccc dddd", 14, vec!["aaaa bbbb ", "cccc dddd"]),
            ("abcdefghijklmnopqrst", 14, vec!["abcdefghijklmn", "opqrst"]),
        ];
        for (text, limit, parts) in table {
            let got = split(text, limit);
            assert_eq!(got, parts, "{text:?}");
            assert_eq!(got.concat(), text);
            assert!(got.iter().all(|p| p.chars().count() <= limit));
        }
    }

    #[test]
    fn a_code_block_cut_in_two_is_closed_and_reopened() {
        let text = format!("intro\n```\n{}\n```", "line\n".repeat(10));
        let parts = split(&text, 30);
        assert!(parts.len() > 1);
        for part in &parts {
            assert_eq!(part.matches("```").count() % 2, 0, "{part:?}");
            assert!(part.chars().count() <= 30, "{part:?}");
        }
        let lines: usize = parts.iter().map(|p| p.matches("line").count()).sum();
        assert_eq!(lines, 10);
    }

    #[test]
    fn slack_sized_texts_split_into_few_parts_without_loss() {
        let text = "word ".repeat(20_000);
        let parts = split(&text, SLACK_MAX_CHARS);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
        let multibyte = "é".repeat(SLACK_MAX_CHARS + 5);
        let parts = split(&multibyte, SLACK_MAX_CHARS);
        assert_eq!(parts.concat(), multibyte);
    }
}

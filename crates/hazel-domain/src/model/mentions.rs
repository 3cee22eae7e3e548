//! Who a text mentions, read the way a reader sees the text.
//!
//! Hazel Markdown is CommonMark (with `~~strikethrough~~`). A mention counts only where it is
//! prose: text inside code spans, fenced and indented code blocks, raw HTML, image
//! descriptions, link destinations and autolinks (`<https://…>`), and bare URLs written in
//! the text (`https://example.com/@channel/page`) mentions no one. Link text is prose, so
//! `[@here](https://…)` mentions. A backslash before the `@` (`\@here`) writes the mention
//! literally. The same rule holds for every form: `@[member:<id>]`, `@channel`, `@here`.
//!
//! The rule is a pure function of the text, so every producer of messages (the HTTP API, and
//! synced messages) reads mentions the same way.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};
use regex::Regex;

use crate::ids::MemberId;

static MEMBER_MENTION: LazyLock<Regex> = LazyLock::new(|| {
    #[expect(clippy::expect_used, reason = "a constant pattern, covered by tests")]
    Regex::new(r"@\[member:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\]")
        .expect("valid regex")
});
static BROADCAST_MENTION: LazyLock<Regex> = LazyLock::new(|| {
    #[expect(clippy::expect_used, reason = "a constant pattern, covered by tests")]
    Regex::new(r"(?:^|[^\w@])(@(?:channel|here))\b").expect("valid regex")
});

/// Stands for what is not prose (code, HTML, URLs) in the prose text: it separates the words
/// around it and can be part of no mention.
const HIDDEN: char = '\u{1}';

/// Who a text mentions: `@[member:<id>]`, `@channel`, `@here`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Members mentioned by id.
    pub members: BTreeSet<MemberId>,
    /// Whether `@channel` or `@here` appears.
    pub broadcast: bool,
}

impl Mentions {
    /// Finds the mentions in Hazel Markdown text (see the module documentation for what
    /// counts).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let prose = prose(text);
        let members = MEMBER_MENTION
            .captures_iter(&prose)
            .filter_map(|c| c.get(0).zip(c.get(1)))
            .filter(|(whole, _)| !inside_url(&prose, whole.start()))
            .filter_map(|(_, id)| MemberId::parse("mention", id.as_str()).ok())
            .collect();
        let broadcast = BROADCAST_MENTION
            .captures_iter(&prose)
            .filter_map(|c| c.get(1))
            .any(|at| !inside_url(&prose, at.start()));
        Self { members, broadcast }
    }

    /// What `after` mentions that `before` did not: the members it adds, and a broadcast only
    /// when `before` had none. An edit notifies exactly these, whatever became of the
    /// notifications of the text before it.
    #[must_use]
    pub fn newly_added(before: &Self, after: &Self) -> Self {
        Self {
            members: after.members.difference(&before.members).copied().collect(),
            broadcast: after.broadcast && !before.broadcast,
        }
    }

    /// Whether nothing is mentioned.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && !self.broadcast
    }
}

/// The prose of a CommonMark text: its text as a reader sees it, with everything that is not
/// prose replaced by [`HIDDEN`], and blocks separated by line breaks.
fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // One entry per open element: whether its text is prose. Every start event has its end
    // event, so the stack follows the nesting (a link inside an image stays hidden).
    let mut open: Vec<bool> = Vec::new();
    let mut hidden = 0_usize;
    let parser = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH).into_offset_iter();
    for (event, range) in parser {
        match event {
            Event::Start(tag) => {
                let hides = matches!(
                    tag,
                    Tag::CodeBlock(_)
                        | Tag::Image { .. }
                        | Tag::HtmlBlock
                        | Tag::Link {
                            link_type: LinkType::Autolink | LinkType::Email,
                            ..
                        }
                );
                open.push(hides);
                if hides {
                    hidden += 1;
                    out.push(HIDDEN);
                }
            }
            Event::End(tag) => {
                if open.pop() == Some(true) {
                    hidden -= 1;
                    out.push(HIDDEN);
                }
                if matches!(
                    tag,
                    TagEnd::Paragraph
                        | TagEnd::Heading(_)
                        | TagEnd::Item
                        | TagEnd::TableCell
                        | TagEnd::BlockQuote(_)
                ) {
                    out.push('\n');
                }
            }
            Event::Text(t) if hidden == 0 => {
                // An escaped character starts a text event of its own, just after the
                // backslash: `\@here` is written literally.
                let escaped =
                    range.start > 0 && text.as_bytes().get(range.start - 1) == Some(&b'\\');
                match t.strip_prefix('@') {
                    Some(rest) if escaped => {
                        out.push(HIDDEN);
                        out.push_str(rest);
                    }
                    _ => out.push_str(&t),
                }
            }
            Event::Code(_)
            | Event::InlineHtml(_)
            | Event::Html(_)
            | Event::InlineMath(_)
            | Event::DisplayMath(_) => out.push(HIDDEN),
            Event::SoftBreak | Event::HardBreak | Event::Rule => out.push('\n'),
            _ => {}
        }
    }
    out
}

/// Whether the mention starting at byte `at` of `prose` is part of a bare URL
/// (`https://example.com/@channel/page`, `www.example.com/@here`).
fn inside_url(prose: &str, at: usize) -> bool {
    let before = &prose[..at];
    let word_start = before
        .rfind(|c: char| c.is_whitespace() || c == HIDDEN)
        .map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
    let word = &before[word_start..];
    word.contains("://") || word.to_ascii_lowercase().starts_with("www.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0190a1b2-0000-7000-8000-00000000000a";

    fn member_a() -> MemberId {
        MemberId::parse("id", A).unwrap()
    }

    #[test]
    fn finds_member_and_broadcast_mentions() {
        let a = MemberId::new();
        let b = MemberId::new();
        let text = format!("hi @[member:{a}] and @[member:{b}], also @[member:{a}] @here");
        let mentions = Mentions::parse(&text);
        assert_eq!(mentions.members, BTreeSet::from([a, b]));
        assert!(mentions.broadcast);
    }

    #[test]
    fn broadcast_needs_a_word_boundary() {
        for text in [
            "mail me@channel.io",
            "@channelfoo",
            "@heresy",
            "no mention",
            "@here_x",
        ] {
            assert!(!Mentions::parse(text).broadcast, "{text}");
        }
        for text in ["@channel", "ping @here!", "(@channel)", "@here."] {
            assert!(Mentions::parse(text).broadcast, "{text}");
        }
    }

    #[test]
    fn malformed_member_mentions_are_ignored() {
        assert!(
            Mentions::parse("@[member:not-a-uuid] @[member:]")
                .members
                .is_empty()
        );
    }

    /// `(text, mentions member A, broadcasts)`.
    fn table() -> Vec<(String, bool, bool)> {
        let m = format!("@[member:{A}]");
        vec![
            // Plain prose.
            (format!("lunch? {m}"), true, false),
            ("lunch? @here".into(), false, true),
            // Code spans.
            (
                "to ping everyone, type `@here` in a message".into(),
                false,
                false,
            ),
            (format!("write `{m}` to mention"), false, false),
            ("``@channel``".into(), false, false),
            ("`code` then @here".into(), false, true),
            // Fenced and indented code blocks.
            ("```\n@here\n```".into(), false, false),
            (format!("~~~text\n{m}\n~~~\nafter"), false, false),
            ("    @channel in code\n\nprose".into(), false, false),
            ("```\ncode\n```\n@here".into(), false, true),
            // Bare URLs in the text.
            ("see https://example.com/@channel/page".into(), false, false),
            (format!("see https://example.com/{m}"), false, false),
            ("see www.example.com/@here".into(), false, false),
            ("see https://example.com/ @here".into(), false, true),
            // Link destinations and link text.
            (
                "[the page](https://example.com/@channel)".into(),
                false,
                false,
            ),
            (format!("[docs](https://example.com/{m})"), false, false),
            ("[@here](https://example.com/)".into(), false, true),
            (format!("[hi {m}](https://example.com/)"), true, false),
            // Autolinks.
            ("<https://example.com/@here>".into(), false, false),
            ("<https://example.com/@here> @channel".into(), false, true),
            // Images: the description is not prose, not even a link inside it.
            ("![@here](https://example.com/a.png)".into(), false, false),
            (
                "![[a](https://x.io) @here](https://example.com/a.png)".into(),
                false,
                false,
            ),
            ("![a](https://example.com/a.png) @here".into(), false, true),
            // Raw HTML.
            ("<a title=\"@here\">x</a>".into(), false, false),
            ("<div>\n@channel\n</div>".into(), false, false),
            // Emphasis around a mention.
            ("*@here*".into(), false, true),
            ("**@channel**".into(), false, true),
            (format!("_{m}_"), true, false),
            (format!("~~{m}~~ ok"), true, false),
            // Headings, quotes, lists.
            ("# @here".into(), false, true),
            (format!("> {m}"), true, false),
            ("- item\n- @channel".into(), false, true),
            // Escaped characters.
            ("\\@here".into(), false, false),
            (format!("\\{m}"), false, false),
            ("@here\\!".into(), false, true),
            ("\\*@here\\*".into(), false, true),
            (format!("@\\[member:{A}\\]"), true, false),
            // Words that only contain the mention.
            ("me@channel.io".into(), false, false),
            (format!("x{m}"), true, false),
        ]
    }

    #[test]
    fn mentions_count_only_in_prose() {
        for (text, member, broadcast) in table() {
            let mentions = Mentions::parse(&text);
            assert_eq!(mentions.members.contains(&member_a()), member, "{text:?}");
            assert_eq!(mentions.broadcast, broadcast, "{text:?}");
        }
    }

    #[test]
    fn an_edit_adds_only_what_the_text_before_lacked() {
        let a = member_a();
        let b = MemberId::new();
        let before = Mentions::parse(&format!("@[member:{a}] lunch? @here"));
        let after = Mentions::parse(&format!(
            "@[member:{a}] @[member:{b}] lunch at 12? @channel"
        ));
        let added = Mentions::newly_added(&before, &after);
        assert_eq!(added.members, BTreeSet::from([b]));
        assert!(
            !added.broadcast,
            "a broadcast kept across the edit is not new"
        );
        let added = Mentions::newly_added(&Mentions::parse("lunch?"), &after);
        assert_eq!(added.members, BTreeSet::from([a, b]));
        assert!(added.broadcast);
        assert!(Mentions::newly_added(&after, &before).is_empty());
        assert!(Mentions::newly_added(&after, &after).is_empty());
    }

    #[test]
    fn a_mention_moved_into_code_is_not_new_and_one_moved_out_is() {
        let m = format!("@[member:{A}]");
        let in_code = Mentions::parse(&format!("`{m}`"));
        let in_prose = Mentions::parse(&m);
        assert!(Mentions::newly_added(&in_prose, &in_code).is_empty());
        assert_eq!(
            Mentions::newly_added(&in_code, &in_prose).members,
            BTreeSet::from([member_a()])
        );
    }
}

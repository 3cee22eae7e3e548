//! Discord Markdown ⇄ Hazel Markdown (CommonMark with `~~strikethrough~~`).
//!
//! Discord's Markdown is CommonMark's inline syntax plus a few tokens of its own, so most text
//! passes through as it is; what differs is converted by two small hand-written scanners
//! (no regular expressions), each walking the text once, recognising a construct where it
//! starts (a code block, a code span, a backslash escape, an angle-bracket token, a mention, a
//! delimiter run with its closing partner on the same line) and copying everything else.
//!
//! | Hazel Markdown | Discord Markdown |
//! |---|---|
//! | `**bold**`, `*italic*`, `_italic_`, `~~strike~~`, `[text](url)`, `<url>`, quotes, lists | the same |
//! | `` `code` ``, fenced code blocks | the same, their contents untouched |
//! | `__bold__` | `**bold**` (Discord reads `__` as underline) |
//! | `<u>underline</u>` | `__underline__` |
//! | `@[member:<id>]` | `<@id>` when the member is mapped, else the display name |
//! | `@channel`, `@here` | `@everyone`, `@here` |
//! | `\@channel` (written literally) | `@channel` arrives as `\@channel` |
//! | the text `@everyone` | `\@everyone` (shown, never a ping) |
//! | the text `<@1>`, `<#1>`, `<:x:1>` | `\<@1>`, … (shown, never a token) |
//! | `#name` | `<#id>` arrives as `#name` (the channel's id when its name is unknown) |
//! | `@role` | `<@&id>` arrives as `@role` |
//! | `:name:` | `<:name:id>` and `<a:name:id>` (custom emoji) arrive as `:name:` |
//!
//! Pings are never left to the text alone: [`to_discord`] answers the
//! [`AllowedMentions`] the message may ping with — the users it maps, and `@everyone`/`@here`
//! only when the Hazel text said `@channel` or `@here` — which the outbound call sends as
//! `allowed_mentions`, so a literal `@everyone` or a user id in the text pings no one.

use hazel_domain::ids::MemberId;
use hazel_domain::model::external::ExternalUserId;
use hazel_domain::model::sync::{ExternalMention, OutboundMention};
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Shared scanning helpers.

/// The character at byte `at` of `text`.
fn char_at(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// The character before byte `at` of `text`.
fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// Whether the text at `at` begins a line.
fn at_line_start(text: &str, at: usize) -> bool {
    at == 0 || text[..at].ends_with('\n')
}

/// The end of a fenced code block opened at `at`: the byte after the closing fence. Hazel
/// fences close on a line of their own; Discord's anywhere.
fn fence_end(text: &str, at: usize, closing_at_line_start: bool) -> Option<usize> {
    let mut search = at + 3;
    loop {
        let found = text[search..].find("```")? + search;
        if !closing_at_line_start || at_line_start(text, found) {
            let mut end = found + 3;
            while text[end..].starts_with('`') {
                end += 1;
            }
            return Some(end);
        }
        search = found + 3;
    }
}

/// The end of a code span whose backtick run starts at `at`: the byte after the matching run.
fn code_span_end(text: &str, at: usize) -> Option<usize> {
    let run = text[at..].bytes().take_while(|b| *b == b'`').count();
    let mut search = at + run;
    loop {
        let found = text[search..].find('`')? + search;
        let len = text[found..].bytes().take_while(|b| *b == b'`').count();
        if len == run {
            return Some(found + len);
        }
        search = found + len;
    }
}

/// Where the closing `delim` of a run opened at `open` starts, on the same line: the
/// closing run follows a non-space and is not part of a longer run. `None` when the opening
/// run is followed by a space or nothing closes it.
fn closing(text: &str, open: usize, delim: &str) -> Option<usize> {
    let inner_start = open + delim.len();
    let first = char_at(text, inner_start)?;
    if first.is_whitespace() || text[inner_start..].starts_with(&delim[..1]) {
        return None;
    }
    let line_end = text[inner_start..]
        .find('\n')
        .map_or(text.len(), |end| inner_start + end);
    let mut search = inner_start + first.len_utf8();
    while search <= line_end {
        let found = text[search..line_end].find(delim)? + search;
        let before = char_before(text, found);
        let longer = text[found + delim.len()..].starts_with(&delim[..1]);
        if before.is_some_and(|c| !c.is_whitespace()) && !longer {
            return Some(found);
        }
        search = found + delim.len();
    }
    None
}

/// A masked link `[text](url)` at byte `at`, as both dialects write it: the
/// end of its text (the `]`) and of its URL (the `)`). The text stays on one line and holds
/// no `[` or `]`; the URL is not empty and holds no whitespace or `)`. The URL is copied as it
/// is, so `__` or `*` inside it never opens emphasis that would close outside the link.
fn link_at(text: &str, at: usize) -> Option<(usize, usize)> {
    if !text[at..].starts_with('[') {
        return None;
    }
    let inner = at + 1;
    let text_end = inner + text[inner..].find([']', '[', '\n'])?;
    if !text[text_end..].starts_with("](") {
        return None;
    }
    let url = text_end + 2;
    let url_end = url + text[url..].find(|c: char| c == ')' || c.is_whitespace())?;
    (url_end > url && text[url_end..].starts_with(')')).then_some((text_end, url_end))
}

/// The end (the `>`) of an autolink `<http://…>` or `<https://…>` at byte `at`, as both
/// dialects write it: copied as it is, like a masked link's URL.
fn autolink_end(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    if !(rest.starts_with("<http://") || rest.starts_with("<https://")) {
        return None;
    }
    let end = at + rest.find(|c: char| c == '>' || c.is_whitespace())?;
    text[end..].starts_with('>').then_some(end)
}

/// A masked link or an autolink at byte `at`, written to `out` with its URL as it is and a
/// masked link's text converted by `inline`; the byte after it. Both scanners take links
/// this way, so the two directions cannot disagree on them.
fn link(
    text: &str,
    at: usize,
    out: &mut String,
    mut inline: impl FnMut(&str, &mut String),
) -> Option<usize> {
    if let Some((text_end, url_end)) = link_at(text, at) {
        out.push('[');
        inline(&text[at + 1..text_end], out);
        out.push_str(&text[text_end..=url_end]);
        return Some(url_end + 1);
    }
    let end = autolink_end(text, at)?;
    out.push_str(&text[at..=end]);
    Some(end + 1)
}

/// Whether `word` (`channel`, `everyone`, …) is written as a broadcast at byte `at` of
/// `text` — `@word` after the text's start or a character that is neither a word character
/// nor `@`, and before a word boundary — as Hazel reads `@channel` and Discord `@everyone`.
fn broadcast_at(text: &str, at: usize, word: &str) -> bool {
    let rest = &text[at..];
    let Some(after) = rest
        .strip_prefix('@')
        .and_then(|rest| rest.strip_prefix(word))
    else {
        return false;
    };
    let before_ok =
        char_before(text, at).is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '@'));
    let after_ok = after
        .chars()
        .next()
        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
    before_ok && after_ok
}

/// A snowflake at the start of `text`: its digits.
fn leading_snowflake(text: &str) -> Option<&str> {
    let len = text.bytes().take_while(u8::is_ascii_digit).count();
    let digits = &text[..len];
    (len > 0 && digits.parse::<u64>().is_ok_and(|n| n.to_string() == digits)).then_some(digits)
}

/// A Discord angle-bracket token at the start of `text` (`<@1>`, `<@!1>`, `<@&1>`, `<#1>`,
/// `<:name:1>`, `<a:name:1>`) and its length.
fn discord_token(text: &str) -> Option<(Token<'_>, usize)> {
    let inner = text.strip_prefix('<')?;
    let (token, rest) = if let Some(rest) = inner.strip_prefix("@&") {
        let id = leading_snowflake(rest)?;
        (Token::Role(id), &rest[id.len()..])
    } else if let Some(rest) = inner.strip_prefix("@!").or_else(|| inner.strip_prefix('@')) {
        let id = leading_snowflake(rest)?;
        (Token::User(id), &rest[id.len()..])
    } else if let Some(rest) = inner.strip_prefix('#') {
        let id = leading_snowflake(rest)?;
        (Token::Channel(id), &rest[id.len()..])
    } else {
        let rest = inner
            .strip_prefix("a:")
            .or_else(|| inner.strip_prefix(':'))?;
        let name_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        let name = &rest[..name_len];
        let after_name = rest[name_len..].strip_prefix(':')?;
        let id = leading_snowflake(after_name)?;
        if name_len < 2 {
            return None;
        }
        (Token::Emoji(name), &after_name[id.len()..])
    };
    rest.starts_with('>')
        .then(|| (token, text.len() - rest.len() + 1))
}

/// One of Discord's angle-bracket tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    User(&'a str),
    Role(&'a str),
    Channel(&'a str),
    Emoji(&'a str),
}

/// Whether `<` at the start of `text` would open a Discord token that pings, links or shows
/// an emoji, so a Hazel text writing one literally must escape it.
fn opens_discord_token(text: &str) -> bool {
    ["<@", "<#", "<:", "<a:"]
        .iter()
        .any(|start| text.starts_with(start))
}

/// Pushes `name` (a display name) so that Markdown shows it as written.
fn push_literal_name(out: &mut String, name: &str) {
    for c in name.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>' | '#' | '@' | ':'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

// ---------------------------------------------------------------------------------------------
// Hazel Markdown → Discord Markdown.

/// Who a Discord message may ping, sent as its `allowed_mentions`: nobody but these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedMentions {
    /// Users the message mentions on purpose (mapped Hazel members), in order, without repeats.
    pub users: Vec<String>,
    /// Whether `@everyone`/`@here` may ping (the Hazel text said `@channel` or `@here`).
    pub everyone: bool,
}

/// `allowed_mentions` as Discord's API takes it.
#[derive(Serialize)]
pub(crate) struct AllowedMentionsBody<'a> {
    parse: Vec<&'static str>,
    users: &'a [String],
    replied_user: bool,
}

impl AllowedMentions {
    /// The JSON object of Discord's API.
    pub(crate) fn body(&self) -> AllowedMentionsBody<'_> {
        AllowedMentionsBody {
            parse: if self.everyone {
                vec!["everyone"]
            } else {
                Vec::new()
            },
            users: &self.users,
            replied_user: false,
        }
    }
}

/// A message's text as Discord takes it, with who it may ping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordText {
    /// The content, in Discord Markdown.
    pub content: String,
    /// Who the content may ping.
    pub allowed_mentions: AllowedMentions,
}

/// Converts Hazel Markdown to Discord Markdown. `mentions` says how each `@[member:<id>]` is
/// rendered: as `<@id>` when it names the member's Discord user, else as the member's display
/// name (a mention of a member it does not list stays as written, which Discord shows as
/// text).
#[must_use]
pub fn to_discord(markdown: &str, mentions: &[OutboundMention]) -> DiscordText {
    let mut scanner = HazelScanner {
        mentions,
        allowed: AllowedMentions::default(),
    };
    let mut content = String::with_capacity(markdown.len() + 16);
    scanner.inline(markdown, &mut content);
    DiscordText {
        content,
        allowed_mentions: scanner.allowed,
    }
}

struct HazelScanner<'a> {
    mentions: &'a [OutboundMention],
    allowed: AllowedMentions,
}

impl HazelScanner<'_> {
    fn inline(&mut self, text: &str, out: &mut String) {
        let mut at = 0;
        while let Some(c) = char_at(text, at) {
            if let Some(next) = self.construct(text, at, out) {
                at = next;
            } else {
                out.push(c);
                at += c.len_utf8();
            }
        }
    }

    fn construct(&mut self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        if let Some(next) = link(text, at, out, |t, o| self.inline(t, o)) {
            return Some(next);
        }
        let rest = &text[at..];
        match rest.as_bytes()[0] {
            b'`' => {
                let end = if rest.starts_with("```") && at_line_start(text, at) {
                    fence_end(text, at, true)?
                } else {
                    code_span_end(text, at)?
                };
                out.push_str(&text[at..end]);
                Some(end)
            }
            b'\\' => {
                if broadcast_at(text, at + 1, "channel") {
                    // Discord reads `@channel` as text: the escape is not needed there.
                    out.push_str("@channel");
                    return Some(at + 1 + "@channel".len());
                }
                let escaped = char_at(text, at + 1).filter(char::is_ascii_punctuation)?;
                out.push('\\');
                out.push(escaped);
                Some(at + 1 + escaped.len_utf8())
            }
            b'_' if rest.starts_with("__") => {
                let close = closing(text, at, "__")?;
                out.push_str("**");
                self.inline(&text[at + 2..close], out);
                out.push_str("**");
                Some(close + 2)
            }
            b'<' if rest.starts_with("<u>") => {
                let inner = at + 3;
                let close = text[inner..].find("</u>")? + inner;
                if close == inner || text[inner..close].contains('\n') {
                    return None;
                }
                out.push_str("__");
                self.inline(&text[inner..close], out);
                out.push_str("__");
                Some(close + 4)
            }
            b'<' if opens_discord_token(rest) => {
                out.push_str("\\<");
                Some(at + 1)
            }
            b'@' => self.at_sign(text, at, out),
            _ => None,
        }
    }

    fn at_sign(&mut self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        let rest = &text[at..];
        if let Some(inner) = rest.strip_prefix("@[member:") {
            let close = inner.find(']')?;
            let member = MemberId::parse("mention", &inner[..close]).ok()?;
            let end = at + "@[member:".len() + close + 1;
            let mention = self.mentions.iter().find(|m| m.member_id == member)?;
            match &mention.external_user_id {
                Some(user) => {
                    out.push_str("<@");
                    out.push_str(user.as_str());
                    out.push('>');
                    if !self.allowed.users.iter().any(|u| u == user.as_str()) {
                        self.allowed.users.push(user.as_str().to_owned());
                    }
                }
                None => {
                    out.push('@');
                    push_literal_name(out, mention.display_name.as_str());
                }
            }
            return Some(end);
        }
        for (hazel, discord) in [("channel", "@everyone"), ("here", "@here")] {
            if broadcast_at(text, at, hazel) {
                out.push_str(discord);
                self.allowed.everyone = true;
                return Some(at + 1 + hazel.len());
            }
        }
        for word in ["everyone", "here"] {
            // Text Discord would read as a ping that Hazel does not: shown, never pinging.
            if broadcast_at(text, at, word) {
                out.push_str("\\@");
                out.push_str(word);
                return Some(at + 1 + word.len());
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Discord Markdown → Hazel Markdown.

/// How a Discord user mentioned in a message appears in Hazel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MentionedUser {
    /// The Hazel member the Discord user is (its shadow member, or the Hazel member a synced
    /// message came from), when known.
    pub member: Option<MemberId>,
    /// The user's display name, when known.
    pub display_name: Option<String>,
}

/// What the conversion may know about the ids a Discord message names. Every method answers
/// `None` by default: the id is then shown as it is.
pub trait DiscordNames {
    /// A mentioned user.
    fn user(&self, _id: &str) -> Option<MentionedUser> {
        None
    }

    /// A mentioned channel's name.
    fn channel(&self, _id: &str) -> Option<String> {
        None
    }

    /// A mentioned role's name.
    fn role(&self, _id: &str) -> Option<String> {
        None
    }
}

/// Knows no names.
impl DiscordNames for () {}

/// Converts Discord Markdown to Hazel Markdown. With `mention_mapping`, a user `names` knows
/// as a member becomes `@[member:<id>]`; otherwise a mention is the plain `@display name`
/// (`@<id>` when the name is unknown too), never a broken token.
#[must_use]
pub fn to_markdown(discord: &str, mention_mapping: bool, names: &dyn DiscordNames) -> String {
    let mut out = String::with_capacity(discord.len() + 16);
    DiscordScanner {
        mention_mapping,
        names,
    }
    .inline(discord, &mut out);
    out
}

struct DiscordScanner<'a> {
    mention_mapping: bool,
    names: &'a dyn DiscordNames,
}

impl DiscordScanner<'_> {
    fn inline(&self, text: &str, out: &mut String) {
        let mut at = 0;
        while let Some(c) = char_at(text, at) {
            if let Some(next) = self.construct(text, at, out) {
                at = next;
            } else {
                out.push(c);
                at += c.len_utf8();
            }
        }
    }

    fn construct(&self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        if let Some(next) = link(text, at, out, |t, o| self.inline(t, o)) {
            return Some(next);
        }
        let rest = &text[at..];
        match rest.as_bytes()[0] {
            b'`' => {
                let end = if rest.starts_with("```") {
                    fence_end(text, at, false)?
                } else {
                    code_span_end(text, at)?
                };
                out.push_str(&text[at..end]);
                Some(end)
            }
            b'\\' => {
                let after = &rest[1..];
                if after.starts_with('<') && opens_discord_token(after) {
                    // Escaped so Discord shows it: in Hazel it is text already.
                    out.push('<');
                    return Some(at + 2);
                }
                for word in ["everyone", "here"] {
                    if after.starts_with('@') && broadcast_at(text, at + 1, word) {
                        if word == "here" {
                            // Hazel reads `@here` as a mention: keep the escape.
                            out.push_str("\\@here");
                        } else {
                            out.push_str("@everyone");
                        }
                        return Some(at + 2 + word.len());
                    }
                }
                let escaped = char_at(text, at + 1).filter(char::is_ascii_punctuation)?;
                out.push('\\');
                out.push(escaped);
                Some(at + 1 + escaped.len_utf8())
            }
            b'_' if rest.starts_with("__") => {
                let close = closing(text, at, "__")?;
                out.push_str("<u>");
                self.inline(&text[at + 2..close], out);
                out.push_str("</u>");
                Some(close + 2)
            }
            b'<' => {
                let (token, len) = discord_token(rest)?;
                self.token(token, out);
                Some(at + len)
            }
            b'@' => {
                if broadcast_at(text, at, "everyone") {
                    out.push_str("@channel");
                    return Some(at + "@everyone".len());
                }
                if broadcast_at(text, at, "here") {
                    out.push_str("@here");
                    return Some(at + "@here".len());
                }
                if broadcast_at(text, at, "channel") {
                    // Text in Discord, a mention in Hazel: written literally.
                    out.push_str("\\@channel");
                    return Some(at + "@channel".len());
                }
                None
            }
            _ => None,
        }
    }

    fn token(&self, token: Token<'_>, out: &mut String) {
        match token {
            Token::User(id) => {
                let user = self.names.user(id);
                if self.mention_mapping
                    && let Some(member) = user.as_ref().and_then(|u| u.member)
                {
                    out.push_str("@[member:");
                    out.push_str(&member.to_hyphenated());
                    out.push(']');
                    return;
                }
                out.push('@');
                match user.and_then(|u| u.display_name) {
                    Some(name) => push_literal_name(out, &name),
                    None => out.push_str(id),
                }
            }
            Token::Role(id) => {
                out.push('@');
                match self.names.role(id) {
                    Some(name) => push_literal_name(out, &name),
                    None => out.push_str("role"),
                }
            }
            Token::Channel(id) => {
                out.push('#');
                match self.names.channel(id) {
                    Some(name) => push_literal_name(out, &name),
                    None => out.push_str(id),
                }
            }
            Token::Emoji(name) => {
                out.push(':');
                out.push_str(name);
                out.push(':');
            }
        }
    }
}

/// Who a Discord message mentions, in order of appearance and without repeats: `<@id>` and
/// `<@!id>` users, `@everyone` and `@here`. Code spans and blocks and escaped text mention
/// no one.
#[must_use]
pub fn mentions(discord: &str) -> Vec<ExternalMention> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(c) = char_at(discord, at) {
        let rest = &discord[at..];
        let mut push = |mention: ExternalMention| {
            if !found.contains(&mention) {
                found.push(mention);
            }
        };
        let skip = match c {
            '`' if rest.starts_with("```") => fence_end(discord, at, false),
            '`' => code_span_end(discord, at),
            '\\' => char_at(discord, at + 1).map(|escaped| at + 1 + escaped.len_utf8()),
            '<' => discord_token(rest).map(|(token, len)| {
                if let Token::User(id) = token
                    && let Ok(user) = ExternalUserId::parse("mention", id)
                {
                    push(ExternalMention::User(user));
                }
                at + len
            }),
            '@' if broadcast_at(discord, at, "everyone") => {
                push(ExternalMention::Channel);
                Some(at + "@everyone".len())
            }
            '@' if broadcast_at(discord, at, "here") => {
                push(ExternalMention::Here);
                Some(at + "@here".len())
            }
            _ => None,
        };
        at = skip.unwrap_or(at + c.len_utf8());
    }
    found
}

#[cfg(test)]
mod tests {
    use hazel_domain::model::text::Name;
    use proptest::prelude::*;

    use super::*;

    const MEMBER: &str = "01890f3e-7b1a-7cc2-9f00-0123456789ab";
    const ALICE: &str = "80351110224678912";

    fn member() -> MemberId {
        MemberId::parse("m", MEMBER).unwrap()
    }

    fn mapped() -> Vec<OutboundMention> {
        vec![OutboundMention {
            member_id: member(),
            external_user_id: Some(ExternalUserId::parse("u", ALICE).unwrap()),
            display_name: Name::parse("n", "Alice").unwrap(),
        }]
    }

    struct Names;

    impl DiscordNames for Names {
        fn user(&self, id: &str) -> Option<MentionedUser> {
            match id {
                ALICE => Some(MentionedUser {
                    member: Some(member()),
                    display_name: Some("Alice".to_owned()),
                }),
                "2" => Some(MentionedUser {
                    member: None,
                    display_name: Some("bob_*".to_owned()),
                }),
                _ => None,
            }
        }

        fn channel(&self, id: &str) -> Option<String> {
            (id == "30").then(|| "general".to_owned())
        }

        fn role(&self, id: &str) -> Option<String> {
            (id == "40").then(|| "ops".to_owned())
        }
    }

    fn from_discord(text: &str) -> String {
        to_markdown(text, true, &Names)
    }

    #[test]
    fn hazel_to_discord_rules() {
        for (hazel, discord) in [
            ("**b** *i* _i_ ~~s~~", "**b** *i* _i_ ~~s~~"),
            ("__b__", "**b**"),
            ("<u>u</u>", "__u__"),
            ("`<@1> @everyone __x__`", "`<@1> @everyone __x__`"),
            ("```\n@channel <@1>\n```", "```\n@channel <@1>\n```"),
            ("[site](https://x.io/a_b)", "[site](https://x.io/a_b)"),
            // A URL's `__` opens nothing that could close outside the link.
            (
                "0 [&](https://a.io/__) <u>0</u>",
                "0 [&](https://a.io/__) __0__",
            ),
            ("[**b**](https://x.io/*)", "[**b**](https://x.io/*)"),
            ("<https://a.io/__> <u>&</u>", "<https://a.io/__> __&__"),
            ("<https://x.io>", "<https://x.io>"),
            ("hi @channel and @here", "hi @everyone and @here"),
            ("mail a@channel.io", "mail a@channel.io"),
            ("@channels", "@channels"),
            ("\\@channel", "@channel"),
            ("say @everyone", "say \\@everyone"),
            (
                "the text <@1> <#2> <:x:3>",
                "the text \\<@1> \\<#2> \\<:x:3>",
            ),
            (
                &format!("ping @[member:{MEMBER}]!"),
                &format!("ping <@{ALICE}>!"),
            ),
            ("||spoiler|| 2 < 3", "||spoiler|| 2 < 3"),
        ] {
            assert_eq!(to_discord(hazel, &mapped()).content, discord, "{hazel}");
        }
    }

    #[test]
    fn only_intended_mentions_may_ping() {
        let text = to_discord(
            &format!("@[member:{MEMBER}] @[member:{MEMBER}] <@99> @everyone"),
            &mapped(),
        );
        assert_eq!(
            text.allowed_mentions,
            AllowedMentions {
                users: vec![ALICE.to_owned()],
                everyone: false,
            }
        );
        let body = serde_json::to_value(text.allowed_mentions.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"parse": [], "users": [ALICE], "replied_user": false})
        );
        let broadcast = to_discord("lunch @here", &[]);
        assert!(broadcast.allowed_mentions.everyone);
        assert_eq!(
            serde_json::to_value(broadcast.allowed_mentions.body()).unwrap()["parse"],
            serde_json::json!(["everyone"])
        );
    }

    #[test]
    fn an_unmapped_member_is_its_display_name_written_literally() {
        let mut mentions = mapped();
        mentions[0].external_user_id = None;
        mentions[0].display_name = Name::parse("n", "al_ice*").unwrap();
        let text = to_discord(&format!("hi @[member:{MEMBER}]"), &mentions);
        assert_eq!(text.content, "hi @al\\_ice\\*");
        assert!(text.allowed_mentions.users.is_empty());
    }

    #[test]
    fn discord_to_hazel_rules() {
        for (discord, hazel) in [
            ("**b** *i* _i_ ~~s~~ ||sp||", "**b** *i* _i_ ~~s~~ ||sp||"),
            ("__u__", "<u>u</u>"),
            (
                "[&](https://a.io/__) __0__",
                "[&](https://a.io/__) <u>0</u>",
            ),
            ("<https://a.io/__> __&__", "<https://a.io/__> <u>&</u>"),
            ("[__t__](https://a.io/__)", "[<u>t</u>](https://a.io/__)"),
            ("`<@1> __x__`", "`<@1> __x__`"),
            ("```<@1>\n@everyone```", "```<@1>\n@everyone```"),
            (
                &format!("<@{ALICE}> <@!{ALICE}>"),
                &format!("@[member:{MEMBER}] @[member:{MEMBER}]"),
            ),
            ("<@2>", "@bob\\_\\*"),
            ("<@3>", "@3"),
            ("<#30> <#31>", "#general #31"),
            ("<@&40> <@&41>", "@ops @role"),
            ("<:PartyParrot:123> <a:wave:456>", ":PartyParrot: :wave:"),
            ("@everyone @here", "@channel @here"),
            ("a@everyone.io", "a@everyone.io"),
            ("hi @channel", "hi \\@channel"),
            ("\\@everyone \\@here", "@everyone \\@here"),
            ("\\<@1>", "<@1>"),
            (
                "<t:1700000000:R> <https://x.io>",
                "<t:1700000000:R> <https://x.io>",
            ),
            ("<@abc> <:x:1>", "<@abc> <:x:1>"),
        ] {
            assert_eq!(from_discord(discord), hazel, "{discord}");
        }
    }

    #[test]
    fn without_mapping_a_mention_is_the_display_name() {
        assert_eq!(
            to_markdown(&format!("hi <@{ALICE}>"), false, &Names),
            "hi @Alice"
        );
        assert_eq!(
            to_markdown(&format!("hi <@{ALICE}>"), true, &()),
            format!("hi @{ALICE}")
        );
    }

    #[test]
    fn mentions_are_found_outside_code_and_escapes() {
        let user = |id: &str| ExternalMention::User(ExternalUserId::parse("u", id).unwrap());
        assert_eq!(
            mentions("<@1> hi @here `<@2>` <@!1> @everyone\n```<@3>``` \\@everyone <@&4> <#5>"),
            vec![user("1"), ExternalMention::Here, ExternalMention::Channel]
        );
        assert!(mentions("a@everyone.io \\<@1>").is_empty());
    }

    fn plain() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9&|#:/.!?()=+;,%'\"-]{1,12}"
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9&.,!?]{1,8}( [a-zA-Z0-9&.,!?]{1,8}){0,2}"
    }

    fn url() -> impl Strategy<Value = String> {
        "https://[a-z]{1,8}\\.io/[a-zA-Z0-9_*|&=?/.-]{0,16}"
    }

    fn snowflake() -> impl Strategy<Value = String> {
        (1u64..u64::MAX).prop_map(|n| n.to_string())
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            plain(),
            word().prop_map(|w| format!("**{w}**")),
            word().prop_map(|w| format!("*{w}*")),
            word().prop_map(|w| format!("~~{w}~~")),
            word().prop_map(|w| format!("<u>{w}</u>")),
            word().prop_map(|w| format!("||{w}||")),
            "[a-zA-Z0-9*_~<>&|@ ]{1,12}".prop_map(|c| format!("`{c}`")),
            "[a-zA-Z0-9*_~<>&|@ \n]{0,20}".prop_map(|c| format!("\n```\n{c}\n```\n")),
            (word(), url()).prop_map(|(t, u)| format!("[{t}]({u})")),
            url().prop_map(|u| format!("<{u}>")),
            snowflake().prop_map(|id| format!("<@{id}>")),
            snowflake().prop_map(|id| format!("<#{id}>")),
            Just(format!("@[member:{MEMBER}]")),
            Just("@channel".to_owned()),
            Just("@here".to_owned()),
            Just("@everyone".to_owned()),
            Just("\\@channel".to_owned()),
            Just(":PartyParrot:".to_owned()),
        ]
    }

    fn joined(segments: &[String], separators: &[&str]) -> String {
        let mut text = String::new();
        for (i, segment) in segments.iter().enumerate() {
            if i > 0 {
                text.push_str(separators[i]);
            }
            text.push_str(segment);
        }
        text
    }

    fn discord_segment() -> impl Strategy<Value = String> {
        prop_oneof![
            plain(),
            word().prop_map(|w| format!("**{w}**")),
            word().prop_map(|w| format!("__{w}__")),
            word().prop_map(|w| format!("~~{w}~~")),
            word().prop_map(|w| format!("||{w}||")),
            "[a-zA-Z0-9*_~<>&|@ ]{1,12}".prop_map(|c| format!("`{c}`")),
            Just(format!("<@{ALICE}>")),
            Just("@everyone".to_owned()),
            Just("@here".to_owned()),
            Just("\\@everyone".to_owned()),
            Just("@channel".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn hazel_to_discord_to_hazel_gives_the_original(
            segments in prop::collection::vec(segment(), 1..8),
            separators in prop::collection::vec(prop_oneof![Just(" "), Just("\n")], 8),
        ) {
            let text = joined(&segments, &separators);
            let discord = to_discord(&text, &mapped()).content;
            prop_assert_eq!(from_discord(&discord), text, "via {}", discord);
        }

        #[test]
        fn discord_to_hazel_to_discord_gives_the_original(
            segments in prop::collection::vec(discord_segment(), 1..8),
            separators in prop::collection::vec(prop_oneof![Just(" "), Just("\n")], 8),
        ) {
            let text = joined(&segments, &separators);
            let hazel = from_discord(&text);
            prop_assert_eq!(to_discord(&hazel, &mapped()).content, text, "via {}", hazel);
        }
    }
}

//! Slack mrkdwn ⇄ Hazel Markdown (CommonMark with `~~strikethrough~~`).
//!
//! Both directions are small hand-written scanners over the text, not regular expressions:
//! each walks the text once, recognises a construct where it starts (a code block, a code
//! span, an angle-bracket token, a delimiter run with its closing partner on the same line)
//! and copies everything else as text.
//!
//! | Hazel Markdown | Slack mrkdwn |
//! |---|---|
//! | `**bold**` | `*bold*` |
//! | `*italic*` | `_italic_` |
//! | `~~strike~~` | `~strike~` |
//! | `` `code` ``, fenced code blocks | the same, their contents untouched |
//! | `[text](url)`, `<url>` | `<url\|text>`, `<url>` (a `\|` in the URL is sent as `%7C`) |
//! | `@[member:<id>]` | `<@U…>` when the member is mapped, else the display name |
//! | `@channel`, `@here` | `<!channel>`, `<!here>` (`<!everyone>` arrives as `@channel`) |
//! | `#name` | `<#C…\|name>` arrives as `#name` |
//! | `&`, `<`, `>` | `&amp;`, `&lt;`, `&gt;` |
//!
//! Slack escapes `&`, `<` and `>` in the whole text, code included (it is how the text is
//! transported, not formatting), so both directions escape and unescape them everywhere;
//! formatting markup inside code is never converted.

use hazel_domain::ids::MemberId;
use hazel_domain::model::external::ExternalUserId;
use hazel_domain::model::sync::{ExternalMention, OutboundMention};

// ---------------------------------------------------------------------------------------------
// Shared scanning helpers.

/// Whether `c` may stand right outside a delimiter run (start or end of text, whitespace or
/// punctuation), so `snake_case` and `2*3*4` are never formatting.
fn is_boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| !c.is_alphanumeric())
}

/// The character before byte `at` of `text`.
fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

/// The character at byte `at` of `text`.
fn char_at(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// Where the closing `delim` of a run opened at `open` (its first byte) ends, on the same
/// line: the closing run is preceded by a non-space and followed by a boundary. `None` when
/// the opening run cannot open (followed by a space) or nothing closes it.
fn closing(text: &str, open: usize, delim: &str, double_ok: bool) -> Option<usize> {
    let inner_start = open + delim.len();
    let first = char_at(text, inner_start)?;
    if first.is_whitespace() || (!double_ok && text[inner_start..].starts_with(delim)) {
        return None;
    }
    let line_end = text[inner_start..]
        .find('\n')
        .map_or(text.len(), |end| inner_start + end);
    let mut search = inner_start + first.len_utf8();
    while search <= line_end {
        let found = text[search..line_end].find(delim)? + search;
        let before = char_before(text, found);
        let after = char_at(text, found + delim.len());
        // A run longer than the delimiter (`***`) closes at its end.
        let longer = text[found + delim.len()..].starts_with(&delim[..1]);
        if before.is_some_and(|c| !c.is_whitespace()) && !longer && is_boundary(after) {
            return Some(found);
        }
        search = found + delim.len().max(1);
    }
    None
}

/// Pushes `text` with Slack's three escapes applied.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
}

/// `text` with Slack's three escapes undone (`&amp;` last, so `&amp;lt;` stays `&lt;`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (decoded, len) = if rest.starts_with("&amp;") {
            ('&', 5)
        } else if rest.starts_with("&lt;") {
            ('<', 4)
        } else if rest.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(decoded);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// Whether the text at `at` begins a line (the text's start, or right after a newline).
fn at_line_start(text: &str, at: usize) -> bool {
    at == 0 || text[..at].ends_with('\n')
}

/// The end of a fenced code block opened by ```` ``` ```` at `at`: the byte after the
/// closing fence. Hazel fences close at a line of their own; Slack's anywhere.
fn fence_end(text: &str, at: usize, closing_at_line_start: bool) -> Option<usize> {
    let mut search = at + 3;
    loop {
        let found = text[search..].find("```")? + search;
        if !closing_at_line_start || at_line_start(text, found) {
            let mut end = found + 3;
            // A longer closing run (```` ```` ````) is one fence.
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

// ---------------------------------------------------------------------------------------------
// Hazel Markdown → Slack mrkdwn.

/// Converts Hazel Markdown to Slack mrkdwn. `mentions` says how each `@[member:<id>]` is
/// rendered: as `<@U…>` when it names the member's Slack user, else as the member's display
/// name (a mention of a member it does not list stays as written, which Slack shows as text).
#[must_use]
pub fn to_mrkdwn(markdown: &str, mentions: &[OutboundMention]) -> String {
    let mut out = String::with_capacity(markdown.len() + 16);
    HazelScanner { mentions }.inline(markdown, &mut out);
    out
}

struct HazelScanner<'a> {
    mentions: &'a [OutboundMention],
}

impl HazelScanner<'_> {
    fn inline(&self, text: &str, out: &mut String) {
        let mut at = 0;
        while let Some(c) = char_at(text, at) {
            if let Some(next) = self.construct(text, at, out) {
                at = next;
            } else {
                push_escaped(out, &text[at..at + c.len_utf8()]);
                at += c.len_utf8();
            }
        }
    }

    /// Converts the construct starting at `at`, answering where it ends; `None` when no
    /// construct starts there.
    fn construct(&self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        let rest = &text[at..];
        let first = rest.as_bytes()[0];
        match first {
            b'`' if rest.starts_with("```") && at_line_start(text, at) => {
                let end = fence_end(text, at, true)?;
                push_escaped(out, &text[at..end]);
                Some(end)
            }
            b'`' => {
                let end = code_span_end(text, at)?;
                push_escaped(out, &text[at..end]);
                Some(end)
            }
            b'\\' => {
                let escaped = char_at(text, at + 1).filter(char::is_ascii_punctuation)?;
                push_escaped(out, &escaped.to_string());
                Some(at + 2)
            }
            b'*' if rest.starts_with("**") => self.span(text, at, "**", "*", out),
            b'*' => self.span(text, at, "*", "_", out),
            b'~' if rest.starts_with("~~") => self.span(text, at, "~~", "~", out),
            b'[' => self.link(text, at, out),
            b'<' => autolink(text, at, out),
            b'@' => self.mention(text, at, out),
            _ => None,
        }
    }

    /// `delim`…`delim` around non-empty text, as `slack`…`slack`.
    fn span(
        &self,
        text: &str,
        at: usize,
        delim: &str,
        slack: &str,
        out: &mut String,
    ) -> Option<usize> {
        if !is_boundary(char_before(text, at)) {
            return None;
        }
        let close = closing(text, at, delim, delim.len() == 2)?;
        out.push_str(slack);
        self.inline(&text[at + delim.len()..close], out);
        out.push_str(slack);
        Some(close + delim.len())
    }

    /// `[text](url)` as `<url|text>`.
    fn link(&self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        let mut depth = 0_usize;
        let mut label_end = None;
        for (offset, c) in text[at..].char_indices() {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        label_end = Some(at + offset);
                        break;
                    }
                }
                '\n' => return None,
                _ => {}
            }
        }
        let label_end = label_end?;
        let dest_start = label_end + 1;
        if !text[dest_start..].starts_with('(') {
            return None;
        }
        let mut parens = 0_usize;
        let mut dest_end = None;
        for (offset, c) in text[dest_start..].char_indices() {
            match c {
                '(' => parens += 1,
                ')' => {
                    parens -= 1;
                    if parens == 0 {
                        dest_end = Some(dest_start + offset);
                        break;
                    }
                }
                c if c.is_whitespace() => return None,
                _ => {}
            }
        }
        let dest_end = dest_end?;
        let url = &text[dest_start + 1..dest_end];
        if url.is_empty() {
            return None;
        }
        out.push('<');
        push_url(out, url);
        out.push('|');
        self.inline(&text[at + 1..label_end], out);
        out.push('>');
        Some(dest_end + 1)
    }

    /// `@[member:<id>]`, `@channel` and `@here`.
    fn mention(&self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        let rest = &text[at..];
        if let Some(inner) = rest.strip_prefix("@[member:") {
            let end = inner.find(']')?;
            let id = MemberId::parse("mention", &inner[..end]).ok()?;
            let mention = self.mentions.iter().find(|m| m.member_id == id)?;
            match &mention.external_user_id {
                Some(user) => {
                    out.push_str("<@");
                    push_escaped(out, user.as_str());
                    out.push('>');
                }
                None => {
                    out.push('@');
                    push_escaped(out, mention.display_name.as_str());
                }
            }
            return Some(at + "@[member:".len() + end + 1);
        }
        let before = char_before(text, at);
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '@') {
            return None;
        }
        for word in ["channel", "here"] {
            let end = at + 1 + word.len();
            if rest[1..].starts_with(word)
                && char_at(text, end).is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            {
                out.push_str("<!");
                out.push_str(word);
                out.push('>');
                return Some(end);
            }
        }
        None
    }
}

/// A CommonMark autolink (`<https://…>`, `<mailto:…>`) as a Slack link; anything else that
/// starts with `<` is text (and escaped).
fn autolink(text: &str, at: usize, out: &mut String) -> Option<usize> {
    let end = text[at + 1..].find('>')? + at + 1;
    let url = &text[at + 1..end];
    let scheme_len = url.find(':')?;
    let scheme = &url[..scheme_len];
    let valid_scheme = (2..=32).contains(&scheme.len())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    if !valid_scheme || url.chars().any(|c| c.is_whitespace() || c == '<') {
        return None;
    }
    out.push('<');
    push_url(out, url);
    out.push('>');
    Some(end + 1)
}

/// A Slack link to `url` showing the plain text `label`, both escaped.
pub(crate) fn link(url: &str, label: &str) -> String {
    let mut out = String::with_capacity(url.len() + label.len() + 3);
    out.push('<');
    push_url(&mut out, url);
    out.push('|');
    push_escaped(&mut out, label);
    out.push('>');
    out
}

/// A URL inside a Slack link: escaped, and with `|` (which would end the URL) as `%7C`.
fn push_url(out: &mut String, url: &str) {
    for part in url.split_inclusive('|') {
        match part.strip_suffix('|') {
            Some(head) => {
                push_escaped(out, head);
                out.push_str("%7C");
            }
            None => push_escaped(out, part),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Slack mrkdwn → Hazel Markdown.

/// How a Slack user mentioned in a message appears in Hazel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MentionedUser {
    /// The Hazel member the Slack user is (its shadow member), when known.
    pub member: Option<MemberId>,
    /// The user's display name, when known.
    pub display_name: Option<String>,
}

/// Converts Slack mrkdwn to Hazel Markdown. `users` looks up a mentioned Slack user
/// (`U0123`); with `mention_mapping` a user known as a member becomes `@[member:<id>]`, else
/// the mention is the plain `@display name` (or `@U0123` when the name is unknown too), never
/// a broken token.
#[must_use]
pub fn to_markdown(
    mrkdwn: &str,
    mention_mapping: bool,
    users: &dyn Fn(&str) -> Option<MentionedUser>,
) -> String {
    let mut out = String::with_capacity(mrkdwn.len() + 16);
    SlackScanner {
        mention_mapping,
        users,
    }
    .inline(mrkdwn, &mut out);
    out
}

struct SlackScanner<'a> {
    mention_mapping: bool,
    users: &'a dyn Fn(&str) -> Option<MentionedUser>,
}

impl SlackScanner<'_> {
    fn inline(&self, text: &str, out: &mut String) {
        let mut at = 0;
        while let Some(c) = char_at(text, at) {
            if let Some(next) = self.construct(text, at, out) {
                at = next;
                continue;
            }
            let len = if c == '&' {
                // One escape at a time, so `&amp;lt;` reads as the text `&lt;`.
                ["&amp;", "&lt;", "&gt;"]
                    .into_iter()
                    .find(|e| text[at..].starts_with(e))
                    .map_or(1, str::len)
            } else {
                c.len_utf8()
            };
            push_markdown_text(out, &unescape(&text[at..at + len]), text, at, at + len);
            at += len;
        }
    }

    fn construct(&self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        let rest = &text[at..];
        match rest.as_bytes()[0] {
            b'`' if rest.starts_with("```") => {
                let end = fence_end(text, at, false)?;
                out.push_str(&unescape(&text[at..end]));
                Some(end)
            }
            b'`' => {
                let end = code_span_end(text, at)?;
                out.push_str(&unescape(&text[at..end]));
                Some(end)
            }
            b'*' => self.span(text, at, "*", "**", out),
            b'_' => self.span(text, at, "_", "*", out),
            b'~' => self.span(text, at, "~", "~~", out),
            b'<' => self.angle(text, at, out),
            _ => None,
        }
    }

    fn span(
        &self,
        text: &str,
        at: usize,
        delim: &str,
        hazel: &str,
        out: &mut String,
    ) -> Option<usize> {
        if !is_boundary(char_before(text, at)) {
            return None;
        }
        let close = closing(text, at, delim, false)?;
        out.push_str(hazel);
        self.inline(&text[at + delim.len()..close], out);
        out.push_str(hazel);
        Some(close + delim.len())
    }

    /// A `<…>` token: a mention, a special mention or a link.
    fn angle(&self, text: &str, at: usize, out: &mut String) -> Option<usize> {
        let end = text[at + 1..].find('>')? + at + 1;
        let inner = &text[at + 1..end];
        if inner.is_empty() || inner.contains('\n') {
            return None;
        }
        let (target, label) = match inner.split_once('|') {
            Some((target, label)) => (target, Some(label)),
            None => (inner, None),
        };
        if let Some(user) = target.strip_prefix('@') {
            self.user_mention(user, label, out);
        } else if let Some(channel) = target.strip_prefix('#') {
            out.push('#');
            push_markdown_plain(out, &unescape(label.unwrap_or(channel)));
        } else if let Some(special) = target.strip_prefix('!') {
            match special {
                "channel" | "everyone" => out.push_str("@channel"),
                "here" => out.push_str("@here"),
                // User groups (`<!subteam^S123|@team>`) and dates (`<!date^…|fallback>`) show
                // their label.
                _ => push_markdown_plain(out, &unescape(label.unwrap_or(special))),
            }
        } else {
            let url = unescape(target).replace("%7C", "|");
            match label {
                Some(label) => {
                    out.push('[');
                    self.inline(label, out);
                    out.push_str("](");
                    out.push_str(&url);
                    out.push(')');
                }
                None => {
                    out.push('<');
                    out.push_str(&url);
                    out.push('>');
                }
            }
        }
        Some(end + 1)
    }

    fn user_mention(&self, user: &str, label: Option<&str>, out: &mut String) {
        let found = (self.users)(user);
        if self.mention_mapping
            && let Some(member) = found.as_ref().and_then(|found| found.member)
        {
            out.push_str("@[member:");
            out.push_str(&member.to_string());
            out.push(']');
            return;
        }
        let name = found
            .and_then(|found| found.display_name)
            .or_else(|| label.map(unescape))
            .unwrap_or_else(|| user.to_owned());
        out.push('@');
        push_markdown_plain(out, &name);
    }
}

/// Pushes text that came from Slack as literal Markdown text: characters Markdown would read
/// as markup are escaped. `_` and `~` inside a word cannot start formatting and stay as they
/// are, so `snake_case` reads naturally.
fn push_markdown_text(out: &mut String, decoded: &str, source: &str, start: usize, end: usize) {
    for c in decoded.chars() {
        let inside_word = char_before(source, start).is_some_and(char::is_alphanumeric)
            && char_at(source, end).is_some_and(char::is_alphanumeric);
        match c {
            '*' | '`' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '_' | '~' if !inside_word => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
}

/// Pushes a name (a display name, a channel name) as literal Markdown text.
fn push_markdown_plain(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '*' | '_' | '~' | '`' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

// ---------------------------------------------------------------------------------------------
// Mentions.

/// Who a Slack message mentions, in order of appearance and without repeats: `<@U…>` users,
/// `<!channel>`/`<!everyone>` and `<!here>`. Code spans and blocks mention no one.
#[must_use]
pub fn mentions(mrkdwn: &str) -> Vec<ExternalMention> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(c) = char_at(mrkdwn, at) {
        let rest = &mrkdwn[at..];
        let skip = if rest.starts_with("```") {
            fence_end(mrkdwn, at, false)
        } else if c == '`' {
            code_span_end(mrkdwn, at)
        } else if c == '<' {
            rest.find('>').map(|end| {
                let inner = &rest[1..end];
                let target = inner.split_once('|').map_or(inner, |(target, _)| target);
                let mention = if let Some(user) = target.strip_prefix('@') {
                    ExternalUserId::parse("mention", user)
                        .ok()
                        .map(ExternalMention::User)
                } else {
                    match target {
                        "!channel" | "!everyone" => Some(ExternalMention::Channel),
                        "!here" => Some(ExternalMention::Here),
                        _ => None,
                    }
                };
                if let Some(mention) = mention.filter(|m| !found.contains(m)) {
                    found.push(mention);
                }
                at + end + 1
            })
        } else {
            None
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

    fn member() -> MemberId {
        MemberId::parse("m", MEMBER).unwrap()
    }

    fn mapped() -> Vec<OutboundMention> {
        vec![OutboundMention {
            member_id: member(),
            external_user_id: Some(ExternalUserId::parse("u", "U0ALICE").unwrap()),
            display_name: Name::parse("n", "Alice").unwrap(),
        }]
    }

    fn lookup(user: &str) -> Option<MentionedUser> {
        (user == "U0ALICE").then(|| MentionedUser {
            member: Some(member()),
            display_name: Some("Alice".to_owned()),
        })
    }

    fn from_slack(text: &str) -> String {
        to_markdown(text, true, &lookup)
    }

    #[test]
    fn hazel_to_slack_rules() {
        for (hazel, slack) in [
            ("**b**", "*b*"),
            ("*i*", "_i_"),
            ("~~s~~", "~s~"),
            ("a **bold** and *it* ~~gone~~", "a *bold* and _it_ ~gone~"),
            ("`**not bold** <x>`", "`**not bold** &lt;x&gt;`"),
            ("```\n*keep* _this_\n```", "```\n*keep* _this_\n```"),
            ("[site](https://x.io/a_b*c)", "<https://x.io/a_b*c|site>"),
            ("[p](https://x.io/?a=1|2)", "<https://x.io/?a=1%7C2|p>"),
            (
                "[q](https://x.io/?a=1&b=2)",
                "<https://x.io/?a=1&amp;b=2|q>",
            ),
            ("<https://x.io>", "<https://x.io>"),
            ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
            ("<b>literal</b>", "&lt;b&gt;literal&lt;/b&gt;"),
            ("hi @channel and @here", "hi <!channel> and <!here>"),
            ("mail a@channel.io", "mail a@channel.io"),
            ("@channels", "@channels"),
            (&format!("ping @[member:{MEMBER}]!"), "ping <@U0ALICE>!"),
            ("snake_case and 2*3*4", "snake_case and 2*3*4"),
            ("\\*literal\\*", "*literal*"),
        ] {
            assert_eq!(to_mrkdwn(hazel, &mapped()), slack, "{hazel}");
        }
    }

    #[test]
    fn an_unmapped_member_is_its_display_name() {
        let mut mentions = mapped();
        mentions[0].external_user_id = None;
        assert_eq!(
            to_mrkdwn(&format!("hi @[member:{MEMBER}]"), &mentions),
            "hi @Alice"
        );
    }

    #[test]
    fn slack_to_hazel_rules() {
        for (slack, hazel) in [
            ("*b*", "**b**"),
            ("_i_", "*i*"),
            ("~s~", "~~s~~"),
            ("`*code* &lt;x&gt;`", "`*code* <x>`"),
            ("```*keep*\n_this_```", "```*keep*\n_this_```"),
            ("<https://x.io/a_b*c|site>", "[site](https://x.io/a_b*c)"),
            ("<https://x.io/?a=1%7C2|p|q>", "[p|q](https://x.io/?a=1|2)"),
            ("<https://x.io>", "<https://x.io>"),
            ("a &lt;b&gt; &amp;amp;", "a <b> &amp;"),
            ("<!channel> <!here> <!everyone>", "@channel @here @channel"),
            ("<#C0123|general>", "#general"),
            ("<!subteam^S1|@ops>", "@ops"),
            ("<@U0ALICE>", &format!("@[member:{MEMBER}]")),
            ("<@U0BOB|bob>", "@bob"),
            ("<@U0CAROL>", "@U0CAROL"),
            ("snake_case_name", "snake_case_name"),
            ("2 * 3", "2 \\* 3"),
            ("[x]", "\\[x\\]"),
            ("*unclosed", "\\*unclosed"),
        ] {
            assert_eq!(from_slack(slack), hazel, "{slack}");
        }
    }

    #[test]
    fn mentions_are_found_outside_code() {
        let user = |id: &str| ExternalMention::User(ExternalUserId::parse("u", id).unwrap());
        assert_eq!(
            mentions("<@U1> hi <!here> `<@U2>` <@U1|al> <!everyone>\n```<!channel>```"),
            vec![user("U1"), ExternalMention::Here, ExternalMention::Channel]
        );
        assert!(mentions("<https://x.io|@U1> <#C1|general>").is_empty());
    }

    #[test]
    fn without_mapping_a_mention_is_the_display_name() {
        assert_eq!(to_markdown("hi <@U0ALICE>", false, &lookup), "hi @Alice");
    }

    /// Plain text: letters, digits and punctuation Slack or Markdown treat specially in some
    /// places (`& < > | # : / . ! ? ( ) = + ; , % ' "`), never a formatting delimiter.
    fn plain() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9&<>|#:/.!?()=+;,%'\"-]{1,12}".prop_filter("not an autolink", |s| {
            !s.starts_with('<') || !s.contains(':')
        })
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9&<>.,!?]{1,8}( [a-zA-Z0-9&<>.,!?]{1,8}){0,2}"
    }

    fn url() -> impl Strategy<Value = String> {
        "https://[a-z]{1,8}\\.io/[a-zA-Z0-9_*|&=?/.-]{0,16}"
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            plain(),
            word().prop_map(|w| format!("**{w}**")),
            word().prop_map(|w| format!("*{w}*")),
            word().prop_map(|w| format!("~~{w}~~")),
            "[a-zA-Z0-9*_~<>&|@ ]{1,12}".prop_map(|c| format!("`{c}`")),
            "[a-zA-Z0-9*_~<>&|@ \n]{0,20}".prop_map(|c| format!("\n```\n{c}\n```\n")),
            (word(), url()).prop_map(|(t, u)| format!("[{t}]({u})")),
            url().prop_map(|u| format!("<{u}>")),
            Just(format!("@[member:{MEMBER}]")),
            Just("@channel".to_owned()),
            Just("@here".to_owned()),
        ]
    }

    proptest! {
        #[test]
        fn hazel_to_slack_to_hazel_gives_the_original(
            segments in prop::collection::vec(segment(), 1..8),
            separators in prop::collection::vec(prop_oneof![Just(" "), Just("\n")], 8),
        ) {
            let mut text = String::new();
            for (i, segment) in segments.iter().enumerate() {
                if i > 0 {
                    text.push_str(separators[i]);
                }
                text.push_str(segment);
            }
            let slack = to_mrkdwn(&text, &mapped());
            prop_assert_eq!(from_slack(&slack), text, "via {}", slack);
        }
    }
}

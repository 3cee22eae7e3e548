//! Slack emoji names ⇄ the domain's [`ReactionEmoji`].
//!
//! Slack names a reaction by its short name (`+1`, `tada`), a skin tone as a second name
//! (`+1::skin-tone-3`), and a workspace's custom emoji by whatever name it was given, case
//! kept (`PartyParrot`). Standard names are looked up in the `emojis` crate's gemoji
//! shortcodes, which are the names Slack uses; a name it does not know is a custom emoji and
//! passes through as text.

use emojis::SkinTone;
use hazel_domain::model::sync::ReactionEmoji;

/// Slack's skin-tone suffixes, `skin-tone-2` (lightest) to `skin-tone-6` (darkest), in the
/// order of the Fitzpatrick modifiers.
const SKIN_TONES: [(u8, SkinTone); 5] = [
    (2, SkinTone::Light),
    (3, SkinTone::MediumLight),
    (4, SkinTone::Medium),
    (5, SkinTone::MediumDark),
    (6, SkinTone::Dark),
];

/// The reaction a Slack emoji name stands for: `+1` → `Unicode("👍")`,
/// `:+1::skin-tone-3:` → `Unicode("👍🏼")`, `PartyParrot` → `Custom("PartyParrot")`.
/// Surrounding colons are optional.
#[must_use]
pub fn from_slack(name: &str) -> ReactionEmoji {
    let bare = name.strip_prefix(':').unwrap_or(name);
    let bare = bare.strip_suffix(':').unwrap_or(bare);
    let (base, tone) = match bare.split_once("::") {
        Some((base, modifier)) => (base, tone_of(modifier)),
        None => (bare, None),
    };
    let Some(emoji) = emojis::get_by_shortcode(base) else {
        return ReactionEmoji::Custom(bare.to_owned());
    };
    let toned = match tone {
        Some(tone) => emoji.with_skin_tone(tone).unwrap_or(emoji),
        None => emoji,
    };
    ReactionEmoji::Unicode(toned.as_str().to_owned())
}

/// The Slack emoji name of a reaction (without colons), for `reactions.add` and text:
/// `Unicode("👍🏼")` → `+1::skin-tone-3`, `Custom("PartyParrot")` → `PartyParrot`. `None`
/// for a Unicode emoji Slack has no name for (a combination of two skin tones, an emoji
/// newer than the names known here).
#[must_use]
pub fn to_slack(emoji: &ReactionEmoji) -> Option<String> {
    match emoji {
        ReactionEmoji::Custom(name) => Some(name.clone()),
        ReactionEmoji::Unicode(text) => {
            let found = emojis::get(text)?;
            let base = found
                .skin_tones()
                .and_then(|mut tones| tones.next())
                .unwrap_or(found);
            let name = base.shortcode()?;
            match found.skin_tone() {
                None | Some(SkinTone::Default) => Some(name.to_owned()),
                Some(tone) => {
                    let (number, _) = SKIN_TONES.iter().find(|(_, t)| *t == tone)?;
                    Some(format!("{name}::skin-tone-{number}"))
                }
            }
        }
    }
}

/// The skin tone of a `skin-tone-N` modifier.
fn tone_of(modifier: &str) -> Option<SkinTone> {
    let number: u8 = modifier.strip_prefix("skin-tone-")?.parse().ok()?;
    SKIN_TONES
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, tone)| *tone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unicode(text: &str) -> ReactionEmoji {
        ReactionEmoji::Unicode(text.to_owned())
    }

    fn custom(name: &str) -> ReactionEmoji {
        ReactionEmoji::Custom(name.to_owned())
    }

    #[test]
    fn slack_names_become_reactions() {
        for (name, emoji) in [
            ("+1", unicode("👍")),
            (":+1:", unicode("👍")),
            ("thumbsup", unicode("👍")),
            (":+1::skin-tone-3:", unicode("👍🏼")),
            ("+1::skin-tone-2", unicode("👍🏻")),
            ("wave::skin-tone-6", unicode("👋🏿")),
            ("tada", unicode("🎉")),
            ("heart", unicode("❤️")),
            // A tone on an emoji without tones, or an unknown tone, keeps the emoji.
            ("tada::skin-tone-3", unicode("🎉")),
            ("+1::skin-tone-9", unicode("👍")),
            (":PartyParrot:", custom("PartyParrot")),
            ("partyparrot", custom("partyparrot")),
            ("Smile", custom("Smile")),
        ] {
            assert_eq!(from_slack(name), emoji, "{name}");
        }
    }

    #[test]
    fn reactions_become_slack_names() {
        for (emoji, name) in [
            (unicode("👍"), Some("+1")),
            (unicode("👍🏼"), Some("+1::skin-tone-3")),
            (unicode("👋🏿"), Some("wave::skin-tone-6")),
            (unicode("🎉"), Some("tada")),
            (custom("PartyParrot"), Some("PartyParrot")),
            (unicode("not an emoji"), None),
        ] {
            assert_eq!(to_slack(&emoji).as_deref(), name, "{emoji:?}");
        }
    }

    #[test]
    fn every_toned_name_goes_there_and_back() {
        for name in ["+1", "wave", "ok_hand", "clap"] {
            for number in 2..=6 {
                let slack = format!("{name}::skin-tone-{number}");
                assert_eq!(to_slack(&from_slack(&slack)), Some(slack.clone()));
            }
        }
    }
}

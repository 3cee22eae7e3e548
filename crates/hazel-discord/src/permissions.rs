//! Discord permission flags and the bot's effective guild permissions.

use hazel_domain::model::chat_sync::ProviderError;
use serde::Deserialize;

/// One Discord permission flag: its documented name and bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// The name in Discord's documentation (`MANAGE_WEBHOOKS`).
    pub name: &'static str,
    /// The flag's bit in a permission set.
    pub bit: u64,
}

/// `ADMINISTRATOR` (`1 << 3`): grants every permission.
pub const ADMINISTRATOR: Permission = Permission {
    name: "ADMINISTRATOR",
    bit: 1 << 3,
};

/// `VIEW_CHANNEL` (`1 << 10`): see a channel; denied to `@everyone` on private channels.
pub const VIEW_CHANNEL: Permission = Permission {
    name: "VIEW_CHANNEL",
    bit: 1 << 10,
};

/// `SEND_MESSAGES` (`1 << 11`): post in a channel.
pub const SEND_MESSAGES: Permission = Permission {
    name: "SEND_MESSAGES",
    bit: 1 << 11,
};

/// `READ_MESSAGE_HISTORY` (`1 << 16`): read the messages that edits, replies, reactions and
/// catch-up after an outage point to.
pub const READ_MESSAGE_HISTORY: Permission = Permission {
    name: "READ_MESSAGE_HISTORY",
    bit: 1 << 16,
};

/// `MANAGE_WEBHOOKS` (`1 << 29`): create the link's webhook, through which synced messages
/// appear under their Hazel author's name and avatar.
pub const MANAGE_WEBHOOKS: Permission = Permission {
    name: "MANAGE_WEBHOOKS",
    bit: 1 << 29,
};

/// What the bot needs in a channel to sync it: see it, post in it, read its history, and post
/// through a webhook.
pub const CHANNEL_PERMISSIONS: &[Permission] = &[
    VIEW_CHANNEL,
    SEND_MESSAGES,
    READ_MESSAGE_HISTORY,
    MANAGE_WEBHOOKS,
];

/// Guild permissions Hazel Sync needs, checked when a connection's credentials are validated.
/// Bits are those of Discord's permission reference.
///
/// | permission | bit | why |
/// |---|---|---|
/// | `ADD_REACTIONS` | `1 << 6` | mirror reactions from Hazel |
/// | `VIEW_CHANNEL` | `1 << 10` | see the channels to sync and receive their events |
/// | `SEND_MESSAGES` | `1 << 11` | post synced messages |
/// | `MANAGE_MESSAGES` | `1 << 13` | pin, and remove reactions and messages being synced |
/// | `READ_MESSAGE_HISTORY` | `1 << 16` | read messages that replies and reactions point to |
/// | `MANAGE_WEBHOOKS` | `1 << 29` | post through a webhook under the Hazel author's name and avatar |
/// | `CREATE_PUBLIC_THREADS` | `1 << 35` | start a thread from a message, for a Hazel thread |
pub const REQUIRED_PERMISSIONS: &[Permission] = &[
    Permission {
        name: "ADD_REACTIONS",
        bit: 1 << 6,
    },
    VIEW_CHANNEL,
    SEND_MESSAGES,
    Permission {
        name: "MANAGE_MESSAGES",
        bit: 1 << 13,
    },
    READ_MESSAGE_HISTORY,
    MANAGE_WEBHOOKS,
    Permission {
        name: "CREATE_PUBLIC_THREADS",
        bit: 1 << 35,
    },
];

/// All of [`REQUIRED_PERMISSIONS`] as one permission set (for a bot invite link).
pub const REQUIRED_PERMISSION_BITS: u64 = {
    let mut bits = 0;
    let mut i = 0;
    while i < REQUIRED_PERMISSIONS.len() {
        bits |= REQUIRED_PERMISSIONS[i].bit;
        i += 1;
    }
    bits
};

/// A role object, as far as permissions go.
#[derive(Debug, Deserialize)]
pub(crate) struct Role {
    pub(crate) id: String,
    /// A decimal permission set, as a string (it exceeds 53 bits).
    pub(crate) permissions: String,
}

/// Parses a permission set sent as a decimal string.
pub(crate) fn parse_bits(raw: &str) -> Result<u64, ProviderError> {
    raw.parse().map_err(|_| ProviderError::Platform {
        message: "Discord sent a permission set that is not a number".to_owned(),
    })
}

/// A member's guild-level permissions: the guild owner and administrators hold all of them;
/// otherwise the union of `@everyone` (the role whose id is the guild's) and the member's roles.
pub(crate) fn guild_permissions(
    guild_id: &str,
    is_owner: bool,
    roles: &[Role],
    member_roles: &[String],
) -> Result<u64, ProviderError> {
    if is_owner {
        return Ok(u64::MAX);
    }
    let mut bits = 0;
    for role in roles {
        if role.id == guild_id || member_roles.contains(&role.id) {
            bits |= parse_bits(&role.permissions)?;
        }
    }
    if bits & ADMINISTRATOR.bit != 0 {
        return Ok(u64::MAX);
    }
    Ok(bits)
}

/// A channel's permission overwrite: `id` is a role's or a member's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChannelOverwrite {
    pub(crate) id: String,
    pub(crate) allow: u64,
    pub(crate) deny: u64,
}

/// A member's effective permissions in a channel, as Discord computes them: administrators
/// (and the guild owner, whose `guild_bits` are all set) hold everything; otherwise the
/// `@everyone` overwrite (id = guild id) applies to the guild-level bits, then the overwrites
/// of the member's roles together (denies, then allows), then the member's own. Without
/// `VIEW_CHANNEL` a member can do nothing in the channel.
pub(crate) fn channel_permissions(
    guild_id: &str,
    guild_bits: u64,
    member_id: &str,
    member_roles: &[String],
    overwrites: &[ChannelOverwrite],
) -> u64 {
    if guild_bits & ADMINISTRATOR.bit != 0 {
        return u64::MAX;
    }
    let mut bits = guild_bits;
    if let Some(everyone) = overwrites.iter().find(|o| o.id == guild_id) {
        bits = (bits & !everyone.deny) | everyone.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    for overwrite in overwrites.iter().filter(|o| member_roles.contains(&o.id)) {
        allow |= overwrite.allow;
        deny |= overwrite.deny;
    }
    bits = (bits & !deny) | allow;
    if let Some(member) = overwrites.iter().find(|o| o.id == member_id) {
        bits = (bits & !member.deny) | member.allow;
    }
    if bits & VIEW_CHANNEL.bit == 0 {
        return 0;
    }
    bits
}

/// The names of the channel permissions ([`CHANNEL_PERMISSIONS`]) absent from `bits`.
pub(crate) fn missing_in_channel(bits: u64) -> Vec<String> {
    CHANNEL_PERMISSIONS
        .iter()
        .filter(|permission| bits & permission.bit == 0)
        .map(|permission| permission.name.to_owned())
        .collect()
}

/// The names of the required permissions absent from `bits`.
pub(crate) fn missing(bits: u64) -> Vec<String> {
    REQUIRED_PERMISSIONS
        .iter()
        .filter(|permission| bits & permission.bit == 0)
        .map(|permission| permission.name.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: &str, bits: u64) -> Role {
        Role {
            id: id.to_owned(),
            permissions: bits.to_string(),
        }
    }

    #[test]
    fn everyone_and_member_roles_are_combined() {
        let roles = [
            role("1", VIEW_CHANNEL.bit),
            role("2", 1 << 11),
            role("3", 1 << 29),
        ];

        let bits = guild_permissions("1", false, &roles, &["2".to_owned()]).unwrap();

        assert_eq!(bits, VIEW_CHANNEL.bit | 1 << 11);
        assert_eq!(
            missing(bits),
            [
                "ADD_REACTIONS",
                "MANAGE_MESSAGES",
                "READ_MESSAGE_HISTORY",
                "MANAGE_WEBHOOKS",
                "CREATE_PUBLIC_THREADS"
            ]
        );
    }

    #[test]
    fn administrators_and_owners_hold_everything() {
        let roles = [role("1", 0), role("2", ADMINISTRATOR.bit)];

        let admin = guild_permissions("1", false, &roles, &["2".to_owned()]).unwrap();
        let owner = guild_permissions("1", true, &roles, &[]).unwrap();

        assert!(missing(admin).is_empty() && missing(owner).is_empty());
    }

    fn overwrite(id: &str, allow: u64, deny: u64) -> ChannelOverwrite {
        ChannelOverwrite {
            id: id.to_owned(),
            allow,
            deny,
        }
    }

    #[test]
    fn channel_overwrites_apply_everyone_then_roles_then_the_member() {
        let guild = "1";
        let bot = "9";
        let roles = ["2".to_owned(), "3".to_owned()];
        let base =
            VIEW_CHANNEL.bit | SEND_MESSAGES.bit | READ_MESSAGE_HISTORY.bit | MANAGE_WEBHOOKS.bit;
        let all = |overwrites: &[ChannelOverwrite]| {
            missing_in_channel(channel_permissions(guild, base, bot, &roles, overwrites))
        };
        assert!(all(&[]).is_empty());
        // @everyone loses SEND_MESSAGES, one of the bot's roles gives it back.
        assert!(
            all(&[
                overwrite(guild, 0, SEND_MESSAGES.bit),
                overwrite("3", SEND_MESSAGES.bit, 0),
            ])
            .is_empty()
        );
        // A role allow and another role's deny of the same bit: the allow wins.
        assert!(
            all(&[
                overwrite("2", 0, MANAGE_WEBHOOKS.bit),
                overwrite("3", MANAGE_WEBHOOKS.bit, 0),
            ])
            .is_empty()
        );
        // The member's own overwrite comes last.
        assert_eq!(
            all(&[
                overwrite("3", MANAGE_WEBHOOKS.bit, 0),
                overwrite(bot, 0, MANAGE_WEBHOOKS.bit),
            ]),
            ["MANAGE_WEBHOOKS"]
        );
        // Without VIEW_CHANNEL nothing else counts.
        assert_eq!(
            all(&[overwrite(guild, 0, VIEW_CHANNEL.bit)]),
            [
                "VIEW_CHANNEL",
                "SEND_MESSAGES",
                "READ_MESSAGE_HISTORY",
                "MANAGE_WEBHOOKS"
            ]
        );
        // Administrators ignore overwrites.
        assert!(
            missing_in_channel(channel_permissions(
                guild,
                ADMINISTRATOR.bit,
                bot,
                &roles,
                &[overwrite(guild, 0, u64::MAX)],
            ))
            .is_empty()
        );
    }

    #[test]
    fn the_required_set_has_the_documented_bits() {
        // 64 + 1024 + 2048 + 8192 + 65536 + 536870912 + 34359738368, as in Discord's
        // permission reference.
        assert_eq!(REQUIRED_PERMISSION_BITS, 34_896_686_144);
    }

    #[test]
    fn a_garbage_permission_set_is_a_platform_error() {
        let err = guild_permissions(
            "1",
            false,
            &[
                role("1", 0),
                Role {
                    id: "2".to_owned(),
                    permissions: "lots".to_owned(),
                },
            ],
            &["2".to_owned()],
        )
        .unwrap_err();

        assert!(matches!(err, ProviderError::Platform { .. }));
    }
}

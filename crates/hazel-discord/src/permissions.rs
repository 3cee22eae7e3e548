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
pub const REQUIRED_PERMISSIONS: &[Permission] = &[
    Permission {
        name: "ADD_REACTIONS",
        bit: 1 << 6,
    },
    VIEW_CHANNEL,
    Permission {
        name: "SEND_MESSAGES",
        bit: 1 << 11,
    },
    Permission {
        name: "MANAGE_MESSAGES",
        bit: 1 << 13,
    },
    Permission {
        name: "READ_MESSAGE_HISTORY",
        bit: 1 << 16,
    },
    Permission {
        name: "MANAGE_WEBHOOKS",
        bit: 1 << 29,
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
                "MANAGE_WEBHOOKS"
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

    #[test]
    fn the_required_set_has_the_documented_bits() {
        // 64 + 1024 + 2048 + 8192 + 65536 + 536870912, as in Discord's permission reference.
        assert_eq!(REQUIRED_PERMISSION_BITS, 536_947_776);
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

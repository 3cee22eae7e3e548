#![doc = include_str!("../README.md")]

mod api;
mod delivery;
mod errors;
pub mod markdown;
mod permissions;
mod provider;
mod settings;

pub use delivery::{DiscordFailure, classify_delivery};
pub use permissions::{
    ADMINISTRATOR, CHANNEL_PERMISSIONS, MANAGE_WEBHOOKS, Permission, READ_MESSAGE_HISTORY,
    REQUIRED_PERMISSION_BITS, REQUIRED_PERMISSIONS, SEND_MESSAGES, VIEW_CHANNEL,
};
pub use provider::DiscordProvider;
pub use settings::DiscordSettings;

#[cfg(test)]
mod tests;

#![doc = include_str!("../README.md")]

mod api;
mod delivery;
mod errors;
pub mod gateway;
mod history;
pub mod intake;
pub mod markdown;
mod outbound;
mod permissions;
mod provider;
mod ratelimit;
mod session;
mod settings;

pub use delivery::{DiscordFailure, classify_delivery};
pub use history::DiscordHistory;
pub use outbound::{
    DiscordOutbound, MAX_MESSAGE_CHARS, MAX_THREAD_NAME_CHARS, MAX_USERNAME_CHARS, MessageRef,
    WEBHOOK_NAME, message_parts, webhook_username,
};
pub use permissions::{
    ADMINISTRATOR, CHANNEL_PERMISSIONS, MANAGE_WEBHOOKS, Permission, READ_MESSAGE_HISTORY,
    REQUIRED_PERMISSION_BITS, REQUIRED_PERMISSIONS, SEND_MESSAGES, VIEW_CHANNEL,
};
pub use provider::DiscordProvider;
pub use session::{DiscordGateway, DiscordInbound};
pub use settings::DiscordSettings;

#[cfg(test)]
mod tests;

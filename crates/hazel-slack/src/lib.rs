#![doc = include_str!("../README.md")]

mod api;
mod delivery;
pub mod emoji;
mod errors;
pub mod events;
mod inbound;
pub mod mrkdwn;
mod outbound;
mod provider;
mod reader;
mod scopes;
mod settings;
pub mod signature;
mod socket;
pub mod split;

pub use delivery::{SlackFailure, classify_delivery};
pub use inbound::SlackInbound;
pub use outbound::{MAX_USERNAME_CHARS, message_parts, post_body};
pub use provider::SlackProvider;
pub use reader::{PROFILE_CAPACITY, PROFILE_TTL};
pub use scopes::{REQUIRED_SCOPES, SCOPE_TABLE};
pub use settings::SlackSettings;
pub use socket::{SlackSocketMode, SocketSettings};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod outbound_tests;

#![doc = include_str!("../README.md")]

mod api;
mod delivery;
pub mod emoji;
mod errors;
pub mod events;
mod inbound;
pub mod mrkdwn;
mod provider;
mod scopes;
mod settings;
pub mod signature;

pub use delivery::{SlackFailure, classify_delivery};
pub use inbound::SlackInbound;
pub use provider::SlackProvider;
pub use scopes::REQUIRED_SCOPES;
pub use settings::SlackSettings;

#[cfg(test)]
mod tests;

#![doc = include_str!("../README.md")]

mod api;
mod errors;
mod permissions;
mod provider;
mod settings;

pub use permissions::{
    ADMINISTRATOR, Permission, REQUIRED_PERMISSION_BITS, REQUIRED_PERMISSIONS, VIEW_CHANNEL,
};
pub use provider::DiscordProvider;
pub use settings::DiscordSettings;

#[cfg(test)]
mod tests;

#![doc = include_str!("../README.md")]

mod api;
mod errors;
mod provider;
mod scopes;
mod settings;

pub use provider::SlackProvider;
pub use scopes::REQUIRED_SCOPES;
pub use settings::SlackSettings;

#[cfg(test)]
mod tests;

#![doc = include_str!("../README.md")]

pub mod error;
pub mod ids;
pub mod model;
pub mod ports;
pub mod services;

pub use error::ValidationError;

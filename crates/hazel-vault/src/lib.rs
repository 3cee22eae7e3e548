#![doc = include_str!("../README.md")]

mod key;
mod vault;

pub use key::{KEY_FILE, SecretKey};
pub use vault::AesGcmVault;

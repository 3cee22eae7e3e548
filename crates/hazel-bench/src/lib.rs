#![doc = include_str!("../README.md")]

pub mod load;
pub mod raw;

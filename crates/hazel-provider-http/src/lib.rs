#![doc = include_str!("../README.md")]

mod body;
mod decode;
mod errors;
mod headers;

pub use body::{body_too_large, read_body};
pub use decode::{DecodeFailure, decode};
pub use errors::{
    DEFAULT_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS, TransportFailure, deadline_passed,
    delivery_deadline_passed, retry_after, retry_after_seconds, status_delivery_error,
    transport_error,
};
pub use headers::{authorization, retry_after_header};

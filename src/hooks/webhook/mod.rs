//! Webhooks: how a `url` binding is called ([`client`]) and signed ([`sign`]). Used by the
//! before-chain (awaited), by background after-hooks and by the durable delivery worker.

pub mod client;
pub mod sign;

pub use client::{Answer, Call, Failure, WebhookClient, MAX_RESPONSE_BYTES};

//! The Sellsy invoice worker's parts, one job each. The rules are the Node worker's
//! (node-worker-compat/lib/), so both can serve one queue.

pub(crate) mod api;
pub(crate) mod config;
mod error;
mod event;
mod idempotency;
mod invoice_body;
pub(crate) mod processor;
mod retry_after;
mod token;

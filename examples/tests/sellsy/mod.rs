//! Support for the invoice worker's tests.

pub(crate) mod fake_api;
pub(crate) mod fixtures;
pub(crate) mod harness;

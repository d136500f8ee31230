//! `deduplication`: `{id, ttl, extend, replace, keepLastIfActive, reschedule}`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// BullMQ deduplication: while the slot of `id` is held, adds with the same id add nothing
/// and return the holder's id. Stored in the job's opts as `de`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deduplication {
    /// The deduplication id (required, not empty).
    pub id: String,
    /// How long the slot is held; without it, until the holder finishes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::codec::millis"
    )]
    pub ttl: Option<Duration>,
    /// A duplicate re-arms the TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend: Option<bool>,
    /// A duplicate replaces a holder that is still delayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<bool>,
    /// A duplicate arriving while the holder runs is kept and added when it finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last_if_active: Option<bool>,
    /// A duplicate moves a still-delayed holder to now + its own delay (BullMQ 6 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reschedule: Option<bool>,
}

//! Job options with BullMQ's names and shapes.

mod backoff;
mod dedup;
mod parent;
mod remove_on;
mod repeat;
pub(crate) mod validate;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use backoff::Backoff;
pub use dedup::Deduplication;
pub use parent::ParentRef;
pub use remove_on::{KeepJobs, RemoveOn};
pub use repeat::{JobTemplate, RepeatOptions};

use crate::job::JobId;

/// Options of one job, as BullMQ's `JobsOptions` names them (camelCase in JSON).
///
/// Reads BullMQ's own JSON (`{"jobId": "a", "delay": 5000, "removeOnComplete": true}`) and
/// refuses unknown keys. `None` means "not given", and is left out of what is stored, as
/// BullMQ leaves out undefined options. Times are [`Duration`]s here and milliseconds on
/// the wire (seconds for [`KeepJobs::age`], as in BullMQ).
///
/// The job's stored `opts` keeps the declaration order of these fields, after `attempts`.
///
/// ```
/// use std::time::Duration;
/// use bullmq_rs::{Backoff, JobOptions, RemoveOn};
///
/// let from_json: JobOptions = serde_json::from_str(
///     r#"{"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}, "removeOnComplete": true}"#,
/// ).unwrap();
/// let in_rust = JobOptions {
///     attempts: Some(3),
///     backoff: Some(Backoff::Exponential { delay: Some(Duration::from_secs(1)), jitter: None }),
///     remove_on_complete: Some(RemoveOn::Remove(true)),
///     ..Default::default()
/// };
/// assert_eq!(from_json, in_rust);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobOptions {
    /// Total tries before the job fails for good (BullMQ stores 0 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// A custom id instead of the queue's counter; adding an existing id adds nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// Wait this long before the job may run.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::codec::millis"
    )]
    pub delay: Option<Duration>,
    /// 1 (highest) to the major's limit; 0 or none means not prioritized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Run before the jobs already waiting (pushed to the worker's end of `wait`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifo: Option<bool>,
    /// How long to wait between tries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// What to keep of the job once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_on_complete: Option<RemoveOn>,
    /// What to keep of the job once failed for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_on_fail: Option<RemoveOn>,
    /// How many log lines to keep (stored as `kl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_logs: Option<u32>,
    /// How many stack traces to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace_limit: Option<u32>,
    /// Refuse the job when its data JSON exceeds this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<u64>,
    /// Creation time in ms since the epoch, instead of now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// Drop adds that repeat a deduplication id (stored as `de`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication: Option<Deduplication>,
    /// Fail the parent when this child fails (stored as `fpof`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_parent_on_failure: Option<bool>,
    /// Let the parent go on when this child fails (stored as `cpof`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_parent_on_failure: Option<bool>,
    /// Count this child as done for its parent when it fails (stored as `idof`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_dependency_on_failure: Option<bool>,
    /// Remove this child from its parent's dependencies when it fails (stored as `rdof`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_dependency_on_failure: Option<bool>,
    /// Make the job a child of this parent, which then waits for it (the parent must exist,
    /// usually added by a [`crate::FlowProducer`] or waiting after
    /// [`crate::ActiveJob::move_to_waiting_children`]). Last in the stored `opts`, as a
    /// FlowProducer stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRef>,
}

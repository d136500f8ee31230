//! Job ids, job states and jobs read back from Redis.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::options::{JobOptions, ParentRef};

/// A job id: the decimal value of the queue's `id` counter, or a custom id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// The id as Redis stores it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for JobId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for JobId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

/// Where a job is in its life, as BullMQ's `getState` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// In `wait` (or, with BullMQ 5, in the `paused` list of a paused queue).
    Waiting,
    /// In `prioritized`.
    Prioritized,
    /// In `delayed`.
    Delayed,
    /// Taken by a worker.
    Active,
    /// In `completed`.
    Completed,
    /// In `failed`.
    Failed,
    /// A parent waiting for its children.
    WaitingChildren,
    /// In BullMQ 5's `paused` list, where a paused queue parks its waiting jobs. Only the
    /// getters that name lists by state ([`crate::Queue::get_jobs`],
    /// [`crate::Queue::get_job_counts_of`], [`crate::Queue::clean`]) use it; a job read
    /// back from there is [`JobState::Waiting`], as BullMQ's `getState` says.
    Paused,
    /// The hash exists but the id is in none of the queue's lists and sets.
    Unknown,
}

impl JobState {
    /// BullMQ's name for the state (`waiting-children`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Prioritized => "prioritized",
            Self::Delayed => "delayed",
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::WaitingChildren => "waiting-children",
            Self::Paused => "paused",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many jobs a queue holds in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobCounts {
    /// `wait`, plus BullMQ 5's `paused` list.
    pub waiting: u64,
    /// `prioritized`.
    pub prioritized: u64,
    /// `delayed`.
    pub delayed: u64,
    /// `active`.
    pub active: u64,
    /// `completed`.
    pub completed: u64,
    /// `failed`.
    pub failed: u64,
    /// `waiting-children`.
    pub waiting_children: u64,
}

/// A job read back from its hash, with the fields BullMQ's `Job.fromJSON` reads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Job {
    /// The job's id.
    pub id: JobId,
    /// The job's name.
    pub name: String,
    /// The job's data (`{}` when the hash has none, as in BullMQ).
    pub data: serde_json::Value,
    /// The options as stored, decoded from BullMQ's abbreviated names.
    pub opts: JobOptions,
    /// The `opts` field exactly as stored: BullMQ's abbreviated names in their stored
    /// order, options this crate does not model (`repeat`, `tm`, ...) included. Node's
    /// `Job.asJSON()` shows the options from this.
    pub stored_opts: serde_json::Map<String, serde_json::Value>,
    /// The job scheduler (or repeatable job) that made this job (`rjk`).
    pub repeat_job_key: Option<String>,
    /// Where the job is now.
    pub state: JobState,
    /// Creation time, ms since the epoch (the producer's clock).
    pub timestamp: u64,
    /// The `delay` field in ms (0 once a delayed job was promoted).
    pub delay: u64,
    /// The `priority` field.
    pub priority: u64,
    /// When a worker took it, ms since the epoch.
    pub processed_on: Option<u64>,
    /// When it completed or failed for good, ms since the epoch.
    pub finished_on: Option<u64>,
    /// Attempts started (`ats`).
    pub attempts_started: u64,
    /// Attempts made (`atm`).
    pub attempts_made: u64,
    /// Times it was found stalled (`stc`).
    pub stalled_counter: u64,
    /// The processor's result, as JSON (`returnvalue`).
    pub return_value: Option<serde_json::Value>,
    /// The failure message (`failedReason`).
    pub failed_reason: Option<String>,
    /// Stack traces of failed attempts (`stacktrace`).
    pub stacktrace: Vec<String>,
    /// Reported progress (`progress`), as JSON.
    pub progress: Option<serde_json::Value>,
    /// The deduplication id (`deid`).
    pub deduplication_id: Option<String>,
    /// A failure decided while the job was not running (`defa`, e.g. stalled too often):
    /// the next worker fails the job with it instead of running it.
    pub deferred_failure: Option<String>,
    /// The parent this job is a child of (its `parent` field).
    pub parent: Option<ParentRef>,
    /// The parent's job key (`parentKey`), e.g. `bull:invoices:inv-7`.
    pub parent_key: Option<String>,
}

/// A job's `parent` field: `{"id": .., "queueKey": "<prefix>:<queue>", "fpof": true?}`.
fn parent_from_field(json: &str) -> Option<ParentRef> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(ParentRef {
        id: JobId::from(value.get("id")?.as_str()?),
        queue: value.get("queueKey")?.as_str()?.to_owned(),
    })
}

impl Job {
    /// Decodes a job hash (`HGETALL`) the way BullMQ reads one.
    pub(crate) fn from_hash(
        id: JobId,
        state: JobState,
        mut hash: HashMap<String, String>,
    ) -> crate::Result<Self> {
        let mut take = |field: &str| hash.remove(field);
        let int = |value: Option<String>| value.and_then(|v| v.parse::<u64>().ok());
        let json = |value: Option<String>| {
            value.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
        };
        let (opts, stored_opts) = match take("opts") {
            Some(stored) => (
                crate::codec::options_from_stored(&stored)?,
                // `options_from_stored` accepted it, so it is a JSON object.
                serde_json::from_str(&stored).unwrap_or_default(),
            ),
            None => (JobOptions::default(), serde_json::Map::new()),
        };
        Ok(Self {
            id,
            state,
            name: take("name").unwrap_or_default(),
            data: json(take("data")).unwrap_or_else(|| serde_json::json!({})),
            opts,
            stored_opts,
            repeat_job_key: take("rjk"),
            timestamp: int(take("timestamp")).unwrap_or_default(),
            delay: int(take("delay")).unwrap_or_default(),
            priority: int(take("priority")).unwrap_or_default(),
            processed_on: int(take("processedOn")),
            finished_on: int(take("finishedOn")),
            attempts_started: int(take("ats")).unwrap_or_default(),
            attempts_made: int(take("atm").or_else(|| take("attemptsMade"))).unwrap_or_default(),
            stalled_counter: int(take("stc")).unwrap_or_default(),
            return_value: json(take("returnvalue")),
            failed_reason: take("failedReason"),
            stacktrace: take("stacktrace")
                .and_then(|traces| serde_json::from_str(&traces).ok())
                .unwrap_or_default(),
            progress: json(take("progress")),
            deduplication_id: take("deid"),
            deferred_failure: take("defa"),
            parent: take("parent").and_then(|json| parent_from_field(&json)),
            parent_key: take("parentKey"),
        })
    }
}

//! What a worker tells the application as it goes (BullMQ's `worker.on('active' | 'progress'
//! | 'completed' | 'failed' | 'stalled' | 'error')`), through [`super::WorkerBuilder::on_event`].

use serde_json::Value;

use super::JobError;
use crate::Error;
use crate::job::{Job, JobId};

/// One thing that happened in a worker, as BullMQ's worker emits it. Borrowed: a hook
/// that keeps it copies what it needs.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkerEvent<'a> {
    /// The handler starts on a job (`active`).
    Active(&'a Job),
    /// The handler reported progress (`progress`).
    Progress(&'a Job, &'a Value),
    /// A job completed with this value (`completed`).
    Completed(&'a Job, &'a Value),
    /// An attempt failed (`failed`): emitted for every failed attempt, as in BullMQ;
    /// `retried` says whether the job will run again.
    Failed {
        /// The job, as read when the attempt started.
        job: &'a Job,
        /// Why it failed.
        error: &'a JobError,
        /// Whether the job goes back to `wait` or `delayed` for another attempt.
        retried: bool,
    },
    /// This worker's stalled check moved a job whose lock had expired back to `wait`
    /// (`stalled`).
    Stalled(&'a JobId),
    /// An error the worker recovered from by itself (`error`); also given to
    /// [`super::WorkerBuilder::on_error`].
    Error(&'a Error),
}

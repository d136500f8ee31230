#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod cjson;
mod codec;
mod connection;
mod error;
mod events;
mod flow;
mod job;
mod keys;
mod layout;
mod options;
mod queue;
mod scheduler;
mod scripts;
mod worker;

pub use connection::{ConnectionOptions, Topology};
pub use error::Refusal;
pub use error::{Error, Result, ScriptError};
pub use events::{EventEntry, EventId, JobOutcome, QueueEvent, QueueEvents, QueueEventsBuilder};
pub use flow::{AddedFlow, Dependencies, FlowJob, FlowProducer, FlowProducerBuilder, JobNode};
pub use job::{Job, JobCounts, JobId, JobState};
pub use keys::QueueKeys;
pub use layout::BullmqMajor;
pub use options::{
    Backoff, Deduplication, JobOptions, JobTemplate, KeepJobs, ParentRef, RemoveOn, RepeatOptions,
};
pub use queue::{DEFAULT_MAX_LEN_EVENTS, DEFAULT_PREFIX, NewJob, Queue, QueueBuilder};
pub use queue::{GlobalRateLimit, JobLogs, QueueMeta, WorkerClient};
pub use queue::{RemoveOptions, RetryJobsOptions, RetryOptions};
pub use scheduler::{JobScheduler, SchedulerTemplate};
pub use worker::{
    ActiveJob, JobCancellation, JobError, Limiter, Worker, WorkerBuilder, WorkerControl,
    WorkerEvent,
};

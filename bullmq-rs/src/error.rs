//! The crate's one error type.

use std::fmt;

/// What can go wrong when talking BullMQ through this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A job option that BullMQ would refuse, or that this crate cannot honour.
    #[error("invalid job option `{option}`: {reason}")]
    InvalidOption {
        /// The option's BullMQ name, e.g. `priority`.
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// A queue name or prefix that cannot form BullMQ keys.
    #[error("invalid queue {what} {value:?}: {reason}")]
    InvalidQueue {
        /// `name` or `prefix`.
        what: &'static str,
        /// The refused value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A flow that cannot be written as given (its queues would span cluster slots, a
    /// node uses an option flows do not allow).
    #[error("invalid flow: {0}")]
    InvalidFlow(String),
    /// A BullMQ major other than 5 or 6.
    #[error("unsupported BullMQ major {0:?}: expected 5 or 6")]
    UnsupportedMajor(String),
    /// The Redis URL could not be understood (the URL itself is not repeated: it may hold a password).
    #[error("invalid redis url: {0}")]
    InvalidUrl(String),
    /// Redis could not be reached when connecting.
    #[error("cannot connect to redis at {address}: {source}")]
    Connect {
        /// Host and port (never the password).
        address: String,
        /// The underlying failure.
        source: redis::RedisError,
    },
    /// Job data or options that do not serialize to JSON.
    #[error("cannot serialize job data: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A script answered with one of BullMQ's negative error codes.
    #[error("script `{script}` refused: {code}")]
    Script {
        /// Which of our scripts.
        script: &'static str,
        /// The refusal.
        code: ScriptError,
    },
    /// Redis answered something this crate does not expect; nothing is guessed from it.
    #[error("unexpected reply from redis to {command}: {detail}")]
    UnexpectedReply {
        /// The command or script.
        command: &'static str,
        /// What was wrong with the reply.
        detail: String,
    },
    /// A stream entry id that is not `<ms>-<seq>` (or `<ms>`).
    #[error("invalid event id {0:?}: expected <ms>-<seq>")]
    InvalidEventId(String),
    /// The job does not exist (and no event says it finished).
    #[error("job {0} does not exist")]
    JobNotFound(crate::job::JobId),
    /// BullMQ's rules refuse this operation on this job as it is now (it is locked by a
    /// worker, or not in the state the operation needs); Node BullMQ refuses it too.
    #[error("job {job_id} refused: {reason}")]
    JobRefused {
        /// The job.
        job_id: crate::job::JobId,
        /// Which rule refused it.
        reason: Refusal,
    },
    /// A job did not finish in the time given to wait for it.
    #[error("job {job_id} did not finish within {timeout:?}")]
    WaitTimedOut {
        /// The job waited for.
        job_id: crate::job::JobId,
        /// How long it was waited for.
        timeout: std::time::Duration,
    },
    /// A Redis command failed (connection lost, timeout, server error).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why BullMQ's rules refuse an operation on a job ([`Error::JobRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A worker holds the job's lock (or, when children are removed too, a child's).
    Locked,
    /// The job is not in the state the operation works on; that state is given.
    NotInState(crate::job::JobState),
    /// The job is the pending run of a job scheduler: remove the scheduler instead.
    SchedulerRun,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Locked => f.write_str("it is locked by a worker"),
            Self::NotInState(state) => write!(f, "it is not {state}"),
            Self::SchedulerRun => f.write_str("it is the next run of a job scheduler"),
        }
    }
}

/// Negative codes returned by the scripts, with BullMQ's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptError {
    /// Obliterate: the queue must be paused first.
    NotPaused,
    /// Obliterate: jobs are active and force was not asked for.
    ActiveJobs,
    /// `-1`: the job does not exist.
    JobMissing,
    /// `-2`: the job's lock is gone (it expired; the job may run elsewhere now).
    LockLost,
    /// `-3`: the job is not active.
    NotActive,
    /// `-4`: the job still has children pending.
    PendingChildren,
    /// `-5`: the parent named by a child does not exist.
    ParentMissing,
    /// `-7`: the job exists already and belongs to another parent.
    ParentCannotBeReplaced,
    /// `-9`: a child whose failure fails its parent (`failParentOnFailure`) failed.
    FailedChildren,
    /// `-6`: another worker holds the job's lock.
    LockMismatch,
    /// `-10`: a job scheduler's next run id is taken by another job.
    SchedulerJobIdCollision,
    /// `-11`: every slot tried for a job scheduler's next run is taken.
    SchedulerJobSlotsBusy,
    /// Any other negative code.
    Other(i64),
}

impl ScriptError {
    pub(crate) fn from_obliterate_code(code: i64) -> Self {
        match code {
            -1 => Self::NotPaused,
            -2 => Self::ActiveJobs,
            other => Self::Other(other),
        }
    }

    /// BullMQ's `ErrorCode` for the job scripts.
    pub(crate) fn from_job_code(code: i64) -> Self {
        match code {
            -1 => Self::JobMissing,
            -2 => Self::LockLost,
            -3 => Self::NotActive,
            -4 => Self::PendingChildren,
            -5 => Self::ParentMissing,
            -7 => Self::ParentCannotBeReplaced,
            -9 => Self::FailedChildren,
            -6 => Self::LockMismatch,
            -10 => Self::SchedulerJobIdCollision,
            -11 => Self::SchedulerJobSlotsBusy,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPaused => f.write_str("the queue is not paused"),
            Self::ActiveJobs => f.write_str("the queue has active jobs"),
            Self::JobMissing => f.write_str("the job does not exist"),
            Self::LockLost => f.write_str("the job's lock is gone"),
            Self::NotActive => f.write_str("the job is not active"),
            Self::PendingChildren => f.write_str("the job has pending children"),
            Self::ParentMissing => f.write_str("the parent job does not exist"),
            Self::ParentCannotBeReplaced => {
                f.write_str("the job exists already and belongs to another parent")
            }
            Self::FailedChildren => f.write_str("a child that had to succeed failed"),
            Self::LockMismatch => f.write_str("another worker holds the job's lock"),
            Self::SchedulerJobIdCollision => {
                f.write_str("another job holds the id of the scheduler's next run")
            }
            Self::SchedulerJobSlotsBusy => {
                f.write_str("other jobs hold every slot tried for the scheduler's next run")
            }
            Self::Other(code) => write!(f, "error code {code}"),
        }
    }
}

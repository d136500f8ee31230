//! The `queue` example's commands: each parsed from the command line, then run against
//! one queue, answering the lines to print.

use std::time::Duration;

use bullmq_rs::{JobId, JobState, Queue, RemoveOptions, RetryJobsOptions, RetryOptions};
use examples::{Args, UsageError};
use serde_json::json;

use crate::job_json::as_json;

/// Flags that take a value, over all commands; each command says which it accepts.
pub(crate) const VALUE_FLAGS: &[&str] = &[
    "start",
    "end",
    "state",
    "count",
    "grace-ms",
    "limit",
    "max",
    "duration-ms",
];
/// Flags that take no value.
pub(crate) const SWITCHES: &[&str] = &["asc", "all", "delayed", "force", "remove"];

/// BullMQ's default batch of `retryJobs` and `promoteJobs`.
const DEFAULT_BATCH: u64 = 1000;

/// One command of the `queue` example.
pub(crate) enum Command {
    Counts,
    Jobs {
        state: JobState,
        start: i64,
        end: i64,
        asc: bool,
    },
    Get(JobId),
    Logs {
        id: JobId,
        start: i64,
        end: i64,
    },
    Retry {
        id: JobId,
        state: JobState,
    },
    RetryAll {
        state: JobState,
        count: u32,
    },
    Promote(JobId),
    PromoteAll {
        count: u32,
    },
    Remove(JobId),
    Clean {
        state: JobState,
        grace: Duration,
        limit: u64,
    },
    Drain {
        delayed: bool,
    },
    Pause,
    Resume,
    Obliterate {
        force: bool,
    },
    Workers,
    Dedup(String),
    DedupRemove(String),
    Concurrency(Option<u32>),
    RateLimit(Option<(u32, Duration)>),
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// A BullMQ state name (`wait` for `waiting`).
fn state(name: &str) -> Result<JobState, UsageError> {
    Ok(match name {
        "waiting" | "wait" => JobState::Waiting,
        "active" => JobState::Active,
        "delayed" => JobState::Delayed,
        "prioritized" => JobState::Prioritized,
        "completed" => JobState::Completed,
        "failed" => JobState::Failed,
        "paused" => JobState::Paused,
        "waiting-children" => JobState::WaitingChildren,
        other => return Err(usage(format!("{other:?} is not a BullMQ state"))),
    })
}

/// `--name` as a whole number that may be negative (`--end -1`), else `default`.
fn index(args: &Args, name: &str, default: i64) -> Result<i64, UsageError> {
    args.flag(name).map_or(Ok(default), |value| {
        value
            .parse()
            .map_err(|_| usage(format!("--{name}: {value:?} is not a number")))
    })
}

/// `--name` as a positive number that fits a u32.
fn positive(args: &Args, name: &str) -> Result<Option<u32>, UsageError> {
    args.number(name)?
        .map(|n| {
            u32::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| usage(format!("--{name}: {n} is not between 1 and {}", u32::MAX)))
        })
        .transpose()
}

fn batch(args: &Args) -> Result<u32, UsageError> {
    Ok(positive(args, "count")?.unwrap_or(DEFAULT_BATCH as u32))
}

fn finished_state(args: &Args) -> Result<JobState, UsageError> {
    match args.flag("state").map(state).transpose()? {
        None | Some(JobState::Failed) => Ok(JobState::Failed),
        Some(JobState::Completed) => Ok(JobState::Completed),
        Some(other) => Err(usage(format!(
            "--state: {other} is neither failed nor completed"
        ))),
    }
}

impl Command {
    /// The queue name and the command of `args`' positional arguments and flags.
    ///
    /// # Errors
    /// An unknown command, missing or extra arguments, a flag the command does not take.
    pub(crate) fn parse(args: &Args) -> Result<(String, Self), UsageError> {
        let [queue, command, rest @ ..] = args.positional.as_slice() else {
            return Err(usage("QUEUE and COMMAND are needed"));
        };
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        let (accepted, parsed): (&[&str], Self) = match (command.as_str(), rest.as_slice()) {
            ("counts", []) => (&[], Self::Counts),
            ("jobs", [name]) => (
                &["start", "end", "asc"],
                Self::Jobs {
                    state: state(name)?,
                    start: index(args, "start", 0)?,
                    end: index(args, "end", -1)?,
                    asc: args.switch("asc"),
                },
            ),
            ("get", [id]) => (&[], Self::Get(JobId::from(*id))),
            ("logs", [id]) => (
                &["start", "end"],
                Self::Logs {
                    id: JobId::from(*id),
                    start: index(args, "start", 0)?,
                    end: index(args, "end", -1)?,
                },
            ),
            ("retry", [id]) => (
                &["state"],
                Self::Retry {
                    id: JobId::from(*id),
                    state: finished_state(args)?,
                },
            ),
            ("retry", []) if args.flag("state").is_some() => (
                &["state", "count"],
                Self::RetryAll {
                    state: finished_state(args)?,
                    count: batch(args)?,
                },
            ),
            ("promote", [id]) => (&[], Self::Promote(JobId::from(*id))),
            ("promote", []) if args.switch("all") => (
                &["all", "count"],
                Self::PromoteAll {
                    count: batch(args)?,
                },
            ),
            ("remove", [id]) => (&[], Self::Remove(JobId::from(*id))),
            ("clean", [name]) => {
                let grace = args
                    .number("grace-ms")?
                    .ok_or_else(|| usage("clean needs --grace-ms"))?;
                (
                    &["grace-ms", "limit"],
                    Self::Clean {
                        state: state(name)?,
                        grace: Duration::from_millis(grace),
                        limit: args.number("limit")?.unwrap_or(0),
                    },
                )
            }
            ("drain", []) => (
                &["delayed"],
                Self::Drain {
                    delayed: args.switch("delayed"),
                },
            ),
            ("pause", []) => (&[], Self::Pause),
            ("resume", []) => (&[], Self::Resume),
            ("obliterate", []) => (
                &["force"],
                Self::Obliterate {
                    force: args.switch("force"),
                },
            ),
            ("workers", []) => (&[], Self::Workers),
            ("dedup", [id]) if args.switch("remove") => {
                (&["remove"], Self::DedupRemove((*id).to_owned()))
            }
            ("dedup", [id]) => (&[], Self::Dedup((*id).to_owned())),
            ("concurrency", []) if args.switch("remove") => (&["remove"], Self::Concurrency(None)),
            ("concurrency", [n]) => {
                let n =
                    n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        usage(format!("concurrency: {n:?} is not a positive number"))
                    })?;
                (&[], Self::Concurrency(Some(n)))
            }
            ("rate-limit", []) if args.switch("remove") => (&["remove"], Self::RateLimit(None)),
            ("rate-limit", []) => {
                let max = positive(args, "max")?.ok_or_else(|| usage("rate-limit needs --max"))?;
                let duration = args
                    .number("duration-ms")?
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| usage("rate-limit needs a positive --duration-ms"))?;
                (
                    &["max", "duration-ms"],
                    Self::RateLimit(Some((max, Duration::from_millis(duration)))),
                )
            }
            (command, _) => {
                return Err(usage(format!(
                    "unknown command or wrong arguments: {command}"
                )));
            }
        };
        if let Some(flag) = args.given().find(|flag| !accepted.contains(flag)) {
            return Err(usage(format!("{command} does not take --{flag}")));
        }
        Ok((queue.clone(), parsed))
    }

    /// Runs the command and answers the lines to print.
    ///
    /// # Errors
    /// The library's: [`bullmq_rs::Error::JobNotFound`], [`bullmq_rs::Error::JobRefused`],
    /// a refused obliterate, Redis unreachable.
    pub(crate) async fn run(self, queue: &Queue) -> bullmq_rs::Result<Vec<String>> {
        let major = queue.major();
        let ok = || Ok(vec![json!({"ok": true}).to_string()]);
        match self {
            Self::Counts => {
                // Node's `getJobCounts(...)` of these names, in this (alphabetical) order.
                let states = [
                    JobState::Active,
                    JobState::Completed,
                    JobState::Delayed,
                    JobState::Failed,
                    JobState::Paused,
                    JobState::Prioritized,
                    JobState::Waiting,
                    JobState::WaitingChildren,
                ];
                let counts = queue.get_job_counts_of(&states).await?;
                let object: serde_json::Map<_, _> = states
                    .iter()
                    .map(|state| (state.as_str().to_owned(), json!(counts[state])))
                    .collect();
                Ok(vec![serde_json::Value::Object(object).to_string()])
            }
            Self::Jobs {
                state,
                start,
                end,
                asc,
            } => {
                let jobs = queue.get_jobs(&[state], start, end, asc).await?;
                Ok(jobs
                    .iter()
                    .map(|job| as_json(job, major, None).to_string())
                    .collect())
            }
            Self::Get(id) => {
                let job = queue
                    .get_job(&id)
                    .await?
                    .ok_or(bullmq_rs::Error::JobNotFound(id))?;
                Ok(vec![as_json(&job, major, Some(job.state)).to_string()])
            }
            Self::Logs { id, start, end } => {
                let logs = queue.get_job_logs(&id, start, end, true).await?;
                Ok(logs
                    .logs
                    .iter()
                    .map(|line| json!(line).to_string())
                    .collect())
            }
            Self::Retry { id, state } => {
                queue.retry_job(&id, state, RetryOptions::default()).await?;
                ok()
            }
            Self::RetryAll { state, count } => {
                let opts = RetryJobsOptions {
                    count,
                    timestamp: None,
                };
                queue.retry_jobs(state, opts).await?;
                ok()
            }
            Self::Promote(id) => {
                queue.promote_job(&id).await?;
                ok()
            }
            Self::PromoteAll { count } => {
                queue.promote_jobs(count).await?;
                ok()
            }
            Self::Remove(id) => {
                queue.remove(&id, RemoveOptions::default()).await?;
                ok()
            }
            Self::Clean {
                state,
                grace,
                limit,
            } => {
                let removed = queue.clean(grace, limit, state).await?;
                Ok(vec![json!({"removed": removed.len()}).to_string()])
            }
            Self::Drain { delayed } => {
                queue.drain(delayed).await?;
                ok()
            }
            Self::Pause => {
                queue.pause().await?;
                ok()
            }
            Self::Resume => {
                queue.resume().await?;
                ok()
            }
            Self::Obliterate { force: false } => {
                queue.obliterate().await?;
                ok()
            }
            Self::Obliterate { force: true } => {
                queue.force_obliterate().await?;
                ok()
            }
            Self::Workers => Ok(queue
                .get_workers()
                .await?
                .into_iter()
                .map(|worker| json!(worker.fields).to_string())
                .collect()),
            Self::Dedup(dedup_id) => {
                let owner = queue.get_deduplication_job_id(&dedup_id).await?;
                Ok(vec![json!(owner.map(JobId::into_string)).to_string()])
            }
            Self::DedupRemove(dedup_id) => {
                queue.remove_deduplication_key(&dedup_id).await?;
                ok()
            }
            Self::Concurrency(Some(n)) => {
                queue.set_global_concurrency(n).await?;
                ok()
            }
            Self::Concurrency(None) => {
                queue.remove_global_concurrency().await?;
                ok()
            }
            Self::RateLimit(Some((max, duration))) => {
                queue.set_global_rate_limit(max, duration).await?;
                ok()
            }
            Self::RateLimit(None) => {
                queue.remove_global_rate_limit().await?;
                ok()
            }
        }
    }
}

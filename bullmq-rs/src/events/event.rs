//! Typed entries of a queue's `events` stream ([`QueueEvent`]), with the field layouts
//! BullMQ 5 and 6 write (the same in both, but for BullMQ 5's `debounced`).

use serde_json::Value;

use super::entry::{EventEntry, EventId};
use crate::job::JobId;

/// A typed entry of a queue's `events` stream, as BullMQ's `QueueEvents` reports it.
///
/// Every variant keeps the entry's [`EventId`]. Job ids are [`JobId`]s, numbers BullMQ
/// writes as numbers are `u64`, and the JSON BullMQ stores (`returnvalue`, progress `data`)
/// is parsed. Fields a BullMQ version may add later are ignored here (read the
/// [`EventEntry`] for them). An entry whose name is unknown (a custom event, a newer
/// BullMQ's), or that lacks a field its name needs, or whose field does not parse, is
/// kept as [`QueueEvent::Other`] with its fields as stored: no entry is dropped.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QueueEvent {
    /// `added`: a job was stored.
    #[non_exhaustive]
    Added {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// The job's name.
        name: String,
    },
    /// `waiting`: a job is ready to run.
    #[non_exhaustive]
    Waiting {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// Where it came from (`active` after a retry or a stall, `delayed`,
        /// `waiting-children`), absent for a new job.
        prev: Option<String>,
    },
    /// `active`: a worker took a job.
    #[non_exhaustive]
    Active {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// `waiting`.
        prev: Option<String>,
    },
    /// `progress`: a running job reported progress.
    #[non_exhaustive]
    Progress {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// The progress, any JSON (BullMQ's `data` field).
        data: Value,
    },
    /// `completed`: a job finished successfully.
    #[non_exhaustive]
    Completed {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// What the processor returned (BullMQ's `returnvalue`).
        return_value: Value,
        /// `active`.
        prev: Option<String>,
    },
    /// `failed`: a job failed for good (an attempt that will be retried shows as
    /// `delayed` or `waiting` with `prev` `active` instead).
    #[non_exhaustive]
    Failed {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// The error message.
        failed_reason: String,
        /// `active` (absent when the job failed without running).
        prev: Option<String>,
    },
    /// `delayed`: a job waits until a given time (delayed add, retry backoff).
    #[non_exhaustive]
    Delayed {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// BullMQ's `delay`: the time the job is due, in ms since the Unix epoch (not a
        /// duration).
        delay: u64,
    },
    /// `stalled`: a job's worker stopped renewing its lock; the job went back to wait
    /// (after a `waiting` event) or failed.
    #[non_exhaustive]
    Stalled {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
    },
    /// `retries-exhausted`: a job failed its last attempt.
    #[non_exhaustive]
    RetriesExhausted {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// Attempts made.
        attempts_made: u64,
    },
    /// `duplicated`: an add with an existing custom job id changed nothing.
    #[non_exhaustive]
    Duplicated {
        /// The entry's id.
        id: EventId,
        /// The existing job.
        job_id: JobId,
    },
    /// `deduplicated`: an add was absorbed by the job holding its deduplication id.
    #[non_exhaustive]
    Deduplicated {
        /// The entry's id.
        id: EventId,
        /// The job that holds the deduplication id (the one kept).
        job_id: JobId,
        /// The deduplication id.
        deduplication_id: String,
        /// The id the absorbed add would have had.
        deduplicated_job_id: JobId,
    },
    /// `debounced` (BullMQ 5 only, written along with `deduplicated`).
    #[non_exhaustive]
    Debounced {
        /// The entry's id.
        id: EventId,
        /// The job that holds the deduplication id.
        job_id: JobId,
        /// The deduplication id.
        debounce_id: String,
    },
    /// `removed`: a job was deleted (or replaced by deduplication).
    #[non_exhaustive]
    Removed {
        /// The entry's id.
        id: EventId,
        /// The job.
        job_id: JobId,
        /// The state it was removed from, as BullMQ names it (`wait`, `delayed`, …).
        prev: Option<String>,
    },
    /// `drained`: a job finished and no job is waiting or active (delayed ones may remain).
    #[non_exhaustive]
    Drained {
        /// The entry's id.
        id: EventId,
    },
    /// `paused`: the queue was paused.
    #[non_exhaustive]
    Paused {
        /// The entry's id.
        id: EventId,
    },
    /// `resumed`: the queue was resumed.
    #[non_exhaustive]
    Resumed {
        /// The entry's id.
        id: EventId,
    },
    /// `cleaned`: finished or waiting jobs were deleted in bulk.
    #[non_exhaustive]
    Cleaned {
        /// The entry's id.
        id: EventId,
        /// How many.
        count: u64,
    },
    /// `waiting-children`: a parent job waits for its children.
    #[non_exhaustive]
    WaitingChildren {
        /// The entry's id.
        id: EventId,
        /// The parent job.
        job_id: JobId,
        /// `active` when a running job moved itself there.
        prev: Option<String>,
    },
    /// Any other entry, kept as stored.
    #[non_exhaustive]
    Other {
        /// The entry's id.
        id: EventId,
        /// Its `event` field (empty when it has none).
        name: String,
        /// Its other fields, in order.
        fields: Vec<(String, String)>,
    },
}

impl QueueEvent {
    /// Types a stream entry; never fails (see [`QueueEvent::Other`]).
    pub fn from_entry(entry: EventEntry) -> Self {
        typed(&entry).unwrap_or_else(|| {
            let name = entry.name().to_owned();
            let fields = entry
                .fields
                .into_iter()
                .filter(|(field, _)| field != "event")
                .collect();
            Self::Other {
                id: entry.id,
                name,
                fields,
            }
        })
    }

    /// The id of the entry the event was read from.
    pub fn id(&self) -> &EventId {
        match self {
            Self::Added { id, .. }
            | Self::Waiting { id, .. }
            | Self::Active { id, .. }
            | Self::Progress { id, .. }
            | Self::Completed { id, .. }
            | Self::Failed { id, .. }
            | Self::Delayed { id, .. }
            | Self::Stalled { id, .. }
            | Self::RetriesExhausted { id, .. }
            | Self::Duplicated { id, .. }
            | Self::Deduplicated { id, .. }
            | Self::Debounced { id, .. }
            | Self::Removed { id, .. }
            | Self::Drained { id }
            | Self::Paused { id }
            | Self::Resumed { id }
            | Self::Cleaned { id, .. }
            | Self::WaitingChildren { id, .. }
            | Self::Other { id, .. } => id,
        }
    }

    /// The event's name as BullMQ writes it (`completed`, `retries-exhausted`, …).
    pub fn name(&self) -> &str {
        match self {
            Self::Added { .. } => "added",
            Self::Waiting { .. } => "waiting",
            Self::Active { .. } => "active",
            Self::Progress { .. } => "progress",
            Self::Completed { .. } => "completed",
            Self::Failed { .. } => "failed",
            Self::Delayed { .. } => "delayed",
            Self::Stalled { .. } => "stalled",
            Self::RetriesExhausted { .. } => "retries-exhausted",
            Self::Duplicated { .. } => "duplicated",
            Self::Deduplicated { .. } => "deduplicated",
            Self::Debounced { .. } => "debounced",
            Self::Removed { .. } => "removed",
            Self::Drained { .. } => "drained",
            Self::Paused { .. } => "paused",
            Self::Resumed { .. } => "resumed",
            Self::Cleaned { .. } => "cleaned",
            Self::WaitingChildren { .. } => "waiting-children",
            Self::Other { name, .. } => name,
        }
    }

    /// The job the event is about, for the events that name one.
    pub fn job_id(&self) -> Option<&JobId> {
        match self {
            Self::Added { job_id, .. }
            | Self::Waiting { job_id, .. }
            | Self::Active { job_id, .. }
            | Self::Progress { job_id, .. }
            | Self::Completed { job_id, .. }
            | Self::Failed { job_id, .. }
            | Self::Delayed { job_id, .. }
            | Self::Stalled { job_id, .. }
            | Self::RetriesExhausted { job_id, .. }
            | Self::Duplicated { job_id, .. }
            | Self::Deduplicated { job_id, .. }
            | Self::Debounced { job_id, .. }
            | Self::Removed { job_id, .. }
            | Self::WaitingChildren { job_id, .. } => Some(job_id),
            Self::Drained { .. }
            | Self::Paused { .. }
            | Self::Resumed { .. }
            | Self::Cleaned { .. }
            | Self::Other { .. } => None,
        }
    }
}

/// The typed event, or `None` when the entry is not one BullMQ writes.
fn typed(entry: &EventEntry) -> Option<QueueEvent> {
    let id = entry.id.clone();
    let text = |field: &str| entry.field(field).map(str::to_owned);
    let job_id = || entry.field("jobId").map(JobId::from);
    let number = |field: &str| entry.field(field)?.parse::<u64>().ok();
    // BullMQ's QueueEvents `JSON.parse`s these two, and throws on anything else.
    let json = |field: &str| serde_json::from_str::<Value>(entry.field(field)?).ok();
    let prev = text("prev");
    Some(match entry.name() {
        "added" => QueueEvent::Added {
            id,
            job_id: job_id()?,
            name: text("name")?,
        },
        "waiting" => QueueEvent::Waiting {
            id,
            job_id: job_id()?,
            prev,
        },
        "active" => QueueEvent::Active {
            id,
            job_id: job_id()?,
            prev,
        },
        "progress" => QueueEvent::Progress {
            id,
            job_id: job_id()?,
            data: json("data")?,
        },
        "completed" => QueueEvent::Completed {
            id,
            job_id: job_id()?,
            return_value: json("returnvalue")?,
            prev,
        },
        "failed" => QueueEvent::Failed {
            id,
            job_id: job_id()?,
            failed_reason: text("failedReason")?,
            prev,
        },
        "delayed" => QueueEvent::Delayed {
            id,
            job_id: job_id()?,
            delay: number("delay")?,
        },
        "stalled" => QueueEvent::Stalled {
            id,
            job_id: job_id()?,
        },
        "retries-exhausted" => QueueEvent::RetriesExhausted {
            id,
            job_id: job_id()?,
            attempts_made: number("attemptsMade")?,
        },
        "duplicated" => QueueEvent::Duplicated {
            id,
            job_id: job_id()?,
        },
        "deduplicated" => QueueEvent::Deduplicated {
            id,
            job_id: job_id()?,
            deduplication_id: text("deduplicationId")?,
            deduplicated_job_id: entry.field("deduplicatedJobId")?.into(),
        },
        "debounced" => QueueEvent::Debounced {
            id,
            job_id: job_id()?,
            debounce_id: text("debounceId")?,
        },
        "removed" => QueueEvent::Removed {
            id,
            job_id: job_id()?,
            prev,
        },
        "drained" => QueueEvent::Drained { id },
        "paused" => QueueEvent::Paused { id },
        "resumed" => QueueEvent::Resumed { id },
        "cleaned" => QueueEvent::Cleaned {
            id,
            count: number("count")?,
        },
        "waiting-children" => QueueEvent::WaitingChildren {
            id,
            job_id: job_id()?,
            prev,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(fields: &[(&str, &str)]) -> EventEntry {
        EventEntry {
            id: "1700000000000-3".parse().unwrap(),
            fields: fields
                .iter()
                .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn known_events_are_typed_with_numbers_and_json() {
        let completed = QueueEvent::from_entry(entry(&[
            ("event", "completed"),
            ("jobId", "7"),
            ("returnvalue", r#"{"ok":true}"#),
            ("prev", "active"),
        ]));
        assert_eq!(
            completed,
            QueueEvent::Completed {
                id: "1700000000000-3".parse().unwrap(),
                job_id: "7".into(),
                return_value: json!({"ok": true}),
                prev: Some("active".to_owned()),
            }
        );
        assert_eq!(completed.name(), "completed");
        assert_eq!(completed.job_id(), Some(&JobId::from("7")));
        assert_eq!(completed.id().timestamp_ms(), 1_700_000_000_000);

        let delayed = QueueEvent::from_entry(entry(&[
            ("event", "delayed"),
            ("jobId", "8"),
            ("delay", "1700000000500"),
        ]));
        assert!(matches!(
            delayed,
            QueueEvent::Delayed {
                delay: 1_700_000_000_500,
                ..
            }
        ));
        let drained = QueueEvent::from_entry(entry(&[("event", "drained")]));
        assert!(matches!(drained, QueueEvent::Drained { .. }));
        assert_eq!(drained.job_id(), None);
    }

    #[test]
    fn unknown_or_malformed_entries_are_kept_as_other() {
        for fields in [
            vec![("event", "custom"), ("a", "1")],
            vec![
                ("event", "completed"),
                ("jobId", "1"),
                ("returnvalue", "not json"),
            ],
            vec![("event", "delayed"), ("jobId", "1"), ("delay", "soon")],
            vec![("event", "failed"), ("failedReason", "boom")],
            vec![("no-event", "x")],
        ] {
            let event = QueueEvent::from_entry(entry(&fields));
            let QueueEvent::Other {
                name, fields: kept, ..
            } = &event
            else {
                panic!("{event:?} should be Other");
            };
            let expected: Vec<(String, String)> = fields
                .iter()
                .filter(|(f, _)| *f != "event")
                .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(*kept, expected);
            let stored_name = fields
                .iter()
                .find(|(f, _)| *f == "event")
                .map_or("", |(_, v)| *v);
            assert_eq!(name, stored_name);
            assert_eq!(event.name(), stored_name);
        }
    }
}

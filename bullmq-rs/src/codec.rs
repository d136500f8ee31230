//! Rust values to BullMQ's wire forms and back, in one place: durations as ms (or s),
//! job options under the names BullMQ stores them with, and the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::job::JobId;
use crate::options::{Backoff, Deduplication, JobOptions, ParentRef, RemoveOn};

/// `Option<Duration>` as a whole number of milliseconds.
pub(crate) mod millis {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => s.serialize_u64(super::as_millis(*duration)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// `Option<Duration>` as a whole number of seconds (`removeOn*.age`).
pub(crate) mod seconds {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => s.serialize_u64(duration.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// Whole milliseconds of a duration, saturating.
pub(crate) fn as_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Now, in ms since the epoch: BullMQ's `Date.now()`.
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(as_millis)
        .unwrap_or_default()
}

/// The options as BullMQ stores them in a job's `opts`: `attempts` first and always (Node's
/// Job starts from `{attempts: 0}`), abbreviated names (`de`, `kl`, `fpof`, ...), a numeric
/// backoff as `{type, delay}`. Reading is lenient: a job written by Node may carry options
/// this crate does not model (telemetry, repeat), and they must not make it unreadable.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredOptions {
    #[serde(default)]
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job_id: Option<JobId>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "millis")]
    delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backoff: Option<Backoff>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remove_on_complete: Option<RemoveOn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    remove_on_fail: Option<RemoveOn>,
    #[serde(default, rename = "kl", skip_serializing_if = "Option::is_none")]
    keep_logs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack_trace_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timestamp: Option<u64>,
    #[serde(default, rename = "de", skip_serializing_if = "Option::is_none")]
    deduplication: Option<Deduplication>,
    #[serde(default, rename = "fpof", skip_serializing_if = "Option::is_none")]
    fail_parent_on_failure: Option<bool>,
    #[serde(default, rename = "cpof", skip_serializing_if = "Option::is_none")]
    continue_parent_on_failure: Option<bool>,
    #[serde(default, rename = "idof", skip_serializing_if = "Option::is_none")]
    ignore_dependency_on_failure: Option<bool>,
    #[serde(default, rename = "rdof", skip_serializing_if = "Option::is_none")]
    remove_dependency_on_failure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<ParentRef>,
}

/// The JSON of `opts` as the add script receives it (it re-encodes it, as BullMQ does).
pub(crate) fn options_to_stored(opts: &JobOptions) -> serde_json::Result<String> {
    Ok(options_to_stored_value(opts)?.to_string())
}

/// [`options_to_stored`] as a JSON value (keys in the same order).
pub(crate) fn options_to_stored_value(opts: &JobOptions) -> serde_json::Result<serde_json::Value> {
    let JobOptions {
        attempts,
        job_id,
        delay,
        priority,
        lifo,
        backoff,
        remove_on_complete,
        remove_on_fail,
        keep_logs,
        stack_trace_limit,
        size_limit,
        timestamp,
        deduplication,
        fail_parent_on_failure,
        continue_parent_on_failure,
        ignore_dependency_on_failure,
        remove_dependency_on_failure,
        parent,
    } = opts.clone();
    serde_json::to_value(StoredOptions {
        attempts: attempts.unwrap_or(0),
        job_id,
        delay,
        priority,
        lifo,
        backoff,
        remove_on_complete,
        remove_on_fail,
        keep_logs,
        stack_trace_limit,
        size_limit,
        timestamp,
        deduplication,
        fail_parent_on_failure,
        continue_parent_on_failure,
        ignore_dependency_on_failure,
        remove_dependency_on_failure,
        parent,
    })
}

/// A scheduler template's options as BullMQ stores them: like a job's, but `attempts` only
/// when given (Node passes template options through without its Job's `{attempts: 0}`).
pub(crate) fn template_options_to_stored(
    opts: &JobOptions,
) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
    let mut stored = match options_to_stored_value(opts)? {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    if opts.attempts.is_none() {
        stored.shift_remove("attempts");
    }
    Ok(stored)
}

/// Reads a scheduler template's stored options: `attempts` stays unset when absent.
pub(crate) fn template_options_from_stored(json: &str) -> crate::Result<JobOptions> {
    let mut opts = options_from_stored(json)?;
    let given = serde_json::from_str::<serde_json::Value>(json)
        .is_ok_and(|stored| stored.get("attempts").is_some());
    if !given {
        opts.attempts = None;
    }
    Ok(opts)
}

/// Reads a job's stored `opts` back into [`JobOptions`].
pub(crate) fn options_from_stored(json: &str) -> crate::Result<JobOptions> {
    let stored: StoredOptions =
        serde_json::from_str(json).map_err(|err| crate::Error::UnexpectedReply {
            command: "job opts",
            detail: format!("stored options are not BullMQ options: {err}"),
        })?;
    Ok(JobOptions {
        attempts: Some(stored.attempts),
        job_id: stored.job_id,
        delay: stored.delay,
        priority: stored.priority,
        lifo: stored.lifo,
        backoff: stored.backoff,
        remove_on_complete: stored.remove_on_complete,
        remove_on_fail: stored.remove_on_fail,
        keep_logs: stored.keep_logs,
        stack_trace_limit: stored.stack_trace_limit,
        size_limit: stored.size_limit,
        timestamp: stored.timestamp,
        deduplication: stored.deduplication,
        fail_parent_on_failure: stored.fail_parent_on_failure,
        continue_parent_on_failure: stored.continue_parent_on_failure,
        ignore_dependency_on_failure: stored.ignore_dependency_on_failure,
        remove_dependency_on_failure: stored.remove_dependency_on_failure,
        parent: stored.parent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_options_store_attempts_zero() {
        assert_eq!(
            options_to_stored(&JobOptions::default()).unwrap(),
            r#"{"attempts":0}"#
        );
    }

    #[test]
    fn stored_names_are_bullmq_abbreviations() {
        let opts: JobOptions = serde_json::from_str(
            r#"{"jobId":"a","delay":5,"backoff":100,"keepLogs":3,"deduplication":{"id":"d","ttl":50},"failParentOnFailure":true}"#,
        )
        .unwrap();
        assert_eq!(
            options_to_stored(&opts).unwrap(),
            r#"{"attempts":0,"jobId":"a","delay":5,"backoff":{"type":"fixed","delay":100},"kl":3,"de":{"id":"d","ttl":50},"fpof":true}"#
        );
    }

    #[test]
    fn stored_options_read_back_and_ignore_foreign_keys() {
        let opts = options_from_stored(
            r#"{"kl":3,"de":{"id":"d"},"attempts":2,"tm":"x","repeat":{"every":5}}"#,
        )
        .unwrap();
        assert_eq!(opts.keep_logs, Some(3));
        assert_eq!(opts.attempts, Some(2));
        assert_eq!(opts.deduplication.map(|d| d.id), Some("d".to_owned()));
    }
}

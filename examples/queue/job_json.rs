//! A job as Node BullMQ's `Job.asJSON()` shows it, for each major: the fields in Node's
//! order, unset ones left out, `data`, `failedReason`, `stacktrace` and `returnvalue` as
//! the JSON strings Node makes of them (`returnvalue` is `"null"` before a result).

use bullmq_rs::{BullmqMajor, Job, JobState};
use serde_json::{Map, Value, json};

/// `job.asJSON()` of BullMQ `major`, with `"state"` last when given (the `get` command).
pub(crate) fn as_json(job: &Job, major: BullmqMajor, state: Option<JobState>) -> Value {
    let mut out = Map::new();
    let mut put = |field: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.insert(field.to_owned(), value);
        }
    };
    put("id", Some(json!(job.id.as_str())));
    put("name", Some(json!(job.name)));
    put("data", Some(json!(job.data.to_string())));
    put("opts", Some(opts(job, major)));
    put("parent", parent(job));
    put("parentKey", job.parent_key.as_ref().map(|key| json!(key)));
    // Node parses `progress`, 0 when the hash has none.
    put("progress", Some(job.progress.clone().unwrap_or(json!(0))));
    put("attemptsMade", Some(json!(job.attempts_made)));
    put("attemptsStarted", Some(json!(job.attempts_started)));
    put("stalledCounter", Some(json!(job.stalled_counter)));
    put("finishedOn", job.finished_on.map(|ms| json!(ms)));
    put("processedOn", job.processed_on.map(|ms| json!(ms)));
    put("timestamp", Some(json!(job.timestamp)));
    // Node keeps only a non-empty `failedReason`, then `JSON.stringify`s it.
    let failed_reason = job
        .failed_reason
        .as_ref()
        .filter(|reason| !reason.is_empty());
    put(
        "failedReason",
        failed_reason.map(|reason| json!(json!(reason).to_string())),
    );
    put("stacktrace", Some(json!(json!(job.stacktrace).to_string())));
    let dedup = job.deduplication_id.as_ref().map(|id| json!(id));
    if major == BullmqMajor::V5 {
        // BullMQ 5 still shows the deduplication id under its old name too.
        put("debounceId", dedup.clone());
    }
    put("deduplicationId", dedup);
    put(
        "repeatJobKey",
        job.repeat_job_key.as_ref().map(|key| json!(key)),
    );
    let returned = job.return_value.clone().unwrap_or(Value::Null);
    put("returnvalue", Some(json!(returned.to_string())));
    if let Some(state) = state {
        put("state", Some(json!(state.as_str())));
    }
    Value::Object(out)
}

/// The `parent` field as Node's Job builds it: `{id, queueKey}`, then `true` for each of
/// `fpof`, `rdof`, `idof`, `cpof` the job's options set.
fn parent(job: &Job) -> Option<Value> {
    let parent = job.parent.as_ref()?;
    let mut out = json!({"id": parent.id.as_str(), "queueKey": parent.queue});
    let opts = &job.opts;
    for (flag, set) in [
        ("fpof", opts.fail_parent_on_failure),
        ("rdof", opts.remove_dependency_on_failure),
        ("idof", opts.ignore_dependency_on_failure),
        ("cpof", opts.continue_parent_on_failure),
    ] {
        if set == Some(true) {
            out[flag] = json!(true);
        }
    }
    Some(out)
}

/// BullMQ's abbreviated option names as stored, and Node's names for them
/// (`optsDecodeMap`, the same in both majors).
const DECODED_NAMES: [(&str, &str); 6] = [
    ("de", "deduplication"),
    ("fpof", "failParentOnFailure"),
    ("cpof", "continueParentOnFailure"),
    ("idof", "ignoreDependencyOnFailure"),
    ("kl", "keepLogs"),
    ("rdof", "removeDependencyOnFailure"),
];

/// The options as Node's Job holds them: `{attempts: 0}` first, then the stored ones in
/// their stored order without `repeatJobKey`, a numeric backoff as `{type: "fixed",
/// delay}`. BullMQ 5 shows them abbreviated again (`optsAsJSON`, which also turns the
/// legacy `debounce` into `de`); BullMQ 6 by Node's names, `tm` and `omc` gathered in
/// `telemetry`.
fn opts(job: &Job, major: BullmqMajor) -> Value {
    let mut out = Map::new();
    out.insert("attempts".to_owned(), json!(0));
    for (name, value) in &job.stored_opts {
        let value = match value {
            Value::Number(delay) if name == "backoff" => json!({"type": "fixed", "delay": delay}),
            other => other.clone(),
        };
        let decoded = DECODED_NAMES
            .iter()
            .find(|(short, _)| short == name)
            .map(|(_, long)| *long);
        match (major, name.as_str(), decoded) {
            (_, "repeatJobKey", _) => {}
            (BullmqMajor::V5, "debounce", _) => {
                out.insert("de".to_owned(), value);
            }
            (BullmqMajor::V5, _, _) => {
                out.insert(name.clone(), value);
            }
            (_, _, Some(long)) => {
                out.insert(long.to_owned(), value);
            }
            (_, "tm" | "omc", None) => {
                let field = if name == "tm" {
                    "metadata"
                } else {
                    "omitContext"
                };
                let telemetry = out.entry("telemetry").or_insert_with(|| json!({}));
                telemetry[field] = value;
            }
            _ => {
                out.insert(name.clone(), value);
            }
        }
    }
    Value::Object(out)
}

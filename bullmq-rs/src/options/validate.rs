//! The checks BullMQ's `Queue.add` and `Job.validateOptions` make before writing a job.

use crate::layout::BullmqMajor;
use crate::options::{Backoff, JobOptions};
use crate::{Error, Result};

/// Refuses what BullMQ (of `major`) would refuse for these options and this data JSON.
pub(crate) fn validate(opts: &JobOptions, major: BullmqMajor, data_json: &str) -> Result<()> {
    if let Some(id) = &opts.job_id {
        check_custom_id(id.as_str())?;
    }
    if let Some(priority) = opts.priority
        && priority > major.priority_limit()
    {
        return Err(refuse(
            "priority",
            format!(
                "{priority} is above {}, the highest priority of BullMQ {major}",
                major.priority_limit()
            ),
        ));
    }
    if let Some(limit) = opts.size_limit
        && data_json.len() as u64 > limit
    {
        return Err(refuse(
            "sizeLimit",
            format!(
                "the data is {} bytes, over the limit of {limit}",
                data_json.len()
            ),
        ));
    }
    if let Some(jitter) = opts.backoff.as_ref().and_then(Backoff::jitter)
        && !(0.0..=1.0).contains(&jitter)
    {
        return Err(refuse(
            "backoff",
            format!("jitter {jitter} is not between 0 and 1"),
        ));
    }
    if let Some(dedup) = &opts.deduplication {
        if dedup.id.is_empty() {
            return Err(refuse("deduplication", "an id must be provided".to_owned()));
        }
        if opts.parent.is_some() {
            return Err(refuse(
                "deduplication",
                "deduplication and parent options cannot be used together".to_owned(),
            ));
        }
        if dedup.reschedule == Some(true) && major == BullmqMajor::V5 {
            return Err(refuse(
                "deduplication",
                "reschedule needs BullMQ 6".to_owned(),
            ));
        }
    }
    check_parent_failure_options(opts)
}

/// BullMQ's custom id rules: not `0` nor `0:…` (the legacy marker form), not integer-like
/// (it would collide with the counter), and `:` only in legacy three-part repeat ids.
fn check_custom_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "must not be empty"
    } else if id == "0" || id.starts_with("0:") {
        "cannot be '0' or start with '0:'"
    } else if is_integer_like(id) {
        "cannot be an integer: those ids belong to the queue's counter"
    } else if id.contains(':') && id.split(':').count() != 3 {
        "cannot contain ':'"
    } else {
        return Ok(());
    };
    Err(refuse("jobId", format!("{id:?} {reason}")))
}

/// True when `parseInt(id, 10)` prints back as `id`, which is BullMQ's test.
fn is_integer_like(id: &str) -> bool {
    let digits = id.strip_prefix('-').unwrap_or(id);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && id != "-0"
}

fn check_parent_failure_options(opts: &JobOptions) -> Result<()> {
    let set: Vec<&str> = [
        (
            "removeDependencyOnFailure",
            opts.remove_dependency_on_failure,
        ),
        ("failParentOnFailure", opts.fail_parent_on_failure),
        ("continueParentOnFailure", opts.continue_parent_on_failure),
        (
            "ignoreDependencyOnFailure",
            opts.ignore_dependency_on_failure,
        ),
    ]
    .into_iter()
    .filter(|(_, value)| *value == Some(true))
    .map(|(name, _)| name)
    .collect();
    if set.len() > 1 {
        return Err(refuse(
            "failParentOnFailure",
            format!("these options cannot be used together: {}", set.join(", ")),
        ));
    }
    Ok(())
}

fn refuse(option: &'static str, reason: String) -> Error {
    Error::InvalidOption { option, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Deduplication;

    fn check(json: &str, major: BullmqMajor) -> Result<()> {
        let opts: JobOptions = serde_json::from_str(json).unwrap();
        validate(&opts, major, "{}")
    }

    #[test]
    fn custom_ids_follow_bullmq_rules() {
        for bad in [
            r#"{"jobId":"0"}"#,
            r#"{"jobId":"0:1"}"#,
            r#"{"jobId":"123"}"#,
            r#"{"jobId":"-5"}"#,
            r#"{"jobId":"a:b"}"#,
            r#"{"jobId":""}"#,
        ] {
            assert!(
                check(bad, BullmqMajor::V6).is_err(),
                "{bad} should be refused"
            );
        }
        for good in [
            r#"{"jobId":"00123"}"#,
            r#"{"jobId":"order-7"}"#,
            r#"{"jobId":"repeat:k:1700"}"#,
            r#"{"jobId":"12abc"}"#,
        ] {
            assert!(
                check(good, BullmqMajor::V6).is_ok(),
                "{good} should be accepted"
            );
        }
    }

    #[test]
    fn priority_limit_depends_on_the_major() {
        assert!(check(r#"{"priority":2097152}"#, BullmqMajor::V5).is_ok());
        let err = check(r#"{"priority":2097152}"#, BullmqMajor::V6).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid job option `priority`: 2097152 is above 2097151, the highest priority of BullMQ 6"
        );
    }

    #[test]
    fn negative_or_fractional_numbers_do_not_parse() {
        assert!(serde_json::from_str::<JobOptions>(r#"{"delay":-1}"#).is_err());
        assert!(serde_json::from_str::<JobOptions>(r#"{"priority":1.5}"#).is_err());
        assert!(serde_json::from_str::<JobOptions>(r#"{"attempts":-2}"#).is_err());
    }

    #[test]
    fn unknown_options_are_refused() {
        let err = serde_json::from_str::<JobOptions>(r#"{"removeOnCompleted":true}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field `removeOnCompleted`"),
            "{err}"
        );
    }

    #[test]
    fn jitter_must_be_a_fraction() {
        assert!(
            check(
                r#"{"backoff":{"type":"fixed","delay":10,"jitter":1.5}}"#,
                BullmqMajor::V6
            )
            .is_err()
        );
        assert!(
            check(
                r#"{"backoff":{"type":"fixed","delay":10,"jitter":0.5}}"#,
                BullmqMajor::V6
            )
            .is_ok()
        );
    }

    #[test]
    fn deduplication_needs_an_id_and_reschedule_needs_bullmq_6() {
        assert!(check(r#"{"deduplication":{"id":""}}"#, BullmqMajor::V6).is_err());
        let opts = JobOptions {
            deduplication: Some(Deduplication {
                id: "d".into(),
                reschedule: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(validate(&opts, BullmqMajor::V5, "{}").is_err());
        assert!(validate(&opts, BullmqMajor::V6, "{}").is_ok());
    }

    #[test]
    fn size_limit_counts_the_data_bytes() {
        let opts = JobOptions {
            size_limit: Some(4),
            ..Default::default()
        };
        assert!(validate(&opts, BullmqMajor::V6, r#""abc""#).is_err());
        assert!(validate(&opts, BullmqMajor::V6, "1234").is_ok());
    }

    #[test]
    fn parent_failure_options_are_exclusive() {
        assert!(
            check(
                r#"{"failParentOnFailure":true,"ignoreDependencyOnFailure":true}"#,
                BullmqMajor::V6
            )
            .is_err()
        );
        assert!(
            check(
                r#"{"failParentOnFailure":true,"ignoreDependencyOnFailure":false}"#,
                BullmqMajor::V6
            )
            .is_ok()
        );
    }
}

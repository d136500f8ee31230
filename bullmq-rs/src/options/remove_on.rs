//! `removeOnComplete` / `removeOnFail`: `true`, `false`, a count, or `{age, count, limit}`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What to keep of finished jobs; stored exactly in the shape given, as BullMQ does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum RemoveOn {
    /// `true`: remove the job as soon as it finishes; `false`: keep every job.
    Remove(bool),
    /// Keep this many of the most recent finished jobs.
    KeepLast(u64),
    /// Keep by age and/or count.
    Keep(KeepJobs),
}

/// `{age, count, limit}` of [`RemoveOn::Keep`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepJobs {
    /// Remove finished jobs older than this (whole seconds on the wire).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::codec::seconds"
    )]
    pub age: Option<Duration>,
    /// Keep at most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Remove at most this many per cleanup (BullMQ's default is 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bullmq_shape_round_trips() {
        for json in [
            "true",
            "false",
            "100",
            r#"{"age":3600,"count":10}"#,
            r#"{"count":5,"limit":50}"#,
        ] {
            let parsed: RemoveOn = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
        }
        let keep: RemoveOn = serde_json::from_str(r#"{"age":60}"#).unwrap();
        assert_eq!(
            keep,
            RemoveOn::Keep(KeepJobs {
                age: Some(Duration::from_secs(60)),
                ..Default::default()
            })
        );
    }

    #[test]
    fn unknown_shapes_are_refused() {
        assert!(serde_json::from_str::<RemoveOn>(r#""yes""#).is_err());
        assert!(serde_json::from_str::<RemoveOn>("-1").is_err());
        assert!(serde_json::from_str::<RemoveOn>(r#"{"ages":1}"#).is_err());
    }
}

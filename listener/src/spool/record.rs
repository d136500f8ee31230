//! What the spool keeps of an event, and how those bytes are read back, whichever release
//! wrote them.
//!
//! # Versions
//!
//! - **1** (this release):
//!   `{"v":1,"job_id","name","data","opts","received_ms","attempted_ms","in_redis"}`;
//!   `data` and `opts` are JSON text held in JSON strings, so that a record whose options a
//!   later bullmq-rs no longer accepts still decodes and is set aside by [`SpoolRecord::to_job`]
//!   alone, data intact. `in_redis` came later within version 1: a record without it reads as
//!   `false`, and a reader that predates it ignores it (and so sends the job again, which the
//!   job id makes harmless).
//! - **0** (the previous release, no `"v"`): `{"name","data","opts"}` with `opts` an object.
//!   It is read as `job_id` = `opts.jobId`, `received_ms` = 0 (unknown), `attempted_ms` =
//!   `None` and `in_redis` = `false`. `None` claims "surely never sent", which is not quite true: that release spooled
//!   an event only after its add to Redis had failed or timed out, so a timed-out add may have
//!   run after all. It is still the safer reading: the job id is kept, so a replay of an add
//!   that did run is refused by BullMQ as a duplicate id for as long as that job exists, and
//!   the old drainer replayed within the deduplication window anyway. The residual risk is a
//!   v0 record replayed after the job that a timed-out add created was already removed
//!   (`removeOnComplete`): that event is then processed twice.
//! - Any other `"v"`: [`RecordError::UnknownVersion`] (a newer release wrote it; it is kept,
//!   never guessed at).

use std::fmt;

use bullmq_rs::{JobOptions, NewJob};
use serde::{Deserialize, Serialize};

/// The version [`SpoolRecord::encode`] writes.
const VERSION: u64 = 1;

/// One spooled event (format version 1; written as JSON with `"v":1`).
///
/// Its `Debug` leaves out `data`, so that a record in a log line never shows an event body.
#[derive(Clone, PartialEq, Eq)]
pub struct SpoolRecord {
    /// BullMQ job id of the event; empty when the job had none (then BullMQ gives one per add).
    pub job_id: String,
    /// Job name.
    pub name: String,
    /// Job data, JSON text as stored in Redis.
    pub data: String,
    /// BullMQ job options as JSON text; parsed only by [`SpoolRecord::to_job`].
    pub opts: String,
    /// Unix ms when the listener received the event; 0 when unknown (version 0 records).
    pub received_ms: u64,
    /// Unix ms of the earliest add of this event that may have run in Redis; `None` when it
    /// was surely never sent.
    pub attempted_ms: Option<u64>,
    /// The job is known to be stored on the Redis primary; the record only waits for
    /// replicas to acknowledge it. `false` when unknown (records written before the field).
    pub in_redis: bool,
}

/// Why a stored record cannot become a job: permanent, never retried. The message never
/// holds the record's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The bytes are not a spool record of any known shape.
    #[error("undecodable spool record: {0}")]
    Undecodable(String),
    /// Written by a release that knows a format this one does not.
    #[error("spool record of unknown format version {0}")]
    UnknownVersion(u64),
    /// The job options no longer parse as BullMQ options.
    #[error("invalid job options in spool record: {0}")]
    InvalidOptions(String),
}

impl SpoolRecord {
    /// The record of `job`, taking its id from the job's options.
    pub fn from_job(job: &NewJob, received_ms: u64, attempted_ms: Option<u64>) -> Self {
        let opts = job.opts();
        Self {
            job_id: opts
                .job_id
                .as_ref()
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
            name: job.name().to_owned(),
            data: job.data_json().to_owned(),
            // Plain fields only: serializing them cannot fail. Were it to, the text is not
            // options, and `to_job` sets the record aside with its data kept.
            opts: serde_json::to_string(opts)
                .unwrap_or_else(|err| format!("unencodable options: {err}")),
            received_ms,
            attempted_ms,
            in_redis: false,
        }
    }

    /// The same record, marked as known to be stored on the Redis primary (see
    /// [`SpoolRecord::in_redis`]).
    #[must_use]
    pub fn stored_in_redis(mut self) -> Self {
        self.in_redis = true;
        self
    }

    /// The job to add again, with the record's job id.
    ///
    /// # Errors
    /// [`RecordError::InvalidOptions`] when `opts` no longer parses as BullMQ options.
    pub fn to_job(&self) -> Result<NewJob, RecordError> {
        let mut opts: JobOptions = serde_json::from_str(&self.opts)
            .map_err(|err| RecordError::InvalidOptions(err.to_string()))?;
        if !self.job_id.is_empty() {
            opts.job_id = Some(self.job_id.as_str().into());
        }
        Ok(NewJob::from_json(&self.name, self.data.clone(), opts))
    }

    /// The bytes stored in the spool: version 1 JSON.
    pub(crate) fn encode(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&V1 {
            v: VERSION,
            job_id: &self.job_id,
            name: &self.name,
            data: &self.data,
            opts: &self.opts,
            received_ms: self.received_ms,
            attempted_ms: self.attempted_ms,
            in_redis: self.in_redis,
        })
    }

    /// Reads bytes written by this release or an earlier one.
    ///
    /// # Errors
    /// [`RecordError::Undecodable`] or [`RecordError::UnknownVersion`]; see the module docs.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let probe: Probe = serde_json::from_slice(bytes).map_err(undecodable("a JSON object"))?;
        match probe.v {
            None => decode_v0(bytes),
            Some(VERSION) => {
                let v1: V1Owned =
                    serde_json::from_slice(bytes).map_err(undecodable("version 1"))?;
                Ok(Self {
                    job_id: v1.job_id,
                    name: v1.name,
                    data: v1.data,
                    opts: v1.opts,
                    received_ms: v1.received_ms,
                    attempted_ms: v1.attempted_ms,
                    in_redis: v1.in_redis,
                })
            }
            Some(other) => Err(RecordError::UnknownVersion(other)),
        }
    }
}

impl fmt::Debug for SpoolRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpoolRecord")
            .field("job_id", &self.job_id)
            .field("name", &self.name)
            .field("data_bytes", &self.data.len())
            .field("received_ms", &self.received_ms)
            .field("attempted_ms", &self.attempted_ms)
            .field("in_redis", &self.in_redis)
            .finish_non_exhaustive()
    }
}

/// Only the version of a record; every other key is skipped.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    v: Option<u64>,
}

#[derive(Serialize)]
struct V1<'a> {
    v: u64,
    job_id: &'a str,
    name: &'a str,
    data: &'a str,
    opts: &'a str,
    received_ms: u64,
    attempted_ms: Option<u64>,
    in_redis: bool,
}

#[derive(Deserialize)]
struct V1Owned {
    job_id: String,
    name: String,
    data: String,
    opts: String,
    received_ms: u64,
    attempted_ms: Option<u64>,
    /// Absent from the version 1 records written before it existed.
    #[serde(default)]
    in_redis: bool,
}

/// The previous release's record: `ingest::SpoolRecord` as it was, options as an object.
#[derive(Deserialize)]
struct V0 {
    name: String,
    data: String,
    opts: serde_json::Map<String, serde_json::Value>,
}

fn decode_v0(bytes: &[u8]) -> Result<SpoolRecord, RecordError> {
    let v0: V0 = serde_json::from_slice(bytes).map_err(undecodable("version 0"))?;
    // That release set a job id on every event (routes/webhook.rs `job_for`); without one a
    // replay could add the event twice, so such a record is set aside instead.
    let Some(serde_json::Value::String(job_id)) = v0.opts.get("jobId") else {
        return Err(RecordError::Undecodable(
            "version 0 record without opts.jobId".to_owned(),
        ));
    };
    Ok(SpoolRecord {
        job_id: job_id.clone(),
        name: v0.name,
        data: v0.data,
        opts: serde_json::Value::Object(v0.opts.clone()).to_string(),
        received_ms: 0,
        attempted_ms: None,
        in_redis: false,
    })
}

/// A decode error that says where, never what: serde's messages can quote the bytes.
fn undecodable(expected: &'static str) -> impl FnOnce(serde_json::Error) -> RecordError {
    move |err| {
        let what = match err.classify() {
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Eof => "truncated JSON",
            serde_json::error::Category::Data | serde_json::error::Category::Io => "wrong shape",
        };
        RecordError::Undecodable(format!(
            "{what}, expected {expected} (line {}, column {})",
            err.line(),
            err.column()
        ))
    }
}

#[cfg(test)]
mod tests {
    use bullmq_rs::JobId;

    use super::*;

    fn job() -> NewJob {
        let opts = JobOptions {
            job_id: Some(JobId::from("sellsy-1")),
            attempts: Some(3),
            ..Default::default()
        };
        NewJob::from_json("event", r#"{"a":1}"#.to_owned(), opts)
    }

    #[test]
    fn record_round_trips_through_its_bytes_and_back_to_the_job() {
        let record = SpoolRecord::from_job(&job(), 1_700, Some(1_701));

        let decoded = SpoolRecord::decode(&record.encode().unwrap()).unwrap();

        assert_eq!(decoded, record);
        assert_eq!(decoded.job_id, "sellsy-1");
        let back = decoded.to_job().unwrap();
        assert_eq!(
            (back.name(), back.data_json(), back.opts()),
            (job().name(), job().data_json(), job().opts())
        );
    }

    #[test]
    fn in_redis_round_trips_and_defaults_to_false() {
        let record = SpoolRecord::from_job(&job(), 1_700, None);
        assert!(!record.in_redis);
        let stored = record.clone().stored_in_redis();
        assert!(stored.in_redis);

        for record in [record, stored] {
            let bytes = record.encode().unwrap();
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(value["in_redis"], record.in_redis);
            assert_eq!(SpoolRecord::decode(&bytes).unwrap(), record);
        }
    }

    #[test]
    fn version_1_record_written_before_in_redis_decodes_as_not_in_redis() {
        let bytes = br#"{"v":1,"job_id":"sellsy-1","name":"event","data":"{}","opts":"{}","received_ms":5,"attempted_ms":7}"#;

        let record = SpoolRecord::decode(bytes).unwrap();

        assert_eq!(
            (record.job_id.as_str(), record.attempted_ms, record.in_redis),
            ("sellsy-1", Some(7), false)
        );
    }

    #[test]
    fn version_1_bytes_carry_the_version() {
        let bytes = SpoolRecord::from_job(&job(), 5, None).encode().unwrap();

        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();

        assert_eq!(value["v"], 1);
        assert_eq!(value["attempted_ms"], serde_json::Value::Null);
    }

    #[test]
    fn previous_release_record_decodes_as_version_0() {
        let bytes = br#"{"name":"event","data":"{\"x\":2}","opts":{"jobId":"sellsy-9","removeOnComplete":true}}"#;

        let record = SpoolRecord::decode(bytes).unwrap();

        assert_eq!(record.job_id, "sellsy-9");
        assert_eq!(
            (record.received_ms, record.attempted_ms, record.in_redis),
            (0, None, false)
        );
        let job = record.to_job().unwrap();
        assert_eq!(job.data_json(), r#"{"x":2}"#);
        assert_eq!(
            job.opts().job_id.as_ref().map(JobId::as_str),
            Some("sellsy-9")
        );
        assert_eq!(job.opts().remove_on_complete, job_opts_remove_true());
    }

    fn job_opts_remove_true() -> Option<bullmq_rs::RemoveOn> {
        serde_json::from_str::<JobOptions>(r#"{"removeOnComplete":true}"#)
            .unwrap()
            .remove_on_complete
    }

    #[test]
    fn version_0_without_a_job_id_is_undecodable() {
        let bytes = br#"{"name":"event","data":"{}","opts":{}}"#;

        assert!(matches!(
            SpoolRecord::decode(bytes),
            Err(RecordError::Undecodable(_))
        ));
    }

    #[test]
    fn unknown_version_is_refused_with_its_number() {
        let bytes = br#"{"v":7,"whatever":"the future holds"}"#;

        assert_eq!(
            SpoolRecord::decode(bytes),
            Err(RecordError::UnknownVersion(7))
        );
    }

    #[test]
    fn garbage_is_undecodable_and_the_message_does_not_quote_it() {
        for bytes in [
            &b"secret-body"[..],
            br#"{"v":1,"job_id":"secret-body"}"#,
            br#"{"name":"secret-body","data":5,"opts":{}}"#,
            br#"{"v":"secret-body"}"#,
        ] {
            let err = SpoolRecord::decode(bytes).unwrap_err();
            assert!(matches!(err, RecordError::Undecodable(_)), "{err:?}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn options_that_no_longer_parse_are_a_permanent_record_error() {
        let mut record = SpoolRecord::from_job(&job(), 1, None);
        record.opts = r#"{"notAnOption":1}"#.to_owned();

        let decoded = SpoolRecord::decode(&record.encode().unwrap()).unwrap();

        assert!(matches!(
            decoded.to_job(),
            Err(RecordError::InvalidOptions(_))
        ));
    }

    #[test]
    fn debug_leaves_the_body_out() {
        let mut record = SpoolRecord::from_job(&job(), 1, None);
        record.data = r#"{"secret":"body"}"#.to_owned();

        assert!(!format!("{record:?}").contains("secret"));
    }
}

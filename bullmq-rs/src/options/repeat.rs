//! `repeat`: when a job scheduler runs (BullMQ's `RepeatOptions`), and the template of the
//! jobs it creates.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::JobOptions;
use crate::scheduler::cron::Schedule;
use crate::{Error, Result};

/// When a job scheduler runs, as BullMQ's `RepeatOptions` names it: every `every` ms, or
/// at the times of the cron `pattern` (in `tz`), between `startDate` and `endDate`, at most
/// `limit` times.
///
/// Reads BullMQ's JSON and refuses unknown keys. Dates are ms since the epoch. The run's
/// stored `repeat` keeps the declaration order of these fields, as a Node producer keeps
/// the order it was given.
///
/// ```
/// use std::time::Duration;
/// use bullmq_rs::RepeatOptions;
///
/// let every_minute: RepeatOptions = serde_json::from_str(r#"{"every": 60000}"#).unwrap();
/// assert_eq!(every_minute.every, Some(Duration::from_secs(60)));
/// let nightly = RepeatOptions {
///     pattern: Some("0 3 * * *".into()),
///     tz: Some("Europe/Paris".into()),
///     ..Default::default()
/// };
/// # let _ = nightly;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepeatOptions {
    /// A cron pattern: 5 fields, or 6 with seconds first (`L`, `W`, `#` and names allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Run every this long instead of by pattern.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::codec::millis"
    )]
    pub every: Option<Duration>,
    /// The time zone of the pattern (IANA name); the system's when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// No run before this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<u64>,
    /// No run after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<u64>,
    /// At most this many runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// With a pattern: the first run is now rather than at the pattern's next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediately: Option<bool>,
    /// With `every`: runs fall this long after each multiple of `every`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::codec::millis"
    )]
    pub offset: Option<Duration>,
}

impl RepeatOptions {
    /// The first run strictly after `after_ms` (ms since the epoch), as BullMQ's default
    /// repeat strategy computes it: for a pattern, its next time after `after_ms` (or
    /// after `startDate`, if later) in `tz`, none past `endDate`; for `every`, the next
    /// multiple of `every`. `None` when there is no run left.
    ///
    /// ```
    /// use bullmq_rs::RepeatOptions;
    /// let hourly = RepeatOptions { pattern: Some("0 * * * *".into()), tz: Some("UTC".into()), ..Default::default() };
    /// // 2026-01-01T12:00:00.500Z -> 13:00
    /// assert_eq!(hourly.next_run_after(1_767_268_800_500).unwrap(), Some(1_767_272_400_000));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] for a pattern or time zone that does not parse, or when
    /// neither `pattern` nor `every` is given.
    pub fn next_run_after(&self, after_ms: u64) -> Result<Option<u64>> {
        match (&self.pattern, self.every) {
            (Some(pattern), _) => {
                let schedule = Schedule::parse(pattern, self.tz.as_deref())?;
                let from = after_ms.max(self.start_date.unwrap_or(0));
                Ok(schedule.next_after(from, self.end_date))
            }
            (None, Some(every)) => {
                let every = crate::codec::as_millis(every).max(1);
                Ok(Some(after_ms / every * every + every))
            }
            (None, None) => Err(refuse("either pattern or every must be given")),
        }
    }

    /// Refuses what BullMQ refuses: both or neither of `pattern` and `every`, `immediately`
    /// with `startDate`, an `endDate` already past, a pattern or time zone that does not
    /// parse. [`crate::Queue::upsert_job_scheduler`] does this too; call it to refuse
    /// options before any connection exists.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        self.validate_at(crate::codec::now_millis())?;
        Schedule::parse_checked(self)
    }

    /// [`RepeatOptions::validate`] without the pattern, at time `now`.
    pub(crate) fn validate_at(&self, now: u64) -> Result<()> {
        match (&self.pattern, self.every) {
            (Some(_), Some(_)) => return Err(refuse("both pattern and every are given")),
            (None, None) => return Err(refuse("either pattern or every must be given")),
            (None, Some(every)) if every.is_zero() => {
                return Err(refuse("every must be at least 1 ms"));
            }
            _ => {}
        }
        if self.immediately == Some(true) && self.start_date.is_some() {
            return Err(refuse("immediately and startDate cannot be used together"));
        }
        if self.end_date.is_some_and(|end| end < now) {
            return Err(refuse("endDate must be later than now"));
        }
        Ok(())
    }
}

/// The job a scheduler creates at each run: `{name, data, opts}` as in BullMQ.
///
/// `name` defaults to the scheduler's id and `data` to `{}`; `opts` may not hold `jobId`,
/// `delay` or `deduplication` (the scheduler sets the first two; BullMQ's template type
/// leaves all three out).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobTemplate {
    /// The jobs' name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The jobs' data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The jobs' options.
    #[serde(default)]
    pub opts: JobOptions,
}

impl JobTemplate {
    /// Refuses a template that sets `jobId`, `delay` or `deduplication`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming the option.
    pub fn validate(&self) -> Result<()> {
        let set = [
            ("jobId", self.opts.job_id.is_some()),
            ("delay", self.opts.delay.is_some()),
            ("deduplication", self.opts.deduplication.is_some()),
        ];
        match set.into_iter().find(|(_, given)| *given) {
            Some((option, _)) => Err(Error::InvalidOption {
                option,
                reason: "a job scheduler's template cannot set it".to_owned(),
            }),
            None => Ok(()),
        }
    }
}

fn refuse(reason: &str) -> Error {
    Error::InvalidOption {
        option: "repeat",
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_options_read_bullmq_json_and_refuse_unknown_keys() {
        let opts: RepeatOptions = serde_json::from_str(
            r#"{"every":200,"offset":50,"limit":3,"startDate":1700000000000}"#,
        )
        .unwrap();
        assert_eq!(opts.every, Some(Duration::from_millis(200)));
        assert_eq!(opts.offset, Some(Duration::from_millis(50)));
        assert!(serde_json::from_str::<RepeatOptions>(r#"{"cron":"* * * * *"}"#).is_err());
    }

    #[test]
    fn pattern_and_every_are_exclusive_and_one_is_needed() {
        let both: RepeatOptions =
            serde_json::from_str(r#"{"pattern":"* * * * *","every":5}"#).unwrap();
        assert!(both.validate_at(0).is_err());
        assert!(RepeatOptions::default().validate_at(0).is_err());
        let late: RepeatOptions = serde_json::from_str(r#"{"every":5,"endDate":10}"#).unwrap();
        assert!(late.validate_at(11).is_err());
        assert!(late.validate_at(9).is_ok());
    }

    #[test]
    fn templates_cannot_set_the_run_id_or_delay() {
        let template: JobTemplate =
            serde_json::from_str(r#"{"name":"n","opts":{"delay":5}}"#).unwrap();
        assert!(template.validate().is_err());
        let template: JobTemplate =
            serde_json::from_str(r#"{"data":{"a":1},"opts":{"attempts":2}}"#).unwrap();
        assert!(template.validate().is_ok());
    }
}

//! Next run of a cron pattern, as BullMQ's default repeat strategy computes it with
//! cron-parser: the first matching second strictly after a time, in the pattern's time
//! zone (the system's when none is given), none past the end date.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::{Error, Result};

/// A parsed pattern and its time zone.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

impl Schedule {
    /// Parses `pattern` (5 fields, or 6 with seconds first) for time zone `tz`.
    pub(crate) fn parse(pattern: &str, tz: Option<&str>) -> Result<Self> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            // cron-parser reads `0/15` as "from 0, every 15".
            .sloppy_ranges(true)
            .build()
            .parse(pattern)
            .map_err(|err| {
                invalid(
                    "pattern",
                    format!("{pattern:?} is not a cron pattern: {err}"),
                )
            })?;
        let zone = match tz {
            Some(name) => TimeZone::get(name)
                .map_err(|err| invalid("tz", format!("{name:?} is not a time zone: {err}")))?,
            None => TimeZone::system(),
        };
        Ok(Self { cron, zone })
    }

    /// Checks that the pattern and time zone of `repeat` parse.
    pub(crate) fn parse_checked(repeat: &crate::RepeatOptions) -> Result<()> {
        match &repeat.pattern {
            Some(pattern) => Self::parse(pattern, repeat.tz.as_deref()).map(drop),
            None => Ok(()),
        }
    }

    /// The first run strictly after `after_ms` (ms since the epoch), or `None` when there
    /// is none by `end_ms` (cron-parser's "out of the timespan range") or at all.
    pub(crate) fn next_after(&self, after_ms: u64, end_ms: Option<u64>) -> Option<u64> {
        let after = Timestamp::from_millisecond(i64::try_from(after_ms).ok()?).ok()?;
        let next = self
            .cron
            .find_next_occurrence(&after.to_zoned(self.zone.clone()), false)
            .ok()?;
        let next_ms = u64::try_from(next.timestamp().as_millisecond()).ok()?;
        match end_ms {
            Some(end) if next_ms > end => None,
            _ => Some(next_ms),
        }
    }
}

fn invalid(option: &'static str, reason: String) -> Error {
    Error::InvalidOption { option, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T12:00:00Z.
    const BASE: u64 = 1_767_268_800_000;

    /// Expected values pinned from one run of BullMQ's own `defaultRepeatStrategy`
    /// (`classes/job-scheduler.js`) under `TZ=UTC`, with BullMQ 5.79.0 (cron-parser 4.9.0)
    /// and 6.7.0 (cron-parser 5.10.3): both gave these same values. The integration test
    /// `schedulers::cron_next_runs_equal_bullmq_{5,6}_s` recomputes these and more with Node.
    #[test]
    fn next_runs_equal_bullmq_s() {
        let cases: [(&str, Option<&str>, u64, Option<u64>); 15] = [
            ("*/5 * * * *", None, BASE, Some(1_767_269_100_000)),
            ("*/5 * * * *", None, BASE + 1, Some(1_767_269_100_000)),
            ("*/5 * * * *", None, BASE + 500, Some(1_767_269_100_000)),
            ("* * * * * *", None, BASE, Some(1_767_268_801_000)),
            ("* * * * * *", None, BASE + 500, Some(1_767_268_801_000)),
            ("0 12 * * *", None, BASE, Some(1_767_355_200_000)),
            ("0 12 * * *", None, BASE - 1, Some(BASE)),
            ("0 0 L * *", None, BASE, Some(1_769_817_600_000)),
            ("0 9 * * 1-5", None, BASE, Some(1_767_344_400_000)),
            ("0 9 * * MON#2", None, BASE, Some(1_768_208_400_000)),
            ("0/15 * * * *", None, BASE + 3, Some(1_767_269_700_000)),
            (
                "0 3 * * *",
                Some("America/New_York"),
                BASE,
                Some(1_767_340_800_000),
            ),
            ("0 0 1,15 * 5", None, BASE, Some(1_767_312_000_000)),
            ("0 9 * * 7", None, BASE, Some(1_767_517_200_000)),
            ("0 0 * * 5L", None, BASE, Some(1_769_731_200_000)),
        ];
        for (pattern, tz, after, expected) in cases {
            let tz = tz.or(Some("UTC"));
            let next = Schedule::parse(pattern, tz)
                .unwrap()
                .next_after(after, None);
            assert_eq!(next, expected, "{pattern} in {tz:?} after {after}");
        }
    }

    /// A known difference: a time that does not exist (skipped by a DST change) runs at
    /// the end of the gap here (03:00), while cron-parser (both majors) shifts it by the
    /// gap's length (03:30 EDT, 1_772_955_000_000).
    #[test]
    fn a_time_skipped_by_dst_runs_at_the_end_of_the_gap() {
        let schedule = Schedule::parse("30 2 * * *", Some("America/New_York")).unwrap();
        assert_eq!(
            schedule.next_after(1_772_946_000_000, None),
            Some(1_772_953_200_000)
        );
    }

    #[test]
    fn no_run_past_the_end_date() {
        let schedule = Schedule::parse("0 12 * * *", Some("UTC")).unwrap();
        assert_eq!(schedule.next_after(BASE, Some(BASE + 1000)), None);
        assert_eq!(
            schedule.next_after(BASE, Some(1_767_355_200_000)),
            Some(1_767_355_200_000)
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_refused() {
        assert!(Schedule::parse("61 * * * *", None).is_err());
        assert!(Schedule::parse("* * * * * * 2030", None).is_err());
        assert!(Schedule::parse("* * * * *", Some("Mars/Olympus")).is_err());
    }
}

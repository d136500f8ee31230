//! The two BullMQ majors this crate writes for, and every way their layouts differ.
//!
//! Both majors share key names and types, job hash fields, score formulas, marker
//! semantics and event fields. What differs, and what this crate does for each:
//!
//! | | BullMQ 5 (5.79) | BullMQ 6 (6.7) |
//! |---|---|---|
//! | job added to a paused queue | `LPUSH`ed to the `paused` list | stays in `wait` |
//! | pausing | renames `wait` to `paused` | only sets meta `paused` |
//! | dedup hit | `debounced` and `deduplicated` events | `deduplicated` only |
//! | dedup slot whose owner vanished | keeps swallowing adds | reset for the new job |
//! | `deduplication.reschedule` | not supported (refused here) | supported |
//! | highest priority | 2 097 152 (2^21) | 2 097 151 (2^21 - 1) |
//! | `meta.version` | `bullmq:5.79.0` | `bullmq:6.7.0` |
//! | flow over an existing completed child | parent released as the child is met | released once the whole flow is written ("defer parent release") |
//! | existing child id whose old parent is gone | refused (`-7`) | adopted by the new parent |
//! | a worker adds a scheduler's next run | also sets `nrjid` (next run's id) on the run taken | no `nrjid` |
//! | ... for a scheduler stored without data | copies the run's data into the scheduler | uses `{}` |
//! | runs of an `every` scheduler were missed | next is `k*every + every + offset` | next is the first `k*every + offset` after now |
//! | upsert finds the run slot taken | tries the next slot once | tries up to 32 next slots |
//! | legacy repeatable jobs (`repeat` in `add`) | repeated by Node; not here (run once) | refused by Node |
//! | cron patterns | cron-parser 4.9 | cron-parser 5.10 (same next runs on the tested patterns) |
//! | `retry_job` of a job with a priority | back to `wait` (`paused` while paused) | back to `prioritized` |
//! | `retry_job` of a failed child its parent kept in `failed` (cpof, idof) | Redis error (BullMQ 5 reads that hash as a zset), as Node's | pending again for its parent |
//! | `retry_jobs` of a finished child | its parent is not told | pending again for its parent |
//! | job placed again by `retry_jobs`, `promote_jobs`, `promote_job`, `change_priority`, or a parent released by `remove`/`drain` on a paused queue | `paused` list | `wait` |
//!
//! Both: no marker is written while the queue is paused, prioritized jobs always go to
//! `prioritized`, and resume moves a leftover `paused` list back into `wait`. Where BullMQ 5
//! would overwrite a non-empty `wait` on resume (`RENAME`), this crate merges the two lists
//! as BullMQ 6 does, so no job is lost when majors are mixed. A flow node refused with `-5`
//! or `-7` refuses the whole flow here (one script call), where BullMQ's MULTI writes the
//! rest and BullMQ 6 marks the parent `flowAttachmentFailed`; a flag left by Node is
//! cleared by our release as BullMQ 6 clears it.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Which BullMQ major's Redis layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum BullmqMajor {
    /// BullMQ 5.x (layout of 5.79.0).
    V5,
    /// BullMQ 6.x (layout of 6.7.0), the default.
    #[default]
    V6,
}

impl BullmqMajor {
    /// The highest priority BullMQ of this major accepts (`PRIORITY_LIMIT`).
    pub fn priority_limit(self) -> u32 {
        match self {
            Self::V5 => 1 << 21,
            Self::V6 => (1 << 21) - 1,
        }
    }

    /// The `meta.version` a Node queue of this major writes, and so do we.
    pub fn version_tag(self) -> &'static str {
        match self {
            Self::V5 => "bullmq:5.79.0",
            Self::V6 => "bullmq:6.7.0",
        }
    }

    /// The major as a number: 5 or 6.
    pub fn number(self) -> u8 {
        match self {
            Self::V5 => 5,
            Self::V6 => 6,
        }
    }

    /// The major as the scripts receive it.
    pub(crate) fn as_arg(self) -> &'static str {
        match self {
            Self::V5 => "5",
            Self::V6 => "6",
        }
    }
}

impl fmt::Display for BullmqMajor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

impl FromStr for BullmqMajor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "5" => Ok(Self::V5),
            "6" => Ok(Self::V6),
            other => Err(Error::UnsupportedMajor(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_parse_from_their_number_only() {
        assert_eq!("5".parse::<BullmqMajor>().ok(), Some(BullmqMajor::V5));
        assert_eq!(" 6 ".parse::<BullmqMajor>().ok(), Some(BullmqMajor::V6));
        assert!("7".parse::<BullmqMajor>().is_err());
        assert!("v6".parse::<BullmqMajor>().is_err());
    }

    #[test]
    fn priority_limit_shrank_by_one_in_bullmq_6() {
        assert_eq!(BullmqMajor::V5.priority_limit(), 2_097_152);
        assert_eq!(BullmqMajor::V6.priority_limit(), 2_097_151);
    }
}

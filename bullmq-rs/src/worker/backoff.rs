//! The delay before a failed job runs again, as BullMQ's `Backoffs.calculate` computes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::JobError;
use crate::job::Job;
use crate::options::Backoff;

/// A custom backoff strategy (BullMQ's `settings.backoffStrategy`): given the attempts
/// made (1 after the first failure), the backoff type, the error and the job, the delay
/// before the next try; `None` fails the job for good (BullMQ's `-1`), zero retries at once.
pub(super) type BackoffFn =
    Arc<dyn Fn(u64, &str, &JobError, &Job) -> Option<Duration> + Send + Sync>;

/// Custom strategies by backoff type (`backoff: { type: "linear" }`).
pub(super) type BackoffStrategies = HashMap<String, BackoffFn>;

/// What to do after attempt number `attempts_made` (1 for the first failure) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Run again at once.
    Now,
    /// Run again after this delay.
    After(Duration),
    /// A strategy this worker does not know: BullMQ fails the job with this reason.
    Unknown,
}

/// `fixed`: the delay; `exponential`: `round(2^(n-1) * delay)`; with jitter `j`, a value
/// drawn from `[base * (1 - j), base)`. `random` is uniform in `[0, 1)`.
pub(super) fn next_try(backoff: Option<&Backoff>, attempts_made: u64, random: f64) -> Next {
    let Some(backoff) = backoff else {
        return Next::Now;
    };
    let delay_ms = backoff
        .delay()
        .map_or(0.0, |delay| delay.as_millis() as f64);
    let base = match backoff {
        Backoff::Fixed { .. } => delay_ms,
        Backoff::Exponential { .. } => {
            (2f64.powi(attempts_made.saturating_sub(1).min(62) as i32) * delay_ms).round()
        }
        _ => return Next::Unknown,
    };
    let ms = match backoff.jitter() {
        Some(jitter) if jitter > 0.0 => (random * base * jitter + base * (1.0 - jitter)).floor(),
        _ => base,
    };
    if ms <= 0.0 {
        Next::Now
    } else {
        Next::After(Duration::from_millis(ms as u64))
    }
}

/// A number in `[0, 1)` from the system's randomness (a fresh v4 uuid), without a
/// random-number crate.
pub(super) fn random_unit() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() >> 75;
    bits as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Next {
        Next::After(Duration::from_millis(ms))
    }

    #[test]
    fn fixed_and_exponential_match_bullmq() {
        let fixed = Backoff::fixed(Duration::from_millis(100));
        let exponential = Backoff::exponential(Duration::from_millis(200));
        assert_eq!(next_try(Some(&fixed), 3, 0.5), ms(100));
        assert_eq!(next_try(Some(&exponential), 1, 0.5), ms(200));
        assert_eq!(next_try(Some(&exponential), 2, 0.5), ms(400));
        assert_eq!(next_try(Some(&exponential), 3, 0.5), ms(800));
        assert_eq!(next_try(None, 1, 0.5), Next::Now);
    }

    #[test]
    fn jitter_cuts_at_most_its_share() {
        let backoff = Backoff::Fixed {
            delay: Some(Duration::from_millis(1000)),
            jitter: Some(0.5),
        };
        assert_eq!(next_try(Some(&backoff), 1, 0.0), ms(500));
        assert_eq!(next_try(Some(&backoff), 1, 0.999), ms(999));
    }

    #[test]
    fn unknown_strategies_are_reported() {
        let custom = Backoff::Custom {
            strategy: "linear".into(),
            delay: None,
            jitter: None,
        };
        assert_eq!(next_try(Some(&custom), 1, 0.5), Next::Unknown);
    }

    #[test]
    fn random_units_stay_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }
}

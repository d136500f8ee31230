//! What a failed attempt leads to, as BullMQ's worker decides it: retried at once, after
//! the delay BullMQ's `Backoffs.calculate` computes (built-in or custom strategy), or
//! failed for good.

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

/// What a failed attempt leads to, as BullMQ's worker decides it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AfterFailure {
    /// Back to `wait` at once.
    RetryNow,
    /// Back after this delay (backoff, or the delay the failure asked for).
    RetryAfter(std::time::Duration),
    /// Failed for good, with this reason.
    Fail(String),
}

/// Retry while attempts remain (`attemptsMade + 1 < attempts`) and the failure is not
/// unrecoverable; a backoff type that is neither built in nor in `strategies` fails the
/// job, as in BullMQ. `random` in [0, 1) drives the backoff's jitter.
pub(super) fn after_failure(
    job: &Job,
    err: &JobError,
    strategies: &BackoffStrategies,
    random: f64,
) -> AfterFailure {
    let attempts_made = job.attempts_made + 1;
    if err.is_unrecoverable() || attempts_made >= u64::from(job.opts.attempts.unwrap_or(0)) {
        return AfterFailure::Fail(err.message().to_owned());
    }
    if let Some(delay) = err.retry_delay() {
        return AfterFailure::RetryAfter(delay);
    }
    match next_try(job.opts.backoff.as_ref(), attempts_made, random) {
        Next::Now => AfterFailure::RetryNow,
        Next::After(delay) => AfterFailure::RetryAfter(delay),
        Next::Unknown => {
            let kind = job.opts.backoff.as_ref().map_or("", |b| b.kind());
            if let Some(strategy) = strategies.get(kind) {
                // BullMQ's custom strategies: -1 (here `None`) fails, 0 retries at once.
                return match strategy(attempts_made, kind, err, job) {
                    None => AfterFailure::Fail(err.message().to_owned()),
                    Some(delay) if delay.is_zero() => AfterFailure::RetryNow,
                    Some(delay) => AfterFailure::RetryAfter(delay),
                };
            }
            AfterFailure::Fail(format!(
                "Unknown backoff strategy {kind}. If a custom backoff strategy is used, specify it when the queue is created."
            ))
        }
    }
}

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
    use crate::job::JobState;

    fn job(attempts_made: u64, opts: &str) -> Job {
        let mut hash = HashMap::new();
        hash.insert("name".to_owned(), "n".to_owned());
        hash.insert("opts".to_owned(), opts.to_owned());
        hash.insert("atm".to_owned(), attempts_made.to_string());
        Job::from_hash("1".into(), JobState::Active, hash).unwrap()
    }

    #[test]
    fn failures_retry_while_attempts_remain() {
        let retrying = job(
            0,
            r#"{"attempts":3,"backoff":{"delay":100,"type":"exponential"}}"#,
        );
        assert_eq!(
            after_failure(&retrying, &JobError::new("x"), &HashMap::new(), 0.5),
            AfterFailure::RetryAfter(Duration::from_millis(100))
        );
        let last = job(2, r#"{"attempts":3,"backoff":100}"#);
        assert_eq!(
            after_failure(&last, &JobError::new("x"), &HashMap::new(), 0.5),
            AfterFailure::Fail("x".to_owned())
        );
        let no_backoff = job(0, r#"{"attempts":2}"#);
        assert_eq!(
            after_failure(&no_backoff, &JobError::new("x"), &HashMap::new(), 0.5),
            AfterFailure::RetryNow
        );
        assert_eq!(
            after_failure(
                &no_backoff,
                &JobError::unrecoverable("bad"),
                &HashMap::new(),
                0.5
            ),
            AfterFailure::Fail("bad".to_owned())
        );
        let asked = JobError::retry_after("429", Duration::from_secs(2));
        assert_eq!(
            after_failure(&no_backoff, &asked, &HashMap::new(), 0.5),
            AfterFailure::RetryAfter(Duration::from_secs(2))
        );
        let custom = job(0, r#"{"attempts":2,"backoff":{"type":"linear","delay":5}}"#);
        assert!(
            matches!(after_failure(&custom, &JobError::new("x"), &HashMap::new(), 0.5), AfterFailure::Fail(reason) if reason.starts_with("Unknown backoff strategy linear"))
        );
    }

    #[test]
    fn custom_strategies_decide_like_bullmq_s() {
        let mut strategies: BackoffStrategies = HashMap::new();
        let linear: BackoffFn = Arc::new(|attempts, kind, err, job| {
            assert_eq!((kind, err.message(), job.id.as_str()), ("linear", "x", "1"));
            match attempts {
                1 => Some(Duration::from_millis(150)),
                2 => Some(Duration::ZERO),
                _ => None,
            }
        });
        strategies.insert("linear".to_owned(), linear);
        let opts = r#"{"attempts":9,"backoff":{"type":"linear"}}"#;
        let decide = |made| after_failure(&job(made, opts), &JobError::new("x"), &strategies, 0.5);
        assert_eq!(
            decide(0),
            AfterFailure::RetryAfter(Duration::from_millis(150))
        );
        assert_eq!(decide(1), AfterFailure::RetryNow);
        assert_eq!(decide(2), AfterFailure::Fail("x".to_owned()));
    }

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

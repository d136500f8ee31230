//! Prometheus metrics, counted where things happen and rendered in the text format.
//! Hand-written: a few counters, one gauge read at scrape time and one histogram do not
//! earn a metrics framework and its dependency tree.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// HTTP requests by route and status.
pub const HTTP_REQUESTS: &str = "sellsy_listener_http_requests_total";
/// Time from a webhook's arrival to its acknowledgement (stored in Redis or the spool).
pub const ENQUEUE_SECONDS: &str = "sellsy_listener_enqueue_seconds";
/// Webhooks refused for their signature, by reason.
pub const SIGNATURE_FAILURES: &str = "sellsy_listener_signature_failures_total";
/// Events acknowledged, by where they were stored (redis, spool).
pub const EVENTS_STORED: &str = "sellsy_listener_events_stored_total";
/// Events that could be stored nowhere (answered 503).
pub const EVENTS_UNAVAILABLE: &str = "sellsy_listener_events_unavailable_total";
/// Events waiting in the spool.
pub const SPOOL_DEPTH: &str = "sellsy_listener_spool_depth";
/// Spooled events moved to Redis by the drainer.
pub const DRAINED_EVENTS: &str = "sellsy_listener_drained_events_total";
/// Failed or timed-out Redis calls.
pub const REDIS_ERRORS: &str = "sellsy_listener_redis_errors_total";

/// Upper bounds of the enqueue latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The listener's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    signature_failures: Mutex<BTreeMap<&'static str, u64>>,
    stored_redis: AtomicU64,
    stored_spool: AtomicU64,
    unavailable: AtomicU64,
    drained: AtomicU64,
    redis_errors: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_nanos: AtomicU64,
}

/// Where an acknowledged event was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredIn {
    /// In Redis, as a BullMQ job.
    Redis,
    /// In the local spool, to be drained.
    Spool,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &'static str, status: u16) {
        *lock(&self.requests).entry((route, status)).or_default() += 1;
    }

    /// Counts one signature refusal.
    pub fn signature_failure(&self, reason: &'static str) {
        *lock(&self.signature_failures).entry(reason).or_default() += 1;
    }

    /// Counts acknowledged events and records how long the acknowledgement took.
    pub fn stored(&self, place: StoredIn, latency: Duration) {
        let counter = match place {
            StoredIn::Redis => &self.stored_redis,
            StoredIn::Spool => &self.stored_spool,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Counts events answered 503.
    pub fn unavailable(&self, events: u64) {
        self.unavailable.fetch_add(events, Ordering::Relaxed);
    }

    /// Counts events drained from the spool to Redis.
    pub fn drained(&self, events: u64) {
        self.drained.fetch_add(events, Ordering::Relaxed);
    }

    /// Counts a failed or timed-out Redis call.
    pub fn redis_error(&self) {
        self.redis_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Events acknowledged so far, by place.
    pub fn stored_count(&self, place: StoredIn) -> u64 {
        match place {
            StoredIn::Redis => self.stored_redis.load(Ordering::Relaxed),
            StoredIn::Spool => self.stored_spool.load(Ordering::Relaxed),
        }
    }

    /// The Prometheus text exposition, with the spool depth read now.
    pub fn render(&self, spool_depth: u64) -> String {
        let mut out = String::with_capacity(2048);
        header(
            &mut out,
            HTTP_REQUESTS,
            "counter",
            "HTTP requests by route and status.",
        );
        for ((route, status), count) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "{HTTP_REQUESTS}{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        header(
            &mut out,
            SIGNATURE_FAILURES,
            "counter",
            "Webhooks refused for their signature.",
        );
        for (reason, count) in lock(&self.signature_failures).iter() {
            let _ = writeln!(out, "{SIGNATURE_FAILURES}{{reason=\"{reason}\"}} {count}");
        }
        header(
            &mut out,
            EVENTS_STORED,
            "counter",
            "Events acknowledged, by where they were stored.",
        );
        let _ = writeln!(
            out,
            "{EVENTS_STORED}{{store=\"redis\"}} {}",
            self.stored_redis.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "{EVENTS_STORED}{{store=\"spool\"}} {}",
            self.stored_spool.load(Ordering::Relaxed)
        );
        simple(
            &mut out,
            EVENTS_UNAVAILABLE,
            "counter",
            "Events answered 503: stored nowhere.",
            self.unavailable.load(Ordering::Relaxed),
        );
        simple(
            &mut out,
            SPOOL_DEPTH,
            "gauge",
            "Events waiting in the local spool.",
            spool_depth,
        );
        simple(
            &mut out,
            DRAINED_EVENTS,
            "counter",
            "Spooled events moved to Redis.",
            self.drained.load(Ordering::Relaxed),
        );
        simple(
            &mut out,
            REDIS_ERRORS,
            "counter",
            "Failed or timed-out Redis calls.",
            self.redis_errors.load(Ordering::Relaxed),
        );
        self.render_latency(&mut out);
        out
    }

    fn render_latency(&self, out: &mut String) {
        header(
            out,
            ENQUEUE_SECONDS,
            "histogram",
            "Time from arrival to acknowledgement of a webhook.",
        );
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{ENQUEUE_SECONDS}_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{ENQUEUE_SECONDS}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.latency_sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{ENQUEUE_SECONDS}_sum {sum}\n{ENQUEUE_SECONDS}_count {count}"
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn simple(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// A poisoned lock only means a panic elsewhere while counting; the counts stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.request("webhook", 200);
        metrics.request("webhook", 200);
        metrics.signature_failure("mismatch");
        metrics.stored(StoredIn::Redis, Duration::from_micros(80));
        metrics.stored(StoredIn::Spool, Duration::from_millis(3));

        let text = metrics.render(7);

        assert!(
            text.contains(r#"sellsy_listener_http_requests_total{route="webhook",status="200"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"sellsy_listener_signature_failures_total{reason="mismatch"} 1"#));
        assert!(text.contains(r#"sellsy_listener_events_stored_total{store="spool"} 1"#));
        assert!(text.contains("sellsy_listener_spool_depth 7"));
        assert!(text.contains(r#"sellsy_listener_enqueue_seconds_bucket{le="0.0001"} 1"#));
        assert!(text.contains(r#"sellsy_listener_enqueue_seconds_bucket{le="0.005"} 2"#));
        assert!(text.contains("sellsy_listener_enqueue_seconds_count 2"));
    }
}

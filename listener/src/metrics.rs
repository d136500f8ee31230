//! Prometheus metrics: counted where things happen, rendered by `prometheus-client` in the
//! OpenMetrics text format. Counters and the latency histogram live in one registry for
//! the life of the process; gauges are read at scrape time from the [`Gauges`] and
//! [`QueueStats`] the caller passes, so they never go stale between scrapes.
//!
//! Names are registered without the `_total` suffix: `prometheus-client` appends it to
//! every counter, so `sellsy_listener_http_requests` renders as
//! `sellsy_listener_http_requests_total`.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::queue_stats::QueueStats;

/// HTTP requests by route and status (rendered `…_total`).
pub(crate) const HTTP_REQUESTS: &str = "sellsy_listener_http_requests";
/// Time from a webhook's arrival to its acknowledgement (stored in Redis or the spool).
pub(crate) const ENQUEUE_SECONDS: &str = "sellsy_listener_enqueue_seconds";
/// Webhooks refused for their signature, by reason (rendered `…_total`).
pub(crate) const SIGNATURE_FAILURES: &str = "sellsy_listener_signature_failures";
/// Events acknowledged, by where they were stored: redis, spool (rendered `…_total`).
pub(crate) const EVENTS_STORED: &str = "sellsy_listener_events_stored";
/// Events that could be stored nowhere, answered 503 (rendered `…_total`).
pub(crate) const EVENTS_UNAVAILABLE: &str = "sellsy_listener_events_unavailable";
/// Spooled events moved to Redis by the drainer (rendered `…_total`).
pub(crate) const DRAINED_EVENTS: &str = "sellsy_listener_drained_events";
/// Spooled events set aside as dead letters (rendered `…_total`).
pub(crate) const DEAD_LETTERED_EVENTS: &str = "sellsy_listener_dead_lettered_events";
/// Failed or timed-out Redis calls (rendered `…_total`).
pub(crate) const REDIS_ERRORS: &str = "sellsy_listener_redis_errors";
/// Events waiting in the spool.
pub(crate) const SPOOL_DEPTH: &str = "sellsy_listener_spool_depth";
/// Size of the spool file on disk.
pub(crate) const SPOOL_BYTES: &str = "sellsy_listener_spool_bytes";
/// Dead letters kept in the spool.
pub(crate) const DEAD_LETTER_EVENTS: &str = "sellsy_listener_dead_letter_events";
/// Body bytes received and not yet answered.
pub(crate) const INFLIGHT_BODY_BYTES: &str = "sellsy_listener_inflight_body_bytes";
/// Jobs of the BullMQ queue, by state.
pub(crate) const QUEUE_JOBS: &str = "sellsy_listener_queue_jobs";
/// Age of the job next in line in the BullMQ queue.
pub(crate) const QUEUE_OLDEST_WAITING_SECONDS: &str =
    "sellsy_listener_queue_oldest_waiting_seconds";

/// Upper bounds of the enqueue latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Where an acknowledged event was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredIn {
    /// In Redis, as a BullMQ job.
    Redis,
    /// In the local spool, to be drained.
    Spool,
}

impl StoredIn {
    fn label(self) -> StoreLabel {
        let store = match self {
            Self::Redis => "redis",
            Self::Spool => "spool",
        };
        StoreLabel { store }
    }
}

/// Figures read at scrape time by whoever owns them. `None`: not known, the gauge is
/// left out of the scrape rather than shown as a made-up number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Gauges {
    /// Events waiting in the spool ([`SPOOL_DEPTH`]).
    pub spool_depth: Option<u64>,
    /// Size of the spool file on disk, in bytes ([`SPOOL_BYTES`]).
    pub spool_bytes: Option<u64>,
    /// Dead letters kept in the spool ([`DEAD_LETTER_EVENTS`]).
    pub dead_letters: Option<u64>,
    /// Body bytes received and not yet answered ([`INFLIGHT_BODY_BYTES`]).
    pub inflight_body_bytes: Option<u64>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabel {
    store: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The route and status of every accepted webhook.
const WEBHOOK_OK: RequestLabels = RequestLabels {
    route: "webhook",
    status: 200,
};

/// The listener's counters and latency histogram, and the registry that renders them.
///
/// The series every event counts are also held as handles of their own (sharing the
/// family's value), so that the hot path neither hashes labels nor takes the family's lock.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// The `webhook`/200 series, resolved at the first such request (not before, so that
    /// it is not shown until it counts something, as every other request series).
    webhook_ok: OnceLock<Counter>,
    signature_failures: Family<ReasonLabel, Counter>,
    stored: Family<StoreLabel, Counter>,
    stored_redis: Counter,
    stored_spool: Counter,
    unavailable: Counter,
    drained: Counter,
    dead_lettered: Counter,
    redis_errors: Counter,
    enqueue_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let stored = Family::<StoreLabel, Counter>::default();
        // Both places are shown from the start, at 0, so a rate over them is defined.
        let stored_redis = stored.get_or_create(&StoredIn::Redis.label()).clone();
        let stored_spool = stored.get_or_create(&StoredIn::Spool.label()).clone();
        let metrics = Self {
            registry: Registry::default(),
            requests: Family::default(),
            webhook_ok: OnceLock::new(),
            signature_failures: Family::default(),
            stored,
            stored_redis,
            stored_spool,
            unavailable: Counter::default(),
            drained: Counter::default(),
            dead_lettered: Counter::default(),
            redis_errors: Counter::default(),
            enqueue_seconds: Histogram::new(BUCKETS),
        };
        metrics.register()
    }
}

impl Metrics {
    fn register(mut self) -> Self {
        let registry = &mut self.registry;
        registry.register(
            HTTP_REQUESTS,
            "HTTP requests by route and status",
            self.requests.clone(),
        );
        registry.register(
            SIGNATURE_FAILURES,
            "Webhooks refused for their signature",
            self.signature_failures.clone(),
        );
        registry.register(
            EVENTS_STORED,
            "Events acknowledged, by where they were stored",
            self.stored.clone(),
        );
        registry.register(
            EVENTS_UNAVAILABLE,
            "Events answered 503: stored nowhere",
            self.unavailable.clone(),
        );
        registry.register(
            DRAINED_EVENTS,
            "Spooled events moved to Redis",
            self.drained.clone(),
        );
        registry.register(
            DEAD_LETTERED_EVENTS,
            "Spooled events set aside as dead letters",
            self.dead_lettered.clone(),
        );
        registry.register(
            REDIS_ERRORS,
            "Failed or timed-out Redis calls",
            self.redis_errors.clone(),
        );
        registry.register(
            ENQUEUE_SECONDS,
            "Time from arrival to acknowledgement of a webhook",
            self.enqueue_seconds.clone(),
        );
        self
    }

    /// Counts one answered request.
    pub(crate) fn request(&self, route: &'static str, status: u16) {
        let labels = RequestLabels { route, status };
        if labels == WEBHOOK_OK {
            let counter = self
                .webhook_ok
                .get_or_init(|| self.requests.get_or_create(&WEBHOOK_OK).clone());
            counter.inc();
        } else {
            self.requests.get_or_create(&labels).inc();
        }
    }

    /// Counts one signature refusal.
    pub(crate) fn signature_failure(&self, reason: &'static str) {
        self.signature_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts acknowledged events and records how long the acknowledgement took.
    pub(crate) fn stored(&self, place: StoredIn, latency: Duration) {
        self.stored_in(place).inc();
        self.enqueue_seconds.observe(latency.as_secs_f64());
    }

    fn stored_in(&self, place: StoredIn) -> &Counter {
        match place {
            StoredIn::Redis => &self.stored_redis,
            StoredIn::Spool => &self.stored_spool,
        }
    }

    /// Counts events answered 503.
    pub(crate) fn unavailable(&self, events: u64) {
        self.unavailable.inc_by(events);
    }

    /// Counts events drained from the spool to Redis.
    pub(crate) fn drained(&self, events: u64) {
        self.drained.inc_by(events);
    }

    /// Counts spooled events set aside as dead letters.
    pub(crate) fn dead_lettered(&self, events: u64) {
        self.dead_lettered.inc_by(events);
    }

    /// Counts a failed or timed-out Redis call.
    pub(crate) fn redis_error(&self) {
        self.redis_errors.inc();
    }

    /// Events acknowledged so far, by place.
    #[cfg(test)]
    fn stored_count(&self, place: StoredIn) -> u64 {
        self.stored_in(place).get()
    }

    /// The OpenMetrics text exposition: the counters, then `gauges` and, when Redis
    /// answered, the queue's figures.
    pub(crate) fn render(&self, gauges: &Gauges, queue: Option<&QueueStats>) -> String {
        let scrape = scrape_registry(gauges, queue);
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail; the encoder's error type is fmt's.
        let _ = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &scrape))
            .and_then(|()| encode_eof(&mut out));
        out
    }
}

/// A registry holding this scrape's gauges, those that are known.
fn scrape_registry(gauges: &Gauges, queue: Option<&QueueStats>) -> Registry {
    let mut registry = Registry::default();
    let known = [
        (
            SPOOL_DEPTH,
            "Events waiting in the local spool",
            gauges.spool_depth,
        ),
        (
            SPOOL_BYTES,
            "Size of the spool file on disk, in bytes",
            gauges.spool_bytes,
        ),
        (
            DEAD_LETTER_EVENTS,
            "Dead letters kept in the spool",
            gauges.dead_letters,
        ),
        (
            INFLIGHT_BODY_BYTES,
            "Body bytes received and not yet answered",
            gauges.inflight_body_bytes,
        ),
    ];
    for (name, help, value) in known {
        if let Some(value) = value {
            registry.register(name, help, ConstGauge::new(value));
        }
    }
    if let Some(stats) = queue {
        let jobs = Family::<StateLabel, Gauge<u64, AtomicU64>>::default();
        let counts = &stats.counts;
        for (state, count) in [
            ("waiting", counts.waiting),
            ("active", counts.active),
            ("delayed", counts.delayed),
            ("prioritized", counts.prioritized),
            ("completed", counts.completed),
            ("failed", counts.failed),
        ] {
            jobs.get_or_create(&StateLabel { state }).set(count);
        }
        registry.register(QUEUE_JOBS, "Jobs of the BullMQ queue, by state", jobs);
        registry.register(
            QUEUE_OLDEST_WAITING_SECONDS,
            "Age of the job next in line in the BullMQ queue (0 when none waits)",
            ConstGauge::new(stats.oldest_waiting.as_secs_f64()),
        );
    }
    registry
}

#[cfg(test)]
mod tests {
    use bullmq_rs::JobCounts;

    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn renders_counters_with_todays_names_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.request("webhook", 200);
        metrics.request("webhook", 200);
        metrics.signature_failure("mismatch");
        metrics.stored(StoredIn::Redis, Duration::from_micros(80));
        metrics.stored(StoredIn::Spool, Duration::from_millis(3));
        metrics.unavailable(4);
        metrics.drained(5);
        metrics.dead_lettered(2);
        metrics.redis_error();

        let text = metrics.render(&Gauges::default(), None);
        let lines = lines(&text);

        for line in [
            r#"sellsy_listener_http_requests_total{route="webhook",status="200"} 2"#,
            r#"sellsy_listener_signature_failures_total{reason="mismatch"} 1"#,
            r#"sellsy_listener_events_stored_total{store="redis"} 1"#,
            r#"sellsy_listener_events_stored_total{store="spool"} 1"#,
            "sellsy_listener_events_unavailable_total 4",
            "sellsy_listener_drained_events_total 5",
            "sellsy_listener_dead_lettered_events_total 2",
            "sellsy_listener_redis_errors_total 1",
            "# TYPE sellsy_listener_http_requests counter",
            "# HELP sellsy_listener_redis_errors Failed or timed-out Redis calls.",
            "# TYPE sellsy_listener_enqueue_seconds histogram",
            r#"sellsy_listener_enqueue_seconds_bucket{le="0.0001"} 1"#,
            r#"sellsy_listener_enqueue_seconds_bucket{le="0.005"} 2"#,
            r#"sellsy_listener_enqueue_seconds_bucket{le="+Inf"} 2"#,
            "sellsy_listener_enqueue_seconds_count 2",
        ] {
            assert!(lines.contains(&line), "{line} missing from:\n{text}");
        }
        assert_eq!(lines.last(), Some(&"# EOF"));
        assert!(!text.contains("_total_total"), "{text}");
        assert_eq!(metrics.stored_count(StoredIn::Spool), 1);
    }

    #[test]
    fn known_gauges_and_queue_figures_are_rendered_at_scrape_time() {
        let metrics = Metrics::default();
        let gauges = Gauges {
            spool_depth: Some(7),
            spool_bytes: Some(4096),
            dead_letters: Some(3),
            inflight_body_bytes: Some(1200),
        };
        let mut counts = JobCounts::default();
        (counts.waiting, counts.active, counts.delayed) = (10, 2, 3);
        (counts.prioritized, counts.completed, counts.failed) = (4, 5, 6);
        let stats = QueueStats {
            counts,
            oldest_waiting: Duration::from_millis(2500),
        };

        let text = metrics.render(&gauges, Some(&stats));
        let lines = lines(&text);

        for line in [
            "# TYPE sellsy_listener_spool_depth gauge",
            "sellsy_listener_spool_depth 7",
            "sellsy_listener_spool_bytes 4096",
            "sellsy_listener_dead_letter_events 3",
            "sellsy_listener_inflight_body_bytes 1200",
            r#"sellsy_listener_queue_jobs{state="waiting"} 10"#,
            r#"sellsy_listener_queue_jobs{state="active"} 2"#,
            r#"sellsy_listener_queue_jobs{state="delayed"} 3"#,
            r#"sellsy_listener_queue_jobs{state="prioritized"} 4"#,
            r#"sellsy_listener_queue_jobs{state="completed"} 5"#,
            r#"sellsy_listener_queue_jobs{state="failed"} 6"#,
            "sellsy_listener_queue_oldest_waiting_seconds 2.5",
        ] {
            assert!(lines.contains(&line), "{line} missing from:\n{text}");
        }
        assert_eq!(lines.last(), Some(&"# EOF"));
    }

    #[test]
    fn unknown_gauges_and_unread_queue_figures_are_left_out() {
        let gauges = Gauges {
            spool_depth: Some(0),
            ..Gauges::default()
        };

        let text = Metrics::default().render(&gauges, None);

        assert!(text.contains("\nsellsy_listener_spool_depth 0\n"), "{text}");
        for absent in [
            SPOOL_BYTES,
            DEAD_LETTER_EVENTS,
            INFLIGHT_BODY_BYTES,
            QUEUE_JOBS,
            QUEUE_OLDEST_WAITING_SECONDS,
        ] {
            assert!(!text.contains(absent), "{absent} in:\n{text}");
        }
    }
}

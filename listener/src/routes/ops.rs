//! `/healthz` (alive), `/readyz` (can an event be stored, and where), `/metrics`.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::error::Error;
use crate::ingest::Shared;
use crate::metrics::Gauges;
use crate::spool::Spool;

/// How long readiness waits for Redis' PING.
const PING_TIMEOUT: Duration = Duration::from_millis(250);

pub(super) async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    state.shared.metrics.request("healthz", 200);
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// Ready (200) exactly when an event can be stored: Redis takes writes (as the batchers
/// last saw it, it answers now, and with `--min-replicas-acks N` N replicas are in sync)
/// or the spool can take an append (its own health, which also heals it). The body says
/// which part fails, and how much the spool holds.
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let shared = &state.shared;
    let redis = RedisHealth::of(shared).await;
    let spool = shared.spool().clone();
    let spool = web::block(move || SpoolHealth::of(&spool))
        .await
        .unwrap_or_else(|_| SpoolHealth::failing("the health check did not finish"));
    let stores_to = match (redis, spool.writable) {
        (RedisHealth::Reachable, _) => "redis",
        (RedisHealth::ReplicasBehind(_), true) => "redis and spool",
        (_, true) => "spool",
        (_, false) => "nothing",
    };
    let ready = stores_to != "nothing";
    let status = if ready { 200 } else { 503 };
    shared.metrics.request("readyz", status);
    let mut body = json!({
        "ready": ready,
        "redis": redis.as_str(),
        "spool": spool.state,
        "spool_error": spool.error,
        "stores_to": stores_to,
        "spool_depth": spool.pending,
        "dead_letters": spool.dead_letters,
        "spool_bytes": spool.bytes,
        "signature": signature(&state),
    });
    if let RedisHealth::ReplicasBehind(in_sync) = redis {
        body["replicas_in_sync"] = json!(in_sync);
    }
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// What `/readyz` says of Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RedisHealth {
    /// Takes writes, with as many replicas in sync as `--min-replicas-acks` asks.
    Reachable,
    /// Takes writes, but fewer replicas than required are in sync: events also need the
    /// spool until they are replicated.
    ReplicasBehind(u32),
    /// Failed the last add, or does not answer now.
    Unreachable,
}

impl RedisHealth {
    async fn of(shared: &Shared) -> Self {
        if !shared.router.redis_accepting() {
            return Self::Unreachable;
        }
        let required = shared.durability.min_replicas;
        let answer = async {
            if required == 0 {
                shared.queue.ping().await.map(|()| required)
            } else {
                shared.queue.replicas_in_sync().await
            }
        };
        match tokio::time::timeout(PING_TIMEOUT, answer).await {
            Ok(Ok(in_sync)) if in_sync >= required => Self::Reachable,
            Ok(Ok(in_sync)) => Self::ReplicasBehind(in_sync),
            _ => Self::Unreachable,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Reachable => "reachable",
            Self::ReplicasBehind(_) => "replicas behind",
            Self::Unreachable => "unreachable",
        }
    }
}

/// What `/readyz` says of the spool.
struct SpoolHealth {
    writable: bool,
    state: &'static str,
    error: Option<String>,
    pending: u64,
    dead_letters: u64,
    bytes: u64,
}

impl SpoolHealth {
    fn of(spool: &Spool) -> Self {
        let (writable, state, error) = match spool.health() {
            Ok(()) => (true, "writable", None),
            Err(err @ Error::SpoolFull { .. }) => (false, "full", Some(err.to_string())),
            Err(err) => (false, "failing", Some(err.to_string())),
        };
        Self {
            writable,
            state,
            error,
            pending: spool.len(),
            dead_letters: spool.dead_letters(),
            bytes: spool.bytes(),
        }
    }

    fn failing(why: &str) -> Self {
        Self {
            writable: false,
            state: "failing",
            error: Some(why.to_owned()),
            pending: 0,
            dead_letters: 0,
            bytes: 0,
        }
    }
}

/// Says loudly when signatures are not checked.
fn signature(state: &AppState) -> String {
    if state.verifier.is_enabled() {
        format!(
            "enforced ({} key(s), {:?})",
            state.verifier.secret_count(),
            state.verifier.scheme()
        )
    } else {
        "NOT CHECKED: started with --allow-unsigned".to_owned()
    }
}

/// What Prometheus is told the exposition is.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Counters, gauges read now, and the queue's figures read at most once a second.
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let shared = &state.shared;
    shared.metrics.request("metrics", 200);
    let spool = shared.spool();
    let gauges = Gauges {
        spool_depth: Some(spool.len()),
        spool_bytes: Some(spool.bytes()),
        dead_letters: Some(spool.dead_letters()),
        inflight_body_bytes: Some(state.body_budget.in_flight() as u64),
    };
    let queue = state.queue_stats.read().await;
    HttpResponse::Ok()
        .content_type(OPENMETRICS)
        .body(shared.metrics.render(&gauges, queue.as_ref()))
}

//! `/healthz` (alive), `/readyz` (can an event be stored, and where), `/metrics`.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::metrics::Gauges;

/// How long readiness waits for Redis' PING.
const PING_TIMEOUT: Duration = Duration::from_millis(250);

pub(super) async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    state.shared.metrics.request("healthz", 200);
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// Ready when an event can be stored: Redis answers or the spool is writable. Says which,
/// and says loudly when signatures are not checked.
pub(super) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let shared = &state.shared;
    let redis = matches!(
        tokio::time::timeout(PING_TIMEOUT, shared.queue.ping()).await,
        Ok(Ok(()))
    );
    let spool_dir = shared
        .spool
        .as_ref()
        .map(|spool| spool.path().to_path_buf());
    let spool = match spool_dir {
        Some(path) => web::block(move || spool_writable(&path))
            .await
            .unwrap_or(false),
        None => false,
    };
    let signature = if state.verifier.is_enabled() {
        format!(
            "enforced ({} key(s), {:?})",
            state.verifier.secret_count(),
            state.verifier.scheme()
        )
    } else {
        "NOT CHECKED: no signing key configured".to_owned()
    };
    let ready = redis || spool;
    let status = if ready { 200 } else { 503 };
    shared.metrics.request("readyz", status);
    let body = json!({
        "ready": ready,
        "redis": if redis { "reachable" } else { "unreachable" },
        "spool": if spool { "writable" } else { "unwritable" },
        "spool_depth": shared.spool_len(),
        "stores_to": if redis && shared.spool_len() == 0 { "redis" } else if spool { "spool" } else { "nothing" },
        "signature": signature,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The spool's directory accepts a new file (the spool itself is opened exclusively).
fn spool_writable(spool_file: &std::path::Path) -> bool {
    let Some(dir) = spool_file.parent() else {
        return false;
    };
    let probe = dir.join(format!(".ready-probe-{}", std::process::id()));
    let written = std::fs::write(&probe, b"ok").is_ok();
    let _ = std::fs::remove_file(&probe);
    written
}

/// What Prometheus is told the exposition is.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Counters, gauges read now, and the queue's figures read at most once a second.
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let shared = &state.shared;
    shared.metrics.request("metrics", 200);
    let gauges = Gauges {
        spool_depth: Some(shared.spool_len()),
        ..Gauges::default()
    };
    let queue = state.queue_stats.read().await;
    HttpResponse::Ok()
        .content_type(OPENMETRICS)
        .body(shared.metrics.render(&gauges, queue.as_ref()))
}

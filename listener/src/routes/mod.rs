//! The route table, shared by `run` and the in-process tests.

mod ops;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use bullmq_rs::{Deduplication, JobOptions, NewJob};

use crate::http::BodyBudget;
use crate::ingest::{Ingest, Shared};
use crate::quarantine::BadSignaturePolicy;
use crate::queue_stats::QueueStatsCache;
use crate::sellsy::SellsyEvent;
use crate::signature::Verifier;

/// Header carrying the request id (taken from the client when it sends one).
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// Where Sellsy posts.
pub(crate) const WEBHOOK_PATH: &str = "/webhook/sellsy";

/// Everything the routes need.
pub(crate) struct AppState {
    /// Stores events (Redis, else spool).
    pub ingest: Ingest,
    /// Queue, spool and metrics.
    pub shared: Arc<Shared>,
    /// Signature check.
    pub verifier: Verifier,
    /// How each event becomes a job.
    pub jobs: JobTemplate,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Body bytes in flight, shared by every worker.
    pub body_budget: Arc<BodyBudget>,
    /// What a bad signature gets: 401, or the quarantine.
    pub bad_signature: BadSignaturePolicy,
    /// The queue's figures for `/metrics`, shared by every worker.
    pub queue_stats: Arc<QueueStatsCache>,
}

/// How an event becomes a BullMQ job: name, default options, deduplication window.
#[derive(Debug, Clone)]
pub struct JobTemplate {
    /// Job name (`event`).
    pub name: String,
    /// Options every job gets.
    pub options: JobOptions,
    /// How long a redelivery is recognised.
    pub dedup_ttl: Duration,
}

impl JobTemplate {
    /// The event's job: the template's name and options, plus the id and deduplication
    /// window derived from the event, so that redeliveries and spool replays add nothing
    /// twice.
    pub fn job_for(&self, event: &SellsyEvent) -> NewJob {
        let opts = JobOptions {
            job_id: Some(event.job_id().into()),
            deduplication: Some(Deduplication {
                id: event.dedup_key().to_owned(),
                ttl: Some(self.dedup_ttl),
                ..Default::default()
            }),
            ..self.options.clone()
        };
        NewJob::from_json(&self.name, event.data_json().to_owned(), opts)
    }
}

/// Registers every route on `cfg`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, state: web::Data<AppState>) {
    let max_body = state.max_body_bytes;
    cfg.app_data(state)
        .app_data(web::PayloadConfig::new(max_body))
        .service(
            web::resource(WEBHOOK_PATH)
                .route(web::post().to(webhook::receive))
                .route(web::get().to(webhook::ping))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/healthz")
                .route(web::get().to(ops::healthz))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/readyz")
                .route(web::get().to(ops::readyz))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(ops::metrics))
                .default_service(web::to(method_not_allowed)),
        )
        .default_service(web::to(not_found));
}

async fn method_not_allowed(state: web::Data<AppState>) -> HttpResponse {
    state.shared.metrics.request("other", 405);
    HttpResponse::MethodNotAllowed().json(serde_json::json!({ "error": "method not allowed" }))
}

async fn not_found(state: web::Data<AppState>) -> HttpResponse {
    state.shared.metrics.request("other", 404);
    HttpResponse::NotFound().json(serde_json::json!({ "error": "not found" }))
}

//! `POST /webhook/sellsy`: size limit, signature on the raw bytes, then parsing, then the
//! acknowledgement rule of `ingest`. One log line per request, with its request id.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bullmq_rs::{Deduplication, JobOptions, NewJob};
use serde_json::json;

use super::{AppState, REQUEST_ID_HEADER};
use crate::config::BadSignature;
use crate::error::ApiError;
use crate::http;
use crate::ingest::Stored;
use crate::sellsy::{self, SellsyEvent};
use crate::signature::SIGNATURE_HEADER;

/// How long a 503 asks the sender to wait.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Sellsy may check the endpoint with a GET.
pub(super) async fn ping(state: web::Data<AppState>) -> HttpResponse {
    state.shared.metrics.request("webhook", 200);
    HttpResponse::Ok().json(json!({ "status": "ready" }))
}

pub(super) async fn receive(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let received = Instant::now();
    let request_id = request_id(&request);
    let outcome = handle(&request, body, &state, received).await;
    let mut response = match &outcome {
        Ok(ack) => HttpResponse::Ok().json(ack),
        Err(err) => err.error_response(),
    };
    if let Ok(value) = header::HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    let status = response.status().as_u16();
    state.shared.metrics.request("webhook", status);
    match &outcome {
        Ok(ack) => {
            tracing::info!(request_id, status, micros = received.elapsed().as_micros() as u64, ack = %ack, "webhook")
        }
        Err(err) => {
            tracing::info!(request_id, status, micros = received.elapsed().as_micros() as u64, error = %err, "webhook refused")
        }
    }
    response
}

async fn handle(
    request: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    received: Instant,
) -> Result<serde_json::Value, ApiError> {
    let body = http::body::read(request, body, &state.body_budget, state.max_body_bytes).await?;
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|value| value.as_bytes());
    if let Err(rejection) = state.verifier.verify(signature, &body) {
        state.shared.metrics.signature_failure(rejection.as_str());
        return match state.on_bad_signature {
            BadSignature::Reject => Err(ApiError::Unauthorized),
            BadSignature::Quarantine => quarantine(request, &body, rejection.as_str(), state).await,
        };
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let event =
        sellsy::parse(content_type, &body).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let job = job_for(&event, state);
    job.validate(state.shared.queue.major())
        .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    match state.ingest.store(job, received).await {
        Ok(Stored::InRedis(id)) => Ok(json!({ "status": "queued", "jobId": id.as_str() })),
        Ok(Stored::InSpool(_)) => Ok(json!({ "status": "spooled", "jobId": event.job_id() })),
        Err(_) => Err(ApiError::Unavailable {
            retry_after: RETRY_AFTER,
        }),
    }
}

/// The event's job: the template's name and options, plus the id and deduplication
/// window derived from the event, so that redeliveries and spool replays add nothing twice.
fn job_for(event: &SellsyEvent, state: &AppState) -> NewJob {
    let template = &state.jobs;
    let opts = JobOptions {
        job_id: Some(event.job_id().into()),
        deduplication: Some(Deduplication {
            id: event.dedup_key().to_owned(),
            ttl: Some(template.dedup_ttl),
            ..Default::default()
        }),
        ..template.options.clone()
    };
    NewJob::from_json(&template.name, event.data_json().to_owned(), opts)
}

/// Parks a badly signed request in the quarantine queue; 200 only once it is stored there.
async fn quarantine(
    request: &HttpRequest,
    body: &[u8],
    reason: &str,
    state: &AppState,
) -> Result<serde_json::Value, ApiError> {
    let Some(queue) = &state.quarantine else {
        return Err(ApiError::Unauthorized);
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let data = json!({
        "reason": reason,
        "contentType": content_type,
        "body": String::from_utf8_lossy(body),
        "receivedAt": chrono::Utc::now().to_rfc3339(),
    });
    let add = queue.add("quarantined", &data, JobOptions::default());
    match tokio::time::timeout(state.shared.durability.deadline, add).await {
        Ok(Ok(id)) => Ok(json!({ "status": "quarantined", "jobId": id.as_str() })),
        _ => Err(ApiError::Unavailable {
            retry_after: RETRY_AFTER,
        }),
    }
}

fn request_id(request: &HttpRequest) -> String {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned)
}

/// `<process prefix>-<counter>`: unique per process run without a random draw (and its
/// system call) per request.
fn new_request_id() -> String {
    static PREFIX: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "{}-{}",
        *PREFIX,
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

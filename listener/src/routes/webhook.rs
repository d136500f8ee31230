//! `POST /webhook/sellsy`: size limit, signature on the raw bytes, then parsing, then the
//! acknowledgement rule of `ingest`. One log line per request, with its request id.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use super::{AppState, REQUEST_ID_HEADER};
use crate::error::{ApiError, RETRY_AFTER};
use crate::http;
use crate::ingest::Stored;
use crate::quarantine::BadSignaturePolicy;
use crate::sellsy;
use crate::signature::SIGNATURE_HEADER;

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
        return match &state.bad_signature {
            BadSignaturePolicy::Reject => Err(ApiError::Unauthorized),
            BadSignaturePolicy::Quarantine(quarantine) => {
                let content_type = request.headers().get(header::CONTENT_TYPE);
                let content_type = content_type.and_then(|value| value.to_str().ok());
                let id = quarantine
                    .park(content_type, &body, rejection.as_str())
                    .await
                    .inspect_err(|refusal| tracing::info!(%refusal, "not quarantined"))?;
                Ok(json!({ "status": "quarantined", "jobId": id.as_str() }))
            }
        };
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let event =
        sellsy::parse(content_type, &body).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    let job = state.jobs.job_for(&event);
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

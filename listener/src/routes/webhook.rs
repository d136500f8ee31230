//! `POST /webhook/sellsy`: size limit, signature on the raw bytes, then parsing, then the
//! acknowledgement rule of `ingest`. One log line per request, with its request id.

use std::fmt::{self, Write};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bullmq_rs::JobId;
use serde::Serialize;
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
    response.headers_mut().insert(
        HeaderName::from_static(REQUEST_ID_HEADER),
        request_id.clone(),
    );
    // Visible ASCII only (checked or generated so), hence always text.
    let request_id = request_id.to_str().unwrap_or_default();
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
) -> Result<Ack, ApiError> {
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
                Ok(Ack {
                    status: "quarantined",
                    job_id: id,
                })
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
        Ok(Stored::InRedis(id)) => Ok(Ack {
            status: "queued",
            job_id: id,
        }),
        Ok(Stored::InSpool(_)) => Ok(Ack {
            status: "spooled",
            job_id: event.job_id().into(),
        }),
        Err(_) => Err(ApiError::Unavailable {
            retry_after: RETRY_AFTER,
        }),
    }
}

/// The body of a 200: where the event is and its job's id. Serialised directly (no JSON
/// tree per request); the text is what `{"status": …, "jobId": …}` printed before.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Ack {
    status: &'static str,
    job_id: JobId,
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// The client's request id when it is a usable one (its header value is shared, not
/// copied), else a new one.
fn request_id(request: &HttpRequest) -> HeaderValue {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .filter(|id| {
            let id = id.as_bytes();
            !id.is_empty() && id.len() <= 128 && id.iter().all(u8::is_ascii_graphic)
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// `<process prefix>-<counter>`: unique per process run without a random draw (and its
/// system call) per request.
fn new_request_id() -> HeaderValue {
    static PREFIX: LazyLock<String> =
        LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut id = String::with_capacity(PREFIX.len() + 21);
    let _ = write!(
        id,
        "{}-{}",
        *PREFIX,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    // Hex, `-` and digits: always a valid header value (the fallback is never taken);
    // the text becomes the value without a copy.
    HeaderValue::try_from(id).unwrap_or(HeaderValue::from_static("-"))
}

//! The listener's errors: `Error` for what goes wrong inside, `ApiError` for what a client
//! is told (status and a JSON body without detail; the detail goes to the log).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

/// Failures inside the listener.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local spool could not be opened, read or written.
    #[error("spool {action}: {detail}")]
    Spool {
        /// What was being done (`open`, `append`, ...).
        action: &'static str,
        /// The storage error.
        detail: String,
    },
    /// The spool is at its size limit (`--spool-max-bytes`): nothing was stored. It takes
    /// events again once the drainer has moved enough of them to Redis.
    #[error("spool full: its data takes {bytes} bytes of its file, the limit is {max_bytes}")]
    SpoolFull {
        /// The space the spool's data takes in its file (an upper bound; see the spool's
        /// capacity docs).
        bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// The spool file is open in another process (or another `Spool` of this one).
    #[error("spool {} is in use (is the listener running?)", .0.display())]
    SpoolInUse(std::path::PathBuf),
    /// There is no spool file where one was expected (the `spool` commands create none).
    #[error("no spool at {}", .0.display())]
    SpoolMissing(std::path::PathBuf),
    /// The queue refused or Redis failed.
    #[error(transparent)]
    Queue(#[from] bullmq_rs::Error),
    /// A configuration value that cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding or serving failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How long a 503 asks the sender to wait when nothing could store its event.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What a webhook request is answered with when it is not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ApiError {
    /// Missing, malformed or wrong signature.
    #[error("invalid signature")]
    Unauthorized,
    /// A body that is not a Sellsy event.
    #[error("{0}")]
    BadRequest(String),
    /// A body over the size limit.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Neither Redis nor the spool could store the event: the sender must retry.
    #[error("event not stored, retry later")]
    Unavailable {
        /// When to retry.
        retry_after: Duration,
    },
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Self::Unavailable { retry_after } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
        {
            response.insert_header((header::RETRY_AFTER, value));
        }
        response.json(serde_json::json!({ "error": self.to_string() }))
    }
}

//! A failed Sellsy call, and what the job does about it: retry, wait, or give up
//! (node-worker-compat/lib/sellsy-api.js errors, lib/invoice-processor.js `translate`).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// When a 429 names no `Retry-After`: the Node worker's default.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How much of a 400's `details` the message keeps.
const DETAILS_MAX_CHARS: usize = 500;

/// A Sellsy call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SellsyError {
    /// Sellsy answered with a non-2xx status.
    Status {
        /// `GET`, `POST`.
        method: &'static str,
        /// The URL's path, e.g. `/v2/invoices`.
        path: String,
        /// The HTTP status.
        status: u16,
        /// `: <message> <details>` from Sellsy's error body, or empty.
        detail: String,
        /// The 429's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// No HTTP answer at all (connection refused, reset, timeout).
    Network {
        /// `GET`, `POST`.
        method: &'static str,
        /// The URL's path.
        path: String,
        /// What went wrong.
        cause: String,
    },
}

/// What a failure means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Retry per the job's attempts and backoff (5xx, network).
    Retry,
    /// Retry, not before this delay (429).
    RetryAfter(Duration),
    /// Fail for good (other 4xx: a retry would get the same answer).
    GiveUp,
}

impl SellsyError {
    /// An answer with a non-2xx `status`; `body` is the parsed answer (JSON, or the raw
    /// text as a string, or null when empty).
    pub(crate) fn status(method: &'static str, url: &str, status: u16, body: &Value) -> Self {
        Self::Status {
            method,
            path: path_of(url).to_owned(),
            status,
            detail: describe_body(body),
            retry_after: None,
        }
    }

    /// No answer from `url`.
    pub(crate) fn network(method: &'static str, url: &str, cause: impl fmt::Display) -> Self {
        Self::Network {
            method,
            path: path_of(url).to_owned(),
            cause: cause.to_string(),
        }
    }

    /// The same error, carrying the answer's `Retry-After`.
    pub(crate) fn with_retry_after(mut self, delay: Option<Duration>) -> Self {
        if let Self::Status { retry_after, .. } = &mut self {
            *retry_after = delay;
        }
        self
    }

    /// Maps the failure onto the job's three outcomes (sellsy.md §6.11).
    pub(crate) fn verdict(&self) -> Verdict {
        match self {
            Self::Network { .. } => Verdict::Retry,
            Self::Status {
                status: 429,
                retry_after,
                ..
            } => Verdict::RetryAfter(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
            Self::Status { status, .. } if *status >= 500 => Verdict::Retry,
            Self::Status { .. } => Verdict::GiveUp,
        }
    }
}

impl fmt::Display for SellsyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status {
                method,
                path,
                status,
                detail,
                ..
            } => write!(f, "Sellsy {method} {path} answered {status}{detail}"),
            Self::Network {
                method,
                path,
                cause,
            } => write!(f, "Sellsy {method} {path} failed: {cause}"),
        }
    }
}

impl std::error::Error for SellsyError {}

/// The path of an absolute URL (`/v2/invoices`), or the whole text if it has none.
fn path_of(url: &str) -> &str {
    let Some((_scheme, rest)) = url.split_once("://") else {
        return url;
    };
    let path = rest.find('/').map_or("/", |start| &rest[start..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Sellsy errors are `{"error": {"code", "message", "context", "details"}}` (§5.6);
/// `details` names the fields a 400 rejected, which is what an operator needs.
fn describe_body(body: &Value) -> String {
    let Some(error) = body.get("error").filter(|e| e.is_object()) else {
        return String::new();
    };
    let mut text = match error.get("message") {
        Some(Value::String(m)) if m.is_empty() => String::new(),
        None | Some(Value::Null | Value::Bool(false)) => String::new(),
        Some(Value::String(m)) => format!(": {m}"),
        Some(m) => format!(": {m}"),
    };
    if let Some(details) = error.get("details").filter(|d| d.is_object()) {
        let details: String = details
            .to_string()
            .chars()
            .take(DETAILS_MAX_CHARS)
            .collect();
        text.push(' ');
        text.push_str(&details);
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const INVOICES: &str = "http://127.0.0.1:4000/v2/invoices?x=1";

    fn answered(status: u16) -> SellsyError {
        SellsyError::status("POST", INVOICES, status, &Value::Null)
    }

    #[test]
    fn messages_name_method_path_status_and_sellsy_reason() {
        let body = json!({"error": {"code": 400, "message": "Invalid related", "context": "invoice",
                                    "details": {"related": "must be a client"}}});
        let error = SellsyError::status("POST", INVOICES, 400, &body);
        assert_eq!(
            error.to_string(),
            r#"Sellsy POST /v2/invoices answered 400: Invalid related {"related":"must be a client"}"#
        );
        assert_eq!(
            answered(502).to_string(),
            "Sellsy POST /v2/invoices answered 502"
        );
        let text = SellsyError::status("GET", "https://h", 500, &json!("<html>"));
        assert_eq!(text.to_string(), "Sellsy GET / answered 500");
        let network = SellsyError::network("GET", "https://h/v2/estimates/1", "connection refused");
        assert_eq!(
            network.to_string(),
            "Sellsy GET /v2/estimates/1 failed: connection refused"
        );
    }

    #[test]
    fn long_details_are_cut() {
        let body = json!({"error": {"message": "", "details": {"rows": "x".repeat(800)}}});
        let detail = describe_body(&body);
        assert_eq!(detail.chars().count(), 1 + DETAILS_MAX_CHARS);
    }

    #[test]
    fn verdicts_follow_the_status() {
        assert_eq!(answered(500).verdict(), Verdict::Retry);
        assert_eq!(answered(503).verdict(), Verdict::Retry);
        let network = SellsyError::network("GET", INVOICES, "timeout");
        assert_eq!(network.verdict(), Verdict::Retry);
        for status in [400, 401, 402, 403, 404, 409, 413] {
            assert_eq!(answered(status).verdict(), Verdict::GiveUp, "{status}");
        }
        let waited = answered(429).with_retry_after(Some(Duration::from_secs(1)));
        assert_eq!(
            waited.verdict(),
            Verdict::RetryAfter(Duration::from_secs(1))
        );
        assert_eq!(
            answered(429).verdict(),
            Verdict::RetryAfter(DEFAULT_RETRY_AFTER)
        );
    }
}

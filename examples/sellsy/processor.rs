//! One job: a Sellsy event in, at most one invoice out
//! (node-worker-compat/lib/invoice-processor.js).
//!
//! Sellsy has no event id and sends duplicates (sellsy.md §3, §6.6), so:
//! 1. the estimate's status is re-read from the API, never taken from the payload;
//! 2. a per-estimate Redis lock serialises concurrent jobs, in any worker;
//! 3. a record key remembers which invoice was made for which estimate.

use std::fmt;

use bullmq_rs::{ActiveJob, JobError};
use redis::aio::ConnectionManager;
use serde_json::{Value, json};

use super::api::SellsyApi;
use super::error::{SellsyError, Verdict};
use super::event::{Classified, TriggerEvents, classify_event, js_text};
use super::idempotency::EstimateKeys;
use super::invoice_body::build_invoice_body;

/// What every job shares.
pub(crate) struct Processor {
    pub(crate) api: SellsyApi,
    /// Our own connection for the lock and record keys.
    pub(crate) redis: ConnectionManager,
    pub(crate) prefix: String,
    pub(crate) triggers: TriggerEvents,
}

/// Why a job did not finish, and whether to try again.
#[derive(Debug)]
struct Failure {
    message: String,
    verdict: Verdict,
}

impl Processor {
    /// Runs one job and prints its one log line.
    pub(crate) async fn process(&self, job: ActiveJob) -> Result<Value, JobError> {
        let label = label(job.id.as_str(), &job.data);
        let outcome = self.handle(&job.data).await;
        match &outcome {
            Ok(result) => println!("{label} -> {}", describe(result)),
            Err(failure) => println!("{label} -> {failure}"),
        }
        outcome.map_err(JobError::from)
    }

    async fn handle(&self, data: &Value) -> Result<Value, Failure> {
        let estimate_ref = match classify_event(data, &self.triggers) {
            Classified::Skip(reason) => return Ok(json!({"action": "none", "reason": reason})),
            Classified::Trigger(estimate_ref) => estimate_ref,
        };
        let keys = EstimateKeys::new(&self.prefix, &estimate_ref);
        let mut redis = self.redis.clone();
        // Cheap early exit before spending API quota (failed calls count too, §5.5); the
        // authoritative check is repeated under the lock.
        if let Some(known) = keys.recorded(&mut redis).await? {
            return Ok(already_invoiced(&known));
        }
        let estimate = self.api.estimate(&estimate_ref.estimate_id).await?;
        let status = estimate.get("status");
        match status.and_then(Value::as_str) {
            Some("accepted") => {}
            Some("invoiced" | "partialinvoiced") => {
                return Ok(
                    json!({"action": "none", "reason": "already invoiced", "status": status}),
                );
            }
            _ => {
                let reason = format!("estimate status is {}, not accepted", js_text(status));
                return Ok(json!({"action": "none", "reason": reason}));
            }
        }
        let Some(held) = keys.lock(&mut redis).await? else {
            return Err(Failure::retry(format!(
                "estimate is being processed by another job (lock {} held)",
                keys.lock_key()
            )));
        };
        let invoice = build_invoice_body(&estimate, estimate_ref.parent_id);
        let created = self.create_once(&mut redis, &keys, &invoice).await;
        if let Err(err) = keys.release(&mut redis, held).await {
            eprintln!("lock release failed: {err}");
        }
        created
    }

    /// Creates the invoice unless the record shows one; the caller holds the lock.
    async fn create_once(
        &self,
        redis: &mut ConnectionManager,
        keys: &EstimateKeys,
        invoice: &Value,
    ) -> Result<Value, Failure> {
        if let Some(recorded) = keys.recorded(redis).await? {
            return Ok(already_invoiced(&recorded));
        }
        let created = self.api.create_invoice(invoice).await?;
        let invoice_id = match created.get("id") {
            None | Some(Value::Null) => {
                // Sellsy said yes but we cannot record what: a retry could duplicate.
                let message = "Sellsy POST /invoices succeeded without an invoice id";
                return Err(Failure::give_up(message.to_owned()));
            }
            Some(id) => id.clone(),
        };
        keys.record(redis, &js_text(Some(&invoice_id))).await?;
        Ok(json!({"action": "created", "invoiceId": invoice_id}))
    }
}

fn already_invoiced(recorded: &str) -> Value {
    // Node records String(id) and reads it back as a number when it is all digits.
    let invoice_id = match recorded.parse::<u64>() {
        Ok(id) if recorded.bytes().all(|b| b.is_ascii_digit()) => json!(id),
        _ => json!(recorded),
    };
    json!({"action": "none", "reason": "already invoiced", "invoiceId": invoice_id})
}

/// `job 7 docslog.step estimate 48213377`, as the Node worker prints it.
fn label(job_id: &str, data: &Value) -> String {
    let field = |name| js_text(data.get(name));
    let (kind, event) = (field("eventType"), field("event"));
    let (relatedtype, relatedid) = (field("relatedtype"), field("relatedid"));
    format!("job {job_id} {kind}.{event} {relatedtype} {relatedid}")
}

/// `created 9001` or `none (reason)`.
fn describe(result: &Value) -> String {
    match result["action"].as_str() {
        Some("created") => format!("created {}", js_text(result.get("invoiceId"))),
        _ => format!("none ({})", js_text(result.get("reason"))),
    }
}

impl Failure {
    fn retry(message: String) -> Self {
        let verdict = Verdict::Retry;
        Self { message, verdict }
    }

    fn give_up(message: String) -> Self {
        let verdict = Verdict::GiveUp;
        Self { message, verdict }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verdict {
            Verdict::RetryAfter(delay) => {
                let ms = delay.as_millis();
                write!(f, "rate limited, retry in {ms} ms: {}", self.message)
            }
            Verdict::GiveUp => write!(f, "error, not retried: {}", self.message),
            Verdict::Retry => write!(f, "error: {}", self.message),
        }
    }
}

impl From<SellsyError> for Failure {
    fn from(err: SellsyError) -> Self {
        let verdict = err.verdict();
        let message = err.to_string();
        Self { message, verdict }
    }
}

/// Redis trouble is worth a retry: the job is back once Redis is.
impl From<redis::RedisError> for Failure {
    fn from(err: redis::RedisError) -> Self {
        Self::retry(format!("redis: {err}"))
    }
}

impl From<Failure> for JobError {
    fn from(failure: Failure) -> Self {
        match failure.verdict {
            Verdict::Retry => JobError::new(failure.message),
            // Sellsy's quotas are per account: slow the whole queue down, as the Node
            // worker does with rateLimit + RateLimitError; no attempt is used up.
            Verdict::RetryAfter(delay) => JobError::rate_limited(failure.message, delay),
            Verdict::GiveUp => JobError::unrecoverable(failure.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_read_like_the_node_workers() {
        let data = json!({"eventType": "docslog", "event": "step", "relatedtype": "estimate",
                          "relatedid": 48213377});
        assert_eq!(label("7", &data), "job 7 docslog.step estimate 48213377");
        assert_eq!(
            label("8", &json!({})),
            "job 8 undefined.undefined undefined undefined"
        );
        let created = json!({"action": "created", "invoiceId": 9001});
        assert_eq!(describe(&created), "created 9001");
        assert_eq!(
            describe(&already_invoiced("9001")),
            "none (already invoiced)"
        );
    }

    #[test]
    fn recorded_ids_come_back_as_numbers_when_they_are_digits() {
        assert_eq!(already_invoiced("9001")["invoiceId"], json!(9001));
        assert_eq!(already_invoiced("INV-1")["invoiceId"], json!("INV-1"));
    }

    #[test]
    fn failures_say_what_happens_next() {
        let limited = SellsyError::status("POST", "http://h/v2/invoices", 429, &Value::Null)
            .with_retry_after(Some(std::time::Duration::from_secs(1)));
        let text = Failure::from(limited).to_string();
        assert_eq!(
            text,
            "rate limited, retry in 1000 ms: Sellsy POST /v2/invoices answered 429"
        );
        let fatal = SellsyError::status("POST", "http://h/v2/invoices", 400, &Value::Null);
        assert_eq!(
            Failure::from(fatal).to_string(),
            "error, not retried: Sellsy POST /v2/invoices answered 400"
        );
        assert_eq!(
            Failure::retry("lock held".into()).to_string(),
            "error: lock held"
        );
    }
}

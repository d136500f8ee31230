//! The `sellsy_invoice_worker` example against a fake Sellsy and a private Redis: the
//! cases of node-worker-compat/test/invoice-worker.test.js, its exit codes, and the Rust
//! and Node workers side by side on one queue.

mod sellsy;

use std::process::Command;
use std::time::Duration;

use bullmq_rs::{Backoff, JobOptions, JobState};
use serde_json::{Value, json};
use testkit::RedisServer;

use sellsy::fake_api::Reply;
use sellsy::fixtures::{
    LOCK_KEY, RECORD_KEY, estimate, event, expected_invoice_body, sellsy_error,
};
use sellsy::harness::{Setup, WorkerProcess};
use testkit::example_binary as example;

fn retrying(attempts: u32, backoff_ms: u64) -> JobOptions {
    JobOptions {
        attempts: Some(attempts),
        backoff: Some(Backoff::fixed(Duration::from_millis(backoff_ms))),
        ..Default::default()
    }
}

fn created() -> Option<Value> {
    Some(json!({"action": "created", "invoiceId": 9001}))
}

fn stop(mut worker: WorkerProcess) {
    assert_eq!(worker.stop("TERM").code(), Some(0));
}

#[test]
fn accepted_estimate_makes_one_invoice_with_the_mapped_body_and_one_token() {
    let setup = Setup::start();
    let worker = WorkerProcess::rust(&setup);

    let id = setup.add(&event(json!({})), JobOptions::default());

    let jobs = setup.finished(std::slice::from_ref(&id));
    assert_eq!(jobs[0].return_value, created());
    let posts = setup.fake.invoice_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].json(), expected_invoice_body());
    assert_eq!(posts[0].authorization(), "Bearer tok-1");
    assert_eq!(setup.fake.count("POST", "/oauth2/access-tokens"), 1);
    assert_eq!(setup.fake.count("GET", "/v2/estimates/48213377"), 1);
    // The record remembers the invoice for good; the lock is gone.
    assert_eq!(setup.redis_cmd::<String>(&["GET", RECORD_KEY]), "9001");
    assert_eq!(setup.redis_cmd::<i64>(&["PTTL", RECORD_KEY]), -1);
    assert_eq!(setup.redis_cmd::<i64>(&["EXISTS", LOCK_KEY]), 0);
    let line = format!("job {id} docslog.step estimate 48213377 -> created 9001");
    assert_eq!(worker.wait_job_lines(1), [line]);
    stop(worker);
}

#[test]
fn other_events_and_estimates_that_are_not_accepted_make_no_invoice() {
    let setup = Setup::start();
    for (id, status) in [
        (1001, "draft"),
        (1002, "refused"),
        (1003, "invoiced"),
        (1004, "partialinvoiced"),
    ] {
        setup
            .fake
            .set_estimate(id, estimate(json!({"id": id, "status": status})));
    }
    let worker = WorkerProcess::rust(&setup);
    let events = [
        json!({"eventType": "thirdlog", "relatedtype": "client"}),
        json!({"relatedtype": "invoice"}),
        json!({"event": "emailsent"}),
        json!({"relatedid": "1001"}),
        json!({"relatedid": "1002"}),
        json!({"relatedid": "1003"}),
        json!({"relatedid": "1004"}),
    ];

    let ids: Vec<_> = events
        .map(|e| setup.add(&event(e), JobOptions::default()))
        .into();

    let jobs = setup.finished(&ids);
    assert!(
        jobs.iter().all(|job| job.state == JobState::Completed),
        "{jobs:?}"
    );
    let results: Vec<Value> = jobs
        .into_iter()
        .filter_map(|job| job.return_value)
        .collect();
    assert!(results.iter().all(|r| r["action"] == "none"), "{results:?}");
    let mut reasons: Vec<_> = results
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    let expected = [
        "already invoiced",
        "already invoiced",
        "estimate status is draft, not accepted",
        "estimate status is refused, not accepted",
        "event emailsent is not a trigger",
        "eventType thirdlog is not docslog",
        "relatedtype invoice is not estimate",
    ];
    assert_eq!(reasons, expected);
    assert!(
        results.contains(
            &json!({"action": "none", "reason": "already invoiced", "status": "invoiced"})
        )
    );
    assert_eq!(setup.fake.invoice_posts().len(), 0);
    // Only the four estimate step events needed the API.
    assert_eq!(setup.fake.count("GET", "/v2/estimates/"), 4);
    stop(worker);
}

#[test]
fn duplicate_events_and_a_second_step_still_make_exactly_one_invoice() {
    let setup = Setup::start();
    let worker = WorkerProcess::rust(&setup);
    // The same delivery twice, then a later step event spelled differently.
    let later = json!({"eventType": "DOCSLOG", "relatedid": 48213377, "timestamp": "1732400999"});

    let ids: Vec<_> = [event(json!({})), event(json!({})), event(later)]
        .iter()
        .map(|data| setup.add(data, retrying(5, 100)))
        .collect();

    let jobs = setup.finished(&ids);
    let mut results: Vec<Value> = jobs
        .into_iter()
        .filter_map(|job| job.return_value)
        .collect();
    results.sort_by_key(|r| r["action"].to_string());
    let already = json!({"action": "none", "reason": "already invoiced", "invoiceId": 9001});
    assert_eq!(results, [created().unwrap(), already.clone(), already]);
    assert_eq!(setup.fake.invoice_posts().len(), 1);
    stop(worker);
}

#[test]
fn an_estimate_lock_held_elsewhere_is_waited_for_then_one_invoice() {
    let setup = Setup::start();
    // As if another worker were mid-creation; its lock expires after 300 ms.
    setup.redis_cmd::<()>(&["SET", LOCK_KEY, "someone-else", "PX", "300"]);
    let worker = WorkerProcess::rust(&setup);

    let id = setup.add(&event(json!({})), retrying(3, 400));

    assert_eq!(setup.finished(&[id])[0].return_value, created());
    assert_eq!(setup.fake.invoice_posts().len(), 1);
    let first = &worker.wait_job_lines(2)[0];
    assert!(
        first.contains("-> error: estimate is being processed by another job"),
        "{first}"
    );
    stop(worker);
}

#[test]
fn a_429_with_retry_after_is_retried_no_sooner_then_one_invoice() {
    let setup = Setup::start();
    let limited =
        Reply::new(429, sellsy_error(429, "Too many requests")).header("retry-after", "1");
    setup.fake.state().invoice_replies.push_back(limited);
    let worker = WorkerProcess::rust(&setup);

    let id = setup.add(&event(json!({})), retrying(3, 10));

    let job = setup.finished(&[id]).remove(0);
    assert_eq!(job.return_value, created());
    // As Node's rateLimit + RateLimitError: the queue waits, the job keeps its attempts.
    assert_eq!(job.attempts_made, 1, "a rate limit uses up no attempt");
    let posts = setup.fake.invoice_posts();
    assert_eq!(posts.len(), 2);
    let waited = posts[1].at - posts[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    let first = &worker.wait_job_lines(2)[0];
    assert!(
        first.contains("-> rate limited, retry in 1000 ms: Sellsy POST /v2/invoices answered 429"),
        "{first}"
    );
    stop(worker);
}

#[test]
fn a_500_once_is_retried_then_one_invoice() {
    let setup = Setup::start();
    let failing = Reply::new(500, sellsy_error(500, "Internal error"));
    setup.fake.state().invoice_replies.push_back(failing);
    let worker = WorkerProcess::rust(&setup);

    let id = setup.add(&event(json!({})), retrying(3, 100));

    let job = setup.finished(&[id]).remove(0);
    assert_eq!((job.return_value, job.attempts_made), (created(), 2));
    assert_eq!(setup.fake.invoice_posts().len(), 2);
    assert_eq!(setup.redis_cmd::<String>(&["GET", RECORD_KEY]), "9001");
    stop(worker);
}

#[test]
fn a_400_fails_the_job_at_once_with_status_and_sellsy_message() {
    let setup = Setup::start();
    let details = json!({"error": {"code": 400, "message": "Invalid related", "context": "invoice",
                                   "details": {"related": "must be a client"}}});
    setup
        .fake
        .state()
        .invoice_replies
        .push_back(Reply::new(400, details));
    let worker = WorkerProcess::rust(&setup);

    let id = setup.add(&event(json!({})), retrying(3, 100));

    let job = setup.finished(&[id]).remove(0);
    assert_eq!((job.state, job.attempts_made), (JobState::Failed, 1));
    let reason = job.failed_reason.unwrap_or_default();
    assert!(
        reason.contains("POST /v2/invoices answered 400: Invalid related"),
        "{reason}"
    );
    assert!(reason.contains("must be a client"), "{reason}");
    assert_eq!(setup.fake.invoice_posts().len(), 1);
    assert_eq!(setup.redis_cmd::<i64>(&["EXISTS", RECORD_KEY, LOCK_KEY]), 0);
    stop(worker);
}

#[test]
fn a_401_from_the_api_refreshes_the_token_and_retries_the_call_once() {
    let setup = Setup::start();
    let revoked = Reply::new(401, sellsy_error(401, "Token revoked"));
    setup.fake.state().api_replies.push_back(revoked);
    let mut worker = WorkerProcess::rust(&setup);

    let id = setup.add(&event(json!({})), JobOptions::default());

    assert_eq!(setup.finished(&[id])[0].return_value, created());
    assert_eq!(setup.fake.count("POST", "/oauth2/access-tokens"), 2);
    let requests = setup.fake.requests();
    let gets: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.authorization())
        .collect();
    assert_eq!(gets, ["Bearer tok-1", "Bearer tok-2"]);
    let posts = setup.fake.invoice_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].authorization(), "Bearer tok-2");
    // Ctrl-C stops it as cleanly as SIGTERM.
    assert_eq!(worker.stop("INT").code(), Some(0));
}

#[test]
fn rust_and_node_workers_on_one_queue_make_one_invoice_from_twenty_deliveries() {
    let setup = Setup::start();
    // While one job creates the invoice, the other worker's jobs must find the lock held.
    setup.fake.state().invoice_delay = Duration::from_millis(300);
    let node = WorkerProcess::node(&setup);
    let rust = WorkerProcess::rust(&setup);

    let ids: Vec<_> = (0..20)
        .map(|_| setup.add(&event(json!({})), retrying(10, 100)))
        .collect();

    let jobs = setup.finished(&ids);
    assert!(
        jobs.iter().all(|job| job.state == JobState::Completed),
        "{jobs:?}"
    );
    let results: Vec<Value> = jobs
        .into_iter()
        .filter_map(|job| job.return_value)
        .collect();
    assert_eq!(
        results.iter().filter(|r| r["action"] == "created").count(),
        1,
        "{results:?}"
    );
    assert_eq!(setup.fake.invoice_posts().len(), 1);
    assert_eq!(setup.redis_cmd::<String>(&["GET", RECORD_KEY]), "9001");
    let (node_lines, rust_lines) = (node.job_lines(), rust.job_lines());
    assert!(
        !node_lines.is_empty() && !rust_lines.is_empty(),
        "node: {node_lines:?}\nrust: {rust_lines:?}"
    );
    stop(node);
    stop(rust);
}

#[test]
fn a_missing_client_id_exits_2_with_one_line() {
    let setup = Setup::start();
    let env: Vec<_> = setup
        .env()
        .into_iter()
        .filter(|(name, _)| *name != "SELLSY_CLIENT_ID")
        .collect();

    let mut worker = WorkerProcess::spawn(Command::new(example("sellsy_invoice_worker")), &env);

    assert_eq!(worker.exit().code(), Some(2));
    assert_eq!(worker.lines(), ["error: SELLSY_CLIENT_ID is required"]);
}

#[test]
fn an_unreachable_redis_exits_1_with_one_line() {
    let setup = Setup::start();
    let dead = RedisServer::start();
    let url = dead.url();
    drop(dead);
    let mut env = setup.env();
    env.retain(|(name, _)| *name != "REDIS_URL");
    env.push(("REDIS_URL", url));

    let mut worker = WorkerProcess::spawn(Command::new(example("sellsy_invoice_worker")), &env);

    assert_eq!(worker.exit().code(), Some(1));
    let lines = worker.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("error: cannot connect to redis at 127.0.0.1:"),
        "{lines:?}"
    );
}

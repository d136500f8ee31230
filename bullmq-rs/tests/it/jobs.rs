//! Jobs shared by the fault tests.

use bullmq_rs::{JobId, JobOptions, NewJob};
use serde_json::json;

/// Job `i` with the custom id `job-<i>`, so that adding it again is safe.
pub(crate) fn numbered(i: u32) -> NewJob {
    NewJob::new(
        "n",
        &json!({ "i": i }),
        JobOptions {
            job_id: Some(JobId::from(format!("job-{i}"))),
            ..Default::default()
        },
    )
    .unwrap()
}

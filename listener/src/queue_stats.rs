//! The BullMQ queue's figures for `/metrics`, read from Redis at most once per
//! [`MAX_AGE`] however often it is scraped: a scrape within that time reuses the last
//! read, and concurrent scrapes wait for the one read in progress.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bullmq_rs::{JobCounts, Queue};
use tokio::sync::Mutex;

/// How long one read of the queue's figures serves scrapes.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);
/// How long a scrape waits for Redis before leaving the queue's figures out.
const READ_TIMEOUT: Duration = Duration::from_millis(250);

/// The queue's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueStats {
    /// Jobs in each state (`waiting` includes BullMQ 5's `paused` list).
    pub counts: JobCounts,
    /// How long ago the job next in line was added; zero when no job waits.
    pub oldest_waiting: Duration,
}

/// The last read of the queue's figures and when it was made.
#[derive(Debug)]
pub(crate) struct QueueStatsCache {
    queue: Queue,
    last: Mutex<Option<(Instant, Option<QueueStats>)>>,
}

impl QueueStatsCache {
    /// A cache that reads `queue` on the first scrape.
    pub(crate) fn new(queue: Queue) -> Self {
        Self {
            queue,
            last: Mutex::new(None),
        }
    }

    /// The figures, read now when the last read is older than [`MAX_AGE`]. `None` when
    /// Redis did not answer in time: the figures are then left out, never guessed, and
    /// Redis is asked again only after [`MAX_AGE`] too.
    pub(crate) async fn read(&self) -> Option<QueueStats> {
        let mut last = self.last.lock().await;
        if let Some((read_at, stats)) = *last
            && read_at.elapsed() < MAX_AGE
        {
            return stats;
        }
        let stats = read_now(&self.queue).await;
        *last = Some((Instant::now(), stats));
        stats
    }
}

async fn read_now(queue: &Queue) -> Option<QueueStats> {
    let read = async {
        let counts = queue.get_job_counts().await?;
        let oldest = queue.oldest_waiting_timestamp().await?;
        Ok::<_, bullmq_rs::Error>((counts, oldest))
    };
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok((counts, oldest))) => Some(QueueStats {
            counts,
            oldest_waiting: oldest.map_or(Duration::ZERO, age),
        }),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "queue figures left out of /metrics");
            None
        }
        Err(_) => {
            tracing::debug!("queue figures left out of /metrics: redis is too slow");
            None
        }
    }
}

/// Time since `added_ms` (ms since the Unix epoch); zero for a clock behind the job's.
fn age(added_ms: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(Duration::from_millis(added_ms))
}

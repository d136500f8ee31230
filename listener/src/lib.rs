//! Sellsy webhooks into BullMQ, answered in well under a millisecond, and never a lost
//! event: a 200 means the event is in Redis or in the crash-safe local spool.
//!
//! [`run`] serves until its shutdown future resolves; `main` only parses the
//! configuration, sets up logging and binds the address.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod backoff;
mod config;
mod drain;
mod error;
mod http;
mod ingest;
mod metrics;
mod probe;
mod quarantine;
mod queue_stats;
mod routes;
mod sellsy;
mod signature;
mod spool;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bullmq_rs::{ConnectionOptions, NewJob, Queue};

pub use config::{Command, Config, LogFormat, SpoolCommand};
pub use error::Error;
pub use ingest::Durability;
pub use quarantine::{NotQuarantined, Quarantine, QuarantineLimits};
pub use routes::JobTemplate;
pub use sellsy::{ParseError, SellsyEvent, parse as parse_sellsy};
pub use spool::{ExportedRecord, RecordError, Spool, SpoolRecord, SpoolSeq, Spooled};

use crate::config::BadSignature;
use crate::drain::Drainer;
use crate::ingest::Shared;
use crate::metrics::Metrics;
use crate::probe::Prober;
use crate::quarantine::BadSignaturePolicy;
use crate::queue_stats::QueueStatsCache;
use crate::signature::Verifier;

/// Serves webhooks on `listener` until `shutdown` resolves, then stops accepting,
/// finishes the requests in flight and keeps the spool for the next start.
///
/// # Errors
/// [`Error::Config`] for a configuration that cannot work (bad queue name, unreadable
/// secret file, invalid default job options), [`Error::Io`] when serving fails.
pub async fn run(
    config: Config,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let parts = Parts::prepare(&config)?;
    let shared = parts.shared.clone();
    check_redis_at_start(&shared).await;

    let mut background = Background::default();
    let drain_queue = open_queue(&config, &config.queue)?;
    background.spawn(Drainer::new(shared.clone(), drain_queue).run(background.stopped()));
    background.spawn(Prober::new(shared.clone()).run(background.stopped()));
    if let BadSignaturePolicy::Quarantine(quarantine) = &parts.bad_signature {
        background.spawn(quarantine.clone().run(background.stopped()));
    }
    let address = listener.local_addr()?;
    let server = http::start(&config, listener, parts)?;
    let handle = server.handle();
    tracing::info!(%address, queue = %config.queue, prefix = %config.prefix, major = %config.bullmq_major, "listening");

    let serving = tokio::spawn(server);
    shutdown.await;
    tracing::info!("shutting down: finishing requests in flight");
    handle.stop(true).await;
    let served = serving
        .await
        .map_err(|err| Error::Io(std::io::Error::other(err)))?;
    background.stop().await;
    tracing::info!(spooled = shared.spool_len(), "stopped");
    served.map_err(Error::Io)
}

/// The background tasks (drainer, prober, quarantine cleaner), stopped together once the
/// HTTP server has finished its requests.
struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Default for Background {
    fn default() -> Self {
        Self {
            stop: tokio::sync::watch::Sender::new(false),
            tasks: Vec::new(),
        }
    }
}

impl Background {
    /// Resolves once [`Background::stop`] is called.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.subscribe();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    }

    fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// What every HTTP worker shares, checked before anything is served.
struct Parts {
    verifier: Verifier,
    shared: Arc<Shared>,
    bad_signature: BadSignaturePolicy,
    template: JobTemplate,
    queue_stats: Arc<QueueStatsCache>,
}

impl Parts {
    fn prepare(config: &Config) -> Result<Self, Error> {
        if config.max_inflight_body_bytes < config.max_body_bytes {
            return Err(Error::Config(format!(
                "--max-inflight-body-bytes ({}) is below --max-body-bytes ({}): the largest bodies could never be received",
                config.max_inflight_body_bytes, config.max_body_bytes
            )));
        }
        let verifier = Verifier::new(config.signature_scheme, config.all_secrets()?);
        if !verifier.is_enabled() {
            tracing::warn!(
                "NO SIGNING KEY CONFIGURED (--allow-unsigned): webhook signatures are NOT checked; set SELLSY_WEBHOOK_SECRET"
            );
        }
        NewJob::from_json(
            &config.job_name,
            "{}".to_owned(),
            config.job_options.clone(),
        )
        .validate(config.bullmq_major)
        .map_err(|err| Error::Config(format!("--job-options: {err}")))?;
        let queue = open_queue(config, &config.queue)?;
        let metrics = Arc::new(Metrics::default());
        let durability = Durability {
            deadline: config.redis_deadline,
            min_replicas: config.min_replicas_acks,
        };
        let bad_signature = match config.on_bad_signature {
            BadSignature::Reject => BadSignaturePolicy::Reject,
            BadSignature::Quarantine => BadSignaturePolicy::Quarantine(Quarantine::new(
                open_queue(config, &config.quarantine_queue)?,
                QuarantineLimits::from(config),
                durability,
            )),
        };
        Ok(Self {
            verifier,
            queue_stats: Arc::new(QueueStatsCache::new(queue.clone())),
            shared: Shared::new(queue, open_spool(config), durability, metrics),
            bad_signature,
            template: JobTemplate {
                name: config.job_name.clone(),
                options: config.job_options.clone(),
                dedup_ttl: config.dedup_ttl,
            },
        })
    }
}

fn open_queue(config: &Config, name: &str) -> Result<Queue, Error> {
    let connection = ConnectionOptions::default()
        .topology(config.topology())
        .connect_timeout(config.redis_deadline.max(Duration::from_millis(500)));
    Queue::builder(name)
        .prefix(&config.prefix)
        .major(config.bullmq_major)
        .connection(connection)
        .connect_lazy(config.redis_url.expose())
        .map_err(|err| Error::Config(err.to_string()))
}

/// The spool. When it cannot be opened now (said loudly), it tries again at every use, so
/// the listener serves while Redis is up, answers 503 while neither can store an event,
/// and uses the spool as soon as it opens.
fn open_spool(config: &Config) -> Arc<Spool> {
    let (spool, error) = Spool::open_or_retry_later(&config.spool_dir, config.spool_max_bytes);
    match error {
        None => {
            tracing::info!(path = %spool.path().display(), pending = spool.len(), "spool open");
        }
        Some(err) => tracing::error!(
            error = %err,
            "THE SPOOL CANNOT BE OPENED: events cannot be kept while Redis is unreachable; retrying"
        ),
    }
    Arc::new(spool)
}

/// Decides where the first events go; bounded, so that a missing Redis delays start-up by
/// at most a second.
async fn check_redis_at_start(shared: &Shared) {
    if probe::redis_answers(shared).await {
        shared.router.redis_recovered();
    } else {
        tracing::warn!(
            "REDIS IS UNREACHABLE at start: accepting events into the spool until it is back"
        );
    }
}

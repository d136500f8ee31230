//! Integration tests of bullmq-rs: one binary, one module per behaviour. Every test starts
//! its own redis-server; the Node tests drive real BullMQ from `node-worker-compat/`.

mod add;
mod clean;
mod cluster;
mod cluster_faults;
mod custom_backoff;
mod differential;
mod flow_children;
mod flows;
mod getters;
mod job_edits;
mod job_methods;
mod job_steps;
mod jobs;
mod node_workers;
mod queue_control;
mod queue_events;
mod queue_events_faults;
mod schedulers;
mod sentinel;
mod steps;
mod wait_until_finished;
mod worker;
mod worker_events;
mod worker_interop;
mod worker_lifecycle;
mod worker_metrics;

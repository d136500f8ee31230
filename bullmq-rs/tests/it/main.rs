//! Integration tests of bullmq-rs: one binary, one module per behaviour. Every test starts
//! its own redis-server; the Node tests drive real BullMQ from `node-worker-compat/`.

mod add;
mod clean;
mod cluster;
mod cluster_faults;
mod differential;
mod jobs;
mod node_workers;
mod queue_control;
mod schedulers;
mod sentinel;
mod steps;
mod worker;
mod worker_interop;

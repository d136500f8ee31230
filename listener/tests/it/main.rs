//! Integration tests of the listener: one binary, one module per behaviour. Each test
//! starts its own redis-server and listener on loopback ports.

mod bad_input;
mod cli;
mod compose;
mod durability;
mod failover;
mod faults;
mod metrics;
mod quarantine;
mod security;
mod slow_clients;
mod spool_cli;
mod support;
mod webhook;

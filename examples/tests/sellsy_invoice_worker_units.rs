//! The unit tests of the `sellsy_invoice_worker` example's modules (examples/sellsy/).
//! They are compiled here because `cargo test` builds examples without running their
//! tests, and `test = true` on the example would build it only as a test harness, while
//! tests/sellsy_invoice_worker.rs needs the real binary.

// The example's `main` is not part of this crate: what only it uses looks unused here.
#![allow(dead_code)]

#[path = "../sellsy/mod.rs"]
mod sellsy;

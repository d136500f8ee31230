//! Ending jobs in batches. The job tasks hand their endings (completed, failed for good,
//! each with the lock token of the job to take next) to one task, which sends in a single
//! `move_to_finished` call every ending that arrived while its previous call was on its
//! way (a group commit). A lone ending goes out at once, so at low load nothing waits; at
//! high load Redis pays a call's fixed cost (its round trip, parsing, reading the queue's
//! meta, trimming the events stream) once per batch instead of once per job. Redis runs
//! the jobs of a batch one after the other, as separate calls in a row would
//! (lua/move_to_finished.lua says what the call does once for all).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::Shared;
use crate::Error;
use crate::scripts::{Ended, Finish, NextFetch, SCRIPTS};

/// Most jobs ended in one call: it bounds how long one script holds Redis (about 20 µs a
/// job, more for a job whose ending trims its finished set by age, as BullMQ's does)
/// while leaving the fixed cost of a call spread thin.
const MAX_BATCH: usize = 50;

/// Calls on their way at once: a second batch is sent while Redis answers the first, so
/// that Redis is not idle while the worker reads an answer and the jobs it took run.
const MAX_IN_FLIGHT: usize = 2;

/// The queue of endings shared by the job tasks and the task that sends them.
pub(super) struct Finisher {
    sender: mpsc::UnboundedSender<Ending>,
    /// Taken once, by the sending task the worker starts when it runs.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Ending>>>,
}

/// One job's ending and where its answer goes.
struct Ending {
    finish: Finish,
    answer: oneshot::Sender<Ended>,
}

impl Finisher {
    pub(super) fn new() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// Ends a job with the next batch; answers as `move_to_finished` does for it.
    pub(super) async fn end(&self, finish: Finish) -> Ended {
        let (answer, answered) = oneshot::channel();
        self.sender
            .send(Ending { finish, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Sends the endings until the worker's run ends: `run_until` drops (aborts) this task
/// only after every job task has ended, and a job task waits for its answer, so every
/// ending sent gets one: its own, or the error of the call that carried it. (The channel
/// never closes: `Shared` holds its sender.)
pub(super) async fn send_endings(shared: Arc<Shared>) {
    let receiver = shared
        .finisher
        .receiver
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let Some(mut receiver) = receiver else {
        return;
    };
    let mut calls = JoinSet::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            // Cancel safe: what is not taken stays in the channel.
            received = receiver.recv_many(&mut batch, MAX_BATCH), if calls.len() < MAX_IN_FLIGHT => {
                if received == 0 {
                    return;
                }
                calls.spawn(send_batch(shared.clone(), std::mem::take(&mut batch)));
            }
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
        }
    }
}

/// One `move_to_finished` call for `batch`, and the answers handed out.
async fn send_batch(shared: Arc<Shared>, batch: Vec<Ending>) {
    let (finishes, answers): (Vec<Finish>, Vec<_>) = batch
        .into_iter()
        .map(|ending| (ending.finish, ending.answer))
        .unzip();
    let next = NextFetch {
        lock_ms: shared.lock_ms(),
        limiter: shared.options.limiter,
        worker_name: shared.options.worker_name.as_deref().unwrap_or(""),
    };
    let mut conn = shared.conn.clone();
    let ended = SCRIPTS
        .move_to_finished
        .call(&mut conn, &shared.keys, shared.major, &next, &finishes)
        .await;
    match ended {
        Ok(each) => {
            for (answer, ended) in answers.into_iter().zip(each) {
                // A job task that is gone (aborted) needs no answer.
                let _ = answer.send(ended);
            }
        }
        Err(err) => {
            for answer in answers {
                let _ = answer.send(Err(copy_of(&err)));
            }
        }
    }
}

/// The error of a call, for each job it carried: a Redis failure, or a reply the wrapper
/// could not read (refusals are per job, never the call's).
fn copy_of(err: &Error) -> Error {
    match err {
        Error::Redis(err) => Error::Redis(err.clone()),
        other => Error::UnexpectedReply {
            command: "move_to_finished",
            detail: other.to_string(),
        },
    }
}

/// The sending task is gone: the worker's run ended while a job was still finishing.
fn stopped() -> Error {
    Error::UnexpectedReply {
        command: "move_to_finished",
        detail: "the worker stopped before the job's end was sent".to_owned(),
    }
}

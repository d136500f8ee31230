//! `--client-timeout-ms` for every request on a connection, head and body.
//!
//! actix-http bounds only the head of a connection's first request (`client_request_timeout`,
//! cleared once that head is parsed) and idle kept-alive connections (keep-alive, cleared at
//! the first byte of the next request). A client stalling in the middle of a body, or in the
//! head of a later request, would hold its connection, its buffers and a file descriptor
//! forever. [`TimedStream`] wraps each accepted socket and times requests from the bytes:
//!
//! - a request starts when the connection opens, or at the first byte read after the server
//!   wrote (answered the previous request);
//! - it ends when the server writes again: its answer has begun. An interim answer
//!   (`100 Continue`) does not end it: it starts the clock again, so such a client has the
//!   timeout for its head, then again for its body;
//! - past `request` after its start, reads fail with [`io::ErrorKind::TimedOut`], which makes
//!   actix's dispatcher drop the connection. A 408 is written first when nothing of an
//!   answer is pending (best effort, never waited for).
//!
//! A timer wakes the dispatcher at the deadline, so a silent peer is closed too. The time a
//! handler takes counts: it is bounded by the Redis deadline, far below the client timeout.
//! Between requests the deadline is `idle` (keep-alive plus the client timeout): actix's
//! keep-alive closes idle connections first, so this only closes a connection whose next
//! request was partly read together with the previous one (pipelined) and then stalled.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What a request that ran out of time is told before the connection closes.
const TIMED_OUT_RESPONSE: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// How long a request may take to arrive, and a connection may sit between requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// From a request's first byte (or the connection's opening) to its answer; `None`: no limit.
    pub(crate) request: Option<Duration>,
    /// From an answer to the first byte of the next request.
    pub(crate) idle: Duration,
}

/// Where the connection is between two requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request is arriving (or being handled): the request deadline runs.
    Receiving,
    /// The server has written since the request began: the idle deadline runs.
    Answered,
}

/// A connection whose requests must arrive in time; see the module doc.
pub(crate) struct TimedStream<T> {
    io: T,
    timeouts: Timeouts,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    /// Every byte the server wrote has been flushed: a 408 cannot land inside an answer.
    flushed: bool,
}

impl<T> TimedStream<T> {
    /// Wraps a connection that has just opened: its first request's clock starts now.
    pub(crate) fn new(io: T, timeouts: Timeouts) -> Self {
        let first = timeouts.request.unwrap_or(timeouts.idle);
        Self {
            io,
            timeouts,
            phase: Phase::Receiving,
            timer: Box::pin(tokio::time::sleep(first)),
            flushed: true,
        }
    }

    fn deadline_applies(&self) -> bool {
        self.phase == Phase::Answered || self.timeouts.request.is_some()
    }

    fn restart(&mut self, phase: Phase, cx: &mut Context<'_>) {
        self.phase = phase;
        let limit = match phase {
            Phase::Receiving => self.timeouts.request.unwrap_or(self.timeouts.idle),
            Phase::Answered => self.timeouts.idle,
        };
        self.timer.as_mut().reset(Instant::now() + limit);
        // Registers this task's waker for the new deadline.
        let _ = self.timer.as_mut().poll(cx);
    }
}

impl<T: AsyncWrite + Unpin> TimedStream<T> {
    fn time_out(&mut self, cx: &mut Context<'_>) -> io::Error {
        if self.phase == Phase::Receiving && self.flushed {
            let _ = Pin::new(&mut self.io).poll_write(cx, TIMED_OUT_RESPONSE);
            self.flushed = false;
        }
        io::Error::new(
            io::ErrorKind::TimedOut,
            "request not received within the client timeout",
        )
    }

    /// `written` is what the server just wrote: an interim `1xx` answer restarts the
    /// request's clock (the body is still to come), any other answer stops it.
    fn wrote(&mut self, written: &[u8], cx: &mut Context<'_>) {
        if written.is_empty() {
            return;
        }
        self.flushed = false;
        let interim = written.starts_with(b"HTTP/1.1 1") || written.starts_with(b"HTTP/1.0 1");
        let phase = if interim {
            Phase::Receiving
        } else {
            Phase::Answered
        };
        self.restart(phase, cx);
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.deadline_applies() && this.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(this.time_out(cx)));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if buf.filled().len() > before && this.phase == Phase::Answered {
            this.restart(Phase::Receiving, cx);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.wrote(&buf[..written], cx);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        // The first slice holds the start of what was written (an interim answer is one
        // short slice).
        let first = bufs.iter().find(|slice| !slice.is_empty());
        let start = first.map_or(&[][..], |slice| &slice[..slice.len().min(written)]);
        this.wrote(start, cx);
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        this.flushed = true;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::*;

    const REQUEST: Duration = Duration::from_millis(100);
    const IDLE: Duration = Duration::from_millis(300);
    /// Scheduling slack on a busy machine.
    const SLACK: Duration = Duration::from_millis(500);

    fn assert_about(elapsed: Duration, expected: Duration) {
        assert!(
            elapsed >= expected && elapsed < expected + SLACK,
            "{elapsed:?} instead of {expected:?}"
        );
    }

    fn stream() -> (TimedStream<DuplexStream>, DuplexStream) {
        let (server, client) = duplex(1024);
        let timeouts = Timeouts {
            request: Some(REQUEST),
            idle: IDLE,
        };
        (TimedStream::new(server, timeouts), client)
    }

    async fn read_error(server: &mut TimedStream<DuplexStream>) -> io::ErrorKind {
        let mut buf = [0u8; 64];
        loop {
            match server.read(&mut buf).await {
                Ok(0) => panic!("end of stream instead of a time-out"),
                Ok(_) => continue,
                Err(err) => return err.kind(),
            }
        }
    }

    #[tokio::test]
    async fn a_stalled_request_times_out_and_gets_a_408() {
        let (mut server, mut client) = stream();
        client.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();

        let started = Instant::now();
        assert_eq!(read_error(&mut server).await, io::ErrorKind::TimedOut);
        assert_about(started.elapsed(), REQUEST);
        let mut answer = vec![0u8; TIMED_OUT_RESPONSE.len()];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(answer, TIMED_OUT_RESPONSE);
    }

    #[tokio::test]
    async fn an_answer_stops_the_clock_and_the_next_request_starts_it_again() {
        let (mut server, mut client) = stream();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let _ = server.read(&mut buf).await.unwrap();
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        server.flush().await.unwrap();

        // Idle for longer than the request timeout: not a request, so not timed as one.
        tokio::time::sleep(REQUEST * 2).await;
        client.write_all(b"GET / HT").await.unwrap();
        let second = Instant::now();
        assert_eq!(read_error(&mut server).await, io::ErrorKind::TimedOut);
        assert_about(second.elapsed(), REQUEST);
    }

    #[tokio::test]
    async fn a_body_that_never_follows_100_continue_times_out_at_the_request_timeout() {
        let (mut server, mut client) = stream();
        client
            .write_all(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let _ = server.read(&mut buf).await.unwrap();
        server
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .unwrap();
        server.flush().await.unwrap();

        let continued = Instant::now();
        assert_eq!(read_error(&mut server).await, io::ErrorKind::TimedOut);
        // Not the idle deadline, which would leave the connection open three times longer.
        assert!(continued.elapsed() < IDLE, "{:?}", continued.elapsed());
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_at_the_idle_deadline() {
        let (mut server, _client) = stream();
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();

        let answered = Instant::now();
        assert_eq!(read_error(&mut server).await, io::ErrorKind::TimedOut);
        assert_about(answered.elapsed(), IDLE);
    }
}

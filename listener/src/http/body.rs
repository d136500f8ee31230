//! Request bodies under two limits: `--max-body-bytes` per request (413) and
//! `--max-inflight-body-bytes` for the whole process (503 with `Retry-After`).
//!
//! The budget counts the bytes of bodies received and not yet answered, across every
//! connection: a body takes its share chunk by chunk as it arrives (before the signature
//! can be checked, which needs the whole body) and gives it back when the handler drops
//! the [`Body`], once the answer is produced. What is counted is the buffer's capacity, the
//! memory actually held: the buffer grows by doubling as bytes arrive, never ahead of them
//! to a declared length that a stalled sender would never fill.

use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use futures_core::Stream;

use crate::error::ApiError;

/// How long a sender refused for lack of budget is asked to wait: bodies in flight are
/// answered within milliseconds, so the budget frees up fast.
const BUDGET_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The process-wide budget of body bytes in flight.
#[derive(Debug)]
pub(crate) struct BodyBudget {
    limit: usize,
    taken: AtomicUsize,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            taken: AtomicUsize::new(0),
        }
    }

    /// Bytes held by bodies now (the `sellsy_listener_inflight_body_bytes` gauge).
    pub(crate) fn in_flight(&self) -> usize {
        self.taken.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: usize) -> bool {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                taken
                    .checked_add(bytes)
                    .filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.taken.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// A request body read within both limits. It holds its share of the budget until dropped.
#[derive(Debug)]
pub(crate) struct Body {
    bytes: Vec<u8>,
    budget: Arc<BodyBudget>,
    /// Bytes taken from the budget: the buffer's capacity.
    taken: usize,
}

impl Body {
    fn empty(budget: &Arc<BodyBudget>) -> Self {
        Self {
            bytes: Vec::new(),
            budget: budget.clone(),
            taken: 0,
        }
    }

    /// Appends a chunk, growing the buffer (and its share of the budget) by doubling, up to
    /// `ceiling` (the declared length or the per-request limit).
    fn push(&mut self, chunk: &[u8], ceiling: usize) -> Result<(), ApiError> {
        let needed = self.bytes.len() + chunk.len();
        if needed > self.taken {
            let capacity = needed.max(self.taken.saturating_mul(2).min(ceiling));
            if !self.budget.take(capacity - self.taken) {
                return Err(ApiError::Unavailable {
                    retry_after: BUDGET_RETRY_AFTER,
                });
            }
            self.taken = capacity;
            self.bytes.reserve_exact(capacity - self.bytes.len());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }
}

impl Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.budget.give_back(self.taken);
    }
}

/// Reads the body of `request` chunk by chunk. A declared length over `limit` is refused
/// before reading (413), and so is a body growing past it; 503 when the budget is spent.
///
/// # Errors
/// [`ApiError::PayloadTooLarge`], [`ApiError::Unavailable`], or [`ApiError::BadRequest`]
/// when the body cannot be read (the connection broke).
pub(crate) async fn read(
    request: &HttpRequest,
    mut payload: web::Payload,
    budget: &Arc<BodyBudget>,
    limit: usize,
) -> Result<Body, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let ceiling = declared.unwrap_or(limit);
    let mut body = Body::empty(budget);
    while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut payload).poll_next(cx)).await {
        let chunk = chunk.map_err(|err| ApiError::BadRequest(format!("unreadable body: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.push(&chunk, ceiling)?;
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use actix_web::web::Bytes;

    use super::*;

    /// A payload arriving in these chunks.
    struct Chunks(std::collections::VecDeque<&'static [u8]>);

    impl Stream for Chunks {
        type Item = Result<Bytes, actix_web::error::PayloadError>;

        fn poll_next(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(
                self.0
                    .pop_front()
                    .map(|chunk| Ok(Bytes::from_static(chunk))),
            )
        }
    }

    async fn payload(request: &HttpRequest, chunks: &[&'static [u8]]) -> web::Payload {
        let stream: actix_http::BoxedPayloadStream =
            Box::pin(Chunks(chunks.iter().copied().collect()));
        let mut payload = actix_web::dev::Payload::from(stream);
        <web::Payload as actix_web::FromRequest>::from_request(request, &mut payload)
            .await
            .unwrap()
    }

    fn status(err: &ApiError) -> u16 {
        actix_web::ResponseError::status_code(err).as_u16()
    }

    #[actix_web::test]
    async fn a_body_takes_its_capacity_from_the_budget_and_gives_it_back_on_drop() {
        let budget = Arc::new(BodyBudget::new(1000));
        let mut body = Body::empty(&budget);
        body.push(&[1; 100], 1000).unwrap();
        assert_eq!(budget.in_flight(), 100);
        body.push(&[2; 10], 1000).unwrap();
        assert_eq!(budget.in_flight(), 200, "doubled");
        body.push(&[3; 500], 1000).unwrap();
        assert_eq!(budget.in_flight(), 610, "grown to what is needed when more");
        assert_eq!(body.len(), 610);
        drop(body);
        assert_eq!(budget.in_flight(), 0);
    }

    #[actix_web::test]
    async fn the_buffer_never_grows_past_the_declared_length() {
        let budget = Arc::new(BodyBudget::new(1000));
        let mut body = Body::empty(&budget);
        body.push(&[1; 300], 400).unwrap();
        body.push(&[1; 50], 400).unwrap();
        assert_eq!(budget.in_flight(), 400);
    }

    #[actix_web::test]
    async fn an_exhausted_budget_is_a_503_and_frees_what_the_body_took() {
        let budget = Arc::new(BodyBudget::new(150));
        let first = {
            let mut body = Body::empty(&budget);
            body.push(&[1; 100], 1000).unwrap();
            body
        };
        let mut second = Body::empty(&budget);
        let err = second.push(&[1; 100], 1000).unwrap_err();
        assert_eq!(status(&err), 503);
        assert!(matches!(err, ApiError::Unavailable { .. }));
        drop(second);
        assert_eq!(budget.in_flight(), 100);
        drop(first);
        assert_eq!(budget.in_flight(), 0);
    }

    #[actix_web::test]
    async fn read_gathers_the_chunks() {
        let budget = Arc::new(BodyBudget::new(1 << 20));
        let request = TestRequest::post().to_http_request();
        let body = read(
            &request,
            payload(&request, &[b"ab", b"cd"]).await,
            &budget,
            100,
        )
        .await
        .unwrap();
        assert_eq!(&*body, b"abcd".as_slice());
        assert_eq!(budget.in_flight(), 4);
    }

    #[actix_web::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let budget = Arc::new(BodyBudget::new(1 << 20));
        let request = TestRequest::post()
            .insert_header((header::CONTENT_LENGTH, "101"))
            .to_http_request();
        let err = read(&request, payload(&request, &[]).await, &budget, 100)
            .await
            .unwrap_err();
        assert_eq!(status(&err), 413);
    }

    #[actix_web::test]
    async fn a_body_growing_past_the_limit_is_refused_and_takes_nothing() {
        let budget = Arc::new(BodyBudget::new(1 << 20));
        let request = TestRequest::post().to_http_request();
        let err = read(
            &request,
            payload(&request, &[&[0; 60], &[0; 60]]).await,
            &budget,
            100,
        )
        .await
        .unwrap_err();
        assert_eq!(status(&err), 413);
        assert_eq!(budget.in_flight(), 0);
    }
}

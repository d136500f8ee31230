//! The pause between retries of the background tasks (drainer, prober): 100 ms, doubling
//! up to 5 s, back to 100 ms after a success.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(5);

/// The next pause to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff(Duration);

impl Backoff {
    /// Starts at the shortest pause.
    pub(crate) const fn new() -> Self {
        Self(FIRST)
    }

    /// Sleeps for the current pause, then doubles it (up to the longest).
    pub(crate) async fn wait(&mut self) {
        tokio::time::sleep(self.take()).await;
    }

    /// The current pause; the next one is twice as long (up to the longest).
    fn take(&mut self) -> Duration {
        let pause = self.0;
        self.0 = (self.0 * 2).min(MAX);
        pause
    }

    /// Back to the shortest pause, after a success.
    pub(crate) fn reset(&mut self) {
        self.0 = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_five_seconds_and_reset() {
        let mut backoff = Backoff::new();
        let ms: Vec<u128> = (0..8).map(|_| backoff.take().as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff, Backoff::new());
    }
}

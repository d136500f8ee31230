//! `--max-connections` for the whole process.
//!
//! actix-server counts connections per worker (`max_concurrent_connections`): a worker at
//! its count gets no new connection, and when every worker is at its count the server stops
//! accepting. New connections then wait in the kernel's accept queue (the listen backlog;
//! past it the kernel drops their SYNs and the clients retry) and are served in turn as
//! connections close. The process-wide cap is therefore split evenly between the workers.

/// Workers and each one's share of the connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionCap {
    /// Worker threads: the requested count, fewer when the cap is smaller.
    pub(crate) workers: usize,
    /// Connections each worker serves at most.
    pub(crate) per_worker: usize,
}

impl ConnectionCap {
    /// Splits `max_connections` (≥ 1) between `workers` (≥ 1). The total,
    /// `workers × per_worker`, is at most `max_connections` and within `workers − 1` of it.
    pub(crate) fn new(max_connections: usize, workers: usize) -> Self {
        let workers = workers.clamp(1, max_connections.max(1));
        Self {
            workers,
            per_worker: (max_connections / workers).max(1),
        }
    }
}

/// actix-server's default worker count: one per available core.
pub(crate) fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_split_between_workers_and_never_exceeded() {
        for (max, workers, expected) in [
            (10_000, 4, (4, 2_500)),
            (50, 1, (1, 50)),
            (50, 3, (3, 16)),
            (2, 8, (2, 1)),
        ] {
            let cap = ConnectionCap::new(max, workers);
            assert_eq!(
                (cap.workers, cap.per_worker),
                expected,
                "{max} over {workers}"
            );
            assert!(cap.workers * cap.per_worker <= max);
        }
    }
}

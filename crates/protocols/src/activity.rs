//! Per-connection bookkeeping for the keep-alive idle timeout.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts requests in progress on one connection and remembers when the last one finished, so the
/// connection can be closed once it has sat idle for the keep-alive timeout.
pub(crate) struct Activity {
    origin: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `origin` at which the connection last became idle.
    idle_since_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity { origin: Instant::now(), in_flight: AtomicUsize::new(0), idle_since_ms: AtomicU64::new(0) })
    }

    /// Marks a request as started; the returned guard marks it finished when dropped, which happens when
    /// the response body has been written or the request was abandoned.
    pub(crate) fn begin(self: &Arc<Self>) -> ActivityGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        ActivityGuard(Arc::clone(self))
    }

    /// When the connection may be closed if nothing happens before then: `None` while requests run.
    pub(crate) fn idle_deadline(&self, keep_alive: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        Some(self.origin + since + keep_alive)
    }
}

/// Held for the life of one request; see [`Activity::begin`].
pub(crate) struct ActivityGuard(Arc<Activity>);

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        let elapsed = u64::try_from(self.0.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.idle_since_ms.store(elapsed, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_connection_has_no_deadline() {
        let activity = Activity::new();
        let guard = activity.begin();
        assert!(activity.idle_deadline(Duration::from_secs(5)).is_none());
        drop(guard);
        let deadline = activity.idle_deadline(Duration::from_secs(5)).unwrap();
        assert!(deadline > Instant::now());
    }
}

//! Per-connection bookkeeping for the keep-alive idle timeout, and for parking an idle HTTP/1
//! connection (see `http1`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::body::BodyOutcome;

/// Counts requests in progress on one connection and remembers when the last one finished, so the
/// connection can be closed once it has sat idle for the keep-alive timeout.
pub(crate) struct Activity {
    origin: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `origin` at which the connection last became idle.
    idle_since_ms: AtomicU64,
    /// Requests finished so far.
    finished: AtomicU64,
    /// The socket refused the last write: hyper still holds response bytes it has not sent.
    write_stalled: AtomicBool,
    /// Whether `body` may hold a body not yet read to its end, so the common bodiless request never
    /// takes the lock.
    has_body: AtomicBool,
    /// The latest HTTP/1 request's body, when it had one. HTTP/1 reads a request's body before the
    /// next head, so only the latest can still be unread.
    body: Mutex<Option<Arc<BodyOutcome>>>,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            write_stalled: AtomicBool::new(false),
            has_body: AtomicBool::new(false),
            body: Mutex::new(None),
        })
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

    /// True while no request is in progress.
    pub(crate) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// How many requests have finished on the connection.
    pub(crate) fn finished(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }

    /// Records whether the last write to the socket had to wait.
    pub(crate) fn set_write_stalled(&self, stalled: bool) {
        // Most writes do not stall: skip the store when nothing changes.
        if self.write_stalled.load(Ordering::Relaxed) != stalled {
            self.write_stalled.store(stalled, Ordering::Release);
        }
    }

    /// Remembers the body of the HTTP/1 request just started (`None` for a request without one).
    pub(crate) fn request_body(&self, outcome: Option<&Arc<BodyOutcome>>) {
        if outcome.is_none() && !self.has_body.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut body) = self.body.lock() {
            *body = outcome.cloned();
            self.has_body.store(body.is_some(), Ordering::Release);
        }
    }

    /// True when hyper holds nothing of this connection that parking would lose: no request in
    /// progress, the latest request body read to its end, and every response byte handed to the socket.
    pub(crate) fn may_park(&self) -> bool {
        if self.in_flight.load(Ordering::Acquire) > 0 || self.write_stalled.load(Ordering::Acquire) {
            return false;
        }
        if !self.has_body.load(Ordering::Acquire) {
            return true;
        }
        self.body.lock().is_ok_and(|body| body.as_ref().is_none_or(|outcome| outcome.ended()))
    }
}

/// Held for the life of one request; see [`Activity::begin`].
pub(crate) struct ActivityGuard(Arc<Activity>);

impl ActivityGuard {
    /// The connection's activity.
    pub(crate) fn activity(&self) -> &Activity {
        &self.0
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        let elapsed = u64::try_from(self.0.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.idle_since_ms.store(elapsed, Ordering::Release);
        self.0.finished.fetch_add(1, Ordering::AcqRel);
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

    #[test]
    fn parks_only_when_nothing_is_pending() {
        let activity = Activity::new();
        assert!(activity.may_park());
        let guard = activity.begin();
        assert!(!activity.may_park());
        let outcome = Arc::new(BodyOutcome::default());
        activity.request_body(Some(&outcome));
        drop(guard);
        assert!(!activity.may_park(), "the body has not been read to its end");
        outcome.set_ended();
        assert!(activity.may_park());
        activity.set_write_stalled(true);
        assert!(!activity.may_park());
        activity.set_write_stalled(false);
        activity.request_body(None);
        assert!(activity.may_park());
    }
}

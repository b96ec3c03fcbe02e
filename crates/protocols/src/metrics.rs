//! Server counters for `--metrics-port`: requests by status, a latency histogram, requests in flight,
//! open connections by protocol and the depth of the queues that feed the interpreter.
//!
//! A [`Metrics`] block is plain atomics with a fixed C layout and no pointers, so it can live in
//! memory shared between processes: with several workers each worker counts into its own block in a
//! region the supervisor also maps, and the supervisor sums the blocks when scraped. Counting is one
//! relaxed atomic add per event, with no lock and no allocation.
//!
//! One block is installed per process ([`install`]); code on the hot path asks [`installed`] and does
//! nothing when metrics are off.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// Status codes are counted in a table indexed by the code; `http::StatusCode` is 100..=999.
pub const STATUS_SLOTS: usize = 1000;

/// Upper bounds of the latency histogram's buckets, in microseconds (Prometheus' usual default
/// buckets, 5 ms to 10 s); a last bucket takes everything slower.
pub const LATENCY_BOUNDS_US: [u64; 11] =
    [5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000];

/// Transport protocols of open connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x (a TCP connection counts as this until its first HTTP/2 request).
    Http1 = 0,
    /// HTTP/2.
    Http2 = 1,
    /// HTTP/3 over QUIC.
    Http3 = 2,
    /// A WebSocket (after its HTTP/1.1 upgrade).
    WebSocket = 3,
}

impl Protocol {
    /// Every protocol, in the order of their slots.
    pub const ALL: [Protocol; 4] = [Protocol::Http1, Protocol::Http2, Protocol::Http3, Protocol::WebSocket];

    /// The protocol's label value.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
            Protocol::Http3 => "http3",
            Protocol::WebSocket => "websocket",
        }
    }
}

/// Queues of work waiting for a Python thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Jobs posted to the event-loop thread (ASGI, native `async def`).
    EventLoop = 0,
    /// Calls waiting for a thread of the pool (WSGI, native `def`).
    ThreadPool = 1,
}

impl Queue {
    /// Every queue, in the order of their slots.
    pub const ALL: [Queue; 2] = [Queue::EventLoop, Queue::ThreadPool];

    /// The queue's label value.
    pub fn label(self) -> &'static str {
        match self {
            Queue::EventLoop => "event_loop",
            Queue::ThreadPool => "thread_pool",
        }
    }
}

/// One process's counters. Every field is an atomic integer and all-zero bytes are a valid, empty
/// block, which is what lets a block be placed in a fresh shared mapping (see [`Metrics::from_zeroed`]).
#[repr(C)]
#[derive(Debug)]
pub struct Metrics {
    /// A tag the embedding program sets to say what the process serves (the interface of its app);
    /// 0 until set.
    app_kind: AtomicU64,
    /// Finished requests by status code.
    requests: [AtomicU64; STATUS_SLOTS],
    /// Finished requests by latency bucket (not cumulative; the last slot is past every bound).
    latency: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    /// Sum of all latencies, in microseconds.
    latency_sum_us: AtomicU64,
    /// Requests whose response is not written yet.
    in_flight: AtomicI64,
    /// Open connections by [`Protocol`].
    connections: [AtomicI64; Protocol::ALL.len()],
    /// Jobs waiting by [`Queue`].
    queued: [AtomicI64; Queue::ALL.len()],
}

static INSTALLED: OnceLock<&'static Metrics> = OnceLock::new();

/// Makes `metrics` the block this process counts into. Only the first call has an effect; returns
/// false for later ones.
pub fn install(metrics: &'static Metrics) -> bool {
    INSTALLED.set(metrics).is_ok()
}

/// The block this process counts into, or `None` when metrics are off.
#[inline]
pub fn installed() -> Option<&'static Metrics> {
    INSTALLED.get().copied()
}

impl Metrics {
    /// A fresh block on the heap, kept for the life of the process.
    pub fn leaked() -> &'static Metrics {
        // SAFETY: every field is an atomic integer (or an array of them), for which zero bytes are a
        // valid value.
        let block = unsafe { Box::<Metrics>::new_zeroed().assume_init() };
        Box::leak(block)
    }

    /// The block at `ptr`, which must stay mapped for the rest of the process.
    ///
    /// # Safety
    ///
    /// `ptr` must be aligned for `Metrics` (a page-aligned mapping is), point to at least
    /// `size_of::<Metrics>()` bytes that are zero or were only ever written through a `Metrics`, and stay
    /// valid (never unmapped) for as long as the returned reference is used.
    pub unsafe fn from_zeroed<'a>(ptr: *mut u8) -> &'a Metrics {
        // SAFETY: the caller guarantees alignment, size, contents and lifetime.
        unsafe { &*ptr.cast::<Metrics>() }
    }

    /// Sets the tag read back by [`Metrics::app_kind`].
    pub fn set_app_kind(&self, kind: u64) {
        self.app_kind.store(kind, Ordering::Relaxed);
    }

    /// The tag set by [`Metrics::set_app_kind`].
    pub fn app_kind(&self) -> u64 {
        self.app_kind.load(Ordering::Relaxed)
    }

    /// Counts a request as in flight until the returned timer is finished or dropped.
    #[inline]
    pub fn start_request(&'static self) -> RequestTimer {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        RequestTimer { metrics: self, started: Instant::now(), status: 0 }
    }

    /// Counts an open connection until the returned guard is dropped.
    #[inline]
    pub fn open_connection(&'static self, protocol: Protocol) -> OpenConnection {
        self.connections[protocol as usize].fetch_add(1, Ordering::Relaxed);
        OpenConnection { metrics: self, protocol: AtomicU8::new(protocol as u8) }
    }

    /// `count` jobs joined `queue`.
    #[inline]
    pub fn queued(&self, queue: Queue, count: usize) {
        self.queued[queue as usize].fetch_add(as_i64(count), Ordering::Relaxed);
    }

    /// `count` jobs left `queue` for a Python thread.
    #[inline]
    pub fn dequeued(&self, queue: Queue, count: usize) {
        self.queued[queue as usize].fetch_sub(as_i64(count), Ordering::Relaxed);
    }

    /// Adds this block's numbers to `totals`.
    pub fn add_to(&self, totals: &mut Totals) {
        totals.add_counters(self);
        let kind = kind_slot(self.app_kind());
        totals.in_flight[kind] += self.in_flight.load(Ordering::Relaxed).max(0);
        for (sum, gauge) in totals.connections.iter_mut().zip(&self.connections) {
            *sum += gauge.load(Ordering::Relaxed).max(0);
        }
        for (sum, gauge) in totals.queued.iter_mut().zip(&self.queued) {
            *sum += gauge.load(Ordering::Relaxed).max(0);
        }
    }

    /// Adds only this block's counters (requests and latencies) to `totals`: what remains of a worker
    /// that has exited, whose gauges no longer mean anything.
    pub fn add_counters_to(&self, totals: &mut Totals) {
        totals.add_counters(self);
    }
}

fn as_i64(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Kinds of process told apart in [`Totals`]; tags past the last share its slot.
pub const APP_KINDS: usize = 4;

fn kind_slot(kind: u64) -> usize {
    usize::try_from(kind).map_or(APP_KINDS - 1, |k| k.min(APP_KINDS - 1))
}

/// A request being served; see [`Metrics::start_request`]. Dropping it records the request with the
/// status set by [`RequestTimer::set_status`] (a timer without one was abandoned: it leaves the
/// in-flight count but is not counted as a request).
#[derive(Debug)]
pub struct RequestTimer {
    metrics: &'static Metrics,
    started: Instant,
    status: u16,
}

impl RequestTimer {
    /// The status the request is answered with.
    #[inline]
    pub fn set_status(&mut self, status: http::StatusCode) {
        self.status = status.as_u16();
    }
}

impl Drop for RequestTimer {
    fn drop(&mut self) {
        let m = self.metrics;
        m.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.status == 0 {
            return;
        }
        if let Some(slot) = m.requests.get(usize::from(self.status)) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_US.iter().position(|&bound| micros <= bound).unwrap_or(LATENCY_BOUNDS_US.len());
        m.latency[bucket].fetch_add(1, Ordering::Relaxed);
        m.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }
}

/// An open connection; see [`Metrics::open_connection`].
#[derive(Debug)]
pub struct OpenConnection {
    metrics: &'static Metrics,
    /// The [`Protocol`] slot it is counted in; atomic so the request handlers of the connection can
    /// move it.
    protocol: AtomicU8,
}

impl OpenConnection {
    /// The connection turned out to speak `protocol` (an HTTP/2 connection is only known by its first
    /// request).
    pub fn switch_to(&self, protocol: Protocol) {
        let was = usize::from(self.protocol.swap(protocol as u8, Ordering::Relaxed));
        if was != protocol as usize {
            self.metrics.connections[protocol as usize].fetch_add(1, Ordering::Relaxed);
            self.metrics.connections[was].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let slot = usize::from(self.protocol.load(Ordering::Relaxed));
        self.metrics.connections[slot].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The sum of any number of blocks, in plain integers, with requests kept apart by app kind.
#[derive(Debug, Clone)]
pub struct Totals {
    /// Finished requests, by app kind and status code.
    pub requests: Vec<[u64; STATUS_SLOTS]>,
    /// Latency buckets by app kind (not cumulative).
    pub latency: [[u64; LATENCY_BOUNDS_US.len() + 1]; APP_KINDS],
    /// Sum of latencies in microseconds, by app kind.
    pub latency_sum_us: [u64; APP_KINDS],
    /// Requests in flight, by app kind.
    pub in_flight: [i64; APP_KINDS],
    /// Open connections by [`Protocol`].
    pub connections: [i64; Protocol::ALL.len()],
    /// Jobs waiting by [`Queue`].
    pub queued: [i64; Queue::ALL.len()],
    /// App kinds of the blocks added.
    pub kinds_seen: [bool; APP_KINDS],
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            requests: vec![[0; STATUS_SLOTS]; APP_KINDS],
            latency: [[0; LATENCY_BOUNDS_US.len() + 1]; APP_KINDS],
            latency_sum_us: [0; APP_KINDS],
            in_flight: [0; APP_KINDS],
            connections: [0; Protocol::ALL.len()],
            queued: [0; Queue::ALL.len()],
            kinds_seen: [false; APP_KINDS],
        }
    }
}

impl Totals {
    fn add_counters(&mut self, block: &Metrics) {
        let kind = kind_slot(block.app_kind());
        self.kinds_seen[kind] = true;
        if let Some(requests) = self.requests.get_mut(kind) {
            for (sum, counter) in requests.iter_mut().zip(&block.requests) {
                *sum += counter.load(Ordering::Relaxed);
            }
        }
        for (sum, counter) in self.latency[kind].iter_mut().zip(&block.latency) {
            *sum += counter.load(Ordering::Relaxed);
        }
        self.latency_sum_us[kind] += block.latency_sum_us.load(Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_status_and_latency() {
        let m = Metrics::leaked();
        m.set_app_kind(2);
        let mut timer = m.start_request();
        let mut totals = Totals::default();
        m.add_to(&mut totals);
        assert_eq!(totals.in_flight[2], 1);
        timer.set_status(http::StatusCode::NOT_FOUND);
        drop(timer);
        drop(m.start_request()); // abandoned: not a request
        let mut totals = Totals::default();
        m.add_to(&mut totals);
        assert_eq!(totals.in_flight[2], 0);
        assert_eq!(totals.requests[2][404], 1);
        assert_eq!(totals.requests[2].iter().sum::<u64>(), 1);
        assert_eq!(totals.latency[2].iter().sum::<u64>(), 1);
    }

    #[test]
    fn connections_move_between_protocols() {
        let m = Metrics::leaked();
        let conn = m.open_connection(Protocol::Http1);
        conn.switch_to(Protocol::Http2);
        let mut totals = Totals::default();
        m.add_to(&mut totals);
        assert_eq!(totals.connections, [0, 1, 0, 0]);
        drop(conn);
        let mut totals = Totals::default();
        m.add_to(&mut totals);
        assert_eq!(totals.connections, [0, 0, 0, 0]);
    }
}

//! `--limit-concurrency`: past a number of open connections or requests in progress, new requests are
//! answered `503 Service Unavailable` without reaching the application, as uvicorn does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use crate::{Response, ResponseBody};

/// Counts open connections and requests in progress against one limit.
#[derive(Debug)]
pub(crate) struct Concurrency {
    limit: usize,
    connections: AtomicUsize,
    tasks: AtomicUsize,
}

/// Which count a [`Counted`] holds a place in.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Connection,
    Task,
}

/// One connection or request, counted until dropped.
#[derive(Debug)]
pub(crate) struct Counted {
    owner: Arc<Concurrency>,
    kind: Kind,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let counter = match self.kind {
            Kind::Connection => &self.owner.connections,
            Kind::Task => &self.owner.tasks,
        };
        counter.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Concurrency {
    pub(crate) fn new(limit: usize) -> Arc<Concurrency> {
        Arc::new(Concurrency { limit, connections: AtomicUsize::new(0), tasks: AtomicUsize::new(0) })
    }

    /// Counts an open connection for as long as the result lives.
    pub(crate) fn connection(self: &Arc<Self>) -> Counted {
        self.connections.fetch_add(1, Ordering::AcqRel);
        Counted { owner: Arc::clone(self), kind: Kind::Connection }
    }

    /// Counts a request for as long as the result lives, or `None` if it must be refused: more than
    /// `limit` connections are open (this one included), or `limit` requests are already in progress.
    ///
    /// uvicorn compares the open connections, the requesting one included, with `>=`, so it serves at
    /// most `limit - 1` connections at once; this serves `limit`, as its help text describes.
    pub(crate) fn task(self: &Arc<Self>) -> Option<Counted> {
        // Counting first and checking the previous value keeps two racing requests from both taking
        // the last place.
        let before = self.tasks.fetch_add(1, Ordering::AcqRel);
        let counted = Counted { owner: Arc::clone(self), kind: Kind::Task };
        if before >= self.limit || self.connections.load(Ordering::Acquire) > self.limit {
            tracing::warn!("Exceeded concurrency limit.");
            return None;
        }
        Some(counted)
    }
}

/// uvicorn's answer past the limit.
pub(crate) fn service_unavailable() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Response {
        status: StatusCode::SERVICE_UNAVAILABLE,
        headers,
        body: ResponseBody::full(Bytes::from_static(b"Service Unavailable")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_counts_connections_and_tasks() {
        let c = Concurrency::new(2);
        let conns = [c.connection(), c.connection()];
        let a = c.task().unwrap();
        let b = c.task().unwrap();
        assert!(c.task().is_none());
        drop((a, b));
        let third = c.connection();
        assert!(c.task().is_none());
        drop(third);
        assert!(c.task().is_some());
        drop(conns);
    }
}

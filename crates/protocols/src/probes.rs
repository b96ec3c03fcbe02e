//! `--health-path` and `--readiness-path`: probes answered by the server itself, before a request
//! could reach the application, its request budget or the access log.
//!
//! Liveness says the process serves HTTP at all (200 whenever it answers). Readiness says it should be
//! sent traffic: 200 once the app is loaded and its lifespan startup has finished, 503 before that and
//! from the moment the server starts to drain (a shutdown signal, or retirement), so that a load
//! balancer stops sending new requests while the ones in progress finish.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};

use crate::{Response, ResponseBody};

/// Where a process is in its life, as readiness reports it.
#[derive(Debug, Default)]
pub struct Readiness(AtomicU8);

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

impl Readiness {
    /// A process that is still starting.
    pub fn new() -> Arc<Readiness> {
        Arc::new(Readiness::default())
    }

    /// Ready (`true`) or not yet / no longer (`false`); ignored once draining, which is for good.
    pub fn set_ready(&self, ready: bool) {
        let to = if ready { READY } else { STARTING };
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| (now != DRAINING).then_some(to));
    }

    /// The server has begun to drain: readiness answers 503 from now on.
    pub fn set_draining(&self) {
        self.0.store(DRAINING, Ordering::Release);
    }

    /// True while traffic should be sent here.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire) == READY
    }

    fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire) == DRAINING
    }
}

/// The probe paths and the readiness they report.
#[derive(Debug, Clone, Default)]
pub struct Probes {
    /// `--health-path`: answered 200.
    pub liveness: Option<String>,
    /// `--readiness-path`: answered 200 or 503 from `readiness`.
    pub readiness_path: Option<String>,
    /// The state readiness reports.
    pub readiness: Arc<Readiness>,
}

impl Probes {
    /// True when neither path is set.
    pub fn is_empty(&self) -> bool {
        self.liveness.is_none() && self.readiness_path.is_none()
    }

    /// The answer to a `GET` or `HEAD` of a probe path (the query is ignored); `None` for any other
    /// request, which is served as usual.
    pub fn answer(&self, method: &Method, path: &str) -> Option<Response> {
        if self.is_empty() || (method != Method::GET && method != Method::HEAD) {
            return None;
        }
        let (status, text): (StatusCode, &'static [u8]) = if self.liveness.as_deref() == Some(path) {
            (StatusCode::OK, b"ok\n")
        } else if self.readiness_path.as_deref() == Some(path) {
            if self.readiness.is_ready() {
                (StatusCode::OK, b"ready\n")
            } else if self.readiness.is_draining() {
                (StatusCode::SERVICE_UNAVAILABLE, b"draining\n")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, b"starting\n")
            }
        } else {
            return None;
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Some(Response { status, headers, body: ResponseBody::full(Bytes::from_static(text)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_life_of_the_process() {
        let probes = Probes {
            liveness: Some("/healthz".into()),
            readiness_path: Some("/ready".into()),
            readiness: Readiness::new(),
        };
        let status = |path: &str| probes.answer(&Method::GET, path).map(|r| r.status);
        assert_eq!(status("/healthz"), Some(StatusCode::OK));
        assert_eq!(status("/ready"), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(status("/other"), None);
        assert!(probes.answer(&Method::POST, "/healthz").is_none());
        probes.readiness.set_ready(true);
        assert_eq!(status("/ready"), Some(StatusCode::OK));
        probes.readiness.set_draining();
        probes.readiness.set_ready(true);
        assert_eq!(status("/ready"), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(status("/healthz"), Some(StatusCode::OK));
    }
}

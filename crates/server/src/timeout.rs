//! `--timeout`: a request whose response has not started within the limit is answered with 504 from
//! here, and the worker asks the supervisor to replace it.
//!
//! What is timed is the handler's future, which resolves once the response head is known (see
//! [`Handler::call`]): the app's whole run for a plain response, up to the first body chunk for a
//! streaming one. A body that is already streaming is never cut, and WebSockets are not timed at all:
//! both are long-lived by design. When the limit passes, the future is dropped, so whatever the app
//! answers later goes nowhere; the code that is stuck (a blocking call on a WSGI thread, a busy event
//! loop) is still running, which is why the worker is replaced rather than trusted with more requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use covetpy_protocols::{Handler, Request, Response};
use http::{header, HeaderValue, StatusCode};

use crate::control::{Control, TIMED_OUT};

/// Wraps a handler and answers 504 for requests that pass the limit.
#[derive(Debug)]
pub struct Timed<H> {
    inner: H,
    limit: Option<Duration>,
    control: Option<Control>,
    /// Set once the supervisor has been asked for a replacement, so it is asked once.
    reported: AtomicBool,
}

impl<H> Timed<H> {
    /// Times the requests `inner` serves against `limit` (with `None`, only forwards them); `control`
    /// reaches the supervisor, which replaces the worker after a timeout.
    pub fn new(inner: H, limit: Option<Duration>, control: Option<Control>) -> Self {
        Timed { inner, limit, control, reported: AtomicBool::new(false) }
    }
}

impl<H: Handler> Handler for Timed<H> {
    async fn call(&self, request: Request) -> Response {
        let Some(limit) = self.limit.filter(|_| request.websocket.is_none()) else {
            return self.inner.call(request).await;
        };
        let target = request.head.uri.path().to_owned();
        match tokio::time::timeout(limit, self.inner.call(request)).await {
            Ok(response) => response,
            Err(_) => {
                let first = !self.reported.swap(true, Ordering::Relaxed);
                if first {
                    tracing::error!(
                        "Request to {target} took longer than --timeout {}s; answering 504 and replacing this worker",
                        limit.as_secs_f64()
                    );
                    if let Some(control) = &self.control {
                        control.send(TIMED_OUT);
                    }
                } else {
                    tracing::error!(
                        "Request to {target} took longer than --timeout {}s; answering 504",
                        limit.as_secs_f64()
                    );
                }
                // The connection itself is sound and stays open; the worker closes it after a later response
                // once it retires.
                let mut response = Response::full(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout");
                response.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
                response
            }
        }
    }
}

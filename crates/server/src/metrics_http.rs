//! The `--metrics-port` listener: `GET /metrics` (the Prometheus exposition) and the probe paths, served
//! by hyper on the runtime of the process that owns the numbers (the supervisor, or a lone worker).
//! Nothing here enters Python.

use std::convert::Infallible;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use covetpy_protocols::{Probes, Response, ResponseBody};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// Binds the metrics listener (before the app is imported, so readiness can say "starting").
pub fn bind(host: &str, port: u16) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind((host, port))
        .with_context(|| format!("--metrics-port: could not bind {host}:{port}"))?;
    listener.set_nonblocking(true).context("--metrics-port: could not set up the listener")?;
    Ok(listener)
}

/// What a scrape returns: the exposition text.
pub type Scrape = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves the metrics listener until the process exits. Must run inside a Tokio runtime.
pub async fn serve(listener: std::net::TcpListener, probes: Probes, scrape: Scrape) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return tracing::error!("--metrics-port: could not serve the listener: {e}"),
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("Metrics on http://{addr}/metrics");
    }
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("--metrics-port: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let probes = probes.clone();
        let scrape = Arc::clone(&scrape);
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let response = answer(req.method(), req.uri().path(), &probes, &scrape);
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("--metrics-port: connection closed with error: {e}");
            }
        });
    }
}

fn answer(method: &Method, path: &str, probes: &Probes, scrape: &Scrape) -> http::Response<ResponseBody> {
    let response = match probes.answer(method, path) {
        Some(probe) => probe,
        None if path == "/metrics" && (method == Method::GET || method == Method::HEAD) => {
            let mut response = Response::full(StatusCode::OK, scrape());
            response.headers.insert(CONTENT_TYPE, HeaderValue::from_static(crate::metrics_text::CONTENT_TYPE));
            response
        }
        None => Response::full(StatusCode::NOT_FOUND, Bytes::from_static(b"Not Found\n")),
    };
    let mut out = http::Response::new(response.body);
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

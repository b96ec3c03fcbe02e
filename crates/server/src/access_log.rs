//! One line per request, in uvicorn's access log format.

use covetpy_protocols::{Handler, Request, Response};

use crate::logging::ACCESS_TARGET;

/// Wraps a handler and logs `client - "METHOD target PROTOCOL" status` once the response head is known.
pub struct AccessLog<H> {
    inner: H,
}

impl<H> AccessLog<H> {
    /// Logs requests served by `inner`.
    pub fn new(inner: H) -> Self {
        AccessLog { inner }
    }
}

impl<H: Handler> Handler for AccessLog<H> {
    async fn call(&self, request: Request) -> Response {
        let head = &request.head;
        let client = match head.client {
            Some(addr) => addr.to_string(),
            None => "unix".to_owned(),
        };
        let method = head.method.clone();
        let target = head.uri.path_and_query().map_or_else(|| head.uri.path().to_owned(), |pq| pq.as_str().to_owned());
        let protocol = head.version.protocol();
        let response = self.inner.call(request).await;
        let status = response.status.as_u16();
        // The fields are uvicorn's access record arguments, for --log-config handlers (logging.rs).
        tracing::info!(
            target: ACCESS_TARGET,
            client_addr = client.as_str(),
            method = method.as_str(),
            full_path = target.as_str(),
            http_version = protocol.trim_start_matches("HTTP/"),
            status_code = status,
            "{client} - \"{method} {target} {protocol}\" {status}"
        );
        response
    }
}

//! Transports and wire protocols for CovetPy.
//!
//! This crate turns sockets into protocol-neutral [`Request`]s and writes [`Response`]s back. It speaks
//! HTTP/1.1 (keep-alive, chunked bodies, pipelining) and cleartext HTTP/2 with prior knowledge on the same
//! listener, over TCP or Unix domain sockets, optionally with TLS; HTTP/3 over QUIC on the matching UDP
//! port; and WebSocket over HTTP/1.1 upgrades. It knows nothing of Python: an application plugs in by
//! implementing [`Handler`].

mod activity;
mod ahead;
mod body;
mod concurrency;
mod h1_guard;
mod h3;
mod handler;
mod http1;
mod listener;
pub mod metrics;
mod permessage_deflate;
mod probes;
mod proxy;
mod proxy_protocol;
mod read_filter;
mod request;
mod response;
mod response_headers;
mod server;
mod tls;
mod websocket;

pub use body::{BodyError, RequestBody};
pub use h3::H3Settings;
pub use handler::Handler;
pub use listener::{BindError, Endpoint, Listener, LocalAddr};
pub use probes::{Probes, Readiness};
pub use proxy::{ProxyConfig, TrustedProxies};
pub use request::{HttpVersion, RequestHead, Scheme};
pub use response::{BodyEnd, BodySender, Response, ResponseBody, StreamClosed, TrySendError};
pub use response_headers::{BadHeader, DefaultHeaders};
pub use rustls::ServerConfig as RustlsConfig;
pub use server::{
    serve, serve_retiring, RequestLimits, ServeOutcome, ServerConfig, DEFAULT_BACKLOG, DEFAULT_MAX_HEAD_SIZE,
};
pub use tls::{server_config as tls_server_config, ClientAuth, TlsError, TlsOptions, TlsVersions};
pub use websocket::{WebSocketUpgrade, WsConfig, WsEvent, WsOutgoing, WsSession};

/// A request as handed to a [`Handler`]: its head and its streaming body.
pub struct Request {
    /// Method, target, version, headers and the addresses of both ends.
    pub head: RequestHead,
    /// The body, read on demand so large uploads are never held in memory whole.
    pub body: RequestBody,
    /// Present when the request is a WebSocket handshake and WebSockets are enabled. A handler that
    /// ignores it answers the request as ordinary HTTP.
    pub websocket: Option<WebSocketUpgrade>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("head", &self.head)
            .field("websocket", &self.websocket.is_some())
            .finish_non_exhaustive()
    }
}

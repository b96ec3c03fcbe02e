//! HTTP/3 over QUIC (quinn + h3) on the UDP port matching the TCP one.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http_body::Body;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::RequestBody;
use crate::concurrency::{service_unavailable, Concurrency};
use crate::metrics::{self, Protocol};
use crate::probes::Probes;
use crate::proxy::ProxyConfig;
use crate::response_headers::DefaultHeaders;
use crate::{Handler, HttpVersion, LocalAddr, Request, RequestHead, Scheme};

/// HTTP/3 settings, checked when made so a configuration QUIC cannot use fails at start-up.
#[derive(Clone)]
pub struct H3Settings {
    crypto: Arc<quinn::crypto::rustls::QuicServerConfig>,
    reuse_port: bool,
    /// The UDP port named in `Alt-Svc`; `None` names the port the server listens on.
    alt_svc_port: Option<u16>,
}

impl H3Settings {
    /// `tls` must offer ALPN `h3` and TLS 1.3. `reuse_port` binds the UDP port with `SO_REUSEPORT`, for
    /// several worker processes.
    pub fn new(tls: Arc<rustls::ServerConfig>, reuse_port: bool) -> Result<H3Settings, crate::TlsError> {
        // QUIC protects its first packets with AES-128-GCM whatever suite the handshake settles on
        // (RFC 9001 section 5.2), so that suite is supplied even when --ssl-ciphers leaves it out.
        let initial = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
            .tls13()
            .and_then(|suite| suite.quic_suite())
            .ok_or_else(|| crate::TlsError::Config("no QUIC initial cipher suite available".into()))?;
        if !tls.crypto_provider().cipher_suites.iter().any(|suite| suite.tls13().is_some()) {
            return Err(crate::TlsError::Config(
                "--http3 needs a TLS 1.3 cipher suite; --ssl-ciphers names none".into(),
            ));
        }
        let crypto = quinn::crypto::rustls::QuicServerConfig::with_initial(tls, initial).map_err(|e| {
            crate::TlsError::Config(format!("--http3 needs TLS 1.3; the chosen --ssl-ciphers leave none: {e}"))
        })?;
        Ok(H3Settings { crypto: Arc::new(crypto), reuse_port, alt_svc_port: None })
    }

    /// Advertise `port` in `Alt-Svc` instead of the port the server listens on: behind a port mapping
    /// (`docker run -p 443:8443/udp`) or a load balancer, clients can reach QUIC only on the published port.
    pub fn with_alt_svc_port(mut self, port: u16) -> H3Settings {
        self.alt_svc_port = Some(port);
        self
    }

    /// The `Alt-Svc` header value for a server listening on UDP `listen_port`, or `None` if it cannot
    /// be formed (it always can: the value is ASCII).
    pub(crate) fn alt_svc(&self, listen_port: u16) -> Option<HeaderValue> {
        let port = self.alt_svc_port.unwrap_or(listen_port);
        HeaderValue::from_str(&format!("h3=\":{port}\"; ma=86400")).ok()
    }
}

impl std::fmt::Debug for H3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H3Settings")
            .field("reuse_port", &self.reuse_port)
            .field("alt_svc_port", &self.alt_svc_port)
            .finish_non_exhaustive()
    }
}

/// Binds the QUIC endpoint on `addr`.
pub(crate) fn bind(addr: SocketAddr, settings: &H3Settings) -> std::io::Result<quinn::Endpoint> {
    let config = quinn::ServerConfig::with_crypto(Arc::clone(&settings.crypto) as Arc<_>);
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
    if settings.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    let runtime = quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime for QUIC"))?;
    quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(config), socket.into(), runtime)
}

/// What the HTTP/3 side of a server shares across its connections.
pub(crate) struct H3Shared<H> {
    /// The application's request handler.
    pub(crate) handler: Arc<H>,
    /// The local address requests report (the TCP listener's, whose port the UDP socket shares).
    pub(crate) server: LocalAddr,
    /// Cancelled when the server stops accepting.
    pub(crate) stop: CancellationToken,
    /// Forwarding headers from trusted proxies, as on TCP.
    pub(crate) proxy: ProxyConfig,
    /// `--limit-concurrency`, shared with the TCP side.
    pub(crate) concurrency: Option<Arc<Concurrency>>,
    /// `server`, `date` and `--header` fields, as on TCP.
    pub(crate) default_headers: DefaultHeaders,
    /// `--health-path` and `--readiness-path`, as on TCP.
    pub(crate) probes: Probes,
}

/// Accepts QUIC connections until the server stops; each connection serves its requests concurrently.
pub(crate) async fn accept_loop<H: Handler>(endpoint: quinn::Endpoint, shared: Arc<H3Shared<H>>, tracker: TaskTracker) {
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => {
                    tracker.spawn(connection(incoming, Arc::clone(&shared), tracker.clone()));
                }
                None => break,
            },
        }
    }
    // No new connections; existing ones finish (they received GOAWAY) before the endpoint goes.
    endpoint.set_server_config(None);
    let drained = endpoint.clone();
    tracker.spawn(async move { drained.wait_idle().await });
}

async fn connection<H: Handler>(incoming: quinn::Incoming, shared: Arc<H3Shared<H>>, tracker: TaskTracker) {
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => return tracing::debug!("QUIC handshake failed: {e}"),
    };
    let client = conn.remote_address();
    let _counted = shared.concurrency.as_ref().map(Concurrency::connection);
    let _open = metrics::installed().map(|m| m.open_connection(Protocol::Http3));
    let mut h3 = match h3::server::Connection::<_, Bytes>::new(h3_quinn::Connection::new(conn)).await {
        Ok(h3) => h3,
        Err(e) => return tracing::debug!("HTTP/3 connection setup failed: {e}"),
    };
    let mut closing = false;
    loop {
        tokio::select! {
            accepted = h3.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let shared = Arc::clone(&shared);
                    tracker.spawn(async move {
                        match resolver.resolve_request().await {
                            Ok((req, stream)) => request(req, stream, client, shared).await,
                            Err(e) => tracing::debug!("bad HTTP/3 request: {e}"),
                        }
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("HTTP/3 connection closed: {e}");
                    break;
                }
            },
            () = shared.stop.cancelled(), if !closing => {
                closing = true;
                // GOAWAY: requests already started finish; the client opens no more.
                if let Err(e) = h3.shutdown(0).await {
                    tracing::debug!("HTTP/3 GOAWAY failed: {e}");
                    break;
                }
            }
        }
    }
}

/// Headers that belong to a TCP connection and are forbidden in HTTP/3.
const CONNECTION_HEADERS: [&str; 5] = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

async fn request<H: Handler>(
    req: http::Request<()>,
    stream: h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>,
    client: SocketAddr,
    shared: Arc<H3Shared<H>>,
) {
    let (parts, ()) = req.into_parts();
    let is_head = parts.method == http::Method::HEAD;
    let (mut send, recv) = stream.split();
    let mut head = RequestHead {
        method: parts.method,
        uri: parts.uri,
        version: HttpVersion::Http3,
        headers: parts.headers,
        scheme: Scheme::Https,
        client: Some(client),
        server: shared.server.clone(),
    };
    if shared.proxy.reads_headers() {
        shared.proxy.apply(&mut head);
    }
    // Probes are answered here and not counted, as on TCP.
    let probe = shared.probes.answer(&head.method, head.uri.path());
    let mut timer = probe.is_none().then(metrics::installed).flatten().map(metrics::Metrics::start_request);
    // Held until the response is written, as on TCP.
    let task = if probe.is_none() { shared.concurrency.as_ref().map(Concurrency::task) } else { None };
    let response = match (probe, &task) {
        (Some(answer), _) => answer,
        (None, Some(None)) => service_unavailable(),
        (None, _) => shared.handler.call(Request { head, body: RequestBody::h3(recv), websocket: None }).await,
    };
    if let Some(timer) = &mut timer {
        timer.set_status(response.status);
    }
    let mut body = response.body;
    let mut out = http::Response::new(());
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    shared.default_headers.apply(out.headers_mut());
    for name in CONNECTION_HEADERS {
        out.headers_mut().remove(name);
    }
    if let (false, Some(len)) = (out.headers().contains_key(CONTENT_LENGTH), body.size_hint().exact()) {
        out.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Err(e) = send.send_response(out).await {
        return tracing::debug!("HTTP/3 response failed: {e}");
    }
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        match frame {
            Ok(frame) => {
                let Ok(data) = frame.into_data() else { continue };
                if is_head || data.is_empty() {
                    continue;
                }
                if let Err(e) = send.send_data(data).await {
                    return tracing::debug!("HTTP/3 body write failed: {e}");
                }
            }
            Err(_) => {
                // The application failed mid-body: reset the stream so the client sees it incomplete.
                send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
                return;
            }
        }
    }
    if let Err(e) = send.finish().await {
        tracing::debug!("HTTP/3 finish failed: {e}");
    }
}

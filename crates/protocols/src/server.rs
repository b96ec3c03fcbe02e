use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::activity::{Activity, ActivityGuard};
use crate::h3::H3Settings;
use crate::websocket::{self, WebSocketUpgrade, WsConfig, WsContext};
use crate::{Handler, HttpVersion, Listener, LocalAddr, Request, RequestBody, RequestHead, ResponseBody, Scheme};
use http::HeaderValue;

/// Connection-level settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Close a connection that has had no request in progress for this long.
    pub keep_alive: Duration,
    /// After shutdown is requested, how long in-flight requests may take; `None` waits for all of them.
    pub graceful_timeout: Option<Duration>,
    /// The scheme reported to the application.
    pub scheme: Scheme,
    /// WebSocket settings; `None` (`--ws none`) hands handshakes to the application as plain requests.
    pub websocket: Option<WsConfig>,
    /// TLS for every connection when set (see [`crate::tls_server_config`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// HTTP/3 on the UDP port of the same number; TCP responses then advertise it with `Alt-Svc`.
    pub http3: Option<H3Settings>,
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeOutcome {
    /// Every connection finished its in-flight work and closed.
    Drained,
    /// The graceful timeout passed with this many connections still open; they are abandoned.
    TimedOut {
        /// Connections still open when time ran out.
        open: usize,
    },
}

/// Everything a connection task needs, shared across connections.
pub(crate) struct Shared<H> {
    pub(crate) handler: Arc<H>,
    builder: auto::Builder<TokioExecutor>,
    config: ServerConfig,
    pub(crate) server: LocalAddr,
    pub(crate) stop: CancellationToken,
    ws: Option<WsContext>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    alt_svc: Option<HeaderValue>,
}

/// Accepts connections on `listener` and serves HTTP/1.1 and HTTP/2 (prior knowledge) on each until
/// `shutdown` resolves; then stops accepting, asks every connection to finish gracefully (HTTP/1 closes
/// after the current response, HTTP/2 sends GOAWAY) and waits for them, up to the graceful timeout.
pub async fn serve<H: Handler>(
    listener: Listener,
    handler: Arc<H>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<ServeOutcome> {
    let server = listener.local_addr()?;
    listener.listen()?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // pipeline_flush is left off: it lets hyper buffer a streaming body without bound, which would take
    // backpressure away from a slow client.
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let close_websockets = CancellationToken::new();
    let ws = config.websocket.map(|ws| WsContext {
        config: ws,
        tracker: tracker.clone(),
        close_now: close_websockets.clone(),
    });
    let tls = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let quic = match (&config.http3, &server) {
        (Some(settings), LocalAddr::Tcp(addr)) => Some(crate::h3::bind(*addr, settings)?),
        _ => None,
    };
    let alt_svc = match (&quic, &server) {
        (Some(_), LocalAddr::Tcp(addr)) => HeaderValue::from_str(&format!("h3=\":{}\"; ma=86400", addr.port())).ok(),
        _ => None,
    };
    let shared = Arc::new(Shared { handler, builder, config, server, stop, ws, tls, alt_svc });
    if let Some(endpoint) = quic {
        tracker.spawn(crate::h3::accept_loop(endpoint, Arc::clone(&shared), tracker.clone()));
    }
    let shutdown = pin!(shutdown);

    if listener.is_unix() {
        let l = tokio::net::UnixListener::from_std(listener.into_unix())?;
        let l = &l;
        accept_loop(|| async move { l.accept().await.map(|(s, _)| (s, None)) }, shutdown, &tracker, &shared).await;
    } else {
        let l = tokio::net::TcpListener::from_std(listener.into_tcp())?;
        let l = &l;
        accept_loop(|| async move { l.accept().await.map(|(s, p)| (s, Some(p))) }, shutdown, &tracker, &shared).await;
    }

    tracker.close();
    shared.stop.cancel();
    match shared.config.graceful_timeout {
        None => {
            // Without a time limit, open WebSockets would hold shutdown up forever: close them now.
            close_websockets.cancel();
            tracker.wait().await;
            Ok(ServeOutcome::Drained)
        }
        Some(limit) => match tokio::time::timeout(limit, tracker.wait()).await {
            Ok(()) => Ok(ServeOutcome::Drained),
            Err(_) => {
                // Time is up: WebSockets get their 1001 close, with a moment for it to go out.
                close_websockets.cancel();
                match tokio::time::timeout(WEBSOCKET_CLOSE_GRACE, tracker.wait()).await {
                    Ok(()) => Ok(ServeOutcome::Drained),
                    Err(_) => Ok(ServeOutcome::TimedOut { open: tracker.len() }),
                }
            }
        },
    }
}

/// After the graceful timeout, how long closing WebSockets get to send their close frames.
const WEBSOCKET_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Accepts connections until `shutdown` resolves, serving each on its own task.
async fn accept_loop<H, S, F, Fut>(
    mut accept: F,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
    tracker: &TaskTracker,
    shared: &Arc<Shared<H>>,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<(S, Option<SocketAddr>)>>,
{
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept() => match accepted {
                Ok((stream, peer)) => match &shared.tls {
                    Some(acceptor) => {
                        tracker.spawn(handshake(acceptor.clone(), stream, peer, Arc::clone(shared)));
                    }
                    None => {
                        tracker.spawn(run_connection(stream, peer, Arc::clone(shared)));
                    }
                },
                Err(e) => accept_failed(e).await,
            },
        }
    }
}

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the TLS handshake on the connection's own task, so a slow client never holds up accepting.
async fn handshake<H, S>(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: S,
    peer: Option<SocketAddr>,
    shared: Arc<Shared<H>>,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => run_connection(tls, peer, shared).await,
        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

/// Accept errors are usually transient (a connection reset before accept, or out of descriptors); the
/// short pause keeps a descriptor shortage from spinning the loop.
async fn accept_failed(e: io::Error) {
    tracing::warn!("accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn run_connection<H, I>(io: I, client: Option<SocketAddr>, shared: Arc<Shared<H>>)
where
    H: Handler,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let service = {
        let shared = Arc::clone(&shared);
        let activity = Arc::clone(&activity);
        service_fn(move |req| {
            let guard = activity.begin();
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(respond(req, client, &shared, guard).await) }
        })
    };
    let mut conn = pin!(shared.builder.serve_connection_with_upgrades(TokioIo::new(io), service));
    let keep_alive = shared.config.keep_alive;
    let mut closing = false;
    loop {
        // Re-armed only when the timer fires, so the cost is one timer per keep-alive period.
        let idle_at =
            activity.idle_deadline(keep_alive).unwrap_or_else(|| tokio::time::Instant::now().into_std() + keep_alive);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection closed with error: {e}");
                }
                break;
            }
            () = shared.stop.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = tokio::time::sleep_until(idle_at.into()), if !closing => {
                if activity.idle_deadline(keep_alive).is_some_and(|at| at <= std::time::Instant::now()) {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

async fn respond<H: Handler>(
    mut req: http::Request<Incoming>,
    client: Option<SocketAddr>,
    shared: &Shared<H>,
    guard: ActivityGuard,
) -> http::Response<TrackedBody> {
    let websocket = match &shared.ws {
        Some(ctx) if websocket::is_upgrade(&req) => WebSocketUpgrade::new(&mut req, ctx),
        _ => None,
    };
    let (parts, body) = req.into_parts();
    let version = match parts.version {
        http::Version::HTTP_2 => HttpVersion::Http2,
        http::Version::HTTP_10 | http::Version::HTTP_09 => HttpVersion::Http10,
        _ => HttpVersion::Http11,
    };
    let head = RequestHead {
        method: parts.method,
        uri: parts.uri,
        version,
        headers: parts.headers,
        scheme: shared.config.scheme,
        client,
        server: shared.server.clone(),
    };
    let response = shared.handler.call(Request { head, body: RequestBody::new(body), websocket }).await;
    let mut out = http::Response::new(TrackedBody { inner: response.body, _guard: guard });
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    if let Some(alt_svc) = &shared.alt_svc {
        out.headers_mut().insert(http::header::ALT_SVC, alt_svc.clone());
    }
    out
}

/// A response body that keeps its request counted as in flight until hyper has finished writing it.
struct TrackedBody {
    inner: ResponseBody,
    _guard: ActivityGuard,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = crate::StreamClosed;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::activity::{Activity, ActivityGuard};
use crate::ahead::Ahead;
use crate::body::{BodyFailure, BodyOutcome};
use crate::concurrency::{self, Concurrency, Counted};
use crate::h1_guard::{HeadDefect, HeadReports};
use crate::h3::H3Settings;
use crate::http1::{Turns, Waited};
use crate::metrics::{self, Protocol, RequestTimer};
use crate::probes::Probes;
use crate::proxy::ProxyConfig;
use crate::proxy_protocol;
use crate::response_headers::DefaultHeaders;
use crate::websocket::{self, Handover, WebSocketUpgrade, WsConfig, WsContext};
use crate::{Handler, HttpVersion, Listener, LocalAddr, Request, RequestBody, RequestHead, ResponseBody, Scheme};
use http::header::{ALLOW, CONNECTION, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Method, StatusCode};

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
    /// HTTP/3 on the UDP port of the same number; TCP responses then advertise it (or the port the
    /// settings name) with `Alt-Svc`.
    pub http3: Option<H3Settings>,
    /// Size limits on HTTP/1 request heads.
    pub limits: RequestLimits,
    /// A request body read that waits this long for data fails, and the connection closes; `None`
    /// waits for ever.
    pub body_timeout: Option<Duration>,

    // Proxies, limits and default response headers (uvicorn's options of the same names).
    /// What trusted proxies may report about the client (`--proxy-headers`, `--forwarded-allow-ips`,
    /// `--forwarded-header`, `--proxy-protocol`).
    pub proxy: ProxyConfig,
    /// `--limit-concurrency`: past this many open connections or requests in progress, requests get 503.
    pub limit_concurrency: Option<usize>,
    /// `--backlog`: the listen(2) queue length.
    pub backlog: i32,
    /// `--server-header`, `--date-header`, `--header`.
    pub default_headers: DefaultHeaders,
    /// `--h11-max-incomplete-event-size`: the largest HTTP/1 request head in bytes; larger gets 431.
    pub max_head_size: usize,

    // Operations: probes and the drain sequence.
    /// `--health-path`, `--readiness-path`: answered here, never by the application. The server marks
    /// the readiness draining as soon as it is told to shut down or retire.
    pub probes: Probes,
    /// `--shutdown-delay`: after the shutdown signal, keep accepting and serving this long while
    /// readiness answers 503, so load balancers stop sending traffic before connections are refused.
    pub shutdown_delay: Duration,
}

/// uvicorn's `--h11-max-incomplete-event-size` default (h11's own).
pub const DEFAULT_MAX_HEAD_SIZE: usize = 16 * 1024;

/// uvicorn's `--backlog` default.
pub const DEFAULT_BACKLOG: i32 = 2048;

/// The largest read hyper makes from a connection (its buffer starts at 8 KiB and grows while reads
/// fill it). Request heads are bounded by the watcher instead, whatever this is; 64 KiB lets an
/// upload arrive in reads as large as the `http.request` messages it is handed on in.
const HYPER_READ_BUF: usize = 64 * 1024;

/// Size limits on HTTP/1 request heads, as gunicorn's `--limit-request-*` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest request line in bytes (method, target, version and the spaces between them); longer ones
    /// get 414. 0 means no limit beyond hyper's own (64 KiB targets).
    pub line: usize,
    /// Longest header line in bytes (name, `: `, value and CRLF, counted as gunicorn does); longer ones
    /// get 431. 0 means no limit beyond hyper's bound on the whole head (about 400 KiB).
    pub field_size: usize,
    /// Most header fields in a request; more get 431. At least 1.
    pub fields: usize,
}

impl Default for RequestLimits {
    /// gunicorn's defaults.
    fn default() -> Self {
        RequestLimits { line: 4094, field_size: 8190, fields: 100 }
    }
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
struct Shared<H> {
    handler: Arc<H>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    config: ServerConfig,
    server: LocalAddr,
    stop: CancellationToken,
    /// Cancelled when the server retires (see [`serve_retiring`]): HTTP/2 connections get GOAWAY, and
    /// HTTP/1 responses from then on carry `Connection: close`.
    retire: CancellationToken,
    ws: Option<WsContext>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    alt_svc: Option<HeaderValue>,
    concurrency: Option<Arc<Concurrency>>,
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
    serve_retiring(vec![listener], handler, config, shutdown, std::future::pending()).await
}

/// As [`serve`], on every listener in `listeners` at once (gunicorn's repeated `--bind`), and also retires
/// when `retire` resolves: a gentler stop for a worker being replaced (`--limit-max-requests`) while its
/// siblings keep serving.
///
/// Retiring stops accepting at once, like a shutdown, but does not cut idle HTTP/1 keep-alive connections:
/// closing one just as its client sends the next request would lose that request. Instead every HTTP/1
/// response from then on carries `Connection: close`, so each connection ends cleanly after its current
/// (or next) response, and a connection that stays idle closes at the keep-alive timeout as usual. HTTP/2
/// connections get GOAWAY, which clients handle by moving new streams to a fresh connection. WebSockets and
/// the graceful timeout are handled as for a shutdown. If `shutdown` resolves during the retirement, the
/// remaining connections are shut down as usual.
///
/// With `--http3`, QUIC is served on the UDP port of the first TCP listener.
pub async fn serve_retiring<H: Handler>(
    listeners: Vec<Listener>,
    handler: Arc<H>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
    retire: impl Future<Output = ()>,
) -> io::Result<ServeOutcome> {
    if listeners.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no listening socket to serve"));
    }
    let mut servers = Vec::with_capacity(listeners.len());
    for listener in &listeners {
        servers.push(listener.local_addr()?);
        listener.listen(config.backlog)?;
    }
    let mut h1 = http1::Builder::new();
    // pipeline_flush is left off: it lets hyper buffer a streaming body without bound, which would take
    // backpressure away from a slow client.
    h1.timer(TokioTimer::new()).keep_alive(true).max_headers(config.limits.fields.max(1));
    // hyper answers 431 itself when a head does not fit its read buffer; a smaller limit than hyper
    // allows is enforced by the watcher on complete heads (see `check_http1`), so the buffer can be
    // sized for bodies: hyper reads a body no faster than one buffer per read call. The date switch
    // covers the answers hyper makes on its own; every other response gets its headers from
    // `DefaultHeaders`.
    h1.max_buf_size(config.max_head_size.max(HYPER_READ_BUF)).auto_date_header(config.default_headers.date());
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new()).auto_date_header(config.default_headers.date());
    let tracker = TaskTracker::new();
    // WebSocket sessions (after their upgrade) are tracked apart from connections, so that the moment
    // given to them for their close frames is waited only when there are any.
    let ws_tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let retiring = CancellationToken::new();
    let close_websockets = CancellationToken::new();
    let ws = config.websocket.map(|ws| WsContext {
        config: ws,
        tracker: ws_tracker.clone(),
        close_now: close_websockets.clone(),
    });
    let tls = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let first_tcp = servers.iter().find_map(|s| match s {
        LocalAddr::Tcp(addr) => Some(*addr),
        LocalAddr::Unix(_) => None,
    });
    let (quic, alt_svc) = match (&config.http3, first_tcp) {
        (Some(settings), Some(addr)) => (Some((crate::h3::bind(addr, settings)?, addr)), settings.alt_svc(addr.port())),
        _ => (None, None),
    };
    let concurrency = config.limit_concurrency.map(Concurrency::new);
    // One `Shared` per listener, differing only in the local address requests report; the tokens,
    // limits and WebSocket context are common to all.
    let shareds: Vec<Arc<Shared<H>>> = servers
        .into_iter()
        .map(|server| {
            Arc::new(Shared {
                handler: Arc::clone(&handler),
                http1: h1.clone(),
                http2: h2.clone(),
                config: config.clone(),
                server,
                stop: stop.clone(),
                retire: retiring.clone(),
                ws: ws.clone(),
                tls: tls.clone(),
                alt_svc: alt_svc.clone(),
                concurrency: concurrency.clone(),
            })
        })
        .collect();
    // HTTP/3 has no keep-alive race (GOAWAY is graceful), so it stops the same way on retirement.
    let h3_stop = CancellationToken::new();
    if let Some((endpoint, addr)) = quic {
        let h3 = crate::h3::H3Shared {
            handler: Arc::clone(&handler),
            server: LocalAddr::Tcp(addr),
            stop: h3_stop.clone(),
            proxy: config.proxy.clone(),
            concurrency: concurrency.clone(),
            default_headers: config.default_headers.clone(),
            probes: config.probes.clone(),
        };
        tracker.spawn(crate::h3::accept_loop(endpoint, Arc::new(h3), tracker.clone()));
    }
    let mut shutdown = pin!(shutdown);
    let mut retire = pin!(retire);

    // The accept loops own the listeners and are dropped when serving ends, so a retiring worker stops
    // accepting before it drains. (With several workers the supervisor keeps its own copy of each socket,
    // so connections already queued on it are not reset but wait for the replacement.)
    let mut loops = Vec::with_capacity(listeners.len());
    for (listener, shared) in listeners.into_iter().zip(&shareds) {
        loops.push(accept_forever(listener, Arc::clone(shared), tracker.clone())?);
    }
    let readiness = &config.probes.readiness;
    // Boxed so that it can be dropped as soon as accepting ends: dropping the loops closes the listeners.
    let mut accepting = Box::pin(futures_util::future::join_all(loops).map(|_| ()));
    // Set once the shutdown signal came, with `--shutdown-delay`: accepting goes on until then.
    let mut stop_at: Option<tokio::time::Instant> = None;
    let ended = loop {
        tokio::select! {
            biased;
            () = &mut shutdown, if stop_at.is_none() => {
                // Readiness turns 503 first, so that load balancers stop sending before connections are refused.
                readiness.set_draining();
                let delay = config.shutdown_delay;
                if delay.is_zero() {
                    break Ended::Shutdown;
                }
                tracing::info!("Readiness now answers 503; still serving for {delay:?} (--shutdown-delay)");
                stop_at = Some(tokio::time::Instant::now() + delay);
            }
            () = until(stop_at) => break Ended::Shutdown,
            // Once shutdown has begun, retirement is moot (and `shutdown`, resolved, must not be polled again).
            () = &mut retire, if stop_at.is_none() => {
                readiness.set_draining();
                break Ended::Retire;
            }
            () = &mut accepting => break Ended::Shutdown,
        }
    };
    drop(accepting);

    tracker.close();
    ws_tracker.close();
    h3_stop.cancel();
    match ended {
        Ended::Shutdown => stop.cancel(),
        Ended::Retire => retiring.cancel(),
    }
    let Some(shared) = shareds.first() else { return Ok(ServeOutcome::Drained) };
    let tasks = Tasks { connections: &tracker, websockets: &ws_tracker };
    let mut drained = pin!(drain(shared, tasks, &close_websockets));
    if ended == Ended::Retire {
        // `shutdown` has not resolved yet (the accept loop ended on `retire`), so it may still be polled.
        tokio::select! {
            outcome = &mut drained => return outcome,
            () = &mut shutdown => stop.cancel(),
        }
    }
    drained.await
}

/// The accept loop of one listener, which it owns: it never ends by itself, and dropping it closes the
/// listener.
fn accept_forever<H: Handler>(
    listener: Listener,
    shared: Arc<Shared<H>>,
    tracker: TaskTracker,
) -> io::Result<Pin<Box<dyn Future<Output = ()> + Send>>> {
    if listener.is_unix() {
        let l = tokio::net::UnixListener::from_std(listener.into_unix())?;
        Ok(Box::pin(async move {
            let accept = || async { l.accept().await.map(|(s, _)| (s, None)) };
            accept_loop(accept, &tracker, &shared).await
        }))
    } else {
        let l = tokio::net::TcpListener::from_std(listener.into_tcp())?;
        Ok(Box::pin(async move {
            let accept = || async { l.accept().await.map(|(s, p)| (s, Some(p))) };
            accept_loop(accept, &tracker, &shared).await
        }))
    }
}

/// Why the accept loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Shutdown,
    Retire,
}

/// What a drain waits for: connection tasks (HTTP requests in flight, HTTP/3) and WebSocket sessions.
#[derive(Clone, Copy)]
struct Tasks<'a> {
    connections: &'a TaskTracker,
    websockets: &'a TaskTracker,
}

impl Tasks<'_> {
    async fn wait(self) {
        self.connections.wait().await;
        self.websockets.wait().await;
    }

    fn len(self) -> usize {
        self.connections.len() + self.websockets.len()
    }
}

/// Waits for the connections to finish, up to the graceful timeout.
async fn drain<H>(
    shared: &Shared<H>,
    tasks: Tasks<'_>,
    close_websockets: &CancellationToken,
) -> io::Result<ServeOutcome> {
    match shared.config.graceful_timeout {
        None => {
            // Without a time limit, open WebSockets would hold shutdown up forever: close them now.
            close_websockets.cancel();
            tasks.wait().await;
            Ok(ServeOutcome::Drained)
        }
        Some(limit) => match tokio::time::timeout(limit, tasks.wait()).await {
            Ok(()) => Ok(ServeOutcome::Drained),
            Err(_) => {
                // Time is up: WebSockets get their 1001 close, with a moment for it to go out. Only they
                // are waited for here: requests still in flight will not finish by themselves in that
                // moment (their tasks are cancelled next), so with none open there is nothing to wait for.
                close_websockets.cancel();
                if !tasks.websockets.is_empty() {
                    let _ = tokio::time::timeout(WEBSOCKET_CLOSE_GRACE, tasks.websockets.wait()).await;
                }
                match tasks.len() {
                    0 => Ok(ServeOutcome::Drained),
                    open => Ok(ServeOutcome::TimedOut { open }),
                }
            }
        },
    }
}

/// After the graceful timeout, how long closing WebSockets get to send their close frames.
const WEBSOCKET_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Accepts connections for ever, serving each on its own task.
async fn accept_loop<H, S, F, Fut>(mut accept: F, tracker: &TaskTracker, shared: &Arc<Shared<H>>)
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = io::Result<(S, Option<SocketAddr>)>>,
{
    loop {
        match accept().await {
            Ok((stream, peer)) => {
                tracker.spawn(accepted_connection(stream, peer, Arc::clone(shared)));
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// Resolves at `deadline`, or never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// How long a client may take to complete the TLS handshake (and to send a PROXY protocol header).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A new connection, on its own task: with `--proxy-protocol` its PROXY header first (from a trusted
/// peer only; otherwise the connection is closed), then TLS if configured, then HTTP.
async fn accepted_connection<H, S>(stream: S, peer: Option<SocketAddr>, shared: Arc<Shared<H>>)
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !shared.config.proxy.proxy_protocol {
        return secure_connection(stream, peer, shared).await;
    }
    if !shared.config.proxy.trusted.trusts_peer(peer.as_ref()) {
        return tracing::debug!("closed a connection from {peer:?}: not allowed to send a PROXY protocol header");
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, proxy_protocol::read_header(stream)).await {
        Ok(Ok((header, stream))) => {
            let client = match header {
                proxy_protocol::Header::Client(addr) => Some(addr),
                proxy_protocol::Header::Unknown => peer,
            };
            // Boxed, like TLS below: the plain connection's task stays as small as it can be.
            Box::pin(secure_connection(stream, client, shared)).await
        }
        Ok(Err(e)) => tracing::debug!("closed a connection without a valid PROXY protocol header: {e}"),
        Err(_) => tracing::debug!("closed a connection that sent no PROXY protocol header in time"),
    }
}

/// Runs the TLS handshake if TLS is on, then serves HTTP.
async fn secure_connection<H, S>(stream: S, peer: Option<SocketAddr>, shared: Arc<Shared<H>>)
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match shared.tls.clone() {
        // Boxed: a TLS stream is far larger than a socket, and a plain connection's task would
        // otherwise carry room for it for as long as it is open.
        Some(acceptor) => Box::pin(handshake(acceptor, stream, peer, shared)).await,
        None => run_connection(stream, peer, shared).await,
    }
}

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

/// The first bytes of HTTP/2 with prior knowledge; a connection starting any other way speaks HTTP/1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Which protocol a connection speaks.
enum Sniffed {
    Http1,
    Http2,
}

/// Reads until the first bytes tell HTTP/2's preface from HTTP/1 (they stay ahead on `io`); `None`
/// when the connection closed first.
async fn sniff<I: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Ahead<I>,
    activity: &Activity,
    keep_alive: Duration,
    stop: &CancellationToken,
) -> Option<Sniffed> {
    loop {
        let seen = io.ahead();
        let n = seen.len().min(H2_PREFACE.len());
        if n > 0 && seen[..n] != H2_PREFACE[..n] {
            return Some(Sniffed::Http1);
        }
        if n == H2_PREFACE.len() {
            return Some(Sniffed::Http2);
        }
        match crate::http1::wait_for_bytes(io, activity, keep_alive, stop).await {
            Waited::Bytes => {}
            Waited::Closed => {
                let _ = io.shutdown().await;
                return None;
            }
            Waited::Failed => return None,
        }
    }
}

/// What the service gives hyper for each request: boxed, so that an HTTP/1 connection can be taken
/// apart between requests (see `http1`).
type Responding = Pin<Box<dyn Future<Output = Result<http::Response<TrackedBody>, Infallible>> + Send>>;

async fn run_connection<H, I>(io: I, client: Option<SocketAddr>, shared: Arc<Shared<H>>)
where
    H: Handler,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _counted = shared.concurrency.as_ref().map(Concurrency::connection);
    // Counted as HTTP/1 until its first bytes show HTTP/2's preface.
    let open = metrics::installed().map(|m| m.open_connection(Protocol::Http1));
    let activity = Activity::new();
    let reports = Arc::new(HeadReports::default());
    let handover = shared.ws.is_some().then(|| Arc::new(Handover::default()));
    let service = {
        let shared = Arc::clone(&shared);
        let activity = Arc::clone(&activity);
        let reports = Arc::clone(&reports);
        let handover = handover.clone();
        service_fn(move |req: http::Request<Incoming>| -> Responding {
            let guard = activity.begin();
            let shared = Arc::clone(&shared);
            let reports = Arc::clone(&reports);
            let handover = handover.clone();
            let http1 = req.version() < http::Version::HTTP_2;
            Box::pin(async move {
                let mut response = match shared.config.probes.answer(req.method(), req.uri().path()) {
                    // Probes are not requests of the application: not counted, not timed.
                    Some(answer) => response_of(answer, None, guard, None),
                    None => {
                        let timer = metrics::installed().map(metrics::Metrics::start_request);
                        let mut response = respond(req, client, &shared, guard, &reports, handover.as_deref()).await;
                        response.body_mut().timer = timer.map(|mut t| {
                            t.set_status(response.status());
                            t
                        });
                        response
                    }
                };
                // A retiring server ends each HTTP/1 connection after this response; hyper closes the
                // connection once it has written a response that says so. A 101 must keep its
                // `Connection: upgrade`.
                if http1 && shared.retire.is_cancelled() && response.status() != StatusCode::SWITCHING_PROTOCOLS {
                    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                shared.config.default_headers.apply(response.headers_mut());
                Ok::<_, Infallible>(response)
            })
        })
    };
    let mut io = Ahead::new(crate::h1_guard::guard(io, reports, shared.config.max_head_size), Bytes::new());
    io.watch_writes(Arc::clone(&activity));
    let keep_alive = shared.config.keep_alive;
    match sniff(&mut io, &activity, keep_alive, &shared.stop).await {
        Some(Sniffed::Http1) => {
            let turns = Turns {
                builder: &shared.http1,
                keep_alive,
                stop: &shared.stop,
                activity: &activity,
                handover: handover.as_deref(),
            };
            crate::http1::serve(io, service, turns).await;
        }
        Some(Sniffed::Http2) => {
            if let Some(open) = &open {
                open.switch_to(Protocol::Http2);
            }
            let conn = shared.http2.serve_connection(TokioIo::new(io), service);
            // Boxed, so that HTTP/1 connections do not carry room for HTTP/2's state in their task.
            Box::pin(serve_http2(conn, &shared, &activity)).await;
        }
        None => {}
    }
}

/// Runs an HTTP/2 connection until it ends: GOAWAY at shutdown, on retirement, or once it has been idle
/// for the keep-alive timeout.
async fn serve_http2<H, F>(conn: F, shared: &Shared<H>, activity: &Activity)
where
    F: Future<Output = Result<(), hyper::Error>> + GracefulShutdown,
{
    let mut conn = pin!(conn);
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
            () = shared.retire.cancelled(), if !closing => {
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

/// hyper's HTTP/2 connection, seen only as something that can be asked to finish.
trait GracefulShutdown {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulShutdown for http2::Connection<I, S, TokioExecutor>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http2::Connection::graceful_shutdown(self);
    }
}

async fn respond<H: Handler>(
    req: http::Request<Incoming>,
    client: Option<SocketAddr>,
    shared: &Shared<H>,
    guard: ActivityGuard,
    reports: &HeadReports,
    handover: Option<&Handover>,
) -> http::Response<TrackedBody> {
    let http1 = req.version() < http::Version::HTTP_2;
    if http1 {
        if let Err(refusal) = check_http1(&req, reports, &shared.config.limits) {
            tracing::debug!("refused a request: {}", refusal.text);
            return refusal.into_response(guard);
        }
    }
    let websocket = match (&shared.ws, handover) {
        (Some(ctx), Some(handover)) if websocket::is_upgrade(&req) => WebSocketUpgrade::new(&req, ctx, handover),
        _ => None,
    };
    let (parts, body) = req.into_parts();
    let version = match parts.version {
        http::Version::HTTP_2 => HttpVersion::Http2,
        http::Version::HTTP_10 | http::Version::HTTP_09 => HttpVersion::Http10,
        _ => HttpVersion::Http11,
    };
    let mut head = RequestHead {
        method: parts.method,
        uri: parts.uri,
        version,
        headers: parts.headers,
        scheme: shared.config.scheme,
        client,
        server: shared.server.clone(),
    };
    if shared.config.proxy.reads_headers() {
        shared.config.proxy.apply(&mut head);
    }
    // As in uvicorn, WebSocket handshakes are not refused at the concurrency limit.
    let task = match (&shared.concurrency, &websocket) {
        (Some(limit), None) => match limit.task() {
            Some(task) => Some(task),
            None => {
                let mut out = response_of(concurrency::service_unavailable(), None, guard, None);
                if http1 {
                    out.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                }
                return out;
            }
        },
        _ => None,
    };
    // Empty bodies cannot fail, so they need no outcome to watch.
    let outcome = (!body.is_end_stream()).then(|| Arc::new(BodyOutcome::default()));
    if http1 {
        guard.activity().request_body(outcome.as_ref());
    }
    let body = RequestBody::new(body, outcome.clone(), shared.config.body_timeout);
    let response = shared.handler.call(Request { head, body, websocket }).await;
    if response.status == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(handover) = handover {
            handover.accepted();
        }
    }
    // Whatever the application answered to a body it could not read (a 500, or a 200 after treating
    // the error as a disconnect), the client sent a bad request: say so and close.
    if let Some(failure) = outcome.as_ref().and_then(|o| o.failure()) {
        return Refusal::for_body(failure, http1).into_response(guard);
    }
    let mut out = response_of(response, outcome, guard, task);
    if let Some(alt_svc) = &shared.alt_svc {
        out.headers_mut().insert(http::header::ALT_SVC, alt_svc.clone());
    }
    out
}

/// The hyper response for a protocol-neutral one.
fn response_of(
    response: crate::Response,
    outcome: Option<Arc<BodyOutcome>>,
    guard: ActivityGuard,
    task: Option<Counted>,
) -> http::Response<TrackedBody> {
    let mut out =
        http::Response::new(TrackedBody { inner: response.body, outcome, _guard: guard, _task: task, timer: None });
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// A request refused before (or instead of) the application's answer.
struct Refusal {
    status: StatusCode,
    text: &'static str,
    /// Close the connection after the response: the rest of the request cannot be trusted.
    close: bool,
}

impl Refusal {
    fn new(status: StatusCode, text: &'static str) -> Self {
        Refusal { status, text, close: true }
    }

    fn bad_request(text: &'static str) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, text)
    }

    /// The answer once reading the request body failed. `Connection` is HTTP/1 only; on HTTP/2 only the
    /// stream is affected.
    fn for_body(failure: BodyFailure, http1: bool) -> Self {
        let mut refusal = match failure {
            BodyFailure::Broken => Refusal::bad_request("Bad Request: the request body is malformed or incomplete"),
            BodyFailure::TimedOut => {
                Refusal::new(StatusCode::REQUEST_TIMEOUT, "Request Timeout: the request body came too slowly")
            }
        };
        refusal.close = http1;
        refusal
    }

    fn into_response(self, guard: ActivityGuard) -> http::Response<TrackedBody> {
        let body = ResponseBody::full(Bytes::from_static(self.text.as_bytes()));
        let mut out =
            http::Response::new(TrackedBody { inner: body, outcome: None, _guard: guard, _task: None, timer: None });
        *out.status_mut() = self.status;
        let headers = out.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"));
        }
        out
    }
}

/// The RFC 9112 rules hyper leaves to the server, and the configured size limits, checked on an
/// HTTP/1 request head before the application sees it.
fn check_http1<B>(req: &http::Request<B>, reports: &HeadReports, limits: &RequestLimits) -> Result<(), Refusal> {
    match reports.next_request() {
        Some(HeadDefect::TooLarge) => {
            return Err(Refusal::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "Request Header Fields Too Large"));
        }
        Some(HeadDefect::BareLf | HeadDefect::LengthWithTransferEncoding) => {
            return Err(Refusal::bad_request("Bad Request: malformed request head"));
        }
        None => {}
    }
    let uri = req.uri();
    let headers = req.headers();
    if limits.line > 0 {
        let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
            + uri.authority().map_or(0, |a| a.as_str().len())
            + uri.path_and_query().map_or(0, |p| p.as_str().len());
        // Method, target and "HTTP/1.x", with a space between each.
        if req.method().as_str().len() + target + 10 > limits.line {
            return Err(Refusal::new(StatusCode::URI_TOO_LONG, "URI Too Long"));
        }
    }
    if limits.field_size > 0
        && headers.iter().any(|(name, value)| name.as_str().len() + value.len() + 4 > limits.field_size)
    {
        return Err(Refusal::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "Request Header Fields Too Large"));
    }
    // RFC 9112 section 3.2: Host is required in HTTP/1.1, and never more than once.
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(Refusal::bad_request("Bad Request: more than one Host header")),
        (None, _) if req.version() == http::Version::HTTP_11 => {
            return Err(Refusal::bad_request("Bad Request: missing Host header"));
        }
        (Some(host), None) if !valid_host(host) => {
            return Err(Refusal::bad_request("Bad Request: invalid Host header"))
        }
        _ => {}
    }
    check_target(req.method(), uri)?;
    if headers.contains_key(TRANSFER_ENCODING) {
        check_transfer_encoding(headers)?;
    }
    Ok(())
}

/// An empty Host is allowed (for targets without an authority); otherwise it must be `host[:port]`,
/// with no user information and a numeric port.
fn valid_host(host: &HeaderValue) -> bool {
    let bytes = host.as_bytes();
    if bytes.is_empty() {
        return true;
    }
    if bytes.contains(&b'@') || http::uri::Authority::try_from(bytes).is_err() {
        return false;
    }
    // The port follows the last colon, unless that colon is inside an IPv6 literal.
    let port = match bytes.iter().rposition(|&b| b == b':') {
        Some(colon) if !bytes[colon..].contains(&b']') => &bytes[colon + 1..],
        _ => &[],
    };
    port.iter().all(u8::is_ascii_digit)
}

/// The request-target: printable ASCII only, and a form that suits the method (RFC 9112 section 3.2).
fn check_target(method: &Method, uri: &http::Uri) -> Result<(), Refusal> {
    // hyper refuses control characters but lets UTF-8 through; RFC 9112 allows neither.
    let printable = |s: &str| s.bytes().all(|b| (0x21..0x7f).contains(&b));
    if !uri.authority().is_none_or(|a| printable(a.as_str()))
        || !uri.path_and_query().is_none_or(|p| printable(p.as_str()))
    {
        return Err(Refusal::bad_request("Bad Request: invalid character in the request target"));
    }
    if method == Method::CONNECT {
        return Err(Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed: CONNECT is not supported"));
    }
    if uri.scheme().is_none() {
        if uri.authority().is_some() {
            return Err(Refusal::bad_request("Bad Request: the authority form is only for CONNECT"));
        }
        if uri.path() == "*" && method != Method::OPTIONS {
            return Err(Refusal::bad_request("Bad Request: the asterisk form is only for OPTIONS"));
        }
    }
    Ok(())
}

/// hyper has already refused codings that do not end in `chunked`; this refuses `chunked` applied twice
/// (RFC 9112 section 6.1) and codings it would hand to the application still encoded (501, as the
/// RFC advises for unknown codings).
fn check_transfer_encoding(headers: &http::HeaderMap) -> Result<(), Refusal> {
    let mut chunked = 0;
    let mut other = false;
    for value in headers.get_all(TRANSFER_ENCODING) {
        let Ok(value) = value.to_str() else {
            return Err(Refusal::bad_request("Bad Request: invalid Transfer-Encoding"));
        };
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case("chunked") {
                chunked += 1;
            } else {
                other = true;
            }
        }
    }
    if chunked > 1 {
        return Err(Refusal::bad_request("Bad Request: chunked applied more than once"));
    }
    if other {
        return Err(Refusal::new(StatusCode::NOT_IMPLEMENTED, "Not Implemented: unsupported transfer coding"));
    }
    Ok(())
}

/// A response body that keeps its request counted as in flight until hyper has finished writing it.
struct TrackedBody {
    inner: ResponseBody,
    /// The request body's outcome: if reading it fails while the response is being written, the
    /// response is cut off (the connection aborted) rather than completed as if all were well.
    outcome: Option<Arc<BodyOutcome>>,
    _guard: ActivityGuard,
    /// The request's place under `--limit-concurrency`, given back once the response is written.
    _task: Option<Counted>,
    /// With metrics on: records the request, and its latency, once the response is written. Declared
    /// after the other fields so they are released before it records.
    timer: Option<RequestTimer>,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = crate::StreamClosed;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.outcome.as_ref().is_some_and(|o| o.failure().is_some()) {
            return Poll::Ready(Some(Err(crate::StreamClosed)));
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! WebSocket (RFC 6455) over an HTTP/1.1 upgrade, with permessage-deflate (RFC 7692, see
//! [`crate::permessage_deflate`]) when the client offers it and `--ws-per-message-deflate` is on.
//!
//! A handler that gets a [`WebSocketUpgrade`] with a request either answers with an ordinary response
//! (the handshake is refused and nothing else happens) or calls [`WebSocketUpgrade::accept`], returns the
//! 101 response it gives, and talks to the client through the [`WsSession`] channels. A task owned by the
//! server runs the socket: it reads only while the application has room for more messages (so a fast
//! client cannot make us buffer without bound), writes what the application queues, sends pings, and
//! turns protocol failures into the close codes RFC 6455 names.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    UPGRADE,
};
use http::{HeaderMap, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::permessage_deflate::{DeflateParams, Deflater, InflateError, InflateFilter, MaybeInflate};
use crate::read_filter::ReadFiltered;
use crate::{Response, ResponseBody};

/// The most one read of a WebSocket connection takes from the socket: also what an idle connection keeps.
const WS_READ_BUF: usize = 4 * 1024;

/// WebSocket limits and timers, with uvicorn's option names.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    /// `--ws-max-size`: the largest message accepted; bigger ones close the connection with 1009.
    pub max_size: usize,
    /// `--ws-max-queue`: received messages that may wait for the application before reading pauses.
    pub max_queue: usize,
    /// `--ws-ping-interval`: how often to ping an idle client.
    pub ping_interval: Option<Duration>,
    /// `--ws-ping-timeout`: how long a ping may go unanswered before the connection is closed with 1011.
    pub ping_timeout: Option<Duration>,
    /// `--ws-per-message-deflate`: accept a client's permessage-deflate offer (RFC 7692).
    pub per_message_deflate: bool,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_size: 16 * 1024 * 1024,
            max_queue: 32,
            ping_interval: Some(Duration::from_secs(20)),
            ping_timeout: Some(Duration::from_secs(20)),
            per_message_deflate: true,
        }
    }
}

/// What the client sent, or how the connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// The connection is over, with the close code (1006 when it broke without a close frame).
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// What the application sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsOutgoing {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// Close the connection with this code and reason.
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// The application's ends of an accepted WebSocket.
pub struct WsSession {
    /// Messages from the client, ending with [`WsEvent::Closed`].
    pub incoming: mpsc::Receiver<WsEvent>,
    /// Messages to the client. Dropping it closes the connection with 1000.
    pub outgoing: mpsc::Sender<WsOutgoing>,
}

impl std::fmt::Debug for WsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSession").finish_non_exhaustive()
    }
}

/// A connection's byte stream, handed from HTTP/1 to the WebSocket its 101 response started.
pub(crate) trait UpgradedStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> UpgradedStream for S {}

/// The stream after the upgrade, with any bytes the client sent past the handshake in front.
pub(crate) type Upgraded = Box<dyn UpgradedStream>;

/// Where an HTTP/1 connection hands its stream over once it has written a 101 response: the
/// connection serves its requests itself (so that it can park between them, see `http1`), and only a
/// handshake the application accepted takes the stream away.
#[derive(Default)]
pub(crate) struct Handover {
    waiting: Mutex<Option<oneshot::Sender<Upgraded>>>,
    /// Set when the application answered the handshake with 101.
    accepted: AtomicBool,
}

impl Handover {
    /// A handshake request arrived: its session will get the stream if the answer is 101.
    fn expect(&self) -> oneshot::Receiver<Upgraded> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            *waiting = Some(tx);
        }
        rx
    }

    /// The response to the handshake is a 101: the connection ends in an upgrade.
    pub(crate) fn accepted(&self) {
        self.accepted.store(true, Ordering::Release);
    }

    /// Once the answer was a 101: where the stream goes (`None` without an accepted handshake, and then
    /// the connection simply closes).
    pub(crate) fn take_accepted(&self) -> Option<oneshot::Sender<Upgraded>> {
        if !self.accepted.load(Ordering::Acquire) {
            return None;
        }
        self.waiting.lock().ok().and_then(|mut waiting| waiting.take())
    }
}

/// A request asking to become a WebSocket.
pub struct WebSocketUpgrade {
    on_upgrade: oneshot::Receiver<Upgraded>,
    key: HeaderValue,
    config: WsConfig,
    /// The permessage-deflate offer accepted, if any.
    deflate: Option<DeflateParams>,
    tracker: TaskTracker,
    close_now: CancellationToken,
    /// The session task is spawned from whichever thread accepts, which need not be a Tokio thread.
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketUpgrade").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The parts of a connection's shutdown a WebSocket needs to follow.
#[derive(Clone)]
pub(crate) struct WsContext {
    pub(crate) config: WsConfig,
    pub(crate) tracker: TaskTracker,
    /// Cancelled when open sockets must close with 1001: at shutdown, once the graceful timeout is
    /// over (at once when there is none).
    pub(crate) close_now: CancellationToken,
}

/// Tells a WebSocket handshake from an ordinary request: GET over HTTP/1.1 with `Connection: upgrade`,
/// `Upgrade: websocket`, version 13 and a key.
pub(crate) fn is_upgrade(req: &http::Request<hyper::body::Incoming>) -> bool {
    let headers = req.headers();
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    req.method() == http::Method::GET
        && req.version() == http::Version::HTTP_11
        && has_token(CONNECTION, "upgrade")
        && has_token(UPGRADE, "websocket")
        && headers.get("sec-websocket-version").is_some_and(|v| v == "13")
        && headers.contains_key(SEC_WEBSOCKET_KEY)
}

impl WebSocketUpgrade {
    /// Must be called on a Tokio thread (the server's request handling). The stream arrives through
    /// `handover` once the connection has written the 101.
    pub(crate) fn new(
        req: &http::Request<hyper::body::Incoming>,
        ctx: &WsContext,
        handover: &Handover,
    ) -> Option<Self> {
        let key = req.headers().get(SEC_WEBSOCKET_KEY)?.clone();
        let deflate = if ctx.config.per_message_deflate { DeflateParams::negotiate(req.headers()) } else { None };
        Some(WebSocketUpgrade {
            on_upgrade: handover.expect(),
            key,
            config: ctx.config,
            deflate,
            tracker: ctx.tracker.clone(),
            close_now: ctx.close_now.clone(),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn offered_subprotocols(headers: &HeaderMap) -> Vec<String> {
        headers
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Accepts the handshake. Returns the 101 response to hand back to the server, and the session,
    /// which starts carrying messages once the server has switched protocols.
    pub fn accept(self, subprotocol: Option<&str>, extra_headers: HeaderMap) -> (Response, WsSession) {
        let mut headers = extra_headers;
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(self.key.as_bytes())) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(Ok(protocol)) = subprotocol.map(HeaderValue::from_str) {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        // The server does the extensions' framing, so only it may name them: an app's own value would
        // promise the client an extension nobody implements.
        headers.remove(SEC_WEBSOCKET_EXTENSIONS);
        if let Some(params) = &self.deflate {
            headers.insert(SEC_WEBSOCKET_EXTENSIONS, params.response_header());
        }
        let (in_tx, incoming) = mpsc::channel(self.config.max_queue.max(1));
        let (outgoing, out_rx) = mpsc::channel(self.config.max_queue.max(1));
        let WebSocketUpgrade { on_upgrade, config, deflate, close_now, tracker, runtime, .. } = self;
        tracker.spawn_on(run(on_upgrade, config, deflate, in_tx, out_rx, close_now), &runtime);
        let response = Response { status: StatusCode::SWITCHING_PROTOCOLS, headers, body: ResponseBody::empty() };
        (response, WsSession { incoming, outgoing })
    }
}

/// The close code for a failure while reading.
fn close_code_for(error: &WsError) -> u16 {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) | WsError::Capacity(_) => 1009,
        WsError::Utf8(_) => 1007,
        WsError::Io(e) if InflateError::from_io(e).is_some() => {
            InflateError::from_io(e).map_or(1002, InflateError::close_code)
        }
        // The peer dropped the TCP connection without a close frame: abnormal closure, not a protocol error.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => 1006,
        WsError::Protocol(_) | WsError::AttackAttempt => 1002,
        _ => 1006,
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.to_owned().into() }))
}

async fn run(
    on_upgrade: oneshot::Receiver<Upgraded>,
    config: WsConfig,
    deflate: Option<DeflateParams>,
    in_tx: mpsc::Sender<WsEvent>,
    mut out_rx: mpsc::Receiver<WsOutgoing>,
    close_now: CancellationToken,
) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(_) => {
            tracing::debug!("websocket upgrade failed: the connection ended before switching protocols");
            let _ = in_tx.send(WsEvent::Closed { code: 1006, reason: String::new() }).await;
            return;
        }
    };
    let _open = crate::metrics::installed().map(|m| m.open_connection(crate::metrics::Protocol::WebSocket));
    // tungstenite zero-fills its read buffer before every read, and keeps it for as long as the
    // connection is open: its 128 KiB default costs more than the whole echo of a small message, and
    // every idle WebSocket holds it. 4 KiB reads are cheap; big messages simply take more reads.
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUF)
        .max_message_size(Some(config.max_size))
        .max_frame_size(Some(config.max_size));
    let reading = MaybeInflate(deflate.as_ref().map(|params| InflateFilter::new(params, config.max_size)));
    let mut deflater = deflate.as_ref().map(Deflater::new);
    let socket = ReadFiltered::new(upgraded, reading);
    let ws = WebSocketStream::from_raw_socket(socket, Role::Server, Some(ws_config)).await;
    let (mut sink, mut stream) = ws.split();
    let mut permit = None;
    // Set when reading failed with a code the client should be told, with the size of an oversized
    // message whose bytes are still on their way.
    let mut failed: Option<(u16, Option<usize>)> = None;
    // Once the application stops receiving, reading stops too, but what it queued still goes out.
    let mut app_listening = true;
    let mut pinger =
        config.ping_interval.map(|every| tokio::time::interval_at(tokio::time::Instant::now() + every, every));
    let mut pong_deadline: Option<tokio::time::Instant> = None;
    let ended = loop {
        tokio::select! {
            reserved = in_tx.clone().reserve_owned(), if permit.is_none() && app_listening => match reserved {
                Ok(p) => permit = Some(p),
                Err(_) => app_listening = false,
            },
            message = stream.next(), if permit.is_some() => {
                let event = match message {
                    Some(Ok(Message::Text(text))) => WsEvent::Text(text.as_str().to_owned()),
                    Some(Ok(Message::Binary(data))) => WsEvent::Binary(data),
                    Some(Ok(Message::Ping(_))) => {
                        // The pong is queued by the protocol layer; flushing sends it.
                        if sink.flush().await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Some(Ok(Message::Pong(_))) => {
                        pong_deadline = None;
                        continue;
                    }
                    Some(Ok(Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.as_str().to_owned()));
                        let _ = sink.flush().await;
                        if let Some(p) = permit.take() {
                            p.send(WsEvent::Closed { code, reason });
                        }
                        break None;
                    }
                    Some(Err(e)) => {
                        let code = close_code_for(&e);
                        tracing::debug!("websocket closed with {code}: {e}");
                        if let Some(p) = permit.take() {
                            p.send(WsEvent::Closed { code, reason: String::new() });
                        }
                        if code != 1006 {
                            // An oversized message is still arriving: its remaining bytes cannot be parsed.
                            let unread = match &e {
                                WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => Some(*size),
                                // The rest of a compressed message may still be arriving: the inflate
                                // filter now drops data frames, so read through it until the close.
                                WsError::Io(io) if InflateError::from_io(io).is_some() => Some(0),
                                _ => None,
                            };
                            failed = Some((code, unread));
                        }
                        break None;
                    }
                    None => {
                        if let Some(p) = permit.take() {
                            p.send(WsEvent::Closed { code: 1006, reason: String::new() });
                        }
                        break None;
                    }
                };
                if let Some(p) = permit.take() {
                    p.send(event);
                }
            }
            outgoing = out_rx.recv() => {
                let message = match outgoing {
                    Some(WsOutgoing::Text(text)) => Message::text(text),
                    Some(WsOutgoing::Binary(data)) => Message::binary(data),
                    Some(WsOutgoing::Close { code, reason }) => break Some((code, reason)),
                    None => break Some((1000, String::new())),
                };
                match data_message(&mut deflater, message) {
                    Ok(message) => {
                        if sink.send(message).await.is_err() {
                            break None;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("websocket message could not be compressed: {e}");
                        break Some((1011, String::new()));
                    }
                }
            }
            () = tick(&mut pinger) => {
                if pong_deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
                    break Some((1011, "keepalive ping timeout".to_owned()));
                }
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    break None;
                }
                if pong_deadline.is_none() {
                    pong_deadline = config.ping_timeout.map(|t| tokio::time::Instant::now() + t);
                }
            }
            () = close_now.cancelled() => break Some((1001, String::new())),
        }
    };
    if let Some((code, reason)) = ended {
        let _ = sink.send(close_message(code, &reason)).await;
        // Tell the application, if it is still listening, how the connection ended.
        let _ = in_tx.try_send(WsEvent::Closed { code, reason });
        drain_until_close(&mut stream).await;
    }
    match failed {
        Some((code, None)) => {
            let _ = sink.send(close_message(code, "")).await;
            drain_until_close(&mut stream).await;
        }
        Some((code, Some(unread))) => {
            let _ = sink.send(close_message(code, "")).await;
            // The rest of the oversized message cannot be parsed, so it is read raw; closing with it
            // unread would reset the connection and could lose our close frame on the way out.
            if let Ok(mut ws) = stream.reunite(sink) {
                drain_raw(ws.get_mut(), unread).await;
            }
        }
        None => {}
    }
}

/// A text or binary message as it goes out: compressed into a ready frame when permessage-deflate
/// is on, as it is otherwise.
fn data_message(deflater: &mut Option<Deflater>, message: Message) -> std::io::Result<Message> {
    match (deflater, message) {
        (Some(deflater), Message::Text(text)) => deflater.frame(text.as_bytes(), true).map(Message::Frame),
        (Some(deflater), Message::Binary(data)) => deflater.frame(&data, false).map(Message::Frame),
        (_, message) => Ok(message),
    }
}

/// Reads and drops the `unread` bytes still coming, then whatever follows (the client's close frame)
/// until the peer closes or goes quiet for a second; ten seconds at most in all.
async fn drain_raw<S: tokio::io::AsyncRead + Unpin>(io: &mut S, unread: usize) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut remaining = unread;
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let read = if remaining > 0 {
                io.read(&mut buf).await.ok()
            } else {
                tokio::time::timeout(Duration::from_secs(1), io.read(&mut buf)).await.ok().and_then(Result::ok)
            };
            match read {
                Some(0) | None => break,
                Some(n) => remaining = remaining.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Reads (and drops) what the client still sends until its close frame, the end of the stream, or two
/// seconds, so the close handshake can finish before the socket goes.
async fn drain_until_close<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        // Bytes after a protocol error may not parse; keep draining them, but give up on a parser that
        // fails without making progress.
        let mut failures = 0;
        loop {
            match stream.next().await {
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => failures = 0,
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_))) => break,
                Some(Err(_)) if failures >= 64 => break,
                Some(Err(_)) => failures += 1,
            }
        }
    })
    .await;
}

/// Waits for the next ping time; never resolves when pings are off.
async fn tick(pinger: &mut Option<tokio::time::Interval>) {
    match pinger {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocols_are_split_and_trimmed() {
        let mut headers = HeaderMap::new();
        headers.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("chat, superchat"));
        headers.append(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("v2"));
        assert_eq!(WebSocketUpgrade::offered_subprotocols(&headers), vec!["chat", "superchat", "v2"]);
    }

    #[test]
    fn failures_map_to_rfc_close_codes() {
        assert_eq!(close_code_for(&WsError::Utf8("bad".into())), 1007);
        assert_eq!(close_code_for(&WsError::Capacity(CapacityError::MessageTooLong { size: 2, max_size: 1 })), 1009);
        assert_eq!(close_code_for(&WsError::ConnectionClosed), 1006);
    }
}

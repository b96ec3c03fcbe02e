//! HTTP/1 connections served in turns. hyper serves the requests that come while the client is busy;
//! once the connection has been idle for [`PARK_AFTER`] after a request, it is parked: hyper's connection (its read and
//! write buffers, its cached header map) is dropped and only the socket waits for the next request,
//! holding no buffer. When bytes arrive, a new hyper connection takes over with those bytes in front.
//! An idle keep-alive connection thus costs little more than its socket, where hyper keeps about
//! 16 KiB of buffers for as long as the connection is open.
//!
//! Parking never loses a byte: it happens only when no request is in progress, the latest request body
//! has been read to its end and every response byte has been handed to the socket; hyper then closes its
//! side without touching the socket, and returns whatever it had read but not parsed. A turn is parked
//! only after a request has finished in it, so the bytes that woke a connection are always served, and a
//! client trickling a request head meets hyper's header read timeout as it would without parking.

use std::error::Error as StdError;
use std::future::poll_fn;
use std::task::Poll;
use std::time::{Duration, Instant};

use http_body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::ahead::Ahead;
use crate::websocket::Handover;

/// How long an HTTP/1 connection stays idle in hyper before it is parked. A client sending request
/// after request keeps its hyper connection; one that pauses longer pays for a new one (a few
/// allocations) on its next request. Short, because connections that open in a
/// burst would otherwise all hold hyper's buffers at once, and memory given back that late is mostly
/// kept by the allocator rather than returned.
pub(crate) const PARK_AFTER: Duration = Duration::from_millis(5);

/// What the turns of one connection share.
pub(crate) struct Turns<'a> {
    /// How hyper serves each turn.
    pub(crate) builder: &'a http1::Builder,
    /// Close the connection once it has been idle this long.
    pub(crate) keep_alive: Duration,
    /// Cancelled when the server shuts down: idle connections close, busy ones after their response.
    pub(crate) stop: &'a CancellationToken,
    /// The connection's requests in progress, its idle time, and whether parking is safe.
    pub(crate) activity: &'a Activity,
    /// Where the stream goes if a WebSocket handshake is accepted; `None` without WebSockets.
    pub(crate) handover: Option<&'a Handover>,
}

/// How a wait for the client's next bytes ended.
pub(crate) enum Waited {
    /// Bytes arrived; they are ahead on the stream.
    Bytes,
    /// The client closed, the connection sat idle for the keep-alive timeout, or the server is stopping.
    Closed,
    /// Reading failed.
    Failed,
}

/// Waits, holding no buffer, until the client sends something (kept ahead on `io`), up to the
/// keep-alive timeout counted from the end of the connection's last request (from its start if it
/// has had none).
pub(crate) async fn wait_for_bytes<I: AsyncRead + Unpin>(
    io: &mut Ahead<I>,
    activity: &Activity,
    keep_alive: Duration,
    stop: &CancellationToken,
) -> Waited {
    let deadline = activity.idle_deadline(keep_alive).unwrap_or_else(|| Instant::now() + keep_alive);
    tokio::select! {
        read = poll_fn(|cx| io.poll_read_more(cx)) => match read {
            Ok(true) => Waited::Bytes,
            Ok(false) => Waited::Closed,
            Err(e) => {
                tracing::debug!("connection closed with error: {e}");
                Waited::Failed
            }
        },
        () = stop.cancelled() => Waited::Closed,
        () = tokio::time::sleep_until(deadline.into()) => Waited::Closed,
    }
}

/// How one turn of hyper ended.
enum Turn<I, S> {
    /// Idle and parked: the stream, and what hyper had read past the last request.
    Parked(http1::Parts<TokioIo<Ahead<I>>, S>),
    /// hyper is done with the connection: the client or the server closed it, or it was upgraded.
    Ended(http1::Parts<TokioIo<Ahead<I>>, S>),
    /// The connection failed; nothing more can be done with it.
    Failed,
}

/// Serves HTTP/1 on `io` until the connection closes or is upgraded, parking it whenever it is idle.
pub(crate) async fn serve<I, S, B>(mut io: Ahead<I>, service: S, turns: Turns<'_>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B> + Clone + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    loop {
        if io.ahead().is_empty() {
            match wait_for_bytes(&mut io, turns.activity, turns.keep_alive, turns.stop).await {
                Waited::Bytes => {}
                Waited::Closed => return close(io).await,
                Waited::Failed => return,
            }
        }
        // Boxed: the turn (hyper's connection with it) exists only while the connection is busy, so a
        // parked connection's task holds no room for it.
        let conn = turns.builder.serve_connection(TokioIo::new(io), service.clone());
        match Box::pin(turn(conn, &turns)).await {
            Turn::Parked(parts) => {
                io = parts.io.into_inner();
                io.put_back(parts.read_buf);
            }
            Turn::Ended(parts) => {
                let mut io = parts.io.into_inner();
                io.put_back(parts.read_buf);
                // The stream is boxed for a WebSocket only; an ordinary close costs no allocation.
                match turns.handover.and_then(Handover::take_accepted) {
                    Some(session) => {
                        // The session is gone: close as usual.
                        if let Err(mut back) = session.send(Box::new(io)) {
                            let _ = back.shutdown().await;
                        }
                    }
                    None => close(io).await,
                }
                return;
            }
            Turn::Failed => return,
        }
    }
}

/// Ends the connection as hyper would: shut down the writing side, then let the socket go.
async fn close<I: AsyncWrite + Unpin>(mut io: Ahead<I>) {
    let _ = io.shutdown().await;
}

/// After a park attempt found the connection not ready (a response still being written, a request body
/// left unread), how long until the next attempt.
const PARK_RETRY: Duration = Duration::from_millis(100);

/// One turn of hyper on the connection: until it is done, fails, or is parked. A turn is parked only
/// after a request has completed in it, so that the bytes that started it are always served first.
async fn turn<I, S, B>(mut conn: http1::Connection<TokioIo<Ahead<I>>, S>, turns: &Turns<'_>) -> Turn<I, S>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B> + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let activity = turns.activity;
    let keep_alive = turns.keep_alive;
    // The requests finished when the park timer was last armed.
    let started_at = activity.finished();
    let mut armed_for = started_at;
    let mut closing = false;
    // One timer for the turn, moved rather than re-created: to the park moment when a request
    // completes, to the keep-alive deadline otherwise.
    let timer = tokio::time::sleep_until((Instant::now() + keep_alive).into());
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            event = poll_fn(|cx| match conn.poll_without_shutdown(cx) {
                Poll::Ready(result) => Poll::Ready(Some(result)),
                // A request has just finished: checked each time hyper waits (two atomic loads).
                Poll::Pending if !closing && activity.is_idle() && activity.finished() != armed_for => {
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            }) => match event {
                Some(Ok(())) => return Turn::Ended(conn.into_parts()),
                Some(Err(e)) => {
                    tracing::debug!("connection closed with error: {e}");
                    return Turn::Failed;
                }
                None => {
                    armed_for = activity.finished();
                    let park_at = activity.idle_deadline(PARK_AFTER).unwrap_or_else(Instant::now);
                    let close_at = activity.idle_deadline(keep_alive).unwrap_or(park_at);
                    timer.as_mut().reset(park_at.min(close_at).into());
                }
            },
            () = turns.stop.cancelled(), if !closing => {
                std::pin::Pin::new(&mut conn).graceful_shutdown();
                closing = true;
            }
            () = &mut timer, if !closing => {
                let now = Instant::now();
                let close_at = activity.idle_deadline(keep_alive);
                let completed = armed_for != started_at;
                if completed && activity.may_park() {
                    // hyper closes an idle connection at once, without a byte written or read; if it
                    // turns out not to be idle, it finishes the exchange and closes after it instead.
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                    match poll_fn(|cx| Poll::Ready(conn.poll_without_shutdown(cx))).await {
                        Poll::Ready(Ok(())) => return Turn::Parked(conn.into_parts()),
                        Poll::Ready(Err(e)) => {
                            tracing::debug!("connection closed with error: {e}");
                            return Turn::Failed;
                        }
                        Poll::Pending => closing = true,
                    }
                } else if close_at.is_some_and(|at| at <= now) {
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                    closing = true;
                } else {
                    let retry = if completed { now + PARK_RETRY } else { now + keep_alive };
                    timer.as_mut().reset(close_at.map_or(retry, |at| at.min(retry)).into());
                }
            }
        }
    }
}

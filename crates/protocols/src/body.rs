use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::Body;
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

/// Reading the request body failed: the client went away, broke the protocol mid-body, or sent it too
/// slowly.
#[derive(Debug, thiserror::Error)]
#[error("request body could not be read: {message}")]
pub struct BodyError {
    message: String,
    timed_out: bool,
}

impl BodyError {
    fn broken(message: String) -> Self {
        BodyError { message, timed_out: false }
    }

    /// True when the client sent nothing for longer than the request body timeout.
    pub fn is_timeout(&self) -> bool {
        self.timed_out
    }
}

/// How a request body ended, shared with the connection so it can refuse the request (or cut the
/// response short) whatever the application makes of the error.
#[derive(Debug, Default)]
pub(crate) struct BodyOutcome(AtomicU8);

/// [`BodyOutcome`] values.
const BODY_OK: u8 = 0;
const BODY_BROKEN: u8 = 1;
const BODY_TIMED_OUT: u8 = 2;
const BODY_ENDED: u8 = 3;

/// Why a request body could not be read, as seen by the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// The client closed, or the body broke HTTP framing.
    Broken,
    /// The body stalled for longer than the request body timeout.
    TimedOut,
}

impl BodyOutcome {
    fn set(&self, error: &BodyError) {
        let value = if error.timed_out { BODY_TIMED_OUT } else { BODY_BROKEN };
        let _ = self.0.compare_exchange(BODY_OK, value, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Records that the body was read to its end.
    pub(crate) fn set_ended(&self) {
        let _ = self.0.compare_exchange(BODY_OK, BODY_ENDED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// True once the body has been read to its end.
    pub(crate) fn ended(&self) -> bool {
        self.0.load(Ordering::Acquire) == BODY_ENDED
    }

    /// The failure, once reading the body has failed.
    pub(crate) fn failure(&self) -> Option<BodyFailure> {
        match self.0.load(Ordering::Acquire) {
            BODY_BROKEN => Some(BodyFailure::Broken),
            BODY_TIMED_OUT => Some(BodyFailure::TimedOut),
            _ => None,
        }
    }
}

/// Trailer fields that would change how the request is framed or routed (RFC 9110 section 6.5.1): a
/// client sending them in trailers is trying to get them past checks made on the header section.
/// Other trailers are let through (and dropped), as gunicorn does.
const FORBIDDEN_TRAILERS: &[&str] = &["content-length", "host", "trailer", "transfer-encoding"];

fn forbidden_trailer(trailers: &HeaderMap) -> Option<&str> {
    trailers.keys().map(|name| name.as_str()).find(|name| FORBIDDEN_TRAILERS.contains(name))
}

/// The HTTP/3 request stream's receiving half.
pub(crate) type H3Recv = h3::server::RequestStream<h3_quinn::RecvStream, Bytes>;

/// Where the bytes come from.
enum Source {
    /// HTTP/1.1 and HTTP/2, through hyper.
    Hyper(Incoming),
    /// HTTP/3; `done` once the stream has ended.
    H3 { recv: Box<H3Recv>, done: bool },
    /// Reading failed; the connection's body is dropped so hyper stops reading it.
    Failed,
}

/// With the source pending: whether the current wait has gone on too long. Only called while the
/// application is actually waiting, so time it spends elsewhere never counts.
fn stalled(
    stall: &mut Option<Pin<Box<Sleep>>>,
    armed: &mut bool,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> bool {
    let Some(timeout) = timeout else { return false };
    // Without a runtime (never the case in the server) there is no timer to arm.
    if tokio::runtime::Handle::try_current().is_err() {
        return false;
    }
    if !*armed {
        *armed = true;
        let deadline = Instant::now() + timeout;
        match stall.as_mut() {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => *stall = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }
    stall.as_mut().is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
}

/// A request body that is read chunk by chunk as the application asks for it.
pub struct RequestBody {
    source: Source,
    /// Where a failure is reported to the connection.
    outcome: Option<Arc<BodyOutcome>>,
    /// The longest a wait for more body may last.
    timeout: Option<Duration>,
    /// The running wait's deadline, kept between waits so a stall costs one timer, not one per wait.
    stall: Option<Pin<Box<Sleep>>>,
    /// Whether `stall` belongs to the current wait.
    armed: bool,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody").field("end", &self.is_end_stream()).finish()
    }
}

impl RequestBody {
    /// A body read through hyper. Failures are reported to `outcome`; a wait for more data that lasts
    /// longer than `timeout` fails the body.
    pub(crate) fn new(inner: Incoming, outcome: Option<Arc<BodyOutcome>>, timeout: Option<Duration>) -> Self {
        RequestBody { source: Source::Hyper(inner), outcome, timeout, stall: None, armed: false }
    }

    pub(crate) fn h3(recv: H3Recv) -> Self {
        RequestBody {
            source: Source::H3 { recv: Box::new(recv), done: false },
            outcome: None,
            timeout: None,
            stall: None,
            armed: false,
        }
    }

    /// Records `error`, drops the source and returns the error.
    fn fail(&mut self, error: BodyError) -> Poll<Option<Result<Bytes, BodyError>>> {
        if let Some(outcome) = &self.outcome {
            outcome.set(&error);
        }
        self.source = Source::Failed;
        Poll::Ready(Some(Err(error)))
    }

    /// True when no more data can follow (an empty body, everything has been read, or reading failed).
    pub fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Hyper(inner) => inner.is_end_stream(),
            Source::H3 { done, .. } => *done,
            Source::Failed => true,
        }
    }

    /// The next piece of body data; `None` at the end. Trailers and empty frames are skipped. `waiting`
    /// is false for the opportunistic polls that only gather data already here, which must not start
    /// the stall timer.
    fn poll_data(&mut self, cx: &mut Context<'_>, waiting: bool) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &mut self.source {
            // The application already had the error; later reads must not look like a clean end.
            Source::Failed => Poll::Ready(Some(Err(BodyError::broken("the body failed earlier".into())))),
            Source::Hyper(inner) => {
                let error = loop {
                    match Pin::new(&mut *inner).poll_frame(cx) {
                        Poll::Pending => {
                            if waiting && stalled(&mut self.stall, &mut self.armed, self.timeout, cx) {
                                break BodyError { message: "no body data came in time".into(), timed_out: true };
                            }
                            return Poll::Pending;
                        }
                        Poll::Ready(None) => {
                            if let Some(outcome) = &self.outcome {
                                outcome.set_ended();
                            }
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Some(Err(e))) => break BodyError::broken(e.to_string()),
                        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                            Ok(data) if !data.is_empty() => {
                                self.armed = false;
                                if inner.is_end_stream() {
                                    if let Some(outcome) = &self.outcome {
                                        outcome.set_ended();
                                    }
                                }
                                return Poll::Ready(Some(Ok(data)));
                            }
                            Ok(_) => {}
                            Err(frame) => {
                                if let Some(name) = frame.trailers_ref().and_then(forbidden_trailer) {
                                    break BodyError::broken(format!("forbidden trailer field {name}"));
                                }
                            }
                        },
                    }
                };
                self.fail(error)
            }
            Source::H3 { done: true, .. } => Poll::Ready(None),
            Source::H3 { recv, done } => loop {
                match recv.poll_recv_data(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(None)) => {
                        *done = true;
                        return Poll::Ready(None);
                    }
                    Poll::Ready(Err(e)) => {
                        *done = true;
                        return Poll::Ready(Some(Err(BodyError::broken(e.to_string()))));
                    }
                    Poll::Ready(Ok(Some(mut buf))) => {
                        let data = buf.copy_to_bytes(buf.remaining());
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(data)));
                        }
                    }
                }
            },
        }
    }

    /// Waits for the next piece of the body and returns it with whatever else is already buffered, up to
    /// about `limit` bytes. `Ok(None)` means the body is complete.
    /// Fails with a timeout error if no data comes for longer than the request body timeout.
    pub async fn next_chunk(&mut self, limit: usize) -> Result<Option<Bytes>, BodyError> {
        // A fresh wait: time since an earlier, abandoned wait does not count.
        self.armed = false;
        let first = match std::future::poll_fn(|cx| self.poll_data(cx, true)).await {
            None => return Ok(None),
            Some(first) => self.coalesce(first?, limit)?,
        };
        // hyper reads the next piece from the socket only once the previous one is taken, on the
        // connection's own task. Letting that task run again gathers what the kernel already holds into
        // this chunk, so a large upload reaches the application in a few big pieces (as uvicorn's
        // buffer gives them) rather than one per read, without waiting on the network.
        let mut pieces = vec![first];
        let mut len = pieces[0].len();
        while len < limit && !self.is_end_stream() {
            tokio::task::yield_now().await;
            let more = self.coalesce(Bytes::new(), limit - len)?;
            if more.is_empty() {
                break;
            }
            len += more.len();
            pieces.push(more);
        }
        if pieces.len() == 1 {
            return Ok(pieces.pop());
        }
        let mut joined = BytesMut::with_capacity(len);
        for piece in &pieces {
            joined.extend_from_slice(piece);
        }
        Ok(Some(joined.freeze()))
    }

    /// Returns the body bytes that have already arrived, without waiting, up to about `limit` bytes.
    /// Used to hand small bodies to the application together with the request head.
    pub fn ready_chunk(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        self.coalesce(Bytes::new(), limit)
    }

    /// Appends data that is ready now to `first`, stopping at `limit`, end of stream, or data that is
    /// not yet here. A single buffered piece is returned as is, without copying.
    fn coalesce(&mut self, first: Bytes, limit: usize) -> Result<Bytes, BodyError> {
        let mut single = first;
        let mut joined: Option<BytesMut> = None;
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let len = joined.as_ref().map_or(single.len(), BytesMut::len);
            if len >= limit || self.is_end_stream() {
                break;
            }
            let data = match self.poll_data(&mut cx, false) {
                Poll::Ready(Some(data)) => data?,
                Poll::Ready(None) | Poll::Pending => break,
            };
            match joined.as_mut() {
                Some(buf) => buf.extend_from_slice(&data),
                None if single.is_empty() => single = data,
                None => {
                    let mut buf = BytesMut::with_capacity(single.len() + data.len());
                    buf.extend_from_slice(&single);
                    buf.extend_from_slice(&data);
                    joined = Some(buf);
                }
            }
        }
        Ok(joined.map_or(single, BytesMut::freeze))
    }
}

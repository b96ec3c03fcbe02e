use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// A response: status, headers and a body that is either complete or still streaming.
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// Header fields; repeated names are sent as separate fields.
    pub headers: HeaderMap,
    /// The body.
    pub body: ResponseBody,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).field("headers", &self.headers).finish_non_exhaustive()
    }
}

impl Response {
    /// A response with a complete body and no headers of its own.
    pub fn full(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Response { status, headers: HeaderMap::new(), body: ResponseBody::full(body) }
    }
}

/// One item on a streaming body channel. The explicit end marker tells a finished stream from a sender
/// that went away mid-response, which must abort the connection rather than look complete.
enum Chunk {
    Data(Bytes),
    End,
}

/// A response body: bytes known up front, or a stream fed through a [`BodySender`].
pub struct ResponseBody {
    inner: Inner,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

enum Inner {
    Full(Option<Bytes>),
    Stream { rx: mpsc::Receiver<Chunk>, done: bool, aborting: bool },
    Observed(Box<Observed>),
}

/// What the callback of [`ResponseBody::observed`] is told once the body is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyEnd {
    /// Body bytes handed to the connection.
    pub sent: u64,
    /// False when the body failed or was dropped before its end (the client went away, a HEAD response).
    pub complete: bool,
}

/// A body whose end is reported to a callback, exactly once: when it ends, fails, or is dropped.
struct Observed {
    body: ResponseBody,
    sent: u64,
    on_end: Option<Box<dyn FnOnce(BodyEnd) + Send>>,
}

impl Observed {
    fn end(&mut self, complete: bool) {
        if let Some(on_end) = self.on_end.take() {
            on_end(BodyEnd { sent: self.sent, complete });
        }
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.end(false);
    }
}

/// The streaming body ended without its end marker: the producer failed mid-response, so the
/// connection is aborted instead of presenting a truncated body as complete.
#[derive(Debug, thiserror::Error)]
#[error("response stream closed before it was complete")]
pub struct StreamClosed;

/// Why a [`BodySender::try_send`] did not go through.
#[derive(Debug)]
pub enum TrySendError {
    /// The channel is at capacity; the bytes are handed back so they can be sent once there is room.
    Full(Bytes),
    /// The receiving side is gone (the client disconnected).
    Closed,
}

impl ResponseBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ResponseBody { inner: Inner::Full((!bytes.is_empty()).then_some(bytes)) }
    }

    /// An empty body.
    pub fn empty() -> Self {
        ResponseBody { inner: Inner::Full(None) }
    }

    /// A streaming body and the sender that feeds it. `capacity` bounds how many chunks may wait to be
    /// written, which is what gives a fast producer backpressure from a slow client.
    pub fn channel(capacity: usize) -> (BodySender, ResponseBody) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (BodySender { tx }, ResponseBody { inner: Inner::Stream { rx, done: false, aborting: false } })
    }

    /// The bytes of a complete body; a streaming (or observed) body is handed back as it is.
    pub fn into_full(self) -> Result<Bytes, ResponseBody> {
        match self.inner {
            Inner::Full(bytes) => Ok(bytes.unwrap_or_default()),
            inner => Err(ResponseBody { inner }),
        }
    }

    /// This body, calling `on_end` once it has been written out (or has failed, or was dropped unsent),
    /// with the number of bytes handed to the connection: what an access log needs for the response size
    /// and the time to the end of the body.
    pub fn observed(self, on_end: impl FnOnce(BodyEnd) + Send + 'static) -> ResponseBody {
        ResponseBody {
            inner: Inner::Observed(Box::new(Observed { body: self, sent: 0, on_end: Some(Box::new(on_end)) })),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = StreamClosed;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, StreamClosed>>> {
        match &mut self.get_mut().inner {
            Inner::Observed(observed) => {
                let polled = Pin::new(&mut observed.body).poll_frame(cx);
                match &polled {
                    Poll::Ready(Some(Ok(frame))) => {
                        observed.sent += frame.data_ref().map_or(0, |d| d.len() as u64);
                        if observed.body.is_end_stream() {
                            observed.end(true);
                        }
                    }
                    Poll::Ready(None) => observed.end(true),
                    Poll::Ready(Some(Err(_))) => observed.end(false),
                    Poll::Pending => {}
                }
                polled
            }
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream { done: true, .. } => Poll::Ready(None),
            Inner::Stream { rx, done, aborting } => match rx.poll_recv(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Chunk::Data(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Chunk::End)) => {
                    *done = true;
                    Poll::Ready(None)
                }
                // Before failing the body (which makes hyper drop the connection at once), pause one
                // turn so the connection writes out what is already buffered: the client then gets
                // the bytes sent before the failure, followed by a cut-off response.
                Poll::Ready(None) if !*aborting => {
                    *aborting = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Poll::Ready(None) => {
                    *done = true;
                    Poll::Ready(Some(Err(StreamClosed)))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(bytes) => bytes.is_none(),
            Inner::Stream { done, .. } => *done,
            Inner::Observed(observed) => observed.body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream { .. } => SizeHint::default(),
            Inner::Observed(observed) => observed.body.size_hint(),
        }
    }
}

/// Feeds a streaming [`ResponseBody`]. Usable from any thread; the `try_` methods never block and need
/// no async runtime, which lets the interpreter thread push bytes without waiting.
#[derive(Clone)]
pub struct BodySender {
    tx: mpsc::Sender<Chunk>,
}

impl std::fmt::Debug for BodySender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodySender").finish_non_exhaustive()
    }
}

impl BodySender {
    /// Queues `data` if there is room.
    pub fn try_send(&self, data: Bytes) -> Result<(), TrySendError> {
        self.tx.try_send(Chunk::Data(data)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(Chunk::Data(b)) => TrySendError::Full(b),
            mpsc::error::TrySendError::Full(Chunk::End) => TrySendError::Full(Bytes::new()),
            mpsc::error::TrySendError::Closed(_) => TrySendError::Closed,
        })
    }

    /// Marks the body complete if there is room for the marker.
    pub fn try_finish(&self) -> Result<(), TrySendError> {
        self.tx.try_send(Chunk::End).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TrySendError::Full(Bytes::new()),
            mpsc::error::TrySendError::Closed(_) => TrySendError::Closed,
        })
    }

    /// Queues `data`, waiting for room.
    pub async fn send(&self, data: Bytes) -> Result<(), StreamClosed> {
        self.tx.send(Chunk::Data(data)).await.map_err(|_| StreamClosed)
    }

    /// Marks the body complete, waiting for room.
    pub async fn finish(&self) -> Result<(), StreamClosed> {
        self.tx.send(Chunk::End).await.map_err(|_| StreamClosed)
    }

    /// Resolves once the receiving side is gone: the response finished being written or the client left.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drains a body the way hyper would, returning the data or the first error.
    async fn collect(mut body: ResponseBody) -> Result<Vec<u8>, StreamClosed> {
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            if let Ok(data) = frame?.into_data() {
                out.extend_from_slice(&data);
            }
        }
        Ok(out)
    }

    #[tokio::test]
    async fn stream_with_end_marker_completes() {
        let (tx, body) = ResponseBody::channel(4);
        tx.try_send(Bytes::from_static(b"ab")).unwrap();
        tx.try_send(Bytes::from_static(b"cd")).unwrap();
        tx.try_finish().unwrap();
        drop(tx);
        assert_eq!(collect(body).await.unwrap(), b"abcd");
    }

    #[tokio::test]
    async fn stream_without_end_marker_is_an_error() {
        let (tx, body) = ResponseBody::channel(4);
        tx.try_send(Bytes::from_static(b"ab")).unwrap();
        drop(tx);
        assert!(collect(body).await.is_err());
    }

    #[tokio::test]
    async fn full_channel_hands_bytes_back() {
        let (tx, _body) = ResponseBody::channel(1);
        tx.try_send(Bytes::from_static(b"a")).unwrap();
        match tx.try_send(Bytes::from_static(b"b")) {
            Err(TrySendError::Full(b)) => assert_eq!(&b[..], b"b"),
            _ => panic!("expected a full channel"),
        }
    }

    #[tokio::test]
    async fn observed_body_reports_its_size_once() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, body) = ResponseBody::channel(4);
        let record = std::sync::Arc::clone(&seen);
        let body = body.observed(move |end| record.lock().unwrap().push(end));
        tx.try_send(Bytes::from_static(b"abc")).unwrap();
        let mut body = body;
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(frame.is_some_and(|f| f.is_ok()));
        assert!(seen.lock().unwrap().is_empty(), "reported before the end");
        tx.try_finish().unwrap();
        assert_eq!(collect(body).await.unwrap(), b"");
        assert_eq!(*seen.lock().unwrap(), [BodyEnd { sent: 3, complete: true }]);
        let record = std::sync::Arc::clone(&seen);
        drop(ResponseBody::full(&b"xy"[..]).observed(move |end| record.lock().unwrap().push(end)));
        assert_eq!(seen.lock().unwrap()[1], BodyEnd { sent: 0, complete: false });
    }

    #[test]
    fn full_body_reports_exact_size() {
        let body = ResponseBody::full(&b"hello"[..]);
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(ResponseBody::empty().is_end_stream());
    }
}

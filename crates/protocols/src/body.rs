use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http_body::Body;
use hyper::body::Incoming;

/// Reading the request body failed: the client went away or broke the protocol mid-body.
#[derive(Debug, thiserror::Error)]
#[error("request body could not be read: {0}")]
pub struct BodyError(String);

/// The HTTP/3 request stream's receiving half.
pub(crate) type H3Recv = h3::server::RequestStream<h3_quinn::RecvStream, Bytes>;

/// Where the bytes come from.
enum Source {
    /// HTTP/1.1 and HTTP/2, through hyper.
    Hyper(Incoming),
    /// HTTP/3; `done` once the stream has ended.
    H3 { recv: Box<H3Recv>, done: bool },
}

/// A request body that is read chunk by chunk as the application asks for it.
pub struct RequestBody {
    source: Source,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody").field("end", &self.is_end_stream()).finish()
    }
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming) -> Self {
        RequestBody { source: Source::Hyper(inner) }
    }

    pub(crate) fn h3(recv: H3Recv) -> Self {
        RequestBody { source: Source::H3 { recv: Box::new(recv), done: false } }
    }

    /// True when no more data can follow (an empty body, or everything has been read).
    pub fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Hyper(inner) => inner.is_end_stream(),
            Source::H3 { done, .. } => *done,
        }
    }

    /// The next piece of body data; `None` at the end. Trailers and empty frames are skipped.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &mut self.source {
            Source::Hyper(inner) => loop {
                match Pin::new(&mut *inner).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(BodyError(e.to_string())))),
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Poll::Ready(Some(Ok(data)));
                            }
                        }
                    }
                }
            },
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
                        return Poll::Ready(Some(Err(BodyError(e.to_string()))));
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
    pub async fn next_chunk(&mut self, limit: usize) -> Result<Option<Bytes>, BodyError> {
        match std::future::poll_fn(|cx| self.poll_data(cx)).await {
            None => Ok(None),
            Some(first) => self.coalesce(first?, limit).map(Some),
        }
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
            let data = match self.poll_data(&mut cx) {
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

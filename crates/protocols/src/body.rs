use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http_body::Body;
use hyper::body::Incoming;

/// Reading the request body failed: the client went away or broke the protocol mid-body.
#[derive(Debug, thiserror::Error)]
#[error("request body could not be read: {0}")]
pub struct BodyError(#[from] hyper::Error);

/// A request body that is read chunk by chunk as the application asks for it.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming) -> Self {
        RequestBody { inner }
    }

    /// True when no more data can follow (an empty body, or everything has been read).
    pub fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    /// Waits for the next piece of the body and returns it with whatever else is already buffered, up to
    /// about `limit` bytes. `Ok(None)` means the body is complete.
    pub async fn next_chunk(&mut self, limit: usize) -> Result<Option<Bytes>, BodyError> {
        let first = loop {
            match std::future::poll_fn(|cx| Pin::new(&mut self.inner).poll_frame(cx)).await {
                None => return Ok(None),
                Some(frame) => {
                    // Trailers carry no body bytes; they are skipped.
                    if let Ok(data) = frame?.into_data() {
                        if !data.is_empty() {
                            break data;
                        }
                    }
                }
            }
        };
        self.coalesce(first, limit).map(Some)
    }

    /// Returns the body bytes that have already arrived, without waiting, up to about `limit` bytes.
    /// Used to hand small bodies to the application together with the request head.
    pub fn ready_chunk(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        self.coalesce(Bytes::new(), limit)
    }

    /// Appends frames that are ready now to `first`, stopping at `limit`, end of stream, or a frame that
    /// is not yet here. A single buffered frame is returned as is, without copying.
    fn coalesce(&mut self, first: Bytes, limit: usize) -> Result<Bytes, BodyError> {
        let mut single = first;
        let mut joined: Option<BytesMut> = None;
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let len = joined.as_ref().map_or(single.len(), BytesMut::len);
            if len >= limit || self.inner.is_end_stream() {
                break;
            }
            let frame = match Pin::new(&mut self.inner).poll_frame(&mut cx) {
                Poll::Ready(Some(frame)) => frame?,
                Poll::Ready(None) | Poll::Pending => break,
            };
            let Ok(data) = frame.into_data() else { continue };
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

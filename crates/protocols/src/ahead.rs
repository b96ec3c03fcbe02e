//! A connection's byte stream with bytes already read from it put back in front: what a PROXY header
//! or the protocol sniff read past, and what hyper had read but not parsed when an HTTP/1 connection
//! was parked between requests.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::activity::Activity;

/// The most one wait for the peer reads. The buffer lives on the stack only while a read is tried, so
/// a connection waiting for its next request holds no buffer at all; a request head usually fits.
const PEEK_SIZE: usize = 4096;

/// `inner` with `ahead` to be read first. Writes pass straight through; when a connection's
/// [`Activity`] is attached, whether the last write stalled is recorded there.
pub(crate) struct Ahead<S> {
    ahead: Bytes,
    inner: S,
    activity: Option<Arc<Activity>>,
}

impl<S> Ahead<S> {
    /// `inner` with `ahead` in front of it.
    pub(crate) fn new(inner: S, ahead: Bytes) -> Self {
        Ahead { ahead, inner, activity: None }
    }

    /// Records on `activity` whether writes are waiting for the socket (see [`Activity::may_park`]).
    pub(crate) fn watch_writes(&mut self, activity: Arc<Activity>) {
        self.activity = Some(activity);
    }

    /// Puts `bytes` back in front of whatever is still ahead.
    pub(crate) fn put_back(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        // Copied, not kept: `bytes` may be a slice of a buffer many times its size (hyper's).
        self.ahead = if self.ahead.is_empty() {
            Bytes::copy_from_slice(&bytes)
        } else {
            let mut joined = BytesMut::with_capacity(bytes.len() + self.ahead.len());
            joined.extend_from_slice(&bytes);
            joined.extend_from_slice(&self.ahead);
            joined.freeze()
        };
    }

    /// The bytes read but not yet handed out.
    pub(crate) fn ahead(&self) -> &[u8] {
        &self.ahead
    }

    fn stalled(&self, stalled: bool) {
        if let Some(activity) = &self.activity {
            activity.set_write_stalled(stalled);
        }
    }
}

impl<S: AsyncRead + Unpin> Ahead<S> {
    /// Reads whatever the peer has sent and keeps it ahead, after the bytes already there. Ready with
    /// `false` at the end of the stream.
    pub(crate) fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut storage = [MaybeUninit::<u8>::uninit(); PEEK_SIZE];
        let mut buf = ReadBuf::uninit(&mut storage);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf))?;
        let read = buf.filled();
        if read.is_empty() {
            return Poll::Ready(Ok(false));
        }
        let mut joined = BytesMut::with_capacity(self.ahead.len() + read.len());
        joined.extend_from_slice(&self.ahead);
        joined.extend_from_slice(read);
        self.ahead = joined.freeze();
        Poll::Ready(Ok(true))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Ahead<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ahead.is_empty() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            if this.ahead.is_empty() {
                // An empty slice would still hold its buffer for as long as the connection is open.
                this.ahead = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Ahead<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.stalled(result.is_pending());
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.stalled(result.is_pending());
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_ahead_then_the_stream() {
        let (client, server) = tokio::io::duplex(64);
        let mut ahead = Ahead::new(server, Bytes::from_static(b"one "));
        ahead.put_back(Bytes::from_static(b"zero "));
        let mut client = client;
        client.write_all(b"two").await.unwrap();
        drop(client);
        let mut all = String::new();
        ahead.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "zero one two");
    }

    #[tokio::test]
    async fn read_more_appends_and_reports_the_end() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut ahead = Ahead::new(server, Bytes::from_static(b"GET"));
        client.write_all(b" /").await.unwrap();
        assert!(std::future::poll_fn(|cx| ahead.poll_read_more(cx)).await.unwrap());
        assert_eq!(ahead.ahead(), b"GET /");
        drop(client);
        assert!(!std::future::poll_fn(|cx| ahead.poll_read_more(cx)).await.unwrap());
    }
}

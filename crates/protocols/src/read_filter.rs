//! Streams whose reading side is watched or rewritten while writes pass straight through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a [`ReadFiltered`] stream does with its reads.
pub(crate) trait ReadFilter {
    /// Reads from `inner` into `buf` as `AsyncRead::poll_read` does, doing the filter's work on the way.
    fn poll_read_from<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>>;
}

/// `inner` with `filter` on its reading side.
pub(crate) struct ReadFiltered<S, F> {
    inner: S,
    filter: F,
}

impl<S, F> ReadFiltered<S, F> {
    /// Puts `filter` on the reading side of `inner`.
    pub(crate) fn new(inner: S, filter: F) -> Self {
        ReadFiltered { inner, filter }
    }
}

impl<S: AsyncRead + Unpin, F: ReadFilter + Unpin> AsyncRead for ReadFiltered<S, F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.filter.poll_read_from(&mut this.inner, cx, buf)
    }
}

impl<S: AsyncWrite + Unpin, F: Unpin> AsyncWrite for ReadFiltered<S, F> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
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

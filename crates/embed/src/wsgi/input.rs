//! `wsgi.input`: the request body as a blocking file-like object, read from the socket only as the
//! application asks, with the GIL released while it waits.

use bytes::{Buf, BytesMut};
use covetpy_protocols::RequestBody;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// How much body one wait on the socket gathers at most.
const READ_CHUNK: usize = 64 * 1024;

/// The request body stream handed to WSGI applications.
#[pyclass(module = "covetpy", name = "WsgiInput")]
pub(crate) struct WsgiInput {
    buf: BytesMut,
    body: Option<RequestBody>,
    tokio: tokio::runtime::Handle,
}

impl WsgiInput {
    pub(crate) fn new(first: &[u8], body: Option<RequestBody>, tokio: tokio::runtime::Handle) -> Self {
        WsgiInput { buf: BytesMut::from(first), body, tokio }
    }

    /// Reads one more piece of the body into the buffer; false at the end of the body.
    fn fill(&mut self, py: Python<'_>) -> PyResult<bool> {
        let Some(body) = self.body.as_mut() else { return Ok(false) };
        let tokio = &self.tokio;
        match py.detach(|| tokio.block_on(body.next_chunk(READ_CHUNK))) {
            Ok(Some(data)) => {
                self.buf.extend_from_slice(&data);
                Ok(true)
            }
            Ok(None) => {
                self.body = None;
                Ok(false)
            }
            Err(e) => {
                self.body = None;
                Err(PyOSError::new_err(format!("the client stopped sending the request body: {e}")))
            }
        }
    }

    fn take<'py>(&mut self, py: Python<'py>, n: usize) -> Bound<'py, PyBytes> {
        let n = n.min(self.buf.len());
        let out = PyBytes::new(py, &self.buf[..n]);
        self.buf.advance(n);
        out
    }

    /// Fills until the buffer holds a newline or `limit` bytes (or the body ends); returns the line length.
    fn line_len(&mut self, py: Python<'_>, limit: Option<usize>) -> PyResult<usize> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let len = scanned + pos + 1;
                return Ok(limit.map_or(len, |l| len.min(l)));
            }
            scanned = self.buf.len();
            if limit.is_some_and(|l| scanned >= l) || !self.fill(py)? {
                return Ok(limit.map_or(self.buf.len(), |l| self.buf.len().min(l)));
            }
        }
    }
}

/// A negative or missing size means "everything".
fn limit(size: Option<isize>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

#[pymethods]
impl WsgiInput {
    /// Reads up to `size` bytes, or everything that is left.
    #[pyo3(signature = (size = None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        match limit(size) {
            None => {
                while self.fill(py)? {}
                let n = self.buf.len();
                Ok(self.take(py, n))
            }
            Some(n) => {
                while self.buf.len() < n && self.fill(py)? {}
                Ok(self.take(py, n))
            }
        }
    }

    /// Reads one line, including its newline, or at most `size` bytes of it.
    #[pyo3(signature = (size = None))]
    fn readline<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let n = self.line_len(py, limit(size))?;
        Ok(self.take(py, n))
    }

    /// Reads lines until the end, or until about `hint` bytes have been read.
    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(&mut self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let lines = PyList::empty(py);
        let hint = limit(hint).filter(|&h| h > 0);
        let mut total = 0;
        loop {
            let n = self.line_len(py, None)?;
            if n == 0 {
                break;
            }
            total += n;
            lines.append(self.take(py, n))?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let n = self.line_len(py, None)?;
        Ok((n > 0).then(|| self.take(py, n)))
    }
}

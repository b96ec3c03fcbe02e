//! One WSGI request on a worker thread: `start_response`, `write`, iterating the response and always
//! calling `close()`.

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use covetpy_protocols::{BodySender, RequestBody, RequestHead, Response, ResponseBody, TrySendError};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use tokio::sync::oneshot;

use super::file_wrapper::{self, FileWrapper};
use super::input::WsgiInput;
use super::WsgiContext;

/// Response chunks that may wait to be written before the worker thread blocks.
const STREAM_CAPACITY: usize = 16;
/// Bytes read from a wrapped file at a time.
const FILE_CHUNK: usize = 256 * 1024;

/// A request on its way to a worker thread.
pub(crate) struct WsgiCall {
    pub(crate) head: RequestHead,
    pub(crate) first: Bytes,
    pub(crate) body: Option<RequestBody>,
    pub(crate) reply: oneshot::Sender<Response>,
}

/// Where the response stands.
enum Phase {
    /// Waiting for `start_response`, or for the first body bytes after it.
    Pending,
    /// The head went out and the body is streaming.
    Streaming(BodySender),
    /// Finished, or the client is gone.
    Closed,
}

/// `start_response` (called as the object itself) and the `write` callable it returns.
#[pyclass(module = "covetpy", name = "StartResponse")]
pub(crate) struct Responder {
    status: Option<(StatusCode, HeaderMap)>,
    reply: Option<oneshot::Sender<Response>>,
    phase: Phase,
    is_head: bool,
    tokio: tokio::runtime::Handle,
}

/// The client disconnected; iteration stops quietly.
struct Gone;

fn runtime_error(message: impl Into<String>) -> PyErr {
    PyRuntimeError::new_err(message.into())
}

#[pymethods]
impl Responder {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        slf: Bound<'_, Self>,
        status: &str,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let exc_info = exc_info.filter(|e| !e.is_none());
        {
            let mut this = slf.borrow_mut();
            match exc_info {
                // PEP 3333: once the head is out, an error response is impossible; re-raise instead.
                Some(info) if !matches!(this.phase, Phase::Pending) => {
                    let (_, value, _): (Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>) = info.extract()?;
                    return Err(PyErr::from_value(value));
                }
                None if this.status.is_some() => {
                    return Err(runtime_error("start_response() was called a second time without exc_info"));
                }
                _ => {}
            }
            this.status = Some((parse_status(status)?, parse_headers(headers)?));
        }
        Ok(slf.getattr(intern!(py, "write"))?.unbind())
    }

    /// The legacy `write` callable: sends the head if needed, then `data`, before returning.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = body_bytes(data)?;
        match self.push(py, data) {
            Ok(()) => Ok(()),
            Err(PushError::Python(e)) => Err(e),
            Err(PushError::Gone) => Err(pyo3::exceptions::PyOSError::new_err("client disconnected")),
        }
    }
}

enum PushError {
    Python(PyErr),
    Gone,
}

impl From<PyErr> for PushError {
    fn from(e: PyErr) -> Self {
        PushError::Python(e)
    }
}

impl From<Gone> for PushError {
    fn from(_: Gone) -> Self {
        PushError::Gone
    }
}

impl Responder {
    /// Sends the head with a streaming body, if it has not gone out yet.
    fn begin_stream(&mut self) -> Result<BodySender, PushError> {
        if let Phase::Streaming(sender) = &self.phase {
            return Ok(sender.clone());
        }
        if matches!(self.phase, Phase::Closed) {
            return Err(PushError::Gone);
        }
        let (status, headers) = self.take_status()?;
        let (sender, body) = ResponseBody::channel(STREAM_CAPACITY);
        self.deliver(Response { status, headers, body })?;
        self.phase = Phase::Streaming(sender.clone());
        Ok(sender)
    }

    /// The Content-Length the application set, if any.
    fn declared_length(&self) -> Option<usize> {
        let (_, headers) = self.status.as_ref()?;
        headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
    }

    fn take_status(&mut self) -> PyResult<(StatusCode, HeaderMap)> {
        self.status
            .clone()
            .ok_or_else(|| runtime_error("the application sent body data before calling start_response()"))
    }

    fn deliver(&mut self, response: Response) -> Result<(), Gone> {
        let delivered = self.reply.take().is_some_and(|reply| reply.send(response).is_ok());
        if !delivered {
            self.phase = Phase::Closed;
            return Err(Gone);
        }
        Ok(())
    }

    /// Streams `data`, blocking (with the GIL released) while the client is slower than the app.
    fn push(&mut self, py: Python<'_>, data: Bytes) -> Result<(), PushError> {
        let sender = self.begin_stream()?;
        if data.is_empty() || self.is_head {
            return Ok(());
        }
        match sender.try_send(data) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(data)) => {
                let tokio = &self.tokio;
                py.detach(|| tokio.block_on(sender.send(data))).map_err(|_| self.gone())
            }
            Err(TrySendError::Closed) => Err(self.gone()),
        }
    }

    fn gone(&mut self) -> PushError {
        self.phase = Phase::Closed;
        PushError::Gone
    }

    /// Completes the response: a whole body if nothing streamed yet, else the end marker.
    fn finish(&mut self, py: Python<'_>, first: Option<Bytes>) -> Result<(), PushError> {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Pending => {
                let (status, headers) = self.take_status()?;
                let body = match first {
                    Some(data) if !self.is_head => ResponseBody::full(data),
                    _ => ResponseBody::empty(),
                };
                self.deliver(Response { status, headers, body })?;
                Ok(())
            }
            Phase::Streaming(sender) => {
                if let Some(data) = first {
                    self.phase = Phase::Streaming(sender.clone());
                    self.push(py, data)?;
                    self.phase = Phase::Closed;
                }
                match sender.try_finish() {
                    Ok(()) => Ok(()),
                    Err(TrySendError::Full(_)) => {
                        let tokio = &self.tokio;
                        py.detach(|| tokio.block_on(sender.finish())).map_err(|_| PushError::Gone)
                    }
                    Err(TrySendError::Closed) => Err(PushError::Gone),
                }
            }
            Phase::Closed => Err(PushError::Gone),
        }
    }

    /// Streams a real file from Rust, reading at `offset` onwards with the GIL released.
    fn send_file(&mut self, py: Python<'_>, file: std::fs::File, mut offset: u64) -> Result<(), PushError> {
        let sender = self.begin_stream()?;
        if self.is_head {
            return self.finish(py, None);
        }
        let tokio = &self.tokio;
        let sent = py.detach(|| -> Result<(), PushError> {
            loop {
                let mut buf = vec![0u8; FILE_CHUNK];
                let n = match file.read_at(&mut buf, offset) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(PushError::Python(pyo3::exceptions::PyOSError::new_err(e.to_string()))),
                };
                buf.truncate(n);
                offset += n as u64;
                tokio.block_on(sender.send(Bytes::from(buf))).map_err(|_| PushError::Gone)?;
            }
        });
        sent?;
        self.finish(py, None)
    }
}

/// Runs the application for one request and sends its response.
pub(crate) fn handle(py: Python<'_>, ctx: &WsgiContext, call: WsgiCall) {
    let WsgiCall { head, first, body, reply } = call;
    let responder = Responder {
        status: None,
        reply: Some(reply),
        phase: Phase::Pending,
        is_head: head.method == Method::HEAD,
        tokio: ctx.tokio.clone(),
    };
    let responder = match Py::new(py, responder) {
        Ok(r) => r,
        Err(e) => return tracing::error!("could not set up the request: {}", crate::bootstrap::format_error(py, &e)),
    };
    let result = Py::new(py, WsgiInput::new(&first, body, ctx.tokio.clone()))
        .and_then(|input| super::environ::environ(py, ctx, &head, input.into_bound(py).into_any()))
        .and_then(|environ| ctx.app.bind(py).call1((environ, responder.bind(py))));
    let outcome = match result {
        Ok(iterable) => {
            let sent = send_iterable(py, &responder, &iterable);
            // PEP 3333: close() is called whatever happened, including a client that went away.
            let closed = match iterable.hasattr(intern!(py, "close")) {
                Ok(true) => iterable.call_method0(intern!(py, "close")).map(drop),
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            match (sent, closed) {
                (Err(PushError::Python(e)), _) | (_, Err(e)) => Err(PushError::Python(e)),
                (sent, Ok(())) => sent,
            }
        }
        Err(e) => Err(PushError::Python(e)),
    };
    match outcome {
        Ok(()) | Err(PushError::Gone) => {}
        Err(PushError::Python(e)) => {
            tracing::error!("Exception in WSGI application\n{}", crate::bootstrap::format_error(py, &e));
            let mut r = responder.borrow_mut(py);
            match std::mem::replace(&mut r.phase, Phase::Closed) {
                Phase::Pending => {
                    if let Some(reply) = r.reply.take() {
                        // The client may be gone already; then there is nobody to tell.
                        drop(reply.send(crate::stock_responses::internal_error()));
                    }
                }
                // Dropped without its end marker: the connection is aborted, never shown as complete.
                Phase::Streaming(sender) => drop(sender),
                Phase::Closed => {}
            }
        }
    }
}

/// Iterates the response. A response of a single chunk goes out as one complete body.
fn send_iterable(py: Python<'_>, responder: &Py<Responder>, iterable: &Bound<'_, PyAny>) -> Result<(), PushError> {
    if let Ok(wrapper) = iterable.cast::<FileWrapper>() {
        if let Some((file, offset)) = file_wrapper::os_file(py, &wrapper.borrow()) {
            return responder.borrow_mut(py).send_file(py, file, offset);
        }
    }
    if let Ok(list) = iterable.cast::<PyList>() {
        if list.len() <= 1 {
            let first = list.iter().next().map(|item| body_bytes(&item)).transpose()?;
            return responder.borrow_mut(py).finish(py, first);
        }
    }
    if let Ok(tuple) = iterable.cast::<PyTuple>() {
        if tuple.len() <= 1 {
            let first = tuple.iter().next().map(|item| body_bytes(&item)).transpose()?;
            return responder.borrow_mut(py).finish(py, first);
        }
    }
    for item in iterable.try_iter()? {
        let data = body_bytes(&item?)?;
        if data.is_empty() {
            continue;
        }
        let mut r = responder.borrow_mut(py);
        // PEP 3333: a block must not be held back. It can still go out as a complete response when it
        // is all the Content-Length the app declared (Flask and Django declare it).
        if matches!(r.phase, Phase::Pending) && r.declared_length() == Some(data.len()) {
            r.finish(py, Some(data))?;
        } else {
            r.push(py, data)?;
        }
    }
    let mut r = responder.borrow_mut(py);
    match r.phase {
        Phase::Closed => Ok(()),
        _ => r.finish(py, None),
    }
}

fn parse_status(status: &str) -> PyResult<StatusCode> {
    let code = status.get(..3).and_then(|c| c.parse::<u16>().ok());
    let valid =
        code.and_then(|c| StatusCode::from_u16(c).ok()).filter(|_| status.len() == 3 || status.as_bytes()[3] == b' ');
    valid.ok_or_else(|| runtime_error(format!("invalid status {status:?}: expected e.g. \"200 OK\"")))
}

fn parse_headers(headers: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    for item in headers.try_iter()? {
        let (name, value): (String, String) =
            item?.extract().map_err(|_| PyTypeError::new_err("response headers must be (str, str) tuples"))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| runtime_error(format!("invalid response header name {name:?}")))?;
        let value = latin1_bytes(&value)
            .and_then(|v| HeaderValue::from_bytes(&v).ok())
            .ok_or_else(|| runtime_error(format!("invalid value for response header {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Header values are native strings holding latin-1; anything outside it cannot go on the wire.
fn latin1_bytes(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

fn body_bytes(item: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = item.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "WSGI response body items must be bytes, not {}",
        item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status("200 OK").unwrap(), StatusCode::OK);
        assert_eq!(parse_status("404").unwrap(), StatusCode::NOT_FOUND);
        assert!(parse_status("OK").is_err());
        assert!(parse_status("2000 Nope").is_err());
    }

    #[test]
    fn latin1_rejects_wide_characters() {
        assert_eq!(latin1_bytes("caf\u{e9}").unwrap(), vec![b'c', b'a', b'f', 0xe9]);
        assert!(latin1_bytes("\u{20ac}").is_none());
    }
}

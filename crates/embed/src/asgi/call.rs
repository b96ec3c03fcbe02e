//! One HTTP request on the interpreter thread: its `receive` and `send` callables and what happens
//! when the application finishes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use covetpy_protocols::{BodySender, RequestBody, RequestHead, Response, ResponseBody, TrySendError};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use http::{HeaderMap, Method, StatusCode};
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tokio::sync::oneshot;

use super::context::AsgiContext;
use super::wake::{Resolve, Settled, WakeJob};
use crate::event_loop::{tasks, Job};
use crate::multipart::{self, FormError, FormLimits};

/// Bytes of request body gathered into one `http.request` message at most. Each message is held twice
/// while the app takes it (the gathered bytes and their Python copy), so this bounds what an upload
/// in progress costs per connection; 64 KiB is the amount uvicorn buffers before it stops reading.
const BODY_CHUNK: usize = 64 * 1024;
/// Response chunks that may wait to be written before `send` makes the app wait.
const STREAM_CAPACITY: usize = 16;

/// A request on its way from the network side to the interpreter thread.
pub(crate) struct HttpCall {
    pub(crate) head: RequestHead,
    /// Bytes that had arrived with the head.
    pub(crate) first: Bytes,
    /// The rest of the body, if any remains.
    pub(crate) body: Option<RequestBody>,
    /// Where the response head goes.
    pub(crate) reply: oneshot::Sender<Response>,
    pub(crate) shared: Arc<CallShared>,
}

/// How a background wait ended, delivered to the interpreter thread with the future to resolve.
pub(crate) enum Outcome {
    /// More request body.
    Body { data: Bytes, more: bool },
    /// The client went away (or the response is complete).
    Disconnect,
    /// A delayed `send` went through.
    Sent,
    /// A delayed `send` found the client gone.
    SendFailed,
}

/// State both sides of a request touch.
pub(crate) struct CallShared {
    ctx: Arc<AsgiContext>,
    disconnected: AtomicBool,
    body_done: AtomicBool,
    /// A `receive()` waiting for `http.disconnect`. Guarded together with `disconnected` so a disconnect
    /// can never slip between the check and the registration.
    waiter: Mutex<Option<Py<PyAny>>>,
}

impl CallShared {
    pub(crate) fn new(ctx: Arc<AsgiContext>, body_done: bool) -> Arc<Self> {
        Arc::new(CallShared {
            ctx,
            disconnected: AtomicBool::new(false),
            body_done: AtomicBool::new(body_done),
            waiter: Mutex::new(None),
        })
    }

    /// Marks the request disconnected and wakes a waiting `receive()`. Callable from any thread.
    pub(crate) fn disconnect(&self) {
        let waiter = {
            let mut slot = self.waiter.lock().unwrap_or_else(PoisonError::into_inner);
            self.disconnected.store(true, Ordering::Release);
            slot.take()
        };
        if let Some(fut) = waiter {
            self.wake(fut, Outcome::Disconnect);
        }
    }

    /// Resolves `fut` on the event-loop thread.
    fn wake(&self, fut: Py<PyAny>, outcome: Outcome) {
        WakeJob::post(Arc::clone(&self.ctx), fut, outcome);
    }

    fn is_disconnected(&self) -> bool {
        self.disconnected.load(Ordering::Acquire)
    }
}

/// Dropped by the network side when it stops waiting for the response head; if that happens before
/// the head arrived, the client has gone.
pub(crate) struct DisconnectGuard(pub(crate) Option<Arc<CallShared>>);

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.disconnect();
        }
    }
}

/// Where the response stands.
enum Phase {
    /// Nothing sent yet.
    Idle,
    /// `http.response.start` received, held until the first body message so a one-message body goes
    /// out as a complete response.
    Started { status: StatusCode, headers: HeaderMap },
    /// The head went out; the body is streaming. With a `content-length`, the bytes still to come.
    Streaming(BodySender, Option<u64>),
    /// A 204 or 304 went out; later body messages are accepted and ignored until `more_body` ends.
    Discarding,
    /// The response is complete.
    Done,
}

/// An awaitable that is already finished: `await` on it returns its value at once, with no trip
/// through the event loop.
#[pyclass(module = "covetpy", name = "Ready")]
pub(crate) struct Ready {
    value: Option<Py<PyAny>>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(pyo3::exceptions::PyStopIteration::new_err((value,)))
    }
}

pub(crate) fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<PyAny>> {
    Py::new(py, Ready { value: Some(value) }).map(Py::into_any)
}

/// The state behind one request's `receive` and `send`. Registered in `_covetpy_native` so that
/// `covetpy` can tell its own `receive` from a wrapper's.
#[pyclass(module = "_covetpy_native", name = "HttpCall")]
pub(crate) struct AsgiCall {
    ctx: Arc<AsgiContext>,
    shared: Arc<CallShared>,
    is_head: bool,
    first: Option<(Bytes, bool)>,
    body: Option<Arc<tokio::sync::Mutex<RequestBody>>>,
    reply: Option<oneshot::Sender<Response>>,
    phase: Phase,
}

/// Starts `app` (the ASGI application, or a response object that is itself an ASGI app) on a request
/// and drives it as far as it goes without waiting.
pub(crate) fn start(py: Python<'_>, ctx: &Arc<AsgiContext>, app: &Bound<'_, PyAny>, call: HttpCall) {
    let HttpCall { head, first, body, reply, shared } = call;
    let scope = super::scope::http_scope(py, ctx, &head);
    let more = body.is_some();
    let obj = AsgiCall {
        ctx: Arc::clone(ctx),
        shared,
        is_head: head.method == Method::HEAD,
        first: Some((first, more)),
        body: body.map(|b| Arc::new(tokio::sync::Mutex::new(b))),
        reply: Some(reply),
        phase: Phase::Idle,
    };
    let obj = match Py::new(py, obj) {
        Ok(obj) => obj,
        Err(e) => {
            tracing::error!("could not set up the request: {}", crate::bootstrap::format_error(py, &e));
            return;
        }
    };
    run_app(py, ctx, app, scope, obj);
}

impl Finish for AsgiCall {
    /// The application returned or raised: make sure the client gets an answer and log what went wrong.
    fn finish(&mut self, py: Python<'_>, result: PyResult<()>) {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        match (&result, &phase) {
            (Ok(()), Phase::Done | Phase::Discarding) => {}
            (Ok(()), Phase::Idle) => tracing::error!("ASGI callable returned without starting response."),
            // An app that stops streaming because the client left (Starlette turns the OSError from
            // `send` into a quiet return) did nothing wrong.
            (Ok(()), _) if self.shared.is_disconnected() => {}
            (Ok(()), _) => tracing::error!("ASGI callable returned without completing response."),
            (Err(e), _) => {
                let quiet = self.shared.is_disconnected()
                    && e.value(py).is_instance(self.ctx.client_disconnected.bind(py)).unwrap_or(false);
                if quiet {
                    tracing::debug!("client disconnected while the application was sending");
                } else {
                    tracing::error!("Exception in ASGI application\n{}", crate::bootstrap::format_error(py, e));
                }
            }
        }
        match phase {
            Phase::Idle | Phase::Started { .. } => {
                if let Some(reply) = self.reply.take() {
                    // The client may be gone already; then there is nobody to tell.
                    drop(reply.send(crate::stock_responses::internal_error()));
                }
            }
            // Dropping the sender without its end marker makes the server abort the connection, so a
            // half-sent body is never mistaken for a whole one.
            Phase::Streaming(sender, _) => drop(sender),
            Phase::Discarding | Phase::Done => {}
        }
        self.body = None;
        self.complete();
    }
}

/// The object behind one ASGI call's `receive` and `send`, told how the application ended.
pub(crate) trait Finish {
    /// The application returned (`Ok`) or raised.
    fn finish(&mut self, py: Python<'_>, result: PyResult<()>);
}

/// Calls `app(scope, obj.receive, obj.send)` and runs the coroutine as its own Task, stepped at once;
/// `obj` is told how it ended, right away or when the Task finishes.
pub(crate) fn run_app<T>(
    py: Python<'_>,
    ctx: &AsgiContext,
    app: &Bound<'_, PyAny>,
    scope: PyResult<Bound<'_, PyDict>>,
    obj: Py<T>,
) where
    T: Finish + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::False>,
{
    let started = scope.and_then(|scope| {
        let receive = obj.getattr(py, intern!(py, "receive"))?;
        let send = obj.getattr(py, intern!(py, "send"))?;
        app.call1((scope, receive, send))
    });
    let coro = match started {
        Ok(coro) => coro,
        Err(e) => return obj.borrow_mut(py).finish(py, Err(e)),
    };
    tasks::drive(py, &ctx.tasks, coro, Box::new(move |py, result| obj.borrow_mut(py).finish(py, result.map(drop))));
}

/// An HTTP request for the ASGI application, as a job for the event-loop thread.
pub(crate) struct HttpJob {
    pub(crate) ctx: Arc<AsgiContext>,
    /// The app to run, when not the context's own.
    pub(crate) app: Option<Arc<Py<PyAny>>>,
    pub(crate) call: HttpCall,
}

impl Job for HttpJob {
    fn run(self: Box<Self>, py: Python<'_>) {
        let HttpJob { ctx, app, call } = *self;
        let app = app.as_deref().unwrap_or(&ctx.app).bind(py).clone();
        start(py, &ctx, &app, call);
    }
}

impl Resolve for Outcome {
    fn settle<'py>(self, py: Python<'py>, ctx: &AsgiContext) -> PyResult<Settled<'py>> {
        Ok(match self {
            Outcome::Body { data, more } => Settled::Value(request_message(py, &data, more)?.into_any()),
            Outcome::Disconnect => Settled::Value(disconnect_message(py)?.into_any()),
            Outcome::Sent => Settled::Value(py.None().into_bound(py)),
            Outcome::SendFailed => Settled::Raise(ctx.client_disconnected.bind(py).call1(("client disconnected",))?),
        })
    }
}

/// A form read by [`AsgiCall::multipart_form`], for the interpreter thread.
struct ReadForm(Result<multipart::Form, FormError>);

impl Resolve for ReadForm {
    fn settle<'py>(self, py: Python<'py>, _ctx: &AsgiContext) -> PyResult<Settled<'py>> {
        Ok(Settled::Value(multipart::to_python(py, self.0)?.into_any()))
    }
}

fn request_message<'py>(py: Python<'py>, data: &[u8], more: bool) -> PyResult<Bound<'py, PyDict>> {
    let msg = PyDict::new(py);
    msg.set_item(intern!(py, "type"), intern!(py, "http.request"))?;
    msg.set_item(intern!(py, "body"), PyBytes::new(py, data))?;
    msg.set_item(intern!(py, "more_body"), more)?;
    Ok(msg)
}

fn disconnect_message(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let msg = PyDict::new(py);
    msg.set_item(intern!(py, "type"), intern!(py, "http.disconnect"))?;
    Ok(msg)
}

fn invalid(message: String) -> PyErr {
    PyRuntimeError::new_err(message)
}

#[pymethods]
impl AsgiCall {
    /// ASGI `receive`.
    fn receive(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if let Some((data, more)) = self.first.take() {
            // No body bytes came with the head: wait for the first ones rather than hand over an empty
            // message, as uvicorn does.
            if !(data.is_empty() && more && self.body.is_some()) {
                return ready(py, request_message(py, &data, more)?.into_any().unbind());
            }
        }
        if !self.shared.body_done.load(Ordering::Acquire) && !self.shared.is_disconnected() {
            if let Some(body) = &self.body {
                return self.read_more(py, Arc::clone(body));
            }
        }
        if matches!(self.phase, Phase::Done) || self.shared.is_disconnected() {
            return ready(py, disconnect_message(py)?.into_any().unbind());
        }
        // The body is complete and the response is not: wait until it is, or until the client leaves.
        let fut = self.ctx.create_future.call0(py)?;
        let streaming = {
            let mut slot = self.shared.waiter.lock().unwrap_or_else(PoisonError::into_inner);
            if self.shared.is_disconnected() {
                None
            } else {
                *slot = Some(fut.clone_ref(py));
                Some(matches!(self.phase, Phase::Streaming(..)))
            }
        };
        match streaming {
            None => ready(py, disconnect_message(py)?.into_any().unbind()),
            Some(streaming) => {
                if let (true, Phase::Streaming(sender, _)) = (streaming, &self.phase) {
                    // While streaming, the network side is no longer waiting on us, so learn of a
                    // disconnect from the body channel closing.
                    let sender = sender.clone();
                    let shared = Arc::clone(&self.shared);
                    self.ctx.tokio.spawn(async move {
                        sender.closed().await;
                        shared.disconnect();
                    });
                }
                Ok(fut)
            }
        }
    }

    /// Reads the whole body as a `multipart/form-data` form on the network side ([`crate::multipart`]):
    /// an awaitable of the form's items, or None when the app has already taken body messages (then
    /// the body is its to read).
    #[pyo3(signature = (boundary, *, max_files, max_fields, max_part_size, spool_max_size, temp_dir))]
    #[allow(clippy::too_many_arguments)]
    fn multipart_form(
        &mut self,
        py: Python<'_>,
        boundary: Vec<u8>,
        max_files: u64,
        max_fields: u64,
        max_part_size: u64,
        spool_max_size: u64,
        temp_dir: std::path::PathBuf,
    ) -> PyResult<Option<Py<PyAny>>> {
        let Some((first, more)) = self.first.take() else {
            return Ok(None);
        };
        let rest = if more { self.body.take() } else { None };
        let limits = FormLimits { max_files, max_fields, max_part_size, spool_max_size, temp_dir };
        let fut = self.ctx.create_future.call0(py)?;
        let waiting = fut.clone_ref(py);
        let shared = Arc::clone(&self.shared);
        let ctx = Arc::clone(&self.ctx);
        self.ctx.tokio.spawn(async move {
            let form = multipart::read(first, rest, &boundary, &limits).await;
            if matches!(form, Err(FormError::Disconnected)) {
                shared.disconnect();
            }
            shared.body_done.store(true, Ordering::Release);
            WakeJob::post(ctx, waiting, ReadForm(form));
        });
        Ok(Some(fut))
    }

    /// ASGI `send`.
    fn send(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let kind: String = message
            .get_item(intern!(py, "type"))
            .map_err(|_| invalid("ASGI message has no 'type' key".into()))?
            .extract()
            .map_err(|_| invalid("ASGI message 'type' must be a str".into()))?;
        match kind.as_str() {
            "http.response.start" => self.start_response(py, message),
            "http.response.body" => self.body_message(py, message),
            other => Err(invalid(format!("Unexpected ASGI message '{other}' sent for an HTTP request."))),
        }
    }
}

impl AsgiCall {
    fn read_more(&mut self, py: Python<'_>, body: Arc<tokio::sync::Mutex<RequestBody>>) -> PyResult<Py<PyAny>> {
        let fut = self.ctx.create_future.call0(py)?;
        let waiting = fut.clone_ref(py);
        let shared = Arc::clone(&self.shared);
        self.ctx.tokio.spawn(async move {
            let mut body = body.lock().await;
            let outcome = match body.next_chunk(BODY_CHUNK).await {
                Ok(Some(data)) => {
                    let more = !body.is_end_stream();
                    shared.body_done.store(!more, Ordering::Release);
                    Outcome::Body { data, more }
                }
                Ok(None) => {
                    shared.body_done.store(true, Ordering::Release);
                    Outcome::Body { data: Bytes::new(), more: false }
                }
                Err(e) => {
                    tracing::debug!("{e}");
                    shared.body_done.store(true, Ordering::Release);
                    shared.disconnected.store(true, Ordering::Release);
                    Outcome::Disconnect
                }
            };
            shared.wake(waiting, outcome);
        });
        Ok(fut)
    }

    fn start_response(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if !matches!(self.phase, Phase::Idle) {
            return Err(invalid(
                "Unexpected ASGI message 'http.response.start' sent, after response already started.".into(),
            ));
        }
        let status: u16 = message
            .get_item(intern!(py, "status"))
            .and_then(|s| s.extract())
            .map_err(|_| invalid("'http.response.start' needs an int 'status'".into()))?;
        let status = StatusCode::from_u16(status).map_err(|_| invalid(format!("invalid HTTP status {status}")))?;
        let mut headers = HeaderMap::new();
        if let Ok(list) = message.get_item(intern!(py, "headers")) {
            if !list.is_none() {
                for item in list.try_iter()? {
                    let (name, value) = header_pair(&item?)?;
                    headers.append(name, value);
                }
            }
        }
        if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            headers.remove(CONTENT_LENGTH);
        }
        self.phase = Phase::Started { status, headers };
        ready(py, py.None())
    }

    fn body_message(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let data = match message.get_item(intern!(py, "body")) {
            Ok(b) if !b.is_none() => body_bytes(&b)?,
            _ => Bytes::new(),
        };
        let more = match message.get_item(intern!(py, "more_body")) {
            Ok(m) => m.is_truthy()?,
            Err(_) => false,
        };
        // HEAD responses keep their headers (Content-Length included) but never carry body bytes.
        let data = if self.is_head { Bytes::new() } else { data };
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Idle => {
                self.phase = Phase::Idle;
                Err(invalid("Unexpected ASGI message 'http.response.body' sent, before 'http.response.start'.".into()))
            }
            Phase::Done => Err(invalid(
                "Unexpected ASGI message 'http.response.body' sent, after response already completed.".into(),
            )),
            Phase::Started { status, headers } => {
                let no_body = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
                if !more || no_body {
                    let body = if no_body { ResponseBody::empty() } else { ResponseBody::full(data) };
                    self.deliver(py, Response { status, headers, body })?;
                    if more {
                        self.phase = Phase::Discarding;
                    } else {
                        self.complete();
                    }
                    return ready(py, py.None());
                }
                let declared = headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let (sender, body) = ResponseBody::channel(STREAM_CAPACITY);
                let remaining = declared.map(|n| n.saturating_sub(data.len() as u64));
                self.phase = Phase::Streaming(sender.clone(), remaining);
                self.deliver(py, Response { status, headers, body })?;
                self.push(py, sender, data, false)
            }
            Phase::Discarding => {
                if more {
                    self.phase = Phase::Discarding;
                } else {
                    self.complete();
                }
                ready(py, py.None())
            }
            Phase::Streaming(sender, remaining) => {
                let remaining = remaining.map(|n| n.saturating_sub(data.len() as u64));
                if more {
                    self.phase = Phase::Streaming(sender.clone(), remaining);
                    self.push(py, sender, data, false)
                } else if data.is_empty()
                    && remaining == Some(0)
                    && matches!(sender.try_finish(), Ok(()) | Err(TrySendError::Closed))
                {
                    // Every declared byte went out, so the connection may already have taken the body
                    // as complete and let go of it: the closing empty message (BaseHTTPMiddleware
                    // always sends one) then has nothing left to deliver, which is not a disconnect.
                    self.complete();
                    ready(py, py.None())
                } else {
                    let result = self.push(py, sender, data, true);
                    self.complete();
                    result
                }
            }
        }
    }

    /// Hands the response head to the network side.
    fn deliver(&mut self, py: Python<'_>, response: Response) -> PyResult<()> {
        let delivered = self.reply.take().is_some_and(|reply| reply.send(response).is_ok());
        if !delivered {
            return Err(self.client_gone(py));
        }
        Ok(())
    }

    /// Queues body bytes (and the end marker when `finish`), waiting on a Tokio task only when the
    /// channel is full.
    fn push(&mut self, py: Python<'_>, sender: BodySender, data: Bytes, finish: bool) -> PyResult<Py<PyAny>> {
        let mut pending = None;
        if !data.is_empty() {
            match sender.try_send(data) {
                Ok(()) => {}
                Err(TrySendError::Full(data)) => pending = Some(data),
                Err(TrySendError::Closed) => return Err(self.client_gone(py)),
            }
        }
        if pending.is_none() && finish {
            match sender.try_finish() {
                Ok(()) => return ready(py, py.None()),
                Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Closed) => return Err(self.client_gone(py)),
            }
        } else if pending.is_none() {
            return ready(py, py.None());
        }
        let fut = self.ctx.create_future.call0(py)?;
        let waiting = fut.clone_ref(py);
        let shared = Arc::clone(&self.shared);
        self.ctx.tokio.spawn(async move {
            let mut ok = true;
            if let Some(data) = pending {
                ok = sender.send(data).await.is_ok();
            }
            if ok && finish {
                ok = sender.finish().await.is_ok();
            }
            if !ok {
                shared.disconnect();
            }
            shared.wake(waiting, if ok { Outcome::Sent } else { Outcome::SendFailed });
        });
        Ok(fut)
    }

    /// Marks the client gone and builds the `OSError` subclass that ASGI 2.4 says `send` raises then.
    fn client_gone(&mut self, py: Python<'_>) -> PyErr {
        self.shared.disconnect();
        match self.ctx.client_disconnected.call1(py, ("client disconnected",)) {
            Ok(exc) => PyErr::from_value(exc.into_bound(py)),
            Err(e) => e,
        }
    }

    /// The response is complete: a pending `receive()` now gets `http.disconnect`.
    fn complete(&mut self) {
        self.phase = Phase::Done;
        let waiter = self.shared.waiter.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(fut) = waiter {
            self.shared.wake(fut, Outcome::Disconnect);
        }
    }
}

fn header_pair(item: &Bound<'_, PyAny>) -> PyResult<(HeaderName, HeaderValue)> {
    let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
        item.extract().map_err(|_| invalid("response headers must be [name, value] pairs of bytes".into()))?;
    let name = byte_slice(&name, "header name")?;
    let value = byte_slice(&value, "header value")?;
    let name = HeaderName::from_bytes(&name)
        .map_err(|_| invalid(format!("invalid header name {:?}", String::from_utf8_lossy(&name))))?;
    let value = HeaderValue::from_bytes(&value).map_err(|_| invalid(format!("invalid value for header {name}")))?;
    Ok((name, value))
}

fn byte_slice(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    obj.extract::<Vec<u8>>().map_err(|_| {
        invalid(format!(
            "{what} must be bytes, got {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}

/// Copies the body out of Python. For bytes this is one memcpy into memory the network side owns, so
/// the Python object is released on this thread and never from a Tokio thread.
fn body_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    obj.extract::<Vec<u8>>().map(Bytes::from).map_err(|_| invalid("'body' must be bytes".into()))
}

//! ASGI `websocket` connections: the scope, `receive` and `send`, the denial-response extension, and
//! what the client sees when the application does not finish the handshake.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use covetpy_protocols::{RequestHead, Response, ResponseBody, WebSocketUpgrade, WsEvent, WsOutgoing};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use pyo3::{intern, IntoPyObjectExt};
use tokio::sync::{mpsc, oneshot};

use super::call::Finish;
use super::context::AsgiContext;
use super::wake::{Resolve, Settled, WakeJob};
use crate::event_loop::Job;

/// A WebSocket handshake on its way to the interpreter thread.
pub(crate) struct WsCall {
    pub(crate) head: RequestHead,
    pub(crate) upgrade: WebSocketUpgrade,
    pub(crate) reply: oneshot::Sender<Response>,
}

/// How a background wait on a WebSocket ended.
pub(crate) enum WsWake {
    /// A message or the close from the client.
    Event(WsEvent),
    /// A queued send went through.
    Sent,
    /// A queued send found the connection gone.
    SendFailed,
}

enum Phase {
    /// The handshake is waiting for `websocket.accept`, a close, or a denial response.
    Handshake { upgrade: WebSocketUpgrade, reply: oneshot::Sender<Response> },
    /// A denial response is being built (`websocket.http.response.start` was sent).
    Denying { reply: oneshot::Sender<Response>, status: StatusCode, headers: HeaderMap, body: Vec<u8> },
    /// Accepted: messages flow.
    Open { incoming: Arc<tokio::sync::Mutex<mpsc::Receiver<WsEvent>>>, outgoing: mpsc::Sender<WsOutgoing> },
    /// Over, with the close code the application will see.
    Closed(u16, String),
}

/// The state behind one WebSocket's `receive` and `send`.
#[pyclass(module = "covetpy", name = "WebSocketCall")]
pub(crate) struct AsgiWebSocket {
    ctx: Arc<AsgiContext>,
    connect_delivered: bool,
    phase: Phase,
    /// A `receive()` made before the handshake was settled, answered once it is.
    early_waiter: Mutex<Option<Py<PyAny>>>,
}

fn invalid(message: impl Into<String>) -> PyErr {
    PyRuntimeError::new_err(message.into())
}

/// Starts `app` (the ASGI application, or a native `@app.websocket` route with its raw path
/// parameters) on a WebSocket handshake.
pub(crate) fn start(
    py: Python<'_>,
    ctx: &Arc<AsgiContext>,
    call: WsCall,
    app: &Bound<'_, PyAny>,
    path_params: Option<&[(String, String)]>,
) {
    let WsCall { head, upgrade, reply } = call;
    let mut scope = super::scope::websocket_scope(py, ctx, &head);
    if let Some(params) = path_params {
        scope = scope.and_then(|scope| {
            let dict = PyDict::new(py);
            for (name, value) in params {
                dict.set_item(name, value)?;
            }
            scope.set_item("path_params", dict)?;
            Ok(scope)
        });
    }
    let state = AsgiWebSocket {
        ctx: Arc::clone(ctx),
        connect_delivered: false,
        phase: Phase::Handshake { upgrade, reply },
        early_waiter: Mutex::new(None),
    };
    let obj = match Py::new(py, state) {
        Ok(obj) => obj,
        Err(e) => return tracing::error!("could not set up the websocket: {}", crate::bootstrap::format_error(py, &e)),
    };
    super::call::run_app(py, ctx, app, scope, obj);
}

/// A WebSocket handshake for the ASGI application, as a job for the event-loop thread.
pub(crate) struct WsJob {
    pub(crate) ctx: Arc<AsgiContext>,
    pub(crate) call: WsCall,
}

impl Job for WsJob {
    fn run(self: Box<Self>, py: Python<'_>) {
        let WsJob { ctx, call } = *self;
        let app = ctx.app.bind(py).clone();
        start(py, &ctx, call, &app, None);
    }
}

impl Resolve for WsWake {
    fn settle<'py>(self, py: Python<'py>, ctx: &AsgiContext) -> PyResult<Settled<'py>> {
        Ok(match self {
            WsWake::Event(event) => Settled::Value(event_message(py, event)?.into_any()),
            WsWake::Sent => Settled::Value(py.None().into_bound(py)),
            WsWake::SendFailed => Settled::Raise(ctx.client_disconnected.bind(py).call1(("websocket closed",))?),
        })
    }
}

fn event_message(py: Python<'_>, event: WsEvent) -> PyResult<Bound<'_, PyDict>> {
    let msg = PyDict::new(py);
    match event {
        WsEvent::Text(text) => {
            msg.set_item(intern!(py, "type"), intern!(py, "websocket.receive"))?;
            msg.set_item(intern!(py, "text"), PyString::new(py, &text))?;
            msg.set_item(intern!(py, "bytes"), py.None())?;
        }
        WsEvent::Binary(data) => {
            msg.set_item(intern!(py, "type"), intern!(py, "websocket.receive"))?;
            msg.set_item(intern!(py, "bytes"), PyBytes::new(py, &data))?;
            msg.set_item(intern!(py, "text"), py.None())?;
        }
        WsEvent::Closed { code, reason } => return disconnect_message(py, code, &reason),
    }
    Ok(msg)
}

fn disconnect_message<'py>(py: Python<'py>, code: u16, reason: &str) -> PyResult<Bound<'py, PyDict>> {
    let msg = PyDict::new(py);
    msg.set_item(intern!(py, "type"), intern!(py, "websocket.disconnect"))?;
    msg.set_item(intern!(py, "code"), code)?;
    msg.set_item(intern!(py, "reason"), reason)?;
    Ok(msg)
}

fn ready(py: Python<'_>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    super::call::ready(py, value.unbind())
}

#[pymethods]
impl AsgiWebSocket {
    /// ASGI `receive`.
    fn receive(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if !self.connect_delivered {
            self.connect_delivered = true;
            let msg = PyDict::new(py);
            msg.set_item(intern!(py, "type"), intern!(py, "websocket.connect"))?;
            return ready(py, msg.into_any());
        }
        match &self.phase {
            Phase::Closed(code, reason) => ready(py, disconnect_message(py, *code, reason)?.into_any()),
            Phase::Open { incoming, .. } => {
                if let Ok(mut rx) = incoming.try_lock() {
                    match rx.try_recv() {
                        Ok(event) => return ready(py, event_message(py, event)?.into_any()),
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            return ready(py, disconnect_message(py, 1006, "")?.into_any())
                        }
                        Err(mpsc::error::TryRecvError::Empty) => {}
                    }
                }
                let fut = self.ctx.create_future.call0(py)?;
                let waiting = fut.clone_ref(py);
                let incoming = Arc::clone(incoming);
                let ctx = Arc::clone(&self.ctx);
                self.ctx.tokio.spawn(async move {
                    let event = incoming.lock().await.recv().await;
                    let event = event.unwrap_or(WsEvent::Closed { code: 1006, reason: String::new() });
                    WakeJob::post(ctx, waiting, WsWake::Event(event));
                });
                Ok(fut)
            }
            Phase::Handshake { .. } | Phase::Denying { .. } => {
                let fut = self.ctx.create_future.call0(py)?;
                *self.early_waiter.lock().unwrap_or_else(PoisonError::into_inner) = Some(fut.clone_ref(py));
                Ok(fut)
            }
        }
    }

    /// ASGI `send`.
    fn send(&mut self, py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let kind: String = message
            .get_item(intern!(py, "type"))
            .and_then(|t| t.extract())
            .map_err(|_| invalid("ASGI message needs a str 'type'"))?;
        match (kind.as_str(), std::mem::replace(&mut self.phase, Phase::Closed(1006, String::new()))) {
            ("websocket.accept", Phase::Handshake { upgrade, reply }) => {
                let subprotocol: Option<String> = message.get_item("subprotocol").ok().and_then(|s| s.extract().ok());
                let headers = header_list(message)?;
                let (response, session) = upgrade.accept(subprotocol.as_deref(), headers);
                if reply.send(response).is_err() {
                    self.phase = Phase::Closed(1006, String::new());
                    return Err(self.closed_error(py));
                }
                self.phase = Phase::Open {
                    incoming: Arc::new(tokio::sync::Mutex::new(session.incoming)),
                    outgoing: session.outgoing,
                };
                self.settle_early_waiter(py, None);
                ready(py, py.None().into_bound(py))
            }
            ("websocket.close", Phase::Handshake { reply, .. }) => {
                // Closing before accepting refuses the handshake, as uvicorn does.
                drop(reply.send(crate::stock_responses::plain(StatusCode::FORBIDDEN, "Forbidden")));
                self.phase = Phase::Closed(1006, String::new());
                self.settle_early_waiter(py, Some(1006));
                ready(py, py.None().into_bound(py))
            }
            ("websocket.http.response.start", Phase::Handshake { reply, .. }) => {
                let status: u16 = message
                    .get_item("status")
                    .and_then(|s| s.extract())
                    .map_err(|_| invalid("'websocket.http.response.start' needs an int 'status'"))?;
                let status = StatusCode::from_u16(status).map_err(|_| invalid(format!("invalid status {status}")))?;
                self.phase = Phase::Denying { reply, status, headers: header_list(message)?, body: Vec::new() };
                ready(py, py.None().into_bound(py))
            }
            ("websocket.http.response.body", Phase::Denying { reply, status, headers, mut body }) => {
                if let Ok(chunk) = message.get_item("body") {
                    if let Ok(b) = chunk.cast::<PyBytes>() {
                        body.extend_from_slice(b.as_bytes());
                    }
                }
                let more = message.get_item("more_body").and_then(|m| m.is_truthy()).unwrap_or(false);
                if more {
                    self.phase = Phase::Denying { reply, status, headers, body };
                } else {
                    let response = Response { status, headers, body: ResponseBody::full(body) };
                    drop(reply.send(response));
                    self.phase = Phase::Closed(1006, String::new());
                    self.settle_early_waiter(py, Some(1006));
                }
                ready(py, py.None().into_bound(py))
            }
            ("websocket.send", Phase::Open { incoming, outgoing }) => {
                let item = if let Ok(Some(text)) = message.get_item("text").and_then(|t| t.extract::<Option<String>>())
                {
                    WsOutgoing::Text(text)
                } else if let Ok(b) =
                    message.get_item("bytes").and_then(|b| b.cast_into::<PyBytes>().map_err(PyErr::from))
                {
                    WsOutgoing::Binary(Bytes::copy_from_slice(b.as_bytes()))
                } else {
                    self.phase = Phase::Open { incoming, outgoing };
                    return Err(invalid("'websocket.send' needs 'text' (str) or 'bytes' (bytes)"));
                };
                let result = self.queue(py, &outgoing, item);
                self.phase = Phase::Open { incoming, outgoing };
                result
            }
            ("websocket.close", Phase::Open { outgoing, .. }) => {
                let code: u16 = message.get_item("code").and_then(|c| c.extract()).unwrap_or(1000);
                let reason: String = message
                    .get_item("reason")
                    .ok()
                    .and_then(|r| r.extract::<Option<String>>().ok())
                    .flatten()
                    .unwrap_or_default();
                let result = self.queue(py, &outgoing, WsOutgoing::Close { code, reason: reason.clone() });
                self.phase = Phase::Closed(code, reason);
                result
            }
            (_, Phase::Closed(code, reason)) => {
                self.phase = Phase::Closed(code, reason);
                Err(self.closed_error(py))
            }
            (other, phase) => {
                self.phase = phase;
                Err(invalid(format!("Unexpected ASGI message '{other}' at this point of the websocket connection.")))
            }
        }
    }
}

impl AsgiWebSocket {
    fn queue(&self, py: Python<'_>, outgoing: &mpsc::Sender<WsOutgoing>, item: WsOutgoing) -> PyResult<Py<PyAny>> {
        match outgoing.try_send(item) {
            Ok(()) => ready(py, py.None().into_bound(py)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.closed_error(py)),
            Err(mpsc::error::TrySendError::Full(item)) => {
                let fut = self.ctx.create_future.call0(py)?;
                let waiting = fut.clone_ref(py);
                let outgoing = outgoing.clone();
                let ctx = Arc::clone(&self.ctx);
                self.ctx.tokio.spawn(async move {
                    let outcome = if outgoing.send(item).await.is_ok() { WsWake::Sent } else { WsWake::SendFailed };
                    WakeJob::post(ctx, waiting, outcome);
                });
                Ok(fut)
            }
        }
    }

    fn closed_error(&self, py: Python<'_>) -> PyErr {
        match self.ctx.client_disconnected.call1(py, ("websocket closed",)) {
            Ok(exc) => PyErr::from_value(exc.into_bound(py)),
            Err(e) => e,
        }
    }

    /// Answers a `receive()` made during the handshake: disconnect if it was refused.
    fn settle_early_waiter(&self, py: Python<'_>, refused: Option<u16>) {
        let waiter = self.early_waiter.lock().unwrap_or_else(PoisonError::into_inner).take();
        let (Some(fut), Some(code)) = (waiter, refused) else { return };
        if let Ok(msg) = disconnect_message(py, code, "") {
            let _ = fut.bind(py).call_method1("set_result", (msg,));
        }
    }
}

fn header_list(message: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    let Ok(list) = message.get_item("headers") else { return Ok(map) };
    if list.is_none() {
        return Ok(map);
    }
    for item in list.try_iter()? {
        let (name, value): (Vec<u8>, Vec<u8>) =
            item?.extract().map_err(|_| invalid("headers must be [name, value] pairs of bytes"))?;
        let name = HeaderName::from_bytes(&name).map_err(|_| invalid("invalid header name"))?;
        let value = HeaderValue::from_bytes(&value).map_err(|_| invalid(format!("invalid value for header {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The `subprotocols` list for the scope.
pub(crate) fn subprotocols<'py>(py: Python<'py>, head: &RequestHead) -> PyResult<Bound<'py, PyList>> {
    let offered = WebSocketUpgrade::offered_subprotocols(&head.headers);
    PyList::new(py, offered.iter().map(|p| p.into_bound_py_any(py)).collect::<PyResult<Vec<_>>>()?)
}

impl Finish for AsgiWebSocket {
    /// The application returned or raised: settle the handshake or close the socket.
    fn finish(&mut self, py: Python<'_>, result: PyResult<()>) {
        if let Err(e) = &result {
            let quiet = e.value(py).is_instance(self.ctx.client_disconnected.bind(py)).unwrap_or(false);
            if !quiet {
                tracing::error!("Exception in ASGI application\n{}", crate::bootstrap::format_error(py, e));
            }
        }
        match std::mem::replace(&mut self.phase, Phase::Closed(1006, String::new())) {
            // Returning without accepting refuses the handshake with 403; raising gives 500.
            Phase::Handshake { reply, .. } | Phase::Denying { reply, .. } => {
                let response = if result.is_ok() {
                    crate::stock_responses::plain(StatusCode::FORBIDDEN, "Forbidden")
                } else {
                    crate::stock_responses::internal_error()
                };
                drop(reply.send(response));
            }
            Phase::Open { outgoing, .. } => {
                let code = if result.is_ok() { 1000 } else { 1011 };
                let _ = outgoing.try_send(WsOutgoing::Close { code, reason: String::new() });
            }
            Phase::Closed(..) => {}
        }
        self.settle_early_waiter(py, Some(1006));
    }
}

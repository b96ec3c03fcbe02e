//! The Python side of a native request: binding arguments, calling the endpoint, turning what it
//! returns (or raises) into a response.

use std::sync::Arc;

use bytes::Bytes;
use covetpy_protocols::{LocalAddr, RequestHead, Response, ResponseBody};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use pyo3::{intern, IntoPyObjectExt};
use tokio::sync::oneshot;

use super::json::Encoder;
use super::params::{errors_body, Arg, ParamError, Source};
use super::routes::{Param, Route, RouteTable};
use crate::asgi::call::{CallShared, HttpCall};
use crate::asgi::context::AsgiContext;
use crate::asgi::websocket::WsCall;
use crate::event_loop::{tasks, Job, LoopEnv};

/// A matched request on its way to Python.
pub(crate) struct NativeCall {
    pub(crate) route: usize,
    pub(crate) head: RequestHead,
    pub(crate) path: String,
    pub(crate) args: Vec<Arg>,
    /// Parameter errors, present only when the app handles validation errors itself.
    pub(crate) errors: Vec<ParamError>,
    pub(crate) body: Bytes,
    pub(crate) reply: oneshot::Sender<Response>,
}

/// What the interpreter threads share about a native app.
pub(crate) struct NativeContext {
    pub(crate) table: Arc<RouteTable>,
    pub(crate) handle_exception: Py<PyAny>,
    pub(crate) request_factory: Py<PyAny>,
    pub(crate) response_type: Py<PyAny>,
    pub(crate) validation_error: Py<PyAny>,
    pub(crate) encoder: Py<PyAny>,
    pub(crate) uuid: Py<PyAny>,
    pub(crate) json_loads: Py<PyAny>,
    pub(crate) event_loop: Py<PyAny>,
    /// Each `def` endpoint call runs in a fresh copy of this context.
    pub(crate) base_context: Py<PyAny>,
    /// The ASGI side of the event-loop thread: its queue, its Tasks, the lifespan state, and the
    /// machinery that runs self-streaming responses.
    pub(crate) asgi: Arc<AsgiContext>,
    /// The middleware run in Rust in front of the app, and the ASGI app behind them.
    pub(crate) front: super::layers::Front,
    /// The `StaticFiles` mounts the server serves itself.
    pub(crate) statics: super::static_files::StaticMounts,
}

impl NativeContext {
    /// Looks up what the package provides. Runs on the interpreter thread after lifespan startup.
    pub(crate) fn load(
        py: Python<'_>,
        app: &Bound<'_, PyAny>,
        env: &LoopEnv<'_>,
        asgi: Arc<AsgiContext>,
    ) -> PyResult<NativeContext> {
        let table = RouteTable::load(py, app)?;
        let front = super::layers::Front::load(py, app, &asgi)?;
        Ok(NativeContext {
            table: Arc::new(table),
            handle_exception: app.getattr("_covet_handle_exception")?.unbind(),
            request_factory: app.getattr("_covet_request")?.unbind(),
            response_type: py.import("covetpy.responses")?.getattr("Response")?.unbind(),
            validation_error: py.import("covetpy.exceptions")?.getattr("RequestValidationError")?.unbind(),
            encoder: py.import("covetpy.encoders")?.getattr("jsonable_encoder")?.unbind(),
            uuid: py.import("uuid")?.getattr("UUID")?.unbind(),
            json_loads: py.import("json")?.getattr("loads")?.unbind(),
            event_loop: env.event_loop.clone().unbind(),
            base_context: env.base_context.clone().unbind(),
            asgi,
            front,
            statics: super::static_files::StaticMounts::load(app)?,
        })
    }
}

/// A finished handler's answer.
pub(crate) enum Reply {
    /// A response the network side can send as is.
    Ready(Response),
    /// A response object that streams itself as an ASGI app; it runs on the event loop.
    Asgi(Py<PyAny>),
}

/// Runs a `def` endpoint on a pool thread.
pub(crate) fn run_sync(py: Python<'_>, ctx: &NativeContext, call: Box<NativeCall>) {
    let route = &ctx.table.routes[call.route];
    let outcome = bind_arguments(py, ctx, route, &call)
        .and_then(|kwargs| call_endpoint(route, &kwargs))
        .and_then(|value| render(py, ctx, route, value));
    let reply = match outcome {
        Ok(reply) => reply,
        Err(e) => recover_blocking(py, ctx, &call, e),
    };
    match reply {
        Reply::Ready(response) => deliver(call, response),
        Reply::Asgi(obj) => {
            ctx.asgi.sender.post(Box::new(StreamJob { ctx: Arc::clone(&ctx.asgi), response: obj, call }));
        }
    }
}

/// A request for an `async def` endpoint, as a job for the event-loop thread.
pub(crate) struct NativeJob {
    pub(crate) ctx: Arc<NativeContext>,
    pub(crate) call: Box<NativeCall>,
}

impl Job for NativeJob {
    fn run(self: Box<Self>, py: Python<'_>) {
        run_async(py, &self.ctx, self.call);
    }
}

/// A handshake for an `@app.websocket` route, as a job for the event-loop thread.
pub(crate) struct NativeWsJob {
    pub(crate) ctx: Arc<NativeContext>,
    pub(crate) call: WsCall,
    pub(crate) index: usize,
    pub(crate) params: Vec<(String, String)>,
}

impl Job for NativeWsJob {
    fn run(self: Box<Self>, py: Python<'_>) {
        let NativeWsJob { ctx, call, index, params } = *self;
        let app = ctx.table.ws_routes[index].asgi.bind(py).clone();
        crate::asgi::websocket::start(py, &ctx.asgi, call, &app, Some(&params));
    }
}

/// A response object from a `def` endpoint that streams itself as an ASGI app; it runs on the
/// event-loop thread.
struct StreamJob {
    ctx: Arc<AsgiContext>,
    response: Py<PyAny>,
    call: Box<NativeCall>,
}

impl Job for StreamJob {
    fn run(self: Box<Self>, py: Python<'_>) {
        stream(py, &self.ctx, self.response.bind(py), self.call);
    }
}

/// Runs a self-streaming response object through the ASGI machinery.
fn stream(py: Python<'_>, ctx: &Arc<AsgiContext>, response: &Bound<'_, PyAny>, call: Box<NativeCall>) {
    let NativeCall { head, reply, .. } = *call;
    let shared = CallShared::new(Arc::clone(ctx), true);
    crate::asgi::call::start(py, ctx, response, HttpCall { head, first: Bytes::new(), body: None, reply, shared });
}

/// Runs an `async def` endpoint as a Task on the event-loop thread.
fn run_async(py: Python<'_>, ctx: &Arc<NativeContext>, call: Box<NativeCall>) {
    let route = &ctx.table.routes[call.route];
    let awaitable = bind_arguments(py, ctx, route, &call).and_then(|kwargs| call_endpoint(route, &kwargs));
    let awaitable = match awaitable {
        Ok(a) => a,
        Err(e) => return recover_async(py, Arc::clone(ctx), call, e),
    };
    let then_ctx = Arc::clone(ctx);
    tasks::drive(
        py,
        &ctx.asgi.tasks,
        awaitable,
        Box::new(move |py, result| {
            let route = &then_ctx.table.routes[call.route];
            match result.and_then(|value| render(py, &then_ctx, route, value.into_bound(py))) {
                Ok(reply) => finish_on_loop(py, &then_ctx, call, reply),
                Err(e) => recover_async(py, then_ctx, call, e),
            }
        }),
    );
}

/// Calls the endpoint; without arguments the cheaper no-argument call is used.
fn call_endpoint<'py>(route: &Route, kwargs: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    let endpoint = route.endpoint.bind(kwargs.py());
    if kwargs.is_empty() {
        endpoint.call0()
    } else {
        endpoint.call((), Some(kwargs))
    }
}

fn finish_on_loop(py: Python<'_>, ctx: &NativeContext, call: Box<NativeCall>, reply: Reply) {
    match reply {
        Reply::Ready(response) => deliver(call, response),
        Reply::Asgi(obj) => stream(py, &ctx.asgi, obj.bind(py), call),
    }
}

/// Sends the response head and body to the network side; HEAD answers keep the headers only.
pub(crate) fn deliver(call: Box<NativeCall>, mut response: Response) {
    if call.head.method == Method::HEAD {
        response.body = ResponseBody::empty();
    }
    // The client may have gone away; then nobody is waiting for this answer.
    drop(call.reply.send(response));
}

/// After a failure on a pool thread: ask the app's exception handlers, waiting for an async one on the
/// event loop.
fn recover_blocking(py: Python<'_>, ctx: &NativeContext, call: &NativeCall, err: PyErr) -> Reply {
    let handled = ask_exception_handler(py, ctx, call, &err).and_then(|answer| {
        if is_awaitable(&answer) {
            let future =
                py.import("asyncio")?.call_method1("run_coroutine_threadsafe", (answer, ctx.event_loop.bind(py)))?;
            future.call_method0("result")
        } else {
            Ok(answer)
        }
    });
    match handled.and_then(|answer| render(py, ctx, &ctx.table.routes[call.route], answer)) {
        Ok(reply) => reply,
        Err(e) => fallback(py, ctx, &err, &e),
    }
}

fn recover_async(py: Python<'_>, ctx: Arc<NativeContext>, call: Box<NativeCall>, err: PyErr) {
    let answer = match ask_exception_handler(py, &ctx, &call, &err) {
        Ok(answer) => answer,
        Err(e) => return deliver_fallback(py, &ctx, call, &err, &e),
    };
    if !is_awaitable(&answer) {
        return match render(py, &ctx, &ctx.table.routes[call.route], answer) {
            Ok(reply) => finish_on_loop(py, &ctx, call, reply),
            Err(e) => deliver_fallback(py, &ctx, call, &err, &e),
        };
    }
    let tasks = Arc::clone(&ctx.asgi.tasks);
    tasks::drive(
        py,
        &tasks,
        answer,
        Box::new(move |py, result| {
            match result.and_then(|a| render(py, &ctx, &ctx.table.routes[call.route], a.into_bound(py))) {
                Ok(reply) => finish_on_loop(py, &ctx, call, reply),
                Err(e) => deliver_fallback(py, &ctx, call, &err, &e),
            }
        }),
    );
}

fn deliver_fallback(
    py: Python<'_>,
    ctx: &NativeContext,
    call: Box<NativeCall>,
    original: &PyErr,
    handler_error: &PyErr,
) {
    let reply = fallback(py, ctx, original, handler_error);
    finish_on_loop(py, ctx, call, reply);
}

/// No handler took the exception: a validation error still gets its 422, anything else is logged
/// with its traceback and answered with a 500.
fn fallback(py: Python<'_>, ctx: &NativeContext, original: &PyErr, handler_error: &PyErr) -> Reply {
    if original.value(py).is_instance(ctx.validation_error.bind(py)).unwrap_or(false) {
        let body = original
            .value(py)
            .call_method0("errors")
            .and_then(|errors| {
                let detail = PyDict::new(py);
                detail.set_item("detail", errors)?;
                Encoder::new(ctx.encoder.bind(py)).encode(detail.as_any())
            })
            .unwrap_or_else(|_| b"{\"detail\":[]}".to_vec());
        return Reply::Ready(json_response(StatusCode::UNPROCESSABLE_ENTITY, body));
    }
    let same = handler_error.value(py).is(original.value(py));
    tracing::error!("Exception in CovetPy application\n{}", crate::bootstrap::format_error(py, original));
    if !same {
        tracing::error!("The exception handler failed too\n{}", crate::bootstrap::format_error(py, handler_error));
    }
    Reply::Ready(ctx.front.internal_error())
}

fn ask_exception_handler<'py>(
    py: Python<'py>,
    ctx: &NativeContext,
    call: &NativeCall,
    err: &PyErr,
) -> PyResult<Bound<'py, PyAny>> {
    let request = make_request(py, ctx, call).unwrap_or_else(|_| py.None().into_bound(py));
    ctx.handle_exception.bind(py).call1((request, err.value(py)))
}

fn is_awaitable(obj: &Bound<'_, PyAny>) -> bool {
    obj.hasattr(intern!(obj.py(), "__await__")).unwrap_or(false)
}

/// A `def`/`async def` endpoint's return value as a response.
fn render(py: Python<'_>, ctx: &NativeContext, route: &Route, value: Bound<'_, PyAny>) -> PyResult<Reply> {
    if value.is_instance(ctx.response_type.bind(py))? {
        return response_object(py, &value);
    }
    if let (Some(media_type), Ok(text)) = (&route.text_media_type, value.cast_exact::<pyo3::types::PyString>()) {
        let mut response = Response::full(route.status, Bytes::copy_from_slice(text.to_str()?.as_bytes()));
        response.headers.insert(CONTENT_TYPE, media_type.clone());
        return Ok(Reply::Ready(response));
    }
    if let Some(class) = &route.response_class {
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "status_code"), route.status.as_u16())?;
        let obj = class.bind(py).call((value,), Some(&kwargs))?;
        return response_object(py, &obj);
    }
    let body = Encoder::new(ctx.encoder.bind(py)).encode(&value)?;
    Ok(Reply::Ready(json_response(route.status, body)))
}

/// Reads a `covetpy.responses.Response`: status, complete headers and body.
fn response_object(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Reply> {
    // Streaming responses (those that say so, and those with no `body` at all, as Starlette's
    // StreamingResponse and FileResponse), and responses with a background task to run after
    // sending, go through their own ASGI implementation.
    let streams = obj.getattr(intern!(py, "is_asgi_only")).and_then(|v| v.is_truthy()).unwrap_or(false);
    let has_background = obj.getattr(intern!(py, "background")).is_ok_and(|b| !b.is_none());
    let body = match obj.getattr_opt(intern!(py, "body"))? {
        Some(body) if !streams && !has_background => body,
        _ => return Ok(Reply::Asgi(obj.clone().unbind())),
    };
    let status: u16 = obj.getattr(intern!(py, "status_code"))?.extract()?;
    let status = StatusCode::from_u16(status)
        .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("invalid status code {status}")))?;
    let mut headers = HeaderMap::new();
    for pair in obj.getattr(intern!(py, "raw_headers"))?.try_iter()? {
        let (name, value): (Vec<u8>, Vec<u8>) = pair?.extract()?;
        let name = HeaderName::from_bytes(&name)
            .map_err(|_| pyo3::exceptions::PyValueError::new_err("invalid response header name"))?;
        let value = HeaderValue::from_bytes(&value)
            .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    let body = match body.cast::<PyBytes>() {
        Ok(b) => Bytes::copy_from_slice(b.as_bytes()),
        Err(_) => Bytes::from(body.extract::<Vec<u8>>()?),
    };
    Ok(Reply::Ready(Response { status, headers, body: ResponseBody::full(body) }))
}

/// A JSON response, as the server renders return values and errors.
pub(crate) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = Response::full(status, body);
    response.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The 422 answer for parameter errors found before Python ran.
pub(crate) fn validation_response(errors: &[ParamError]) -> Response {
    json_response(StatusCode::UNPROCESSABLE_ENTITY, errors_body(errors))
}

/// The keyword arguments for the endpoint. Errors found earlier are raised here as the app's
/// `RequestValidationError` so its own handler sees them.
fn bind_arguments<'py>(
    py: Python<'py>,
    ctx: &NativeContext,
    route: &Route,
    call: &NativeCall,
) -> PyResult<Bound<'py, PyDict>> {
    if !call.errors.is_empty() {
        let errors = ctx.json_loads.bind(py).call1((format!("[{}]", join_errors(&call.errors)),))?;
        // FastAPI reports parameter and body errors in one list.
        if let Some(validator) = &route.body_validator {
            let content_type = call.head.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if let Err(e) = validator.bind(py).call1((PyBytes::new(py, &call.body), content_type)) {
                if !e.value(py).is_instance(ctx.validation_error.bind(py))? {
                    return Err(e);
                }
                errors.call_method1("extend", (e.value(py).call_method0("errors")?,))?;
            }
        }
        return Err(PyErr::from_value(ctx.validation_error.bind(py).call1((errors,))?));
    }
    let kwargs = PyDict::new(py);
    for (param, arg) in route.params.iter().zip(&call.args) {
        let value = match param.source {
            Source::Request => make_request(py, ctx, call)?,
            _ => to_python(py, ctx, param, arg)?,
        };
        kwargs.set_item(param.name.bind(py), value)?;
    }
    if let Some(validator) = &route.body_validator {
        let content_type = call.head.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let values = validator.bind(py).call1((PyBytes::new(py, &call.body), content_type))?;
        kwargs.update(values.cast::<pyo3::types::PyMapping>()?)?;
    }
    Ok(kwargs)
}

fn join_errors(errors: &[ParamError]) -> String {
    errors.iter().map(|e| e.0.as_str()).collect::<Vec<_>>().join(",")
}

fn to_python<'py>(py: Python<'py>, ctx: &NativeContext, param: &Param, arg: &Arg) -> PyResult<Bound<'py, PyAny>> {
    Ok(match arg {
        Arg::Default => param.default.bind(py).clone(),
        Arg::Str(s) => s.into_bound_py_any(py)?,
        Arg::Int(n) => n.into_bound_py_any(py)?,
        Arg::BigInt(digits) => py.get_type::<pyo3::types::PyInt>().call1((digits,))?,
        Arg::Float(f) => f.into_bound_py_any(py)?,
        Arg::Bool(b) => b.into_bound_py_any(py)?,
        Arg::Uuid(hex) => ctx.uuid.bind(py).call1((hex,))?,
        Arg::Enum(i) => param.enum_members[*i].bind(py).clone(),
        Arg::List(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, ctx, param, item)?)?;
            }
            list.into_any()
        }
    })
}

/// The data the app's `_covet_request` reads to build its request object.
#[pyclass(module = "covetpy", name = "NativeRequest", frozen)]
struct NativeRequest {
    #[pyo3(get)]
    method: Py<PyAny>,
    #[pyo3(get)]
    scheme: Py<PyAny>,
    #[pyo3(get)]
    http_version: Py<PyAny>,
    #[pyo3(get)]
    path: Py<PyAny>,
    #[pyo3(get)]
    root_path: Py<PyAny>,
    #[pyo3(get)]
    query_string: Py<PyAny>,
    #[pyo3(get)]
    headers: Py<PyAny>,
    #[pyo3(get)]
    client: Py<PyAny>,
    #[pyo3(get)]
    server: Py<PyAny>,
    #[pyo3(get)]
    path_params: Py<PyAny>,
    #[pyo3(get)]
    body: Py<PyAny>,
    #[pyo3(get)]
    state: Py<PyAny>,
}

fn make_request<'py>(py: Python<'py>, ctx: &NativeContext, call: &NativeCall) -> PyResult<Bound<'py, PyAny>> {
    let head = &call.head;
    let headers = PyList::empty(py);
    if !head.headers.contains_key(http::header::HOST) {
        if let Some(authority) = head.uri.authority() {
            headers.append(PyTuple::new(
                py,
                [PyBytes::new(py, b"host"), PyBytes::new(py, authority.as_str().as_bytes())],
            )?)?;
        }
    }
    for (name, value) in &head.headers {
        headers.append(PyTuple::new(
            py,
            [PyBytes::new(py, name.as_str().as_bytes()), PyBytes::new(py, value.as_bytes())],
        )?)?;
    }
    let route = &ctx.table.routes[call.route];
    let path_params = PyDict::new(py);
    for (param, arg) in route.params.iter().zip(&call.args) {
        if param.source == Source::Path {
            path_params.set_item(&param.alias, to_python(py, ctx, param, arg)?)?;
        }
    }
    let client = match head.client {
        Some(addr) => (addr.ip().to_string(), addr.port()).into_py_any(py)?,
        None => py.None(),
    };
    let server = match &head.server {
        LocalAddr::Tcp(addr) => (addr.ip().to_string(), addr.port()).into_py_any(py)?,
        LocalAddr::Unix(path) => (path.to_string_lossy().into_owned(), py.None()).into_py_any(py)?,
    };
    let native = NativeRequest {
        method: head.method.as_str().into_py_any(py)?,
        scheme: head.scheme.as_str().into_py_any(py)?,
        http_version: head.version.as_str().into_py_any(py)?,
        path: call.path.as_str().into_py_any(py)?,
        root_path: ctx.asgi.root_path.as_str().into_py_any(py)?,
        query_string: PyBytes::new(py, head.query().as_bytes()).into_any().unbind(),
        headers: headers.into_any().unbind(),
        client,
        server,
        path_params: path_params.into_any().unbind(),
        body: PyBytes::new(py, &call.body).into_any().unbind(),
        state: ctx.asgi.state.bind(py).copy()?.into_any().unbind(),
    };
    ctx.request_factory.bind(py).call1((Py::new(py, native)?,))
}

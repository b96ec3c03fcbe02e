//! Building the ASGI `http` scope from a request head.

use covetpy_protocols::{LocalAddr, RequestHead};
use http::Method;
use percent_encoding::percent_decode_str;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

use super::context::AsgiContext;

/// The scope dict for one request, as ASGI 3.0 (spec 2.4) describes it and uvicorn fills it in.
pub(crate) fn http_scope<'py>(py: Python<'py>, ctx: &AsgiContext, head: &RequestHead) -> PyResult<Bound<'py, PyDict>> {
    let scope = common_scope(py, ctx, head)?;
    scope.set_item(intern!(py, "type"), intern!(py, "http"))?;
    scope.set_item(intern!(py, "method"), method(py, &head.method))?;
    scope.set_item(intern!(py, "scheme"), scheme(py, head))?;
    Ok(scope)
}

/// The scope for a WebSocket handshake, with the denial-response extension advertised.
pub(crate) fn websocket_scope<'py>(
    py: Python<'py>,
    ctx: &AsgiContext,
    head: &RequestHead,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = common_scope(py, ctx, head)?;
    scope.set_item(intern!(py, "type"), intern!(py, "websocket"))?;
    let scheme = match head.scheme {
        covetpy_protocols::Scheme::Http => intern!(py, "ws"),
        covetpy_protocols::Scheme::Https => intern!(py, "wss"),
    };
    scope.set_item(intern!(py, "scheme"), scheme)?;
    scope.set_item(intern!(py, "subprotocols"), super::websocket::subprotocols(py, head)?)?;
    let extensions = PyDict::new(py);
    extensions.set_item("websocket.http.response", PyDict::new(py))?;
    scope.set_item(intern!(py, "extensions"), extensions)?;
    Ok(scope)
}

/// The keys HTTP and WebSocket scopes share.
fn common_scope<'py>(py: Python<'py>, ctx: &AsgiContext, head: &RequestHead) -> PyResult<Bound<'py, PyDict>> {
    let scope = PyDict::new(py);
    let asgi = PyDict::new(py);
    asgi.set_item(intern!(py, "version"), intern!(py, "3.0"))?;
    asgi.set_item(intern!(py, "spec_version"), intern!(py, "2.4"))?;
    scope.set_item(intern!(py, "asgi"), asgi)?;
    scope.set_item(intern!(py, "http_version"), http_version(py, head))?;

    let raw_path = head.raw_path();
    let decoded = percent_decode_str(raw_path).decode_utf8_lossy();
    let root = ctx.root_path.as_str();
    // uvicorn prepends root_path to both paths, and Starlette strips it again for routing.
    if root.is_empty() {
        scope.set_item(intern!(py, "path"), decoded.as_ref())?;
        scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, raw_path.as_bytes()))?;
    } else {
        scope.set_item(intern!(py, "path"), format!("{root}{decoded}"))?;
        let raw = [root.as_bytes(), raw_path.as_bytes()].concat();
        scope.set_item(intern!(py, "raw_path"), PyBytes::new(py, &raw))?;
    }
    scope.set_item(intern!(py, "query_string"), PyBytes::new(py, head.query().as_bytes()))?;
    scope.set_item(intern!(py, "root_path"), ctx.root_path_str.bind(py))?;
    scope.set_item(intern!(py, "headers"), headers(py, head)?)?;
    scope.set_item(intern!(py, "client"), client(py, head)?)?;
    scope.set_item(intern!(py, "server"), server(py, &head.server)?)?;
    scope.set_item(intern!(py, "state"), ctx.state.bind(py).copy()?)?;
    Ok(scope)
}

fn http_version<'py>(py: Python<'py>, head: &RequestHead) -> &'py Bound<'py, PyString> {
    use covetpy_protocols::HttpVersion::*;
    match head.version {
        Http10 => intern!(py, "1.0"),
        Http11 => intern!(py, "1.1"),
        Http2 => intern!(py, "2"),
        Http3 => intern!(py, "3"),
    }
}

fn scheme<'py>(py: Python<'py>, head: &RequestHead) -> &'py Bound<'py, PyString> {
    match head.scheme {
        covetpy_protocols::Scheme::Http => intern!(py, "http"),
        covetpy_protocols::Scheme::Https => intern!(py, "https"),
    }
}

/// Standard methods come from interned strings; others (rare, client-chosen) are built fresh so a
/// client cannot grow the interned-string table.
fn method<'py>(py: Python<'py>, method: &Method) -> Bound<'py, PyString> {
    let known = match *method {
        Method::GET => intern!(py, "GET"),
        Method::POST => intern!(py, "POST"),
        Method::PUT => intern!(py, "PUT"),
        Method::DELETE => intern!(py, "DELETE"),
        Method::HEAD => intern!(py, "HEAD"),
        Method::OPTIONS => intern!(py, "OPTIONS"),
        Method::PATCH => intern!(py, "PATCH"),
        _ => return PyString::new(py, method.as_str()),
    };
    known.clone()
}

fn headers<'py>(py: Python<'py>, head: &RequestHead) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    // HTTP/2 carries the host in :authority; ASGI apps (and Starlette's URL building) expect `host`.
    if !head.headers.contains_key(http::header::HOST) {
        if let Some(authority) = head.uri.authority() {
            list.append(PyTuple::new(
                py,
                [PyBytes::new(py, b"host"), PyBytes::new(py, authority.as_str().as_bytes())],
            )?)?;
        }
    }
    for (name, value) in &head.headers {
        let pair = PyTuple::new(py, [PyBytes::new(py, name.as_str().as_bytes()), PyBytes::new(py, value.as_bytes())])?;
        list.append(pair)?;
    }
    Ok(list)
}

fn client<'py>(py: Python<'py>, head: &RequestHead) -> PyResult<Bound<'py, PyAny>> {
    match head.client {
        Some(addr) => (addr.ip().to_string(), addr.port()).into_bound_py_any(py),
        None => Ok(py.None().into_bound(py)),
    }
}

fn server<'py>(py: Python<'py>, local: &LocalAddr) -> PyResult<Bound<'py, PyAny>> {
    match local {
        LocalAddr::Tcp(addr) => (addr.ip().to_string(), addr.port()).into_bound_py_any(py),
        LocalAddr::Unix(path) => (path.to_string_lossy().into_owned(), py.None()).into_bound_py_any(py),
    }
}

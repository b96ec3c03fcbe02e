//! Building the PEP 3333 `environ` dict from a request head.

use covetpy_protocols::{LocalAddr, RequestHead};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE};
use percent_encoding::percent_decode_str;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::{intern, IntoPyObjectExt};

use super::WsgiContext;

/// A native string holding raw bytes, as PEP 3333 wants for everything that came off the wire: each
/// byte becomes the code point of the same value (latin-1).
fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Bound<'py, PyString> {
    if let Some(ascii) = bytes.is_ascii().then(|| std::str::from_utf8(bytes).ok()).flatten() {
        // The common case: ASCII is already the same code points in UTF-8.
        return PyString::new(py, ascii);
    }
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    PyString::new(py, &text)
}

/// The environ for one request. `input` is the `wsgi.input` stream.
pub(crate) fn environ<'py>(
    py: Python<'py>,
    ctx: &WsgiContext,
    head: &RequestHead,
    input: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    env.set_item(intern!(py, "REQUEST_METHOD"), head.method.as_str())?;
    env.set_item(intern!(py, "SCRIPT_NAME"), ctx.root_path.bind(py))?;
    let path: Vec<u8> = percent_decode_str(head.raw_path()).collect();
    env.set_item(intern!(py, "PATH_INFO"), latin1(py, &path))?;
    env.set_item(intern!(py, "QUERY_STRING"), head.query())?;
    env.set_item(intern!(py, "RAW_URI"), head.uri.path_and_query().map_or("/", |pq| pq.as_str()))?;
    env.set_item(intern!(py, "SERVER_PROTOCOL"), head.version.protocol())?;
    match &head.server {
        LocalAddr::Tcp(addr) => {
            env.set_item(intern!(py, "SERVER_NAME"), addr.ip().to_string())?;
            env.set_item(intern!(py, "SERVER_PORT"), addr.port().to_string())?;
        }
        LocalAddr::Unix(path) => {
            env.set_item(intern!(py, "SERVER_NAME"), path.to_string_lossy().as_ref())?;
            env.set_item(intern!(py, "SERVER_PORT"), "0")?;
        }
    }
    if let Some(client) = head.client {
        env.set_item(intern!(py, "REMOTE_ADDR"), client.ip().to_string())?;
        env.set_item(intern!(py, "REMOTE_PORT"), client.port().to_string())?;
    }
    headers(py, &env, head)?;

    env.set_item(intern!(py, "wsgi.version"), (1, 0))?;
    env.set_item(intern!(py, "wsgi.url_scheme"), head.scheme.as_str())?;
    env.set_item(intern!(py, "wsgi.input"), input)?;
    env.set_item(intern!(py, "wsgi.input_terminated"), true)?;
    env.set_item(intern!(py, "wsgi.errors"), ctx.errors.bind(py))?;
    env.set_item(intern!(py, "wsgi.multithread"), true)?;
    env.set_item(intern!(py, "wsgi.multiprocess"), ctx.multiprocess)?;
    env.set_item(intern!(py, "wsgi.run_once"), false)?;
    env.set_item(intern!(py, "wsgi.file_wrapper"), ctx.file_wrapper.bind(py))?;
    Ok(env)
}

/// `CONTENT_TYPE`, `CONTENT_LENGTH` and `HTTP_*`. Repeated fields are joined with commas (cookies with
/// semicolons, as HTTP/2 requires). A name containing `_` is dropped: it would map to the same key as
/// its `-` spelling, and a client could use that to spoof a header a proxy set.
fn headers(py: Python<'_>, env: &Bound<'_, PyDict>, head: &RequestHead) -> PyResult<()> {
    if !head.headers.contains_key(http::header::HOST) {
        if let Some(authority) = head.uri.authority() {
            env.set_item(intern!(py, "HTTP_HOST"), authority.as_str())?;
        }
    }
    for name in head.headers.keys() {
        if name.as_str().contains('_') {
            continue;
        }
        let separator: &[u8] = if name == COOKIE { b"; " } else { b"," };
        let mut values = head.headers.get_all(name).iter();
        let Some(first) = values.next() else { continue };
        let mut joined = first.as_bytes().to_vec();
        for value in values {
            joined.extend_from_slice(separator);
            joined.extend_from_slice(value.as_bytes());
        }
        let value = latin1(py, &joined);
        if name == CONTENT_TYPE {
            env.set_item(intern!(py, "CONTENT_TYPE"), value)?;
        } else if name == CONTENT_LENGTH {
            env.set_item(intern!(py, "CONTENT_LENGTH"), value)?;
        } else {
            let key: String = "HTTP_"
                .chars()
                .chain(name.as_str().chars().map(|c| if c == '-' { '_' } else { c.to_ascii_uppercase() }))
                .collect();
            env.set_item(key.into_bound_py_any(py)?, value)?;
        }
    }
    Ok(())
}

//! Starlette's `CORSMiddleware`, `TrustedHostMiddleware`, `HTTPSRedirectMiddleware` and
//! `GZipMiddleware` run by the server itself, in front of everything it answers for a native app:
//! native routes, its own 404/405/422, and what it hands to the app's ASGI side.
//!
//! The app's `_covet_layers()` describes the outermost run of those middleware (CONTRACT.md); the
//! ASGI side then runs `_covet_asgi_inner()`, the app's stack without them, so none runs twice.
//! A layer's request side may answer at once (a preflight, a refused host, a redirect); that answer
//! still passes back through the layers outside it, as in Starlette's stack.

mod cors;
mod gzip;
mod httpsredirect;
mod trustedhost;
mod url;

use std::sync::Arc;

use covetpy_protocols::{RequestHead, Response};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, VARY};
use http::{HeaderMap, Method, StatusCode};
use pyo3::prelude::*;

use crate::asgi::context::AsgiContext;

/// The header the app's ASGI side puts on answers Starlette makes outside the user middleware
/// (`ServerErrorMiddleware`'s 500s), and the server on its own 500s: no layer touches them, and
/// the header is removed before sending.
const UNLAYERED: &str = "x-covetpy-unlayered";

enum Layer {
    Cors(cors::Cors),
    TrustedHost(trustedhost::TrustedHost),
    HttpsRedirect,
    GZip(gzip::GZip),
}

/// What a layer noted about the request for its work on the answer.
pub(crate) enum Entered {
    /// CORS: the request's `Origin`.
    Cors(Option<String>),
    /// GZip: whether the client accepts gzip; `None` for a HEAD request, whose empty body Starlette's
    /// GZip leaves alone.
    GZip(Option<bool>),
    /// Nothing to do on the way out.
    Nothing,
}

/// The layers in front of a native app, outermost first, and the ASGI app behind them.
pub(crate) struct Front {
    layers: Vec<Layer>,
    /// The app's ASGI side for requests Rust does not serve: its stack without these layers.
    pub(crate) inner: Arc<AsgiContext>,
    /// A layer could not be run in Rust: the app's whole stack, middleware included, serves every
    /// request in Python.
    pub(crate) python_only: bool,
}

impl Front {
    /// Reads `app._covet_layers()` and `app._covet_asgi_inner()` (an app without them has no layers).
    pub(crate) fn load(py: Python<'_>, app: &Bound<'_, PyAny>, asgi: &Arc<AsgiContext>) -> PyResult<Front> {
        let whole = |python_only| Front { layers: Vec::new(), inner: Arc::clone(asgi), python_only };
        if !app.hasattr("_covet_layers")? {
            return Ok(whole(false));
        }
        let mut layers = Vec::new();
        for spec in app.call_method0("_covet_layers")?.try_iter()? {
            let spec = spec?;
            let kind: String = spec.getattr("kind")?.extract()?;
            layers.push(match kind.as_str() {
                "cors" => match cors::Cors::load(&spec)? {
                    Ok(cors) => Layer::Cors(cors),
                    Err(e) => {
                        tracing::warn!("CORSMiddleware runs in Python for this app: {e}");
                        return Ok(whole(true));
                    }
                },
                "trustedhost" => Layer::TrustedHost(trustedhost::TrustedHost::load(&spec)?),
                "httpsredirect" => Layer::HttpsRedirect,
                "gzip" => Layer::GZip(gzip::GZip::load(&spec)?),
                other => {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown middleware layer {other:?}")))
                }
            });
        }
        if layers.is_empty() {
            return Ok(whole(false));
        }
        let inner_app = app.call_method0("_covet_asgi_inner")?.unbind();
        Ok(Front { layers, inner: Arc::new(asgi.with_app(py, inner_app)), python_only: false })
    }

    /// The server's own 500, marked so no layer touches it (Starlette's `ServerErrorMiddleware` sits
    /// outside the user middleware).
    pub(crate) fn internal_error(&self) -> Response {
        let mut response = crate::stock_responses::internal_error();
        if !self.layers.is_empty() {
            response.headers.insert(HeaderName::from_static(UNLAYERED), HeaderValue::from_static("1"));
        }
        response
    }

    /// Whether there is nothing to do per request.
    pub(crate) fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// Runs the layers' request side, outermost first: what each noted for the way out, or the
    /// answer one of them gave (already passed through the layers outside it).
    pub(crate) fn enter(&self, head: &RequestHead, websocket: bool) -> Result<Vec<Entered>, Box<Response>> {
        let mut entered = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let step = match layer {
                // CORS and GZip are HTTP-only in Starlette; TrustedHost and HTTPSRedirect see handshakes too.
                Layer::Cors(_) | Layer::GZip(_) if websocket => Ok(Entered::Nothing),
                Layer::Cors(cors) => cors.enter(head).map(Entered::Cors),
                Layer::GZip(_) if head.method == Method::HEAD => Ok(Entered::GZip(None)),
                Layer::GZip(_) => Ok(Entered::GZip(Some(accepts_gzip(&head.headers)))),
                Layer::TrustedHost(t) => {
                    t.check(head, websocket, &self.inner.root_path).map_or(Ok(Entered::Nothing), |r| Err(Box::new(r)))
                }
                Layer::HttpsRedirect => httpsredirect::check(head, websocket, &self.inner.root_path)
                    .map_or(Ok(Entered::Nothing), |r| Err(Box::new(r))),
            };
            match step {
                Ok(noted) => entered.push(noted),
                Err(answer) => return Err(Box::new(self.unwind(entered, *answer))),
            }
        }
        Ok(entered)
    }

    /// Runs the layers' response side, innermost first, on the answer to a request they let through.
    pub(crate) fn leave(&self, entered: Vec<Entered>, mut response: Response) -> Response {
        if response.headers.remove(UNLAYERED).is_some() {
            return response;
        }
        self.unwind(entered, response)
    }

    fn unwind(&self, entered: Vec<Entered>, mut response: Response) -> Response {
        for (layer, noted) in self.layers.iter().zip(entered).rev() {
            response = match (layer, noted) {
                (Layer::Cors(cors), Entered::Cors(origin)) => {
                    cors.leave(origin.as_deref(), &mut response);
                    response
                }
                (Layer::GZip(gzip), Entered::GZip(Some(accepts))) => gzip.leave(accepts, response),
                _ => response,
            };
        }
        response
    }
}

/// Starlette's test: `"gzip" in headers.get("Accept-Encoding", "")` (the first such header).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get(http::header::ACCEPT_ENCODING).is_some_and(|v| url::latin1(v.as_bytes()).contains("gzip"))
}

/// Sets a header as Starlette's `MutableHeaders.__setitem__` does: one field with that name.
fn set_header(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    headers.insert(name, value);
}

/// `MutableHeaders.add_vary_header`: every `Vary` field joined into one, with `value` added.
fn append_vary(headers: &mut HeaderMap, value: &str) {
    let mut joined: Vec<String> = headers.get_all(VARY).iter().map(|v| url::latin1(v.as_bytes())).collect();
    joined.push(value.to_owned());
    if let Some(value) = cors::latin1_value(&joined.join(", ")) {
        headers.insert(VARY, value);
    }
}

/// `PlainTextResponse(text, status, headers=...)`: the given headers, then length and type.
fn plain_text(status: StatusCode, text: &str, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    let mut response = Response::full(status, text.as_bytes().to_vec());
    for (name, value) in headers {
        response.headers.insert(name, value);
    }
    response.headers.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
    response.headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// `RedirectResponse(location, status)`: an empty body and a `location`.
fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = Response::full(status, Vec::new());
    response.headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers.insert(LOCATION, value);
    }
    response
}

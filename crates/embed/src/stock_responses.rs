//! The short responses every interface sends on its own: 400, 500, 503 and the like.

use covetpy_protocols::Response;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;

/// A short `text/plain` response.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::full(status, text.as_bytes());
    response.headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The 500 sent when the application fails before its response has started.
pub(crate) fn internal_error() -> Response {
    plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

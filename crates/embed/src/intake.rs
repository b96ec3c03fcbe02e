//! What every interface does with a request before it reaches Python, and the stock error responses.

use bytes::Bytes;
use covetpy_protocols::{RequestBody, Response};
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;

/// Body bytes already buffered with the request head that are handed over together with it, so a small
/// body costs no extra trip between threads.
const FIRST_CHUNK: usize = 64 * 1024;

/// Takes the body bytes that arrived with the head. Returns them, and the body itself if more may
/// follow. A body that fails mid-read gets the 400 response to send instead.
pub(crate) fn split_body(mut body: RequestBody) -> Result<(Bytes, Option<RequestBody>), Box<Response>> {
    if body.is_end_stream() {
        return Ok((Bytes::new(), None));
    }
    match body.ready_chunk(FIRST_CHUNK) {
        Ok(first) => Ok((first, (!body.is_end_stream()).then_some(body))),
        Err(e) => {
            tracing::debug!("{e}");
            Err(Box::new(plain(StatusCode::BAD_REQUEST, "Bad Request")))
        }
    }
}

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

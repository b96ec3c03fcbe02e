//! The body bytes that arrive with a request head travel to Python with it.

use bytes::Bytes;
use covetpy_protocols::{RequestBody, Response};
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
            Err(Box::new(crate::stock_responses::plain(StatusCode::BAD_REQUEST, "Bad Request")))
        }
    }
}

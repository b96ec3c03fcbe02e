//! Starlette's `GZipMiddleware`: answers of at least `minimum_size` bytes (and every streamed
//! answer) compressed for clients that accept gzip, with `Vary: Accept-Encoding`; answers already
//! encoded, partial (206) or of an excluded media type left alone.

use std::pin::Pin;

use bytes::Bytes;
use covetpy_protocols::{Response, ResponseBody};
use flate2::{Compress, Compression, FlushCompress, Status};
use http::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;
use pyo3::prelude::*;

use super::append_vary;

/// Chunks a compressed stream may have waiting for a slow client.
const STREAM_CAPACITY: usize = 8;

/// The middleware's options.
pub(crate) struct GZip {
    minimum_size: usize,
    level: Compression,
    /// Normalised media types (`audio/*` style wildcards included).
    exclude: Vec<String>,
}

impl GZip {
    /// Reads a `GZipSpec`.
    pub(crate) fn load(spec: &Bound<'_, PyAny>) -> PyResult<GZip> {
        let level: i64 = spec.getattr("compresslevel")?.extract()?;
        // zlib's -1 is its default level, 6.
        let level = if level < 0 { 6 } else { level.min(9) as u32 };
        Ok(GZip {
            minimum_size: spec.getattr("minimum_size")?.extract::<i64>()?.max(0) as usize,
            level: Compression::new(level),
            exclude: spec.getattr("exclude_content_types")?.extract()?,
        })
    }

    fn excluded(&self, response: &Response) -> bool {
        if response.headers.contains_key(CONTENT_ENCODING) || response.status == StatusCode::PARTIAL_CONTENT {
            return true;
        }
        let content_type = response.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim().to_lowercase();
        let major = format!("{}/*", media_type.split('/').next().unwrap_or(""));
        let grpc = media_type.starts_with("application/grpc+");
        self.exclude.iter().any(|e| *e == media_type || *e == major || (grpc && e == "application/grpc"))
    }

    /// Compresses (or, when the client does not take gzip, only marks) an answer.
    pub(crate) fn leave(&self, accepts_gzip: bool, response: Response) -> Response {
        if self.excluded(&response) {
            return response;
        }
        let Response { status, mut headers, body } = response;
        match body.into_full() {
            Ok(bytes) => {
                if bytes.len() < self.minimum_size {
                    return Response { status, headers, body: ResponseBody::full(bytes) };
                }
                append_vary(&mut headers, "Accept-Encoding");
                if !accepts_gzip {
                    return Response { status, headers, body: ResponseBody::full(bytes) };
                }
                let mut compressor = Compress::new_gzip(self.level, 15);
                match deflate(&mut compressor, &bytes, FlushCompress::Finish) {
                    Ok(compressed) => {
                        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                        headers.insert(CONTENT_LENGTH, HeaderValue::from(compressed.len()));
                        Response { status, headers, body: ResponseBody::full(compressed) }
                    }
                    Err(e) => {
                        tracing::warn!("gzip compression failed, sending the answer uncompressed: {e}");
                        Response { status, headers, body: ResponseBody::full(bytes) }
                    }
                }
            }
            Err(stream) => {
                append_vary(&mut headers, "Accept-Encoding");
                if !accepts_gzip {
                    return Response { status, headers, body: stream };
                }
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                headers.remove(CONTENT_LENGTH);
                let (sender, body) = ResponseBody::channel(STREAM_CAPACITY);
                let compressor = Compress::new_gzip(self.level, 15);
                tokio::spawn(compress_stream(stream, sender, compressor));
                Response { status, headers, body }
            }
        }
    }
}

/// Feeds a streamed body through the compressor, flushing after each chunk so every chunk reaches
/// the client as soon as the app sent it (Starlette's `Z_SYNC_FLUSH`).
async fn compress_stream(mut source: ResponseBody, sender: covetpy_protocols::BodySender, mut compressor: Compress) {
    use http_body::Body;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut source).poll_frame(cx)).await;
        let (input, flush) = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => (data, FlushCompress::Sync),
                Err(_) => continue,
            },
            None => (Bytes::new(), FlushCompress::Finish),
            // The producer failed: dropping the sender unfinished cuts the response off too.
            Some(Err(_)) => return,
        };
        let out = match deflate(&mut compressor, &input, flush) {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!("gzip compression of a streamed answer failed: {e}");
                return;
            }
        };
        if !out.is_empty() && sender.send(Bytes::from(out)).await.is_err() {
            return;
        }
        if matches!(flush, FlushCompress::Finish) {
            drop(sender.finish().await);
            return;
        }
    }
}

/// Runs `input` through the compressor with the given flush, collecting all its output.
fn deflate(compressor: &mut Compress, input: &[u8], flush: FlushCompress) -> Result<Vec<u8>, flate2::CompressError> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let before = compressor.total_in();
        let status = compressor.compress_vec(&input[consumed..], &mut out, flush)?;
        consumed += (compressor.total_in() - before) as usize;
        let room_left = out.len() < out.capacity();
        match (status, flush) {
            (Status::StreamEnd, _) => return Ok(out),
            (_, FlushCompress::Finish) => {}
            _ if consumed == input.len() && room_left => return Ok(out),
            _ => {}
        }
    }
}

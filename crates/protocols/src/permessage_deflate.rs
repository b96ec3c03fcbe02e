//! permessage-deflate (RFC 7692): negotiation, compressing what we send, inflating what we receive.
//!
//! tungstenite 0.30 has no extension support (its permessage-deflate pull requests, the latest
//! snapview/tungstenite-rs#426, are unmerged) and fails any frame with RSV1 set, so the extension
//! sits around it rather than in it:
//!
//! - Outgoing: a message is deflated here (sync flush, the trailing `00 00 ff ff` dropped, §7.2.1) and
//!   handed to tungstenite as a ready frame with RSV1 set ([`Deflater`]).
//! - Incoming: [`InflateFilter`] sits on the socket's reading side, below tungstenite. A data message
//!   whose first frame has RSV1 set is inflated frame by frame as its bytes arrive and shown to
//!   tungstenite as one ordinary frame; everything else passes through byte for byte, so tungstenite
//!   keeps judging it (reserved bits, masking, fragmentation, UTF-8, sizes) exactly as without the
//!   extension. Inflated output is counted against `--ws-max-size` while it is produced, so a small
//!   compressed message cannot expand into memory past the limit.
//!
//! Window sizes: zlib (here zlib-rs, flate2's pure-Rust backend, which unlike miniz_oxide takes window
//! bits) cannot compress with an 8-bit raw window; a 9-bit window is used instead, which is safe for a
//! peer that inflates with 256 bytes because deflate never refers further back than the window less
//! 262 bytes (250 for 9 bits). We inflate with the largest window, which reads any smaller one, so we
//! never ask the client to shrink its window.

use std::io::{self, Cursor};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use http::header::{HeaderValue, SEC_WEBSOCKET_EXTENSIONS};
use http::HeaderMap;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

use crate::read_filter::ReadFilter;

/// The parameters of an accepted permessage-deflate offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeflateParams {
    /// We start every message with a fresh compressor.
    pub(crate) server_no_context_takeover: bool,
    /// The client starts every message with a fresh compressor, so we reset our inflater too.
    pub(crate) client_no_context_takeover: bool,
    /// The client limits our LZ77 window to this many bits (8 to 15).
    pub(crate) server_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The first permessage-deflate offer in the request's `Sec-WebSocket-Extensions` we can accept,
    /// or `None` (the extension is then simply not used, §5.1: offers we cannot honour are declined).
    pub(crate) fn negotiate(headers: &HeaderMap) -> Option<DeflateParams> {
        headers
            .get_all(SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(parse_offer)
    }

    /// The `Sec-WebSocket-Extensions` value of the 101 response that accepts this offer.
    pub(crate) fn response_header(&self) -> HeaderValue {
        let mut value = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            value.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            value.push_str("; client_no_context_takeover");
        }
        if let Some(bits) = self.server_max_window_bits {
            value.push_str(&format!("; server_max_window_bits={bits}"));
        }
        // Only ASCII tokens and digits are written above.
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("permessage-deflate"))
    }
}

/// One offer (`permessage-deflate; param; param=value`), accepted or declined (§7.1: an unknown or
/// repeated parameter, or a value out of range, declines it).
fn parse_offer(offer: &str) -> Option<DeflateParams> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: None,
    };
    let mut client_max_window_bits_seen = false;
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (part, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !params.server_no_context_takeover => {
                params.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !params.client_no_context_takeover => {
                params.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(bits)) if params.server_max_window_bits.is_none() => {
                params.server_max_window_bits = Some(window_bits(bits)?);
            }
            // The client can limit its own window; we inflate with the largest, so any is fine.
            ("client_max_window_bits", bits) if !client_max_window_bits_seen => {
                if let Some(bits) = bits {
                    window_bits(bits)?;
                }
                client_max_window_bits_seen = true;
            }
            _ => return None,
        }
    }
    Some(params)
}

/// A window-bits value: 8 to 15, digits only, no leading zero.
fn window_bits(text: &str) -> Option<u8> {
    if text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|bits| (8..=15).contains(bits))
}

/// Why inflating an incoming message failed; carried to the close code through the `io::Error` the
/// socket read returns.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InflateError {
    /// The message inflates past `--ws-max-size`.
    #[error("compressed message inflates past the {max_size}-byte limit")]
    TooBig {
        /// The limit.
        max_size: usize,
    },
    /// The compressed data is not valid deflate data.
    #[error("invalid compressed data: {0}")]
    Corrupt(String),
    /// The frames break the extension's rules.
    #[error("{0}")]
    Protocol(&'static str),
}

impl InflateError {
    /// The close code RFC 6455 names for this failure.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            InflateError::TooBig { .. } => 1009,
            InflateError::Corrupt(_) | InflateError::Protocol(_) => 1002,
        }
    }

    /// The inflate failure inside a socket read error, if that is what it is.
    pub(crate) fn from_io(error: &io::Error) -> Option<&InflateError> {
        error.get_ref().and_then(|inner| inner.downcast_ref::<InflateError>())
    }
}

/// Our compressor for outgoing messages.
pub(crate) struct Deflater {
    compress: Compress,
    fresh_each_message: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater").field("fresh_each_message", &self.fresh_each_message).finish_non_exhaustive()
    }
}

/// The deflate trailer a sync flush ends with; dropped on sending, put back on receiving (§7.2).
const SYNC_TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

impl Deflater {
    /// A compressor for the negotiated parameters, at zlib's default level as websockets (uvicorn's
    /// default implementation) uses.
    pub(crate) fn new(params: &DeflateParams) -> Self {
        let bits = params.server_max_window_bits.unwrap_or(15).max(9);
        Deflater {
            compress: Compress::new_with_window_bits(Compression::default(), false, bits),
            fresh_each_message: params.server_no_context_takeover,
        }
    }

    /// The message as one final frame with RSV1 set, ready for tungstenite to send as it is.
    pub(crate) fn frame(&mut self, data: &[u8], text: bool) -> io::Result<Frame> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        let start = self.compress.total_in();
        loop {
            let consumed = usize::try_from(self.compress.total_in() - start).unwrap_or(data.len());
            out.reserve(data.len().saturating_sub(consumed) / 2 + 64);
            self.compress
                .compress_vec(&data[consumed.min(data.len())..], &mut out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            let consumed = usize::try_from(self.compress.total_in() - start).unwrap_or(data.len());
            // The flush is complete once all input is in and zlib left output room unused.
            if consumed >= data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&SYNC_TRAILER) {
            out.truncate(out.len() - SYNC_TRAILER.len());
        }
        if out.is_empty() {
            // zlib flushes nothing for an empty message, but the trailer the peer appends needs a
            // block header before it: a single 0x00 is the empty message (§7.2.3.6).
            out.push(0x00);
        }
        if self.fresh_each_message {
            self.compress.reset();
        }
        let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
        let mut frame = Frame::message(out, opcode, true);
        frame.header_mut().rsv1 = true;
        Ok(frame)
    }
}

/// Where the filter is in the incoming byte stream.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// At a frame header.
    Header,
    /// Inside a frame tungstenite reads as it is: this many payload bytes still to pass.
    Passing(u64),
    /// Inside a compressed frame: payload bytes still to come, its mask, bytes of it unmasked so far,
    /// and whether it ends its message.
    Inflating { remaining: u64, mask: [u8; 4], offset: usize, last: bool },
    /// Inside a data frame that is dropped after a failure.
    Skipping(u64),
    /// The stream is not ours to understand (a header tungstenite will refuse): everything passes.
    Transparent,
}

/// The data message in progress across frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    None,
    /// Uncompressed: its continuations pass through to tungstenite.
    Plain,
    /// Compressed, of this opcode: its continuations are inflated here.
    Compressed(Data),
}

/// The reading side of a WebSocket with permessage-deflate: see the module documentation.
pub(crate) struct InflateFilter {
    decompress: Decompress,
    fresh_each_message: bool,
    max_size: usize,
    /// Bytes read from the socket and not looked at yet.
    raw: BytesMut,
    /// Bytes ready for tungstenite.
    out: BytesMut,
    position: Position,
    message: Message,
    opcode: Data,
    inflated: Vec<u8>,
    /// Compressed bytes of the message in progress: a message with none is empty, not inflated.
    compressed_len: u64,
    /// After a failure the connection is closing: data frames are dropped, control frames (the
    /// client's close) still pass.
    failed: bool,
}

impl std::fmt::Debug for InflateFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InflateFilter").field("position", &self.position).finish_non_exhaustive()
    }
}

impl InflateFilter {
    /// The filter for a connection with these parameters and message size limit.
    pub(crate) fn new(params: &DeflateParams, max_size: usize) -> Self {
        InflateFilter {
            decompress: Decompress::new(false),
            fresh_each_message: params.client_no_context_takeover,
            max_size,
            raw: BytesMut::new(),
            out: BytesMut::new(),
            position: Position::Header,
            message: Message::None,
            opcode: Data::Binary,
            inflated: Vec::new(),
            compressed_len: 0,
            failed: false,
        }
    }

    /// Handles what `raw` holds; true if anything was consumed or produced.
    fn process(&mut self) -> Result<bool, InflateError> {
        match self.position {
            Position::Transparent => {
                let all = self.raw.split();
                self.out.extend_from_slice(&all);
                Ok(!all.is_empty())
            }
            Position::Header => self.header(),
            Position::Passing(remaining) => {
                let n = take(remaining, self.raw.len());
                let chunk = self.raw.split_to(n);
                self.out.extend_from_slice(&chunk);
                self.position = next(remaining, n, Position::Passing);
                Ok(n > 0)
            }
            Position::Skipping(remaining) => {
                let n = take(remaining, self.raw.len());
                self.raw.advance(n);
                self.position = next(remaining, n, Position::Skipping);
                Ok(n > 0)
            }
            Position::Inflating { remaining, mask, offset, last } => {
                let n = take(remaining, self.raw.len());
                let mut chunk = self.raw.split_to(n);
                for (i, byte) in chunk.iter_mut().enumerate() {
                    *byte ^= mask[(offset + i) % 4];
                }
                self.inflate(&chunk)?;
                let remaining = remaining - n as u64;
                if remaining > 0 {
                    self.position = Position::Inflating { remaining, mask, offset: offset + n, last };
                    return Ok(n > 0);
                }
                if last {
                    self.finish_message()?;
                }
                self.position = Position::Header;
                Ok(true)
            }
        }
    }

    /// Reads a frame header, if all of it is there, and decides where its payload goes.
    fn header(&mut self) -> Result<bool, InflateError> {
        let mut cursor = Cursor::new(&self.raw[..]);
        let (header, length) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(false),
            Err(_) => {
                self.position = Position::Transparent;
                return Ok(true);
            }
        };
        let header_len = usize::try_from(cursor.position()).unwrap_or(self.raw.len());
        let data = match header.opcode {
            OpCode::Data(data) => data,
            OpCode::Control(_) => return Ok(self.pass(header_len, length)),
        };
        if self.failed {
            self.raw.advance(header_len);
            self.position = next(length, 0, Position::Skipping);
            return Ok(true);
        }
        let compressed = header.rsv1 && !header.rsv2 && !header.rsv3 && header.mask.is_some();
        match (data, self.message) {
            (Data::Continue, Message::Compressed(opcode)) => {
                if header.rsv1 || header.rsv2 || header.rsv3 {
                    return Err(InflateError::Protocol("reserved bit set on a continuation frame"));
                }
                let Some(mask) = header.mask else {
                    return Err(InflateError::Protocol("unmasked frame from the client"));
                };
                self.opcode = opcode;
                self.start_inflating(header_len, length, mask, header.is_final);
                Ok(true)
            }
            (Data::Text | Data::Binary, Message::Compressed(_)) => {
                Err(InflateError::Protocol("new data frame inside a fragmented compressed message"))
            }
            (Data::Text | Data::Binary, Message::None) if compressed => {
                let mask = header.mask.unwrap_or([0; 4]);
                self.opcode = data;
                self.inflated.clear();
                self.compressed_len = 0;
                self.message = if header.is_final { Message::None } else { Message::Compressed(data) };
                self.start_inflating(header_len, length, mask, header.is_final);
                Ok(true)
            }
            (Data::Text | Data::Binary, Message::None) => {
                if !header.is_final {
                    self.message = Message::Plain;
                }
                Ok(self.pass(header_len, length))
            }
            (Data::Continue, Message::Plain) => {
                if header.is_final {
                    self.message = Message::None;
                }
                Ok(self.pass(header_len, length))
            }
            // Anything else is tungstenite's to refuse (a reserved bit without a compressed message,
            // a continuation with nothing to continue, a new message inside a fragmented one).
            _ => Ok(self.pass(header_len, length)),
        }
    }

    fn pass(&mut self, header_len: usize, length: u64) -> bool {
        let header = self.raw.split_to(header_len);
        self.out.extend_from_slice(&header);
        self.position = next(length, 0, Position::Passing);
        true
    }

    fn start_inflating(&mut self, header_len: usize, length: u64, mask: [u8; 4], last: bool) {
        self.raw.advance(header_len);
        self.compressed_len += length;
        if last {
            self.message = Message::None;
        }
        self.position = Position::Inflating { remaining: length, mask, offset: 0, last };
    }

    /// Inflates `input` onto the message so far, never holding more than `max_size` + 1 bytes.
    fn inflate(&mut self, mut input: &[u8]) -> Result<(), InflateError> {
        loop {
            let room = (self.max_size + 1).saturating_sub(self.inflated.len());
            if room == 0 {
                return Err(InflateError::TooBig { max_size: self.max_size });
            }
            self.inflated.reserve_exact(room.min((input.len() * 4).clamp(4096, 1 << 20)));
            let (in_before, out_before) = (self.decompress.total_in(), self.decompress.total_out());
            let status = self
                .decompress
                .decompress_vec(input, &mut self.inflated, FlushDecompress::Sync)
                .map_err(|e| InflateError::Corrupt(e.to_string()))?;
            if self.inflated.len() > self.max_size {
                return Err(InflateError::TooBig { max_size: self.max_size });
            }
            let consumed = usize::try_from(self.decompress.total_in() - in_before).unwrap_or(input.len());
            input = &input[consumed.min(input.len())..];
            let produced = self.decompress.total_out() - out_before;
            if status == Status::StreamEnd {
                // A final deflate block ends this stream; the client starts a new one for its next message.
                self.decompress.reset(false);
                return Ok(());
            }
            let out_full = self.inflated.len() == self.inflated.capacity();
            if (input.is_empty() && !out_full) || (consumed == 0 && produced == 0) {
                return Ok(());
            }
        }
    }

    /// The message is complete: inflate the trailer and hand it to tungstenite as one frame, masked
    /// with a zero key as a client frame must be (the key changes nothing).
    fn finish_message(&mut self) -> Result<(), InflateError> {
        if self.compressed_len > 0 {
            self.inflate(&SYNC_TRAILER)?;
        }
        if self.fresh_each_message {
            self.decompress.reset(false);
        }
        let header = FrameHeader {
            is_final: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Data(self.opcode),
            mask: Some([0; 4]),
        };
        let length = self.inflated.len() as u64;
        let mut head = Vec::with_capacity(header.len(length));
        header.format(length, &mut head).map_err(|_| InflateError::Protocol("frame header"))?;
        self.out.reserve(head.len() + self.inflated.len());
        self.out.extend_from_slice(&head);
        self.out.extend_from_slice(&self.inflated);
        self.inflated = Vec::new();
        Ok(())
    }

    /// From now on only control frames pass; the rest of the failed frame is dropped.
    fn fail(&mut self) {
        self.failed = true;
        self.message = Message::None;
        self.inflated = Vec::new();
        self.position = match self.position {
            Position::Inflating { remaining, .. } => next(remaining, 0, Position::Skipping),
            Position::Passing(remaining) => Position::Passing(remaining),
            _ => Position::Header,
        };
    }
}

/// How many of `available` bytes belong to a payload with `remaining` bytes to go.
fn take(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// The position after taking `taken` of `remaining` payload bytes.
fn next(remaining: u64, taken: usize, inside: fn(u64) -> Position) -> Position {
    match remaining - taken as u64 {
        0 => Position::Header,
        left => inside(left),
    }
}

impl ReadFilter for InflateFilter {
    fn poll_read_from<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.out.is_empty() {
                let n = self.out.len().min(buf.remaining());
                buf.put_slice(&self.out[..n]);
                self.out.advance(n);
                return Poll::Ready(Ok(()));
            }
            match self.process() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    self.fail();
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                }
            }
            self.raw.reserve(16 * 1024);
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            std::task::ready!(std::pin::Pin::new(&mut *inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of stream: whatever half frame is left cannot complete.
                return Poll::Ready(Ok(()));
            }
            self.raw.extend_from_slice(read.filled());
        }
    }
}

/// The reading side of a WebSocket: [`InflateFilter`] when permessage-deflate was negotiated,
/// otherwise the socket itself.
pub(crate) struct MaybeInflate(pub(crate) Option<InflateFilter>);

impl std::fmt::Debug for MaybeInflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MaybeInflate").field(&self.0.is_some()).finish()
    }
}

impl ReadFilter for MaybeInflate {
    fn poll_read_from<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Some(filter) => filter.poll_read_from(inner, cx, buf),
            None => std::pin::Pin::new(inner).poll_read(cx, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(value: &str) -> Option<DeflateParams> {
        let mut headers = HeaderMap::new();
        headers.insert(SEC_WEBSOCKET_EXTENSIONS, HeaderValue::from_str(value).unwrap());
        DeflateParams::negotiate(&headers)
    }

    #[test]
    fn offers_are_accepted_or_declined_by_rfc_7692() {
        let plain = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
        };
        assert_eq!(offer("permessage-deflate; client_max_window_bits"), Some(plain));
        assert_eq!(
            offer("permessage-deflate; server_max_window_bits=10; server_no_context_takeover"),
            Some(DeflateParams { server_max_window_bits: Some(10), server_no_context_takeover: true, ..plain })
        );
        assert_eq!(
            offer("permessage-deflate; server_max_window_bits=\"9\""),
            Some(DeflateParams { server_max_window_bits: Some(9), ..plain })
        );
        // Declined: out of range, missing value, duplicates, unknown parameters, other extensions.
        assert_eq!(offer("permessage-deflate; server_max_window_bits=16"), None);
        assert_eq!(offer("permessage-deflate; server_max_window_bits"), None);
        assert_eq!(offer("permessage-deflate; client_max_window_bits=7"), None);
        assert_eq!(offer("permessage-deflate; client_no_context_takeover; client_no_context_takeover"), None);
        assert_eq!(offer("permessage-deflate; server_no_context_takeover=1"), None);
        assert_eq!(offer("permessage-deflate; mystery"), None);
        assert_eq!(offer("x-webkit-deflate-frame"), None);
        // The first acceptable offer wins.
        assert_eq!(
            offer("permessage-deflate; bogus, permessage-deflate; client_no_context_takeover"),
            Some(DeflateParams { client_no_context_takeover: true, ..plain })
        );
    }

    #[test]
    fn response_names_the_accepted_parameters() {
        let params = DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(8),
        };
        assert_eq!(
            params.response_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8"
        );
    }

    /// A client frame: masked, RSV1 as given.
    fn client_frame(payload: &[u8], data: Data, fin: bool, rsv1: bool) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let header =
            FrameHeader { is_final: fin, rsv1, rsv2: false, rsv3: false, opcode: OpCode::Data(data), mask: Some(mask) };
        let mut out = Vec::new();
        header.format(payload.len() as u64, &mut out).unwrap();
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn run_filter(filter: &mut InflateFilter, input: &[u8]) -> Result<Vec<u8>, InflateError> {
        filter.raw.extend_from_slice(input);
        while filter.process()? {}
        Ok(filter.out.split().to_vec())
    }

    fn unframe(bytes: &[u8]) -> (FrameHeader, Vec<u8>) {
        let mut cursor = Cursor::new(bytes);
        let (header, length) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
        let start = cursor.position() as usize;
        assert_eq!(bytes.len() - start, length as usize);
        (header, bytes[start..].to_vec())
    }

    #[test]
    fn compressed_fragments_inflate_into_one_frame() {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
        };
        let mut deflater = Deflater::new(&params);
        let text = "hello hello hello hello ".repeat(50);
        let compressed = deflater.frame(text.as_bytes(), true).unwrap().into_payload();
        assert!(compressed.len() < text.len() / 4);
        let (a, b) = compressed.split_at(compressed.len() / 2);
        let mut input = client_frame(a, Data::Text, false, true);
        input.extend(client_frame(b, Data::Continue, true, false));
        let mut filter = InflateFilter::new(&params, 1 << 20);
        let (header, payload) = unframe(&run_filter(&mut filter, &input).unwrap());
        assert!(header.is_final && !header.rsv1);
        assert_eq!(header.opcode, OpCode::Data(Data::Text));
        assert_eq!(payload, text.as_bytes());
        // Context takeover: the second message refers back to the first.
        let again = deflater.frame(text.as_bytes(), true).unwrap().into_payload();
        assert!(again.len() < compressed.len());
        let (_, payload) = unframe(&run_filter(&mut filter, &client_frame(&again, Data::Text, true, true)).unwrap());
        assert_eq!(payload, text.as_bytes());
    }

    #[test]
    fn uncompressed_frames_pass_unchanged() {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
        };
        let mut filter = InflateFilter::new(&params, 1 << 20);
        let input = client_frame(b"plain", Data::Binary, true, false);
        assert_eq!(run_filter(&mut filter, &input).unwrap(), input);
    }

    #[test]
    fn inflating_past_the_limit_fails() {
        let params = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
        };
        let bomb = Deflater::new(&params).frame(&vec![0u8; 1 << 20], false).unwrap().into_payload();
        let mut filter = InflateFilter::new(&params, 64 * 1024);
        let error = run_filter(&mut filter, &client_frame(&bomb, Data::Binary, true, true)).unwrap_err();
        assert_eq!(error.close_code(), 1009);
        assert!(filter.inflated.capacity() <= 64 * 1024 + 1);
    }
}

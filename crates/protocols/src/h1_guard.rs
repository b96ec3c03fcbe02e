//! A watcher on the raw bytes of an HTTP/1 connection, below hyper, for the few things hyper's parser
//! tolerates but RFC 9112 forbids and that can only be seen on the wire:
//!
//! * whitespace after a chunk size that is not followed by a chunk extension (`5 \r\n`), which hyper
//!   reads as "5" while other parsers may not, so a proxy in front could frame the body differently;
//! * a request that carries both `Transfer-Encoding` and `Content-Length` (hyper drops the latter before
//!   the request is visible);
//! * header lines ended by a bare LF instead of CRLF;
//! * a head longer than `--h11-max-incomplete-event-size` but short enough for hyper's read buffer,
//!   which is sized for request bodies (64 KiB) rather than for heads.
//!
//! The watcher follows the message framing itself (head, then a sized or chunked body) and never changes
//! a byte. A bad chunk-size line ends the byte stream just before it and then fails the read, which hyper
//! reports as a request body error, exactly like the malformed chunks it detects itself. Problems in a
//! head are recorded and picked up by the request's service call, which answers 400. Whenever the framing
//! becomes something it does not follow (HTTP/2, an upgrade, CONNECT, or a head hyper is about to refuse
//! anyway) the watcher steps aside for the rest of the connection.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::read_filter::{ReadFilter, ReadFiltered};

/// Larger than any head hyper accepts (its read buffer stops at about 400 KiB), so a head the watcher
/// gives up on is one hyper refuses anyway.
const MAX_HEAD: usize = 1024 * 1024;

/// A defect in a request head that hyper lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadDefect {
    /// A line of the head ends in LF without CR.
    BareLf,
    /// Both `Transfer-Encoding` and `Content-Length` are present.
    LengthWithTransferEncoding,
    /// The head is longer than the configured maximum.
    TooLarge,
}

/// Head defects found on one connection, matched to requests by their position on the connection.
#[derive(Default)]
pub(crate) struct HeadReports {
    found: Mutex<VecDeque<(u64, HeadDefect)>>,
    /// How many entries `found` holds, so requests on a clean connection never take the lock.
    pending: AtomicUsize,
    /// Requests handed to the service so far.
    served: AtomicU64,
}

impl HeadReports {
    fn record(&self, index: u64, defect: HeadDefect) {
        if let Ok(mut found) = self.found.lock() {
            found.push_back((index, defect));
            self.pending.fetch_add(1, Ordering::Release);
        }
    }

    /// Called once per HTTP/1 request, in order: the defect of that request's head, if any.
    pub(crate) fn next_request(&self) -> Option<HeadDefect> {
        let index = self.served.fetch_add(1, Ordering::AcqRel);
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut found = self.found.lock().ok()?;
        // Entries for heads that never became requests (hyper refused them) are stale: drop them.
        while found.front().is_some_and(|(at, _)| *at < index) {
            found.pop_front();
            self.pending.fetch_sub(1, Ordering::Release);
        }
        match found.front() {
            Some((at, defect)) if *at == index => {
                let defect = *defect;
                found.pop_front();
                self.pending.fetch_sub(1, Ordering::Release);
                Some(defect)
            }
            _ => None,
        }
    }
}

/// Where the watcher is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a request head.
    Head,
    /// Inside a body of known length: this many bytes are left.
    Sized(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// Not following the stream any more.
    Off,
}

/// Position inside a chunked body (RFC 9112 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The first digit of a chunk size.
    SizeStart,
    /// More size digits.
    Size,
    /// Whitespace after the size: only a `;` may follow.
    SizeSpace,
    /// A chunk extension, up to CR.
    Extension,
    /// LF closing the size line.
    SizeLf,
    /// Chunk data: this many bytes are left.
    Data(u64),
    /// CR after the data.
    DataCr,
    /// LF after the data.
    DataLf,
    /// The start of a trailer line, or CR of the final empty line.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// LF ending a trailer line.
    TrailerLf,
    /// LF of the final empty line.
    EndLf,
}

/// The framing tracker; see the module documentation.
struct Scanner {
    state: State,
    head: Vec<u8>,
    chunk_size: u64,
    heads: u64,
    reports: Arc<HeadReports>,
    /// Heads longer than this are reported as too large.
    max_head: usize,
    /// Past this many bytes of one head the watcher steps aside: hyper has refused the head by then.
    give_up: usize,
}

impl Scanner {
    /// Follows `data`; on a malformed chunk-size line returns the offset of the offending byte.
    fn feed(&mut self, data: &[u8]) -> Result<(), usize> {
        let mut at = 0;
        while at < data.len() {
            at += match self.state {
                State::Off => return Ok(()),
                State::Head => self.head_bytes(&data[at..]),
                State::Sized(left) => {
                    let take = left.min((data.len() - at) as u64);
                    self.state = if take == left { State::Head } else { State::Sized(left - take) };
                    // `take` is at most the slice length, so the conversion cannot fail.
                    usize::try_from(take).unwrap_or(data.len() - at)
                }
                State::Chunked(chunk) => match self.chunk_bytes(chunk, &data[at..]) {
                    Ok(used) => used,
                    Err(offset) => return Err(at + offset),
                },
            };
        }
        Ok(())
    }

    /// Adds head bytes up to the end of the head; returns how many were used.
    fn head_bytes(&mut self, data: &[u8]) -> usize {
        let mut at = 0;
        if self.head.is_empty() {
            // Like hyper, empty lines before the request line are skipped.
            while at < data.len() && matches!(data[at], b'\r' | b'\n') {
                at += 1;
            }
        }
        while at < data.len() {
            let Some(lf) = data[at..].iter().position(|&b| b == b'\n') else {
                self.head.extend_from_slice(&data[at..]);
                if self.head.len() > self.give_up {
                    self.state = State::Off;
                }
                return data.len();
            };
            self.head.extend_from_slice(&data[at..=at + lf]);
            at += lf + 1;
            if self.head.ends_with(b"\n\n") || self.head.ends_with(b"\n\r\n") {
                self.end_of_head();
                return at;
            }
        }
        at
    }

    /// Works out how the body after the head just collected is framed.
    fn end_of_head(&mut self) {
        let head = std::mem::take(&mut self.head);
        let index = self.heads;
        self.heads += 1;
        self.state = self.framing(&head, index);
        self.head = head;
        self.head.clear();
    }

    fn framing(&self, head: &[u8], index: u64) -> State {
        if head.len() > self.max_head {
            // The request is refused and the connection closed, so the framing no longer matters.
            self.reports.record(index, HeadDefect::TooLarge);
            return State::Off;
        }
        let bare_lf = head.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'));
        let mut lines = head.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let request_line = lines.next().unwrap_or_default();
        let method = request_line.split(|&b| b == b' ').next().unwrap_or_default();
        let http10 = request_line.ends_with(b"HTTP/1.0");
        // HTTP/2's preface, CONNECT tunnels: what follows is not HTTP/1 framing.
        let mut off = method == b"PRI" || method == b"CONNECT";
        let mut transfer_encoding: Option<&[u8]> = None;
        // `Some(None)`: Content-Length lines that are invalid or disagree, which hyper refuses.
        let mut length: Option<Option<u64>> = None;
        for line in lines.filter(|line| !line.is_empty()) {
            if line[0] == b' ' || line[0] == b'\t' {
                // Line folding: hyper refuses the request.
                return State::Off;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else { return State::Off };
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encoding = Some(value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let this = parse_length(value);
                length = Some(match length {
                    None => this,
                    Some(earlier) => earlier.filter(|_| earlier == this),
                });
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                // If the upgrade happens, the bytes after this head belong to another protocol.
                off = true;
            }
        }
        if bare_lf {
            self.reports.record(index, HeadDefect::BareLf);
        } else if transfer_encoding.is_some() && length.is_some() {
            self.reports.record(index, HeadDefect::LengthWithTransferEncoding);
        }
        if off {
            return State::Off;
        }
        match transfer_encoding {
            // hyper frames by the last coding of the last Transfer-Encoding line, and refuses the request
            // when that is not chunked or the request is HTTP/1.0.
            Some(codings) => {
                let last = codings.rsplit(|&b| b == b',').next().map(trim).unwrap_or_default();
                if last.eq_ignore_ascii_case(b"chunked") && !http10 {
                    State::Chunked(Chunk::SizeStart)
                } else {
                    State::Off
                }
            }
            None => match length {
                None | Some(Some(0)) => State::Head,
                Some(Some(n)) => State::Sized(n),
                // hyper refuses the request.
                Some(None) => State::Off,
            },
        }
    }

    /// Follows a chunked body; returns how many bytes were used, or the offset of a byte that breaks
    /// the chunked grammar.
    fn chunk_bytes(&mut self, mut chunk: Chunk, data: &[u8]) -> Result<usize, usize> {
        for (i, &b) in data.iter().enumerate() {
            chunk = match chunk {
                Chunk::Data(left) => {
                    // Skip the data in one step; `i` is where it starts.
                    let take = left.min((data.len() - i) as u64);
                    let next = if take == left { Chunk::DataCr } else { Chunk::Data(left - take) };
                    self.state = State::Chunked(next);
                    return Ok(i + usize::try_from(take).unwrap_or(data.len() - i));
                }
                Chunk::SizeStart => match hex(b) {
                    Some(d) => {
                        self.chunk_size = u64::from(d);
                        Chunk::Size
                    }
                    None => return Err(i),
                },
                Chunk::Size => match hex(b) {
                    Some(d) => {
                        self.chunk_size = match self.chunk_size.checked_mul(16) {
                            Some(v) => v + u64::from(d),
                            None => return Err(i),
                        };
                        Chunk::Size
                    }
                    None => match b {
                        b';' => Chunk::Extension,
                        b' ' | b'\t' => Chunk::SizeSpace,
                        b'\r' => Chunk::SizeLf,
                        _ => return Err(i),
                    },
                },
                // RFC 9112 allows whitespace here only before a chunk extension.
                Chunk::SizeSpace => match b {
                    b' ' | b'\t' => Chunk::SizeSpace,
                    b';' => Chunk::Extension,
                    _ => return Err(i),
                },
                Chunk::Extension => match b {
                    b'\r' => Chunk::SizeLf,
                    b'\n' => return Err(i),
                    _ => Chunk::Extension,
                },
                Chunk::SizeLf => match b {
                    b'\n' if self.chunk_size == 0 => Chunk::TrailerStart,
                    b'\n' => Chunk::Data(self.chunk_size),
                    _ => return Err(i),
                },
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    _ => return Err(i),
                },
                Chunk::DataLf => match b {
                    b'\n' => Chunk::SizeStart,
                    _ => return Err(i),
                },
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::EndLf,
                    b'\n' => return Err(i),
                    _ => Chunk::Trailer,
                },
                Chunk::Trailer => match b {
                    b'\r' => Chunk::TrailerLf,
                    b'\n' => return Err(i),
                    _ => Chunk::Trailer,
                },
                Chunk::TrailerLf => match b {
                    b'\n' => Chunk::TrailerStart,
                    _ => return Err(i),
                },
                Chunk::EndLf => match b {
                    b'\n' => {
                        self.state = State::Head;
                        return Ok(i + 1);
                    }
                    _ => return Err(i),
                },
            };
        }
        self.state = State::Chunked(chunk);
        Ok(data.len())
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// An I/O stream with the watcher on its reading side; writes pass straight through.
pub(crate) type Guarded<I> = ReadFiltered<I, Watch>;

/// Watches `inner`; heads longer than `max_head` bytes are reported as too large.
pub(crate) fn guard<I>(inner: I, reports: Arc<HeadReports>, max_head: usize) -> Guarded<I> {
    let give_up = MAX_HEAD.max(max_head.saturating_add(1));
    let scanner = Scanner { state: State::Head, head: Vec::new(), chunk_size: 0, heads: 0, reports, max_head, give_up };
    ReadFiltered::new(inner, Watch { scanner, failed: false })
}

/// The watcher: the scanner, and whether it has found a bad chunk line.
pub(crate) struct Watch {
    scanner: Scanner,
    failed: bool,
}

fn malformed_chunk() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "invalid chunk size line")
}

impl ReadFilter for Watch {
    fn poll_read_from<S: AsyncRead + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.failed {
            return Poll::Ready(Err(malformed_chunk()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(inner).poll_read(cx, buf))?;
        if let Err(at) = self.scanner.feed(&buf.filled()[before..]) {
            self.failed = true;
            // Hand over the good bytes first, so hyper reads the head and the chunks before the bad line
            // and then meets the error while reading the body. An empty read would look like EOF.
            if at == 0 {
                return Poll::Ready(Err(malformed_chunk()));
            }
            buf.set_filled(before + at);
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> (Scanner, Arc<HeadReports>) {
        let reports = Arc::new(HeadReports::default());
        let scanner = Scanner {
            state: State::Head,
            head: Vec::new(),
            chunk_size: 0,
            heads: 0,
            reports: Arc::clone(&reports),
            max_head: usize::MAX,
            give_up: MAX_HEAD,
        };
        (scanner, reports)
    }

    /// Feeds `data` one byte at a time as well as whole, and checks both agree.
    fn feed(data: &[u8]) -> (Result<(), usize>, State, Arc<HeadReports>) {
        let (mut whole, reports) = scanner();
        let result = whole.feed(data);
        let (mut bytewise, _) = scanner();
        let mut single = Ok(());
        for (i, b) in data.iter().enumerate() {
            if bytewise.feed(std::slice::from_ref(b)).is_err() {
                single = Err(i);
                break;
            }
        }
        assert_eq!(result, single, "split reads disagree");
        (result, whole.state, reports)
    }

    const CHUNKED: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[test]
    fn valid_pipelined_requests_are_followed() {
        let mut data = CHUNKED.to_vec();
        data.extend_from_slice(b"5;name=value\r\nhello\r\n5 ;x\r\nworld\r\n0\r\nX-T: 1\r\n\r\n");
        data.extend_from_slice(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
        data.extend_from_slice(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let (result, state, reports) = feed(&data);
        assert_eq!(result, Ok(()));
        assert_eq!(state, State::Head);
        for _ in 0..3 {
            assert_eq!(reports.next_request(), None);
        }
    }

    #[test]
    fn heads_over_the_limit_are_reported() {
        let (mut scanner, reports) = scanner();
        scanner.max_head = 40;
        let short = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let long = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n";
        assert_eq!(scanner.feed(short), Ok(()));
        assert_eq!(scanner.feed(long), Ok(()));
        assert_eq!(reports.next_request(), None);
        assert_eq!(reports.next_request(), Some(HeadDefect::TooLarge));
        assert_eq!(scanner.state, State::Off);
    }

    #[test]
    fn space_after_chunk_size_is_refused() {
        let mut data = CHUNKED.to_vec();
        data.extend_from_slice(b"5\r\nhello\r\n5 \r\nworld\r\n0\r\n\r\n");
        let (result, _, _) = feed(&data);
        assert_eq!(result, Err(CHUNKED.len() + 12));
    }

    #[test]
    fn broken_chunks_are_refused() {
        for body in [&b" 5\r\n"[..], b"5\nhello", b"-5\r\n", b"5\r\nhelloX", b"0\r\nbad\n", b"\r\n"] {
            let mut data = CHUNKED.to_vec();
            data.extend_from_slice(body);
            assert!(feed(&data).0.is_err(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn head_defects_are_reported_for_their_request() {
        let data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n\
            POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let (result, _, reports) = feed(data);
        assert_eq!(result, Ok(()));
        assert_eq!(reports.next_request(), None);
        assert_eq!(reports.next_request(), Some(HeadDefect::BareLf));
        assert_eq!(reports.next_request(), Some(HeadDefect::LengthWithTransferEncoding));
        assert_eq!(reports.next_request(), None);
    }

    #[test]
    fn http2_and_upgrades_are_left_alone() {
        let (_, state, _) = feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n5 \r\n");
        assert_eq!(state, State::Off);
        let (_, state, _) = feed(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n5 \r\n");
        assert_eq!(state, State::Off);
    }
}

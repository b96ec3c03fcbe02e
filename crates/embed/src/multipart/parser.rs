//! A streaming `multipart/form-data` parser with python-multipart's grammar.
//!
//! The app's `UploadFile` answers must not change with the server, so this accepts and refuses what
//! python-multipart (the parser Starlette drives) accepts and refuses when it is given the body in one
//! piece: leading CR/LF (and whatever follows them up to the first `-`) before the opening delimiter,
//! header names of token characters up to 4224 bytes a line and 8 lines a part, spaces (only) after the
//! colon, a delimiter followed by CRLF, by `--`, or by spaces and tabs and then CRLF, and anything after
//! the closing delimiter ignored. A body that stops early is not an error: the parts completed so far
//! are the form. Its result does not depend on how the body is cut into chunks.

use bytes::Bytes;

/// What one header line of a part may hold, colon and leading spaces included.
const MAX_HEADER_SIZE: usize = 4096 + 128;
/// Header lines a part may have.
const MAX_HEADER_COUNT: usize = 8;
/// The longest boundary accepted.
pub(crate) const MAX_BOUNDARY_LENGTH: usize = 256;

/// The body does not follow the grammar (Starlette's "Invalid multipart data.").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Receives what the parser finds, in body order. An error stops the parse.
pub(crate) trait Sink {
    /// Why the sink stopped the parse.
    type Error: From<Malformed>;
    /// A part starts (after its delimiter).
    fn part_begin(&mut self);
    /// One complete header line of the current part: the name as sent, the value after its spaces.
    fn header(&mut self, name: &[u8], value: &[u8]);
    /// The blank line after the part's headers.
    fn headers_done(&mut self) -> Result<(), Self::Error>;
    /// Bytes of the current part's content.
    fn data(&mut self, data: Bytes) -> Result<(), Self::Error>;
    /// The current part's closing delimiter.
    fn part_end(&mut self);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing seen yet.
    Preamble,
    /// A CR or LF came first: everything up to the next `-` is skipped.
    SkipToDash,
    /// This many bytes of `--boundary` matched.
    Opening(usize),
    /// `--boundary` and a CR: a LF must follow.
    OpeningCr,
    /// `--boundary-`: a second `-` (an empty form) must follow.
    OpeningDash,
    /// At the start of a header line.
    HeaderStart,
    /// A CR at the start of a header line: the LF ending the headers must follow.
    HeaderStartCr,
    /// In a header name.
    HeaderName,
    /// After the colon, skipping spaces.
    HeaderValueLead,
    /// In a header value, up to its CR.
    HeaderValue,
    /// A header value's CR: its LF must follow.
    HeaderValueCr,
    /// In part content; `matched` bytes of the delimiter are held back.
    Data,
    /// The whole delimiter and a CR: a LF ends the part.
    DataCr,
    /// The whole delimiter and a `-`: a second `-` ends the form.
    DataDash,
    /// Spaces or tabs after a delimiter, up to its CRLF.
    Padding,
    /// The padding's CR: its LF must follow.
    PaddingCr,
    /// After the closing delimiter: the rest is ignored.
    End,
}

/// The parser of one body.
pub(crate) struct Parser {
    /// `\r\n--` and the boundary: what separates parts.
    delimiter: Vec<u8>,
    state: State,
    /// Delimiter bytes matched in [`State::Data`].
    matched: usize,
    name: Vec<u8>,
    value: Vec<u8>,
    header_size: usize,
    header_count: usize,
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

impl Parser {
    /// A parser for `boundary` (the Content-Type parameter, unquoted); a boundary over 256 bytes is
    /// refused as python-multipart refuses it.
    pub(crate) fn new(boundary: &[u8]) -> Result<Parser, Malformed> {
        if boundary.len() > MAX_BOUNDARY_LENGTH {
            return Err(Malformed);
        }
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary);
        Ok(Parser {
            delimiter,
            state: State::Preamble,
            matched: 0,
            name: Vec::new(),
            value: Vec::new(),
            header_size: 0,
            header_count: 0,
        })
    }

    /// Whether the closing delimiter was seen.
    #[cfg(test)]
    pub(crate) fn finished(&self) -> bool {
        self.state == State::End
    }

    /// Parses the next piece of the body.
    pub(crate) fn feed<S: Sink>(&mut self, chunk: &Bytes, sink: &mut S) -> Result<(), S::Error> {
        let mut i = 0;
        while i < chunk.len() {
            if self.state == State::Data && self.matched == 0 {
                // The common case: jump to the next whole delimiter, or hold back a prefix of one that
                // ends the chunk. Every byte before `i` has been handed on, held or taken as syntax.
                let rest = &chunk[i..];
                if let Some(at) = memchr::memmem::find(rest, &self.delimiter) {
                    if at > 0 {
                        sink.data(chunk.slice(i..i + at))?;
                    }
                    self.matched = self.delimiter.len();
                    i += at + self.delimiter.len();
                    continue;
                }
                let tail = rest.len().saturating_sub(self.delimiter.len() - 1);
                let held = rest[tail..]
                    .iter()
                    .rposition(|&c| c == b'\r')
                    .map(|k| tail + k)
                    .filter(|&k| self.delimiter.starts_with(&rest[k..]))
                    .map_or(0, |k| rest.len() - k);
                if rest.len() > held {
                    sink.data(chunk.slice(i..chunk.len() - held))?;
                }
                self.matched = held;
                return Ok(());
            }
            if !self.step(chunk[i], sink)? {
                i += 1;
            }
        }
        Ok(())
    }

    /// The held delimiter bytes (and `extra`) turn out to be content.
    fn release<S: Sink>(&mut self, extra: Option<u8>, sink: &mut S) -> Result<(), S::Error> {
        let mut held = self.delimiter[..self.matched].to_vec();
        held.extend(extra);
        self.matched = 0;
        self.state = State::Data;
        sink.data(Bytes::from(held))
    }

    fn add_header_size<E: From<Malformed>>(&mut self, n: usize) -> Result<(), E> {
        self.header_size += n;
        if self.header_size > MAX_HEADER_SIZE {
            return Err(Malformed.into());
        }
        Ok(())
    }

    fn begin_part<S: Sink>(&mut self, sink: &mut S) {
        sink.part_begin();
        self.header_count = 0;
        self.header_size = 0;
        self.state = State::HeaderStart;
    }

    /// One byte outside the fast path; true when `c` must be looked at again in the new state.
    fn step<S: Sink>(&mut self, c: u8, sink: &mut S) -> Result<bool, S::Error> {
        let opening = &self.delimiter[2..];
        match self.state {
            State::Preamble if c == b'\r' || c == b'\n' => self.state = State::SkipToDash,
            State::Preamble => {
                self.state = State::Opening(0);
                return Ok(true);
            }
            State::SkipToDash if c == b'-' => {
                self.state = State::Opening(0);
                return Ok(true);
            }
            State::SkipToDash => {}
            State::Opening(n) if n < opening.len() => {
                if c != opening[n] {
                    return Err(Malformed.into());
                }
                self.state = State::Opening(n + 1);
            }
            State::Opening(_) => {
                self.state = match c {
                    b'-' => State::OpeningDash,
                    b'\r' => State::OpeningCr,
                    _ => return Err(Malformed.into()),
                }
            }
            State::OpeningCr if c == b'\n' => self.begin_part(sink),
            State::OpeningDash if c == b'-' => self.state = State::End,
            State::OpeningCr | State::OpeningDash => return Err(Malformed.into()),
            State::HeaderStart if c == b'\r' => self.state = State::HeaderStartCr,
            State::HeaderStart => {
                self.header_count += 1;
                if self.header_count > MAX_HEADER_COUNT {
                    return Err(Malformed.into());
                }
                self.header_size = 0;
                self.name.clear();
                self.state = State::HeaderName;
                return Ok(true);
            }
            State::HeaderStartCr if c == b'\n' => {
                sink.headers_done()?;
                self.matched = 0;
                self.state = State::Data;
            }
            State::HeaderName if c == b':' => {
                if self.name.is_empty() {
                    return Err(Malformed.into());
                }
                self.add_header_size(1)?;
                self.value.clear();
                self.state = State::HeaderValueLead;
            }
            State::HeaderName if is_token(c) => {
                self.add_header_size(1)?;
                self.name.push(c);
            }
            State::HeaderValueLead if c == b' ' => self.add_header_size(1)?,
            State::HeaderValueLead => {
                self.state = State::HeaderValue;
                return Ok(true);
            }
            State::HeaderValue if c == b'\r' => {
                sink.header(&self.name, &self.value);
                self.header_size = 0;
                self.state = State::HeaderValueCr;
            }
            State::HeaderValue => {
                self.add_header_size(1)?;
                self.value.push(c);
            }
            State::HeaderValueCr if c == b'\n' => self.state = State::HeaderStart,
            State::HeaderStartCr | State::HeaderName | State::HeaderValueCr => return Err(Malformed.into()),
            State::Data if self.matched < self.delimiter.len() => {
                if c == self.delimiter[self.matched] {
                    self.matched += 1;
                } else {
                    self.release(None, sink)?;
                    return Ok(true);
                }
            }
            State::Data => match c {
                b'\r' => self.state = State::DataCr,
                b'-' => self.state = State::DataDash,
                b' ' | b'\t' => {
                    self.matched = 0;
                    self.state = State::Padding;
                }
                _ => {
                    self.release(None, sink)?;
                    return Ok(true);
                }
            },
            State::DataCr if c == b'\n' => {
                self.matched = 0;
                sink.part_end();
                self.begin_part(sink);
            }
            State::DataDash if c == b'-' => {
                self.matched = 0;
                sink.part_end();
                self.state = State::End;
            }
            State::DataCr => {
                self.release(Some(b'\r'), sink)?;
                return Ok(true);
            }
            State::DataDash => {
                self.release(Some(b'-'), sink)?;
                return Ok(true);
            }
            State::Padding => match c {
                b' ' | b'\t' => {}
                b'\r' => self.state = State::PaddingCr,
                _ => return Err(Malformed.into()),
            },
            State::PaddingCr if c == b'\n' => {
                sink.part_end();
                self.begin_part(sink);
            }
            State::PaddingCr => return Err(Malformed.into()),
            State::End => {}
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events as text, content merged, so that different cuts of one body compare equal.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl Sink for Log {
        type Error = Malformed;
        fn part_begin(&mut self) {
            self.0.push("begin".into());
        }
        fn header(&mut self, name: &[u8], value: &[u8]) {
            self.0.push(format!("header {}={}", String::from_utf8_lossy(name), String::from_utf8_lossy(value)));
        }
        fn headers_done(&mut self) -> Result<(), Malformed> {
            self.0.push("headers".into());
            Ok(())
        }
        fn data(&mut self, data: Bytes) -> Result<(), Malformed> {
            assert!(!data.is_empty(), "empty data event");
            let text = String::from_utf8_lossy(&data).into_owned();
            match self.0.last_mut() {
                Some(last) if last.starts_with("data ") => last.push_str(&text),
                _ => self.0.push(format!("data {text}")),
            }
            Ok(())
        }
        fn part_end(&mut self) {
            self.0.push("end".into());
        }
    }

    fn run(pieces: &[&[u8]]) -> (Vec<String>, Result<bool, Malformed>) {
        let mut parser = Parser::new(b"B").unwrap();
        let mut log = Log::default();
        for piece in pieces {
            if let Err(e) = parser.feed(&Bytes::copy_from_slice(piece), &mut log) {
                return (log.0, Err(e));
            }
        }
        let finished = parser.finished();
        (log.0, Ok(finished))
    }

    const BODIES: &[&[u8]] = &[
        b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--B\r\nX:  y \r\n\r\nab\r\n--Bc\r\n--\r\n--B--tail",
        b"\r\n\r\nxx--B\r\nA: b\r\n\r\n\r\n--B\r\n--B \t\r\n\r\n\r\n--B-x\r\n--B\rq\r\n--B--",
        b"--B\r\nA: 1\r\n\r\ncontent \r\n--",
        b"--B\r\nA: 1\r\n\r\ncontent\r\n--B  x",
        b"--B\r\nA B: 1\r\n\r\n",
        b"--B\r\n: 1\r\n\r\n",
        b"--B\r\nA: 1\rx",
        b"--C\r\n",
        b"--B-",
        b"--B\r\nA: 1\r\n\r\n\r\r\n-\r\n--\r\n--B\r\r\n--B--",
    ];

    #[test]
    fn any_cut_gives_the_same_events() {
        for body in BODIES {
            let whole = run(&[body]);
            for cut in 0..=body.len() {
                assert_eq!(
                    run(&[&body[..cut], &body[cut..]]),
                    whole,
                    "cut at {cut} of {:?}",
                    String::from_utf8_lossy(body)
                );
            }
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(run(&bytes), whole, "byte by byte: {:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn reads_parts_and_stops_at_errors() {
        let (events, outcome) = run(&[BODIES[0]]);
        assert_eq!(outcome, Ok(true));
        assert_eq!(
            events,
            [
                "begin",
                "header Content-Disposition=form-data; name=a",
                "headers",
                "data 1",
                "end",
                "begin",
                "header X=y ",
                "headers",
                "data ab\r\n--Bc\r\n--",
                "end",
            ]
        );
        assert_eq!(run(&[BODIES[2]]).1, Ok(false));
        assert_eq!(run(&[BODIES[8]]).1, Ok(false));
        for broken in &BODIES[3..8] {
            assert_eq!(run(&[broken]).1, Err(Malformed), "{:?}", String::from_utf8_lossy(broken));
        }
        assert!(Parser::new(&[b'x'; 257]).is_err());
    }
}

//! One line per request: uvicorn's format by default, gunicorn's `--access-logformat` language, or JSON.
//!
//! uvicorn's line is written once the response head is known, at no cost beyond the line itself. The
//! gunicorn and JSON lines report the body size and the time to the end of the body, as gunicorn does
//! (it logs after the last byte is written), so their response body is wrapped to see its end; only
//! those formats pay for that.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use covetpy_protocols::{BodyEnd, Handler, HttpVersion, Request, Response, ResponseBody, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::logging::{ACCESS_RAW_TARGET, ACCESS_TARGET};

/// The request ID header of `--access-logformat json`.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Which line is written.
#[derive(Debug, Clone)]
pub enum AccessFormat {
    /// `client - "METHOD target PROTOCOL" status`, as uvicorn.
    Uvicorn,
    /// A parsed gunicorn format.
    Gunicorn(Arc<Vec<Piece>>),
    /// One JSON object per request.
    Json,
}

/// A part of a gunicorn format: text, or an atom to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Printed as it is.
    Text(String),
    /// `%(NAME)s`, by its name.
    Atom(String),
}

impl AccessFormat {
    /// `--access-logformat`: none is uvicorn's line, `json` is JSON, anything else a gunicorn format
    /// (Python `%(name)s` formatting), checked here once.
    pub fn parse(format: Option<&str>) -> Result<AccessFormat, String> {
        match format {
            None => Ok(AccessFormat::Uvicorn),
            Some("json") => Ok(AccessFormat::Json),
            Some(text) => parse_gunicorn(text).map(|pieces| AccessFormat::Gunicorn(Arc::new(pieces))),
        }
    }
}

/// Splits a gunicorn format into text and atoms. As in Python's `%` formatting with a mapping, `%%` is a
/// percent sign and every other `%` must start `%(name)` followed by a conversion (`s`, `d`, ...); an
/// atom gunicorn does not know is not an error: it prints `-`.
fn parse_gunicorn(format: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        text.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(next) = after.strip_prefix('%') {
            text.push('%');
            rest = next;
            continue;
        }
        let bad = |why: &str| {
            format!("--access-logformat {format:?}: {why} at character {}", format.len() - rest.len() + at + 1)
        };
        let inner =
            after.strip_prefix('(').ok_or_else(|| bad("'%' must start %(name)s (write %% for a percent sign)"))?;
        let close = inner.find(')').ok_or_else(|| bad("'%(' has no closing ')'"))?;
        let name = &inner[..close];
        // Flags and width (`%(s)3d`) are allowed by Python; they are skipped up to the conversion letter.
        let spec = &inner[close + 1..];
        let conversion = spec
            .char_indices()
            .find(|(_, c)| !matches!(c, '-' | '+' | ' ' | '#' | '0'..='9' | '.'))
            .filter(|(_, c)| "sdirfaxXeEgGoc".contains(*c))
            .ok_or_else(|| bad("expected a conversion such as 's' after the name"))?;
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(Piece::Atom(name.to_owned()));
        rest = &spec[conversion.0 + conversion.1.len_utf8()..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Wraps a handler and logs each request in the chosen format.
pub struct AccessLog<H> {
    inner: H,
    format: AccessFormat,
}

impl<H> AccessLog<H> {
    /// Logs requests served by `inner`.
    pub fn new(inner: H, format: AccessFormat) -> Self {
        AccessLog { inner, format }
    }
}

impl<H: Handler> Handler for AccessLog<H> {
    async fn call(&self, request: Request) -> Response {
        match &self.format {
            AccessFormat::Uvicorn => uvicorn_line(&self.inner, request).await,
            AccessFormat::Gunicorn(pieces) => {
                let start = Instant::now();
                let seen = Seen::of(&request);
                let mut response = self.inner.call(request).await;
                let (status, headers) = (response.status, response.headers.clone());
                let pieces = Arc::clone(pieces);
                let body = std::mem::replace(&mut response.body, ResponseBody::empty());
                response.body = body.observed(move |end| {
                    let line = gunicorn_line(&pieces, &seen, status, &headers, end, start.elapsed());
                    tracing::info!(target: ACCESS_RAW_TARGET, "{line}");
                });
                response
            }
            AccessFormat::Json => {
                let start = Instant::now();
                let seen = Seen::of(&request);
                let id = match seen.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
                    Some(id) => id.to_owned(),
                    None => format!("{:032x}", fastrand::u128(..)),
                };
                let mut response = self.inner.call(request).await;
                if !response.headers.contains_key(REQUEST_ID) {
                    if let Ok(value) = HeaderValue::from_str(&id) {
                        response.headers.insert(REQUEST_ID, value);
                    }
                }
                let status = response.status;
                let body = std::mem::replace(&mut response.body, ResponseBody::empty());
                response.body = body.observed(move |end| {
                    let line = json_line(&seen, status, end, start.elapsed(), &id);
                    tracing::info!(target: ACCESS_RAW_TARGET, "{line}");
                });
                response
            }
        }
    }
}

/// uvicorn's line, once the response head is known.
async fn uvicorn_line<H: Handler>(inner: &H, request: Request) -> Response {
    let head = &request.head;
    let client = match head.client {
        Some(addr) => addr.to_string(),
        None => "unix".to_owned(),
    };
    let method = head.method.clone();
    let target = head.uri.path_and_query().map_or_else(|| head.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let protocol = head.version.protocol();
    let response = inner.call(request).await;
    let status = response.status.as_u16();
    // The fields are uvicorn's access record arguments, for --log-config handlers (logging.rs).
    tracing::info!(
        target: ACCESS_TARGET,
        client_addr = client.as_str(),
        method = method.as_str(),
        full_path = target.as_str(),
        http_version = protocol.trim_start_matches("HTTP/"),
        status_code = status,
        "{client} - \"{method} {target} {protocol}\" {status}"
    );
    response
}

/// What the line needs from the request, kept until the body ends.
struct Seen {
    method: Method,
    uri: Uri,
    version: HttpVersion,
    scheme: Scheme,
    client: Option<SocketAddr>,
    headers: HeaderMap,
}

impl Seen {
    fn of(request: &Request) -> Seen {
        let head = &request.head;
        Seen {
            method: head.method.clone(),
            uri: head.uri.clone(),
            version: head.version,
            scheme: head.scheme,
            client: head.client,
            headers: head.headers.clone(),
        }
    }

    /// The target as sent (gunicorn's RAW_URI).
    fn raw_uri(&self) -> &str {
        self.uri.path_and_query().map_or_else(|| self.uri.path(), |pq| pq.as_str())
    }

    /// The last value of a header, as gunicorn's header dictionaries keep it.
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get_all(name).iter().next_back().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// A WSGI environ variable gunicorn would have for this request, by its lower-case name.
    fn environ(&self, name: &str) -> Option<String> {
        Some(match name {
            "request_method" => self.method.to_string(),
            "raw_uri" => self.raw_uri().to_owned(),
            "path_info" => path_info(self.uri.path()),
            "query_string" => self.uri.query().unwrap_or("").to_owned(),
            "server_protocol" => self.version.protocol().to_owned(),
            "remote_addr" => self.client?.ip().to_string(),
            "remote_port" => self.client?.port().to_string(),
            "wsgi.url_scheme" => self.scheme.as_str().to_owned(),
            "script_name" => String::new(),
            "content_type" => self.header("content-type")?,
            "content_length" => self.header("content-length")?,
            _ => {
                let header = name.strip_prefix("http_")?.replace('_', "-");
                self.header(&header)?
            }
        })
    }
}

/// PATH_INFO: the path percent-decoded, its bytes read as Latin-1, as WSGI servers present it.
fn path_info(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(char::from((h * 16 + l) as u8));
                i += 3;
                continue;
            }
        }
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

/// The user of HTTP basic authentication, as gunicorn's `u` atom.
fn basic_user(authorization: &str) -> Option<String> {
    let (scheme, credentials) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(credentials.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':').map_or(text.as_str(), |(user, _)| user).to_owned())
}

/// Standard base64 with padding; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    Some(out)
}

/// The local time as `[01/Dec/2026:10:00:00 +0000]`, gunicorn's `t`.
fn clf_time(now: SystemTime) -> String {
    strftime(now, c"[%d/%b/%Y:%H:%M:%S %z]", true)
}

/// Formats a time with the C library (the C locale's English month names), local or UTC.
fn strftime(now: SystemTime, format: &std::ffi::CStr, local: bool) -> String {
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = libc::time_t::try_from(secs).unwrap_or(0);
    let mut buf = [0u8; 64];
    // SAFETY: `tm` is written by localtime_r/gmtime_r before strftime reads it, and strftime writes at
    // most `buf.len()` bytes, returning how many (0 if it did not fit).
    let n = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let ok = if local { libc::localtime_r(&secs, &mut tm) } else { libc::gmtime_r(&secs, &mut tm) };
        if ok.is_null() {
            return "-".to_owned();
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), format.as_ptr(), &tm)
    };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// gunicorn escapes double quotes in every text atom, so a value cannot end a quoted field early.
fn escape(text: &str) -> String {
    text.replace('"', "\\\"")
}

/// One gunicorn line.
fn gunicorn_line(
    pieces: &[Piece],
    seen: &Seen,
    status: StatusCode,
    response_headers: &HeaderMap,
    end: BodyEnd,
    took: Duration,
) -> String {
    let mut line = String::new();
    for piece in pieces {
        let name = match piece {
            Piece::Text(text) => {
                line.push_str(text);
                continue;
            }
            Piece::Atom(name) => name.as_str(),
        };
        let (secs, micros) = (took.as_secs(), took.subsec_micros());
        let text: Option<String> = match name {
            "h" => Some(seen.client.map_or_else(|| "-".to_owned(), |c| c.ip().to_string())),
            "l" => Some("-".to_owned()),
            "u" => Some(
                seen.header("authorization")
                    .and_then(|a| basic_user(&a))
                    .map_or_else(|| "-".to_owned(), |u| escape(&u)),
            ),
            "t" => Some(clf_time(SystemTime::now())),
            "r" => Some(escape(&format!("{} {} {}", seen.method, seen.raw_uri(), seen.version.protocol()))),
            "s" => Some(status.as_u16().to_string()),
            "m" => Some(seen.method.to_string()),
            "U" => Some(escape(&path_info(seen.uri.path()))),
            "q" => Some(escape(seen.uri.query().unwrap_or(""))),
            "H" => Some(seen.version.protocol().to_owned()),
            "b" | "B" => Some(end.sent.to_string()),
            "f" => Some(seen.header("referer").map_or_else(|| "-".to_owned(), |v| escape(&v))),
            "a" => Some(seen.header("user-agent").map_or_else(|| "-".to_owned(), |v| escape(&v))),
            "T" => Some(secs.to_string()),
            "D" => Some((secs * 1_000_000 + u64::from(micros)).to_string()),
            "M" => Some((secs * 1000 + u64::from(micros / 1000)).to_string()),
            "L" => Some(format!("{secs}.{micros:06}")),
            "p" => Some(format!("<{}>", std::process::id())),
            _ => braced(name, "i")
                .and_then(|h| seen.header(&h))
                .or_else(|| {
                    let h = braced(name, "o")?;
                    response_headers
                        .get_all(h.as_str())
                        .iter()
                        .next_back()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                })
                .or_else(|| seen.environ(&braced(name, "e")?))
                .map(|v| escape(&v)),
        };
        line.push_str(text.as_deref().unwrap_or("-"));
    }
    line
}

/// `NAME` of `{NAME}i` (lower-cased, as gunicorn looks atoms up), for the given suffix.
fn braced(atom: &str, suffix: &str) -> Option<String> {
    let inner = atom.strip_prefix('{')?.strip_suffix(suffix)?.strip_suffix('}')?;
    Some(inner.to_ascii_lowercase())
}

/// A JSON string literal.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One JSON object: time (UTC, RFC 3339), client, method, path, query, protocol, status, bytes,
/// duration (seconds), request_id.
fn json_line(seen: &Seen, status: StatusCode, end: BodyEnd, took: Duration, id: &str) -> String {
    let mut out = String::with_capacity(256);
    let now = SystemTime::now();
    let millis = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
    out.push_str("{\"time\": ");
    json_string(&mut out, &format!("{}.{millis:03}Z", strftime(now, c"%Y-%m-%dT%H:%M:%S", false)));
    out.push_str(", \"client\": ");
    match seen.client {
        Some(client) => json_string(&mut out, &client.to_string()),
        None => out.push_str("null"),
    }
    out.push_str(", \"method\": ");
    json_string(&mut out, seen.method.as_str());
    out.push_str(", \"path\": ");
    json_string(&mut out, seen.uri.path());
    out.push_str(", \"query\": ");
    json_string(&mut out, seen.uri.query().unwrap_or(""));
    out.push_str(", \"protocol\": ");
    json_string(&mut out, seen.version.protocol());
    let _ = write!(
        out,
        ", \"status\": {}, \"bytes\": {}, \"complete\": {}, \"duration\": {:.6}, \"request_id\": ",
        status.as_u16(),
        end.sent,
        end.complete,
        took.as_secs_f64()
    );
    json_string(&mut out, id);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gunicorn_format_is_parsed_once() {
        let pieces = parse_gunicorn("%(h)s \"%(r)s\" %(s)3d %% %({x-id}i)s").unwrap();
        assert_eq!(
            pieces,
            [
                Piece::Atom("h".into()),
                Piece::Text(" \"".into()),
                Piece::Atom("r".into()),
                Piece::Text("\" ".into()),
                Piece::Atom("s".into()),
                Piece::Text(" % ".into()),
                Piece::Atom("{x-id}i".into()),
            ]
        );
        for bad in ["%s", "%(h", "%(h)", "100%"] {
            assert!(parse_gunicorn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(basic_user("Basic dXNlcjpwYXNz").as_deref(), Some("user"));
        assert_eq!(basic_user("Bearer x"), None);
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(path_info("/a%20b/%zz"), "/a b/%zz");
        assert_eq!(braced("{X-Id}i", "i").as_deref(), Some("x-id"));
        let mut s = String::new();
        json_string(&mut s, "a\"b\n\u{1}");
        assert_eq!(s, "\"a\\\"b\\n\\u0001\"");
    }
}

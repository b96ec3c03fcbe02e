//! The request's own URL as Starlette's `URL(scope=...)` builds it, for the redirects of the
//! TrustedHost and HTTPSRedirect layers, and Starlette's reading of the `Host` header.

use std::net::Ipv6Addr;

use covetpy_protocols::{LocalAddr, RequestHead, Scheme};
use percent_encoding::percent_decode_str;

/// A `Host` header split as Starlette's `parse_host_header` splits it.
pub(crate) struct ParsedHost<'a> {
    /// The host, brackets kept around IP literals.
    pub(crate) host: &'a str,
    /// The port digits as written, if any.
    pub(crate) port: Option<&'a str>,
}

impl ParsedHost<'_> {
    /// `host[:port]`.
    pub(crate) fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.to_owned(),
        }
    }

    /// A port of at most five digits (leading zeros aside) and at most 65535.
    pub(crate) fn is_valid_port(&self) -> bool {
        let Some(port) = self.port else { return true };
        let digits = port.trim_start_matches('0');
        digits.len() <= 5 && digits.parse::<u32>().unwrap_or(0) <= 65535
    }
}

fn reg_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._~%!$&'()*+,;=-".contains(c)
}

/// Splits a `Host` value; `None` for anything Starlette's pattern rejects.
pub(crate) fn parse_host(value: &str) -> Option<ParsedHost<'_>> {
    let (host, rest) = if let Some(inner) = value.strip_prefix('[') {
        let close = inner.find(']')?;
        let literal = &inner[..close];
        let valid = if let Some(future) = literal.strip_prefix('v') {
            // IPvFuture: `v` hex `.` then unreserved/sub-delims/colons.
            let (version, tail) = future.split_once('.')?;
            !version.is_empty()
                && version.bytes().all(|b| b.is_ascii_hexdigit())
                && !tail.is_empty()
                && tail.chars().all(|c| reg_name_char(c) && c != '%' || c == ':')
        } else {
            let lower = literal.to_ascii_lowercase();
            let (head, tail) = lower.split_once(':')?;
            head.bytes().all(|b| b.is_ascii_hexdigit())
                && !tail.is_empty()
                && tail.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
                && literal.parse::<Ipv6Addr>().is_ok()
        };
        if !valid {
            return None;
        }
        value.split_at(close + 2)
    } else {
        let end = value.find(|c: char| !reg_name_char(c)).unwrap_or(value.len());
        if end == 0 {
            return None;
        }
        value.split_at(end)
    };
    let port = match rest {
        "" => None,
        _ => {
            let digits = rest.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits)
        }
    };
    Some(ParsedHost { host, port })
}

/// A header value as the latin-1 text ASGI apps decode it to.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The `Host` the app would see: the header, or HTTP/2's `:authority` the server turns into one.
pub(crate) fn host_header(head: &RequestHead) -> Option<String> {
    match head.headers.get(http::header::HOST) {
        Some(value) => Some(latin1(value.as_bytes())),
        None => head.uri.authority().map(|a| a.as_str().to_owned()),
    }
}

/// The scope's `scheme`: `http`/`https`, or `ws`/`wss` for a WebSocket handshake.
pub(crate) fn scheme(head: &RequestHead, websocket: bool) -> &'static str {
    match (head.scheme, websocket) {
        (Scheme::Http, false) => "http",
        (Scheme::Https, false) => "https",
        (Scheme::Http, true) => "ws",
        (Scheme::Https, true) => "wss",
    }
}

/// The parts of Starlette's `URL(scope=scope)`.
pub(crate) struct RequestUrl {
    pub(crate) scheme: &'static str,
    /// `None` when neither the `Host` header nor the server address gives one.
    pub(crate) netloc: Option<String>,
    /// The scope path (root path included), with `?`, `#` and `\` escaped.
    pub(crate) path: String,
    pub(crate) query: String,
}

impl RequestUrl {
    /// Builds it from the request head; `root_path` is `--root-path`, which the scope path starts with.
    pub(crate) fn of(head: &RequestHead, websocket: bool, root_path: &str) -> RequestUrl {
        let scheme = scheme(head, websocket);
        let decoded = percent_decode_str(head.raw_path()).decode_utf8_lossy();
        let path = format!("{root_path}{decoded}").replace('?', "%3F").replace('#', "%23").replace('\\', "%5C");
        let host = host_header(head);
        let parsed = host.as_deref().and_then(parse_host).filter(ParsedHost::is_valid_port);
        let netloc = match (parsed, &head.server) {
            (Some(parsed), _) => Some(parsed.authority()),
            (None, LocalAddr::Tcp(addr)) => {
                let ip = addr.ip();
                let host = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
                let default_port = if matches!(scheme, "http" | "ws") { 80 } else { 443 };
                Some(if addr.port() == default_port { host } else { format!("{host}:{}", addr.port()) })
            }
            // A Unix socket's server address has no port: Starlette would write "path:None".
            (None, LocalAddr::Unix(path)) => Some(format!("{}:None", path.to_string_lossy())),
        };
        RequestUrl { scheme, netloc, path, query: latin1(head.query().as_bytes()) }
    }

    /// `scheme://netloc/path?query`, as `urlunsplit` writes it.
    pub(crate) fn to_string_with(&self, scheme: &str, netloc: &str) -> String {
        let mut url = format!("{scheme}://{netloc}{}", self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
        url
    }
}

/// `urllib.parse.quote(url, safe=":/%#?=@[]!$&'()*+,;")`, which `RedirectResponse` applies to its
/// `location`: every other byte outside letters, digits and `_.-~` is percent-encoded (UTF-8).
pub(crate) fn quote_location(url: &str) -> String {
    const SAFE: &[u8] = b":/%#?=@[]!$&'()*+,;_.-~";
    let mut out = String::with_capacity(url.len());
    for &b in url.as_bytes() {
        if b.is_ascii_alphanumeric() || SAFE.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `SplitResult.hostname`: the host lower-cased, without IPv6 brackets or a port.
pub(crate) fn hostname(netloc: &str) -> String {
    let host = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let host = if let Some(inner) = host.strip_prefix('[') {
        inner.split_once(']').map_or(inner, |(h, _)| h)
    } else {
        host.split_once(':').map_or(host, |(h, _)| h)
    };
    host.to_lowercase()
}

/// `SplitResult.port`: the digits after the host, as a number (`None` when absent or unreadable).
pub(crate) fn port(netloc: &str) -> Option<u32> {
    let host = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let digits = match host.split_once('[') {
        Some((_, bracketed)) => bracketed.split_once(']')?.1.split_once(':')?.1,
        None => host.split_once(':')?.1,
    };
    digits.parse().ok().filter(|p| *p <= 65535)
}

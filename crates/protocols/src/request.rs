use std::net::SocketAddr;

use http::{HeaderMap, Method, Uri};

use crate::LocalAddr;

/// The HTTP version a request arrived with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
    /// HTTP/2.
    Http2,
    /// HTTP/3.
    Http3,
}

impl HttpVersion {
    /// The version as ASGI spells it in `scope["http_version"]`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "1.0",
            HttpVersion::Http11 => "1.1",
            HttpVersion::Http2 => "2",
            HttpVersion::Http3 => "3",
        }
    }

    /// The version as it appears on an HTTP/1 request line (used by access logs).
    pub fn protocol(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
            HttpVersion::Http3 => "HTTP/3",
        }
    }
}

/// The URL scheme a request was received under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain TCP or a Unix socket.
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Everything about a request except its body.
#[derive(Debug)]
pub struct RequestHead {
    /// The request method.
    pub method: Method,
    /// The request target as sent; for HTTP/2 it also carries `:authority`.
    pub uri: Uri,
    /// The protocol version.
    pub version: HttpVersion,
    /// Header fields with lower-case names. Repeated fields are kept as separate values.
    pub headers: HeaderMap,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The peer's address; `None` on a Unix socket.
    pub client: Option<SocketAddr>,
    /// The local end the request arrived on.
    pub server: LocalAddr,
}

impl RequestHead {
    /// The raw path bytes, as sent, without the query string.
    pub fn raw_path(&self) -> &str {
        self.uri.path()
    }

    /// The raw query string without the leading `?`, empty if absent.
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }
}

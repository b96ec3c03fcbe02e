//! Starlette's `HTTPSRedirectMiddleware`: a plain-HTTP request or `ws://` handshake gets a 307 to the
//! same URL over `https`/`wss`.

use covetpy_protocols::{RequestHead, Response, Scheme};

use super::url::{hostname, port, quote_location, RequestUrl};
use super::{plain_text, redirect};

/// The redirect for a request not made over TLS; `None` lets it through.
pub(crate) fn check(head: &RequestHead, websocket: bool, root_path: &str) -> Option<Response> {
    if head.scheme != Scheme::Http {
        return None;
    }
    let url = RequestUrl::of(head, websocket, root_path);
    let netloc = match url.netloc.as_deref() {
        Some(netloc) if !netloc.is_empty() => netloc,
        _ => return Some(plain_text(http::StatusCode::BAD_REQUEST, "Invalid host header", Vec::new())),
    };
    let scheme = if websocket { "wss" } else { "https" };
    // The default ports are dropped from the new URL (Starlette keeps only the host name then).
    let netloc = if matches!(port(netloc), Some(80 | 443)) { hostname(netloc) } else { netloc.to_owned() };
    Some(redirect(http::StatusCode::TEMPORARY_REDIRECT, &quote_location(&url.to_string_with(scheme, &netloc))))
}

//! Starlette's `TrustedHostMiddleware`: requests (and WebSocket handshakes) whose `Host` matches no
//! allowed pattern get a 400, or a 307 to the `www.` host when only that one is allowed.

use covetpy_protocols::{RequestHead, Response};
use pyo3::prelude::*;

use super::url::{host_header, parse_host, quote_location, RequestUrl};
use super::{plain_text, redirect};

/// The middleware's options.
pub(crate) struct TrustedHost {
    /// Lower-case patterns: exact hosts or `*.example.com`.
    allowed_hosts: Vec<String>,
    allow_any: bool,
    www_redirect: bool,
}

impl TrustedHost {
    /// Reads a `TrustedHostSpec`.
    pub(crate) fn load(spec: &Bound<'_, PyAny>) -> PyResult<TrustedHost> {
        Ok(TrustedHost {
            allowed_hosts: spec.getattr("allowed_hosts")?.extract()?,
            allow_any: spec.getattr("allow_any")?.extract()?,
            www_redirect: spec.getattr("www_redirect")?.extract()?,
        })
    }

    /// The refusal or redirect for a request with an untrusted host; `None` lets it through.
    pub(crate) fn check(&self, head: &RequestHead, websocket: bool, root_path: &str) -> Option<Response> {
        if self.allow_any {
            return None;
        }
        let header = host_header(head);
        let Some(parsed) = header.as_deref().and_then(parse_host) else {
            return Some(plain_text(http::StatusCode::BAD_REQUEST, "Invalid host header", Vec::new()));
        };
        let host = parsed.host.to_ascii_lowercase();
        let mut found_www_redirect = false;
        for pattern in &self.allowed_hosts {
            if host == *pattern || (pattern.starts_with('*') && host.ends_with(&pattern[1..])) {
                return None;
            }
            if format!("www.{host}") == *pattern {
                found_www_redirect = true;
            }
        }
        if found_www_redirect && self.www_redirect {
            let url = RequestUrl::of(head, websocket, root_path);
            let netloc = format!("www.{}", url.netloc.as_deref().unwrap_or(""));
            return Some(redirect(
                http::StatusCode::TEMPORARY_REDIRECT,
                &quote_location(&url.to_string_with(url.scheme, &netloc)),
            ));
        }
        Some(plain_text(http::StatusCode::BAD_REQUEST, "Invalid host header", Vec::new()))
    }
}

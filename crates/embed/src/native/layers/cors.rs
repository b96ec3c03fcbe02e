//! Starlette's `CORSMiddleware`: preflight requests answered here, and the CORS headers (and
//! `Vary: Origin`) added to every other answer.

use covetpy_protocols::{RequestHead, Response};
use http::header::{HeaderName, HeaderValue, ORIGIN};
use http::{HeaderMap, Method, StatusCode};
use pyo3::prelude::*;

use super::url::latin1;
use super::{append_vary, plain_text, set_header};

const REQUEST_METHOD: &str = "access-control-request-method";
const REQUEST_HEADERS: &str = "access-control-request-headers";
const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";

/// Why a CORS layer cannot run in Rust.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CorsError {
    /// `allow_origin_regex` uses Python regex syntax the `regex` crate does not have (or reads
    /// differently), so only Python can match it.
    #[error("allow_origin_regex {pattern:?} cannot be matched in Rust: {reason}")]
    Regex { pattern: String, reason: String },
}

/// The middleware's options, as Starlette computed them.
pub(crate) struct Cors {
    allow_all_origins: bool,
    allow_origins: Vec<String>,
    allow_origin_regex: Option<regex::Regex>,
    allow_methods: Vec<String>,
    allow_headers: Vec<String>,
    allow_all_headers: bool,
    allow_credentials: bool,
    allow_private_network: bool,
    preflight_explicit_allow_origin: bool,
    simple_headers: Vec<(String, String)>,
    preflight_headers: Vec<(String, String)>,
}

/// Python's `re.fullmatch` as a `regex` pattern, refusing what the two engines read differently.
fn compile_fullmatch(pattern: &str) -> Result<regex::Regex, CorsError> {
    let refuse = |reason: &str| CorsError::Regex { pattern: pattern.to_owned(), reason: reason.to_owned() };
    // Inside a class `regex` reads `[[`, `&&`, `--` and `~~` as nested classes and set operations;
    // Python reads them as literal characters.
    for token in ["[[", "&&", "--", "~~"] {
        if pattern.contains(token) {
            return Err(refuse(&format!("{token:?} means something else in Rust's regex syntax")));
        }
    }
    regex::Regex::new(&format!(r"\A(?:{pattern})\z")).map_err(|e| refuse(&e.to_string().replace('\n', " ")))
}

impl Cors {
    /// Reads a `CorsSpec`.
    pub(crate) fn load(spec: &Bound<'_, PyAny>) -> PyResult<Result<Cors, CorsError>> {
        let regex: Option<String> = spec.getattr("allow_origin_regex")?.extract()?;
        let allow_origin_regex = match regex.as_deref().map(compile_fullmatch).transpose() {
            Ok(compiled) => compiled,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(Cors {
            allow_all_origins: spec.getattr("allow_all_origins")?.extract()?,
            allow_origins: spec.getattr("allow_origins")?.extract()?,
            allow_origin_regex,
            allow_methods: spec.getattr("allow_methods")?.extract()?,
            allow_headers: spec.getattr("allow_headers")?.extract()?,
            allow_all_headers: spec.getattr("allow_all_headers")?.extract()?,
            allow_credentials: spec.getattr("allow_credentials")?.extract()?,
            allow_private_network: spec.getattr("allow_private_network")?.extract()?,
            preflight_explicit_allow_origin: spec.getattr("preflight_explicit_allow_origin")?.extract()?,
            simple_headers: spec.getattr("simple_headers")?.extract()?,
            preflight_headers: spec.getattr("preflight_headers")?.extract()?,
        }))
    }

    fn is_allowed_origin(&self, origin: &str) -> bool {
        self.allow_all_origins
            || self.allow_origin_regex.as_ref().is_some_and(|r| r.is_match(origin))
            || self.allow_origins.iter().any(|o| o == origin)
    }

    /// The request's `Origin`, when it has one (what the way out needs), or the preflight answer.
    pub(crate) fn enter(&self, head: &RequestHead) -> Result<Option<String>, Box<Response>> {
        let origin = head.headers.get(ORIGIN).map(|v| latin1(v.as_bytes()));
        if origin.is_some() && head.method == Method::OPTIONS && head.headers.contains_key(REQUEST_METHOD) {
            return Err(Box::new(self.preflight(&head.headers)));
        }
        Ok(origin)
    }

    fn preflight(&self, request: &HeaderMap) -> Response {
        let get = |name: &str| request.get(name).map(|v| latin1(v.as_bytes()));
        let requested_origin = get(ORIGIN.as_str()).unwrap_or_default();
        let requested_method = get(REQUEST_METHOD).unwrap_or_default();
        let requested_headers = get(REQUEST_HEADERS);
        // A Python dict: insertion order, a key set again keeps its place.
        let mut headers = self.preflight_headers.clone();
        let mut put = |name: &str, value: String| match headers.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => entry.1 = value,
            None => headers.push((name.to_owned(), value)),
        };
        let mut failures: Vec<&str> = Vec::new();
        if self.is_allowed_origin(&requested_origin) {
            if self.preflight_explicit_allow_origin {
                put("Access-Control-Allow-Origin", requested_origin.clone());
            }
        } else {
            failures.push("origin");
        }
        if !self.allow_methods.contains(&requested_method) {
            failures.push("method");
        }
        match requested_headers {
            Some(requested) if self.allow_all_headers => put("Access-Control-Allow-Headers", requested),
            Some(requested)
                if requested.split(',').any(|h| !self.allow_headers.iter().any(|a| a == h.to_lowercase().trim())) =>
            {
                failures.push("headers");
            }
            _ => {}
        }
        if request.contains_key(REQUEST_PRIVATE_NETWORK) {
            if self.allow_private_network {
                put("Access-Control-Allow-Private-Network", "true".to_owned());
            } else {
                failures.push("private-network");
            }
        }
        let pairs: Vec<(HeaderName, HeaderValue)> = headers
            .iter()
            .filter_map(|(k, v)| {
                Some((HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).ok()?, latin1_value(v)?))
            })
            .collect();
        if failures.is_empty() {
            plain_text(StatusCode::OK, "OK", pairs)
        } else {
            let text = format!("Disallowed CORS {}", failures.join(", "));
            plain_text(StatusCode::BAD_REQUEST, &text, pairs)
        }
    }

    /// Adds the CORS headers to an answer, for a request with (or without) an `Origin`.
    pub(crate) fn leave(&self, origin: Option<&str>, response: &mut Response) {
        let headers = &mut response.headers;
        if origin.is_some() {
            for (name, value) in &self.simple_headers {
                if let (Ok(name), Some(value)) =
                    (HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()), latin1_value(value))
                {
                    set_header(headers, name, value);
                }
            }
        }
        let explicit = match origin {
            Some(origin) if self.allow_all_origins && self.allow_credentials => Some(origin),
            Some(origin) if !self.allow_all_origins && self.is_allowed_origin(origin) => Some(origin),
            _ => None,
        };
        if let Some(value) = explicit.and_then(latin1_value) {
            set_header(headers, http::header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        append_vary(headers, "Origin");
    }
}

/// A latin-1 string as a header value (`None` for text a header cannot carry).
pub(crate) fn latin1_value(text: &str) -> Option<HeaderValue> {
    let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
    HeaderValue::from_bytes(&bytes?).ok()
}

//! Headers the server adds to every response: `server`, `date` and `--header` values, as uvicorn's
//! default headers.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, HeaderValue, DATE, SERVER};
use http::HeaderMap;

/// `--server-header`, `--date-header` and `--header`.
///
/// uvicorn puts its defaults in front of the application's headers and sends both when the application
/// sets the same name; here a default whose name the response already carries is left out, so a
/// response never has two `date` or `server` fields.
#[derive(Debug, Clone, Default)]
pub struct DefaultHeaders {
    /// Fixed fields by name, in the order first given; one name may have several values.
    fixed: Vec<(HeaderName, Vec<HeaderValue>)>,
    date: bool,
}

/// A `--header` value that is not `NAME:VALUE` with a valid name and value.
#[derive(Debug, thiserror::Error)]
#[error("--header {0:?} is not NAME:VALUE with a valid header name and value")]
pub struct BadHeader(pub String);

impl DefaultHeaders {
    /// `server: covetpy` unless `server` is false or `extra` names `server` itself (as uvicorn), a
    /// `date` header when `date` is true, and `extra` (`--header` values as given, `NAME:VALUE`).
    pub fn new(server: bool, date: bool, extra: &[String]) -> Result<DefaultHeaders, BadHeader> {
        let mut headers = DefaultHeaders { fixed: Vec::new(), date };
        for item in extra {
            let (name, value) = item.split_once(':').ok_or_else(|| BadHeader(item.clone()))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| BadHeader(item.clone()))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| BadHeader(item.clone()))?;
            headers.push(name, value);
        }
        if server && !headers.fixed.iter().any(|(name, _)| name == SERVER) {
            headers.fixed.insert(0, (SERVER, vec![HeaderValue::from_static("covetpy")]));
        }
        Ok(headers)
    }

    fn push(&mut self, name: HeaderName, value: HeaderValue) {
        match self.fixed.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.fixed.push((name, vec![value])),
        }
    }

    /// Whether the `date` header is on (hyper's own automatic responses follow the same switch).
    pub(crate) fn date(&self) -> bool {
        self.date
    }

    /// Adds the defaults the response does not already carry.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, values) in &self.fixed {
            if !headers.contains_key(name) {
                for value in values {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        if self.date && !headers.contains_key(DATE) {
            headers.insert(DATE, current_date());
        }
    }
}

thread_local! {
    /// The formatted date and the second it is for: formatting happens once a second per thread.
    static DATE_CACHE: RefCell<(u64, HeaderValue)> = const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// The current time as an HTTP date (RFC 9110 section 5.6.7).
fn current_date() -> HeaderValue {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != second {
            let formatted = httpdate::fmt_http_date(now);
            // An HTTP date is plain ASCII, so this cannot fail; if it did, the old value stays.
            if let Ok(value) = HeaderValue::from_str(&formatted) {
                *cache = (second, value);
            }
        }
        cache.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let d = DefaultHeaders::new(true, true, &["X-A: 1".into(), "x-a:2".into()]).unwrap();
        let mut h = HeaderMap::new();
        d.apply(&mut h);
        assert_eq!(h.get(SERVER).unwrap(), "covetpy");
        assert_eq!(h.get_all("x-a").iter().collect::<Vec<_>>(), ["1", "2"]);
        assert!(h.get(DATE).unwrap().to_str().unwrap().ends_with(" GMT"));
        let mut h = HeaderMap::new();
        h.insert(SERVER, HeaderValue::from_static("app"));
        h.insert(DATE, HeaderValue::from_static("then"));
        d.apply(&mut h);
        assert_eq!(h.get(SERVER).unwrap(), "app");
        assert_eq!(h.get(DATE).unwrap(), "then");
        assert_eq!(h.get_all(SERVER).iter().count(), 1);
    }

    #[test]
    fn header_option_replaces_the_server_default() {
        let d = DefaultHeaders::new(true, false, &["Server: mine".into()]).unwrap();
        let mut h = HeaderMap::new();
        d.apply(&mut h);
        assert_eq!(h.get_all(SERVER).iter().collect::<Vec<_>>(), ["mine"]);
        assert!(!h.contains_key(DATE));
        let mut h = HeaderMap::new();
        DefaultHeaders::new(false, false, &[]).unwrap().apply(&mut h);
        assert!(h.is_empty());
        assert!(DefaultHeaders::new(true, true, &["no-colon".into()]).is_err());
        assert!(DefaultHeaders::new(true, true, &["bad name:x".into()]).is_err());
    }
}

//! A file's validators and the request headers read against them, as Starlette's `FileResponse` and
//! `StaticFiles.is_not_modified` read them. Where Python's reading of a header could differ from a
//! strict one (a lenient date, a number `int()` takes that Rust would not), the answer is
//! [`Decline`]: the request goes to Python, which answers it.

use std::fmt::Write as _;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, UNIX_EPOCH};

use http::HeaderMap;
use md5::{Digest, Md5};

/// The request is left to the app's Python `StaticFiles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decline;

/// `ETag` and `Last-Modified` of one file, made from its `stat` as `FileResponse` makes them.
#[derive(Debug)]
pub(crate) struct Validators {
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) last_modified: String,
}

impl Validators {
    /// Python's `st_mtime` is `sec + nsec * 1e-9` as a double; the ETag hashes its `repr`.
    pub(crate) fn of(meta: &Metadata) -> Result<Validators, Decline> {
        let mtime = meta.mtime() as f64 + meta.mtime_nsec() as f64 * 1e-9;
        // Below 1e-4 Python's repr switches to an exponent; no real file is that old.
        if mtime < 1.0 {
            return Err(Decline);
        }
        let mut repr = format!("{mtime}");
        if !repr.contains('.') {
            repr.push_str(".0");
        }
        let digest = Md5::digest(format!("{repr}-{}", meta.size()).as_bytes());
        let mut hex = String::with_capacity(2 * digest.len());
        for byte in digest {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        // `formatdate` goes through `time.gmtime`, which floors the float.
        let seconds = Duration::from_secs(mtime.floor() as u64);
        Ok(Validators {
            size: meta.size(),
            etag: format!("\"{hex}\""),
            last_modified: httpdate::fmt_http_date(UNIX_EPOCH + seconds),
        })
    }

    /// `StaticFiles.is_not_modified`: `If-None-Match` decides when present and not empty, else
    /// `If-Modified-Since` at or after `Last-Modified`.
    pub(crate) fn not_modified(&self, headers: &HeaderMap) -> Result<bool, Decline> {
        if let Some(value) = header(headers, "if-none-match")?.filter(|v| !v.is_empty()) {
            if trim(value) == "*" {
                return Ok(true);
            }
            return Ok(value
                .split(',')
                .map(|tag| trim(tag).strip_prefix("W/").unwrap_or(trim(tag)))
                .any(|t| t == self.etag));
        }
        let Some(since) = header(headers, "if-modified-since")? else { return Ok(false) };
        let since = date_fields(since).ok_or(Decline)?;
        let modified = date_fields(&self.last_modified).ok_or(Decline)?;
        Ok(since >= modified)
    }

    /// The one byte range to send, `None` for the whole file, as `FileResponse.__call__` decides for
    /// a 200 answer to GET or HEAD.
    pub(crate) fn range(&self, headers: &HeaderMap) -> Result<Option<(u64, u64)>, Decline> {
        let Some(range) = header(headers, "range")? else { return Ok(None) };
        if let Some(if_range) = header(headers, "if-range")? {
            if if_range.starts_with("W/") || (if_range != self.last_modified && if_range != self.etag) {
                return Ok(None);
            }
        }
        parse_range(range, self.size)
    }
}

/// One header's value, the first of its name as Starlette's `Headers.get` takes it; a value that is
/// not visible ASCII is Python's to read (it decodes it as Latin-1).
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Decline> {
    headers.get(name).map(|v| v.to_str().map_err(|_| Decline)).transpose()
}

/// `str.strip()` for what a visible-ASCII header value can hold.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// `FileResponse._parse_range_header` when its result is a single range or none; a malformed or
/// unsatisfiable header (Starlette's 400 and 416) and several ranges (a multipart answer) decline.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, Decline> {
    let (units, spec) = value.split_once('=').ok_or(Decline)?;
    if !trim(units).eq_ignore_ascii_case("bytes") {
        return Err(Decline);
    }
    if spec.matches(',').count() + 1 > 100 {
        return Ok(None);
    }
    let mut ranges = Vec::new();
    for part in spec.split(',').map(trim) {
        if part.is_empty() || part == "-" {
            continue;
        }
        let Some((start, end)) = part.split_once('-') else { continue };
        let (start, end) = (trim(start), trim(end));
        let start_at = if start.is_empty() { size.saturating_sub(number(end)?) } else { number(start)? };
        let end_at = if start.is_empty() || end.is_empty() {
            size
        } else {
            // `number` keeps values far below u64::MAX, so the + 1 cannot overflow.
            let last = number(end)?;
            if last < size {
                last + 1
            } else {
                size
            }
        };
        ranges.push((start_at, end_at));
    }
    match ranges.as_slice() {
        [(start, end)] if *start < size && start < end => Ok(Some((*start, *end))),
        _ => Err(Decline),
    }
}

/// A decimal number as Python's `int()` reads it, when it is plain ASCII digits; anything else
/// (`+5`, `1_0`, other scripts' digits, which `int()` also takes, or junk it skips) declines.
fn number(s: &str) -> Result<u64, Decline> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Decline);
    }
    s.parse::<u64>().ok().filter(|n| *n < u64::MAX / 2).ok_or(Decline)
}

/// `email.utils.parsedate`'s fields (year, month, day, hour, minute, second) of an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`); `parsedate` ignores the weekday and takes other forms as well,
/// which decline here.
fn date_fields(s: &str) -> Option<(u32, u32, u32, u32, u32, u32)> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let b = s.as_bytes();
    if b.len() != 29 || !b[..3].iter().all(u8::is_ascii_alphabetic) || &b[3..5] != b", " || &s[25..] != " GMT" {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let month = MONTHS.iter().position(|m| s[8..11].eq_ignore_ascii_case(m))? as u32 + 1;
    let separators = [(7, b' '), (11, b' '), (16, b' '), (19, b':'), (22, b':')];
    if separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    // `parsedate` adds 1900 or 2000 to years below 100, which a four-digit field can still hold.
    let year = digits(12..16).filter(|y| *y >= 1000)?;
    Some((year, month, digits(5..7)?, digits(17..19)?, digits(20..22)?, digits(23..25)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_starlette_reads_them() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 100))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(parse_range("bytes=-500", 100), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 100))));
        assert_eq!(parse_range(" BYTES = 1-2 ,", 100), Ok(Some((1, 3))));
        assert_eq!(parse_range("bytes=1-2,x", 100), Ok(Some((1, 3))));
        // Several ranges, malformed and unsatisfiable ones: Python answers.
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Err(Decline));
        assert_eq!(parse_range("bytes=5-1", 100), Err(Decline));
        assert_eq!(parse_range("bytes=100-", 100), Err(Decline));
        assert_eq!(parse_range("items=0-1", 100), Err(Decline));
        assert_eq!(parse_range("bytes=+1-2", 100), Err(Decline));
        assert_eq!(parse_range("bytes=", 100), Err(Decline));
        let many = format!("bytes={}", vec!["0-1"; 101].join(","));
        assert_eq!(parse_range(&many, 100), Ok(None));
    }

    #[test]
    fn dates_as_parsedate_reads_them() {
        assert_eq!(date_fields("Sun, 06 Nov 1994 08:49:37 GMT"), Some((1994, 11, 6, 8, 49, 37)));
        assert_eq!(date_fields("xyz, 06 NOV 1994 08:49:37 GMT"), Some((1994, 11, 6, 8, 49, 37)));
        assert_eq!(date_fields("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(date_fields("Sun, 06 Nov 0094 08:49:37 GMT"), None);
        assert_eq!(date_fields("Sun, 06 Nov 1994 08:49:37 +0000"), None);
    }
}

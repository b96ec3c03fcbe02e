//! The parameters of a part's `Content-Disposition` header, read as python-multipart's
//! `parse_options_header` reads them (which is what decides a part's field name, whether it is a file,
//! and its file name in Starlette).
//!
//! The header is taken byte for byte as Latin-1 text, so positions below are byte positions. The
//! splitting at `;` keeps the rule of the code it follows, quirks included: quotes are counted between
//! candidate semicolons, and the search for the closing one steps as that code steps.

/// Parameters in header order; a later one of the same name wins, as in a dict.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Params(Vec<(Vec<u8>, Vec<u8>)>);

impl Params {
    /// The value of `key` (lowercase).
    pub(crate) fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }
}

/// Index bounds as Python adjusts `start` and `end` of `str.find`/`str.count`/slices.
fn bounds(len: usize, start: isize, end: isize) -> (usize, usize) {
    let len = len as isize;
    let adjust = |i: isize| if i < 0 { (i + len).max(0) } else { i.min(len) };
    (adjust(start) as usize, adjust(end) as usize)
}

/// Python's `s.find(sub, start, end)`.
fn find(s: &[u8], sub: &[u8], start: isize, end: isize) -> isize {
    let (a, b) = bounds(s.len(), start, end);
    if b < a || b - a < sub.len() {
        return -1;
    }
    s[a..b].windows(sub.len()).position(|w| w == sub).map_or(-1, |p| (a + p) as isize)
}

/// Python's `s.count(sub, start, end)` for a non-empty `sub`.
fn count(s: &[u8], sub: &[u8], start: isize, end: isize) -> isize {
    let (a, b) = bounds(s.len(), start, end);
    let mut n = 0;
    let mut i = a;
    while i + sub.len() <= b {
        if &s[i..i + sub.len()] == sub {
            n += 1;
            i += sub.len();
        } else {
            i += 1;
        }
    }
    n
}

/// Python's `s[start:end]`.
fn slice(s: &[u8], start: isize, end: isize) -> &[u8] {
    let (a, b) = bounds(s.len(), start, end);
    if a < b {
        &s[a..b]
    } else {
        &[]
    }
}

fn is_blank(c: &u8) -> bool {
    *c == b' ' || *c == b'\t'
}

fn strip_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| is_blank(c)).count();
    &s[n..]
}

fn strip_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|c| is_blank(c)).count();
    &s[..s.len() - n]
}

/// The `;`-separated segments after the first, each stripped of spaces and tabs; the name before a
/// `=` is lowercased.
fn segments(value: &[u8]) -> Vec<Vec<u8>> {
    let mut s = Vec::with_capacity(value.len() + 1);
    s.push(b';');
    s.extend_from_slice(value);
    let s = s.as_slice();
    let len = s.len() as isize;
    let mut out = Vec::new();
    let mut start: isize = 0;
    while find(s, b";", start, len) == start {
        start += 1;
        let mut end = find(s, b";", start, len);
        let (mut ind, mut diff) = (start, 0);
        while end > 0 {
            diff += count(s, b"\"", ind, end) - count(s, b"\\\"", ind, end);
            if diff % 2 == 0 {
                break;
            }
            (end, ind) = (ind, find(s, b";", end + 1, len));
        }
        if end < 0 {
            end = len;
        }
        let i = find(s, b"=", start, end);
        let segment = if i == -1 {
            slice(s, start, end).to_vec()
        } else {
            let mut f = strip_end(slice(s, start, i)).to_ascii_lowercase();
            f.push(b'=');
            f.extend_from_slice(strip_start(slice(s, i + 1, end)));
            f
        };
        out.push(strip_end(strip_start(&segment)).to_vec());
        start = end;
    }
    out.remove(0);
    out
}

/// Python's `str.replace(old, new)` on bytes.
fn replace(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// The parameters of a `Content-Disposition` value (none without a `;`).
pub(crate) fn params(value: &[u8]) -> Params {
    if !value.contains(&b';') {
        return Params::default();
    }
    let mut params = Params::default();
    for segment in segments(value) {
        let (key, val) = match segment.iter().position(|&c| c == b'=') {
            Some(at) => (&segment[..at], &segment[at + 1..]),
            None => (segment.as_slice(), &[][..]),
        };
        // RFC 7578 forbids the extended `name*=` forms in forms; they are ignored.
        if key.contains(&b'*') {
            continue;
        }
        let mut val = val.to_vec();
        if val.len() >= 2 && val[0] == b'"' && val[val.len() - 1] == b'"' {
            val = replace(&replace(&val[1..val.len() - 1], b"\\\\", b"\\"), b"\\\"", b"\"");
        }
        // Old browsers sent the whole Windows path as the file name.
        if key == b"filename" && (val.get(1..3) == Some(b":\\") || val.starts_with(b"\\\\")) {
            let last = val.iter().rposition(|&c| c == b'\\').map_or(0, |p| p + 1);
            val.drain(..last);
        }
        params.0.push((key.to_vec(), val));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::params;

    fn get(value: &str, key: &str) -> Option<String> {
        params(value.as_bytes()).get(key.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn reads_the_usual_forms() {
        let v = r#"form-data; name="file"; filename="a b.txt""#;
        assert_eq!(get(v, "name").as_deref(), Some("file"));
        assert_eq!(get(v, "filename").as_deref(), Some("a b.txt"));
        assert_eq!(get("form-data; NAME=x", "name").as_deref(), Some("x"));
        assert_eq!(get("form-data;name", "name").as_deref(), Some(""));
        assert_eq!(get("form-data name=x", "name"), None);
        assert_eq!(get(r#"form-data; name="a;b""#, "name").as_deref(), Some("a;b"));
        assert_eq!(get(r#"form-data; name="a\"b""#, "name").as_deref(), Some("a\"b"));
        assert_eq!(get(r#"form-data; name*=utf-8''x; name=y"#, "name").as_deref(), Some("y"));
        assert_eq!(get(r#"form-data; name=a; filename="C:\dir\f.txt""#, "filename").as_deref(), Some("f.txt"));
        assert_eq!(get("form-data; name=a; name=b", "name").as_deref(), Some("b"));
    }
}

//! JSON encoding of handler return values, in Rust, matching the bytes Starlette's `JSONResponse`
//! produces (`json.dumps(..., ensure_ascii=False, allow_nan=False, separators=(",", ":"))`).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: u32 = 256;

/// Appends `s` as a JSON string literal. Only what `json.dumps` escapes is escaped; other characters,
/// non-ASCII included, are written as they are.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Encodes Python values; anything that is not a JSON type is first passed through `fallback`
/// (`covetpy.encoders.jsonable_encoder`).
pub(crate) struct Encoder<'a, 'py> {
    fallback: &'a Bound<'py, PyAny>,
    out: Vec<u8>,
}

impl<'a, 'py> Encoder<'a, 'py> {
    pub(crate) fn new(fallback: &'a Bound<'py, PyAny>) -> Self {
        Encoder { fallback, out: Vec::with_capacity(128) }
    }

    /// Encodes `value` and returns the bytes.
    pub(crate) fn encode(mut self, value: &Bound<'py, PyAny>) -> PyResult<Vec<u8>> {
        self.value(value, 0)?;
        Ok(self.out)
    }

    fn value(&mut self, obj: &Bound<'py, PyAny>, depth: u32) -> PyResult<()> {
        if depth > MAX_DEPTH {
            return Err(PyValueError::new_err("value nested too deeply to encode as JSON"));
        }
        if obj.is_none() {
            self.out.extend_from_slice(b"null");
        } else if let Ok(b) = obj.cast_exact::<PyBool>() {
            self.out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        } else if let Ok(s) = obj.cast_exact::<PyString>() {
            write_str(&mut self.out, s.to_str()?);
        } else if let Ok(i) = obj.cast_exact::<PyInt>() {
            self.int(i)?;
        } else if let Ok(f) = obj.cast_exact::<PyFloat>() {
            self.float(f)?;
        } else if let Ok(dict) = obj.cast::<PyDict>() {
            self.out.push(b'{');
            for (n, (key, item)) in dict.iter().enumerate() {
                if n > 0 {
                    self.out.push(b',');
                }
                self.key(&key)?;
                self.out.push(b':');
                self.value(&item, depth + 1)?;
            }
            self.out.push(b'}');
        } else if let Ok(list) = obj.cast::<PyList>() {
            self.out.push(b'[');
            for (n, item) in list.iter().enumerate() {
                if n > 0 {
                    self.out.push(b',');
                }
                self.value(&item, depth + 1)?;
            }
            self.out.push(b']');
        } else if let Ok(tuple) = obj.cast::<PyTuple>() {
            self.out.push(b'[');
            for (n, item) in tuple.iter().enumerate() {
                if n > 0 {
                    self.out.push(b',');
                }
                self.value(&item, depth + 1)?;
            }
            self.out.push(b']');
        } else {
            let converted = self.fallback.call1((obj,))?;
            if converted.get_type().is(obj.get_type()) {
                return Err(PyTypeError::new_err(format!(
                    "Object of type {} is not JSON serializable",
                    obj.get_type().name()?
                )));
            }
            self.value(&converted, depth + 1)?;
        }
        Ok(())
    }

    fn int(&mut self, i: &Bound<'py, PyInt>) -> PyResult<()> {
        match i.extract::<i64>() {
            Ok(n) => self.out.extend_from_slice(n.to_string().as_bytes()),
            Err(_) => self.out.extend_from_slice(i.str()?.to_str()?.as_bytes()),
        }
        Ok(())
    }

    fn float(&mut self, f: &Bound<'py, PyFloat>) -> PyResult<()> {
        if !f.value().is_finite() {
            return Err(PyValueError::new_err("Out of range float values are not JSON compliant"));
        }
        // Python's repr is the shortest round-tripping form, which is what json.dumps writes.
        self.out.extend_from_slice(f.repr()?.to_str()?.as_bytes());
        Ok(())
    }

    fn key(&mut self, key: &Bound<'py, PyAny>) -> PyResult<()> {
        if let Ok(s) = key.cast::<PyString>() {
            write_str(&mut self.out, s.to_str()?);
        } else if let Ok(b) = key.cast::<PyBool>() {
            write_str(&mut self.out, if b.is_true() { "true" } else { "false" });
        } else if key.is_none() {
            write_str(&mut self.out, "null");
        } else if key.cast::<PyInt>().is_ok() || key.cast::<PyFloat>().is_ok() {
            let text = key.repr()?;
            write_str(&mut self.out, text.to_str()?);
        } else {
            return Err(PyTypeError::new_err(format!(
                "keys must be str, int, float, bool or None, not {}",
                key.get_type().name()?
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::write_str;

    fn lit(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_json_dumps() {
        assert_eq!(lit("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(lit("line\nnext\ttab"), r#""line\nnext\ttab""#);
        assert_eq!(lit("\u{1}"), r#""\u0001""#);
        assert_eq!(lit("café ☕"), "\"café ☕\"");
    }
}

//! The content type `FileResponse` gives a file: Python's `mimetypes.guess_type`, replayed on the
//! tables the interpreter had after the app was imported (its own `add_type` calls included).

use std::collections::HashMap;

use pyo3::prelude::*;

/// `mimetypes`' strict type table, suffix aliases (`.tgz` -> `.tar.gz`) and encoding suffixes.
#[derive(Debug, Default)]
pub(crate) struct MimeTable {
    types: HashMap<String, String>,
    suffixes: HashMap<String, String>,
    encodings: HashMap<String, String>,
}

impl MimeTable {
    /// Reads `app._covet_mime_table()`.
    pub(crate) fn load(table: &Bound<'_, PyAny>) -> PyResult<MimeTable> {
        Ok(MimeTable {
            types: table.getattr("types_map")?.extract()?,
            suffixes: table.getattr("suffix_map")?.extract()?,
            encodings: table.getattr("encodings_map")?.extract()?,
        })
    }

    /// `guess_type(path)[0]` for an absolute file path (which has no URL scheme to consider).
    pub(crate) fn guess(&self, path: &str) -> Option<&str> {
        let (mut base, mut ext) = splitext(path);
        // Each alias ends in another suffix; like Python's loop, this relies on the table having no cycle.
        while let Some(alias) = self.suffixes.get(&ext.to_lowercase()) {
            (base, ext) = splitext(&format!("{base}{alias}"));
        }
        // Encoding suffixes are matched case-sensitively, type suffixes after lower-casing.
        if self.encodings.contains_key(&ext) {
            ext = splitext(&base).1;
        }
        self.types.get(&ext.to_lowercase()).map(String::as_str)
    }
}

/// `posixpath.splitext`: the extension starts at the last dot of the last component, unless only
/// dots come before it in that component (`.bashrc` and `..` have none).
fn splitext(path: &str) -> (String, String) {
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    match path.rfind('.') {
        Some(dot) if dot >= name_start && path[name_start..dot].bytes().any(|b| b != b'.') => {
            (path[..dot].to_owned(), path[dot..].to_owned())
        }
        _ => (path.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MimeTable {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        MimeTable {
            types: map(&[(".css", "text/css"), (".tar", "application/x-tar"), (".svg", "image/svg+xml")]),
            suffixes: map(&[(".tgz", ".tar.gz"), (".svgz", ".svg.gz")]),
            encodings: map(&[(".gz", "gzip"), (".br", "br")]),
        }
    }

    #[test]
    fn splitext_is_posixpaths() {
        assert_eq!(splitext("/a/b.css"), ("/a/b".to_owned(), ".css".to_owned()));
        assert_eq!(splitext("/a/.bashrc"), ("/a/.bashrc".to_owned(), String::new()));
        assert_eq!(splitext("/a/..x"), ("/a/..x".to_owned(), String::new()));
        assert_eq!(splitext("/a/..x.y"), ("/a/..x".to_owned(), ".y".to_owned()));
        assert_eq!(splitext("/a.b/c"), ("/a.b/c".to_owned(), String::new()));
    }

    #[test]
    fn guesses_like_guess_type() {
        let t = table();
        assert_eq!(t.guess("/s/site.CSS"), Some("text/css"));
        assert_eq!(t.guess("/s/a.tar.gz"), Some("application/x-tar"));
        assert_eq!(t.guess("/s/a.tgz"), Some("application/x-tar"));
        assert_eq!(t.guess("/s/a.TGZ"), Some("application/x-tar"));
        assert_eq!(t.guess("/s/logo.svgz"), Some("image/svg+xml"));
        // `.GZ` is not an encoding suffix (case-sensitive), and not a type either.
        assert_eq!(t.guess("/s/a.tar.GZ"), None);
        assert_eq!(t.guess("/s/a.css.br"), Some("text/css"));
        assert_eq!(t.guess("/s/README"), None);
    }
}

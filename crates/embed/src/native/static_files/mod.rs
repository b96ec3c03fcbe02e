//! `StaticFiles` mounts served by the server: the files of a mount the app's
//! `_covet_static_mounts()` lists (CONTRACT.md) are found, validated and sent from Rust, without
//! Python, with the answers Starlette's `StaticFiles` gives.
//!
//! Only what is certain is answered here: a regular file found the way `StaticFiles.lookup_path`
//! finds it, as a 200, a 206 for one satisfiable range, or a 304. Everything else (a miss, a
//! directory, another method, several ranges, a header Python may read differently, an error
//! reading the file) goes on to the app's ASGI side, where its `StaticFiles` answers, exactly.
//!
//! Files are read with plain `read` calls, not `sendfile`: hyper writes from its own buffers (and
//! TLS, HTTP/2 and HTTP/3 need the bytes in user space anyway). A body under 64 KiB is read in one
//! call on the network thread (a page-cache copy); a larger one streams in 64 KiB reads made on
//! Tokio's blocking pool, so a slow disk holds up no connection but its own.

mod conditions;
mod mime;
mod negotiate;

use std::fs::{File, Metadata};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use covetpy_protocols::{RequestHead, Response, ResponseBody};
use http::header::HeaderValue;
use http::{HeaderMap, Method, StatusCode};
use pyo3::prelude::*;

use self::conditions::{Decline, Validators};
use self::mime::MimeTable;

/// What `FileResponse` reads and sends at a time; a body this size or larger is streamed.
const CHUNK: u64 = 64 * 1024;
/// What one read of a streamed body takes from the file.
const STREAM_READ: u64 = 256 * 1024;

/// One mount, as `StaticMountSpec` describes it.
struct Mount {
    prefix: String,
    directories: Vec<PathBuf>,
    follow_symlink: bool,
    precompressed: bool,
}

/// The mounts of one app, and the content types its interpreter knows.
#[derive(Default)]
pub(crate) struct StaticMounts {
    mounts: Vec<Mount>,
    mime: MimeTable,
}

impl StaticMounts {
    /// Reads `app._covet_static_mounts()` and `app._covet_mime_table()`; an app without them has none.
    pub(crate) fn load(app: &Bound<'_, PyAny>) -> PyResult<StaticMounts> {
        if !app.hasattr("_covet_static_mounts")? {
            return Ok(StaticMounts::default());
        }
        let mut mounts = Vec::new();
        for spec in app.call_method0("_covet_static_mounts")?.try_iter()? {
            let spec = spec?;
            let directories: Vec<String> = spec.getattr("directories")?.extract()?;
            mounts.push(Mount {
                prefix: spec.getattr("prefix")?.extract()?,
                directories: directories.into_iter().map(PathBuf::from).collect(),
                follow_symlink: spec.getattr("follow_symlink")?.is_truthy()?,
                precompressed: spec.getattr("precompressed")?.is_truthy()?,
            });
        }
        if mounts.is_empty() {
            return Ok(StaticMounts::default());
        }
        Ok(StaticMounts { mounts, mime: MimeTable::load(&app.call_method0("_covet_mime_table")?)? })
    }

    /// The answer for a request no route took, when a mount holds the path and the answer is
    /// certain; `None` sends the request on to the app.
    pub(crate) fn answer(&self, head: &RequestHead, path: &str) -> Option<Response> {
        if self.mounts.is_empty() || (head.method != Method::GET && head.method != Method::HEAD) {
            return None;
        }
        // Starlette's router takes the first mount whose prefix matches; so does this.
        let (mount, rest) = self.mounts.iter().find_map(|m| {
            let rest = path.strip_prefix(m.prefix.as_str())?;
            rest.starts_with('/').then_some((m, rest))
        })?;
        self.serve(mount, head, rest).ok()
    }

    fn serve(&self, mount: &Mount, head: &RequestHead, route_path: &str) -> Result<Response, Decline> {
        let relative = normalize(route_path)?;
        let (full, meta) = mount.lookup(&relative)?;
        if !meta.is_file() {
            return Err(Decline);
        }
        let full_str = full.to_str().ok_or(Decline)?;
        let media_type = self.mime.guess(full_str).unwrap_or("application/octet-stream");
        // With `precompressed`, the accepted sibling that exists replaces the file.
        let mut sibling: Option<(PathBuf, &'static str)> = None;
        let mut meta = meta;
        if mount.precompressed {
            let accepted = match head.headers.get(http::header::ACCEPT_ENCODING) {
                Some(value) => negotiate::acceptable(value.to_str().map_err(|_| Decline)?),
                None => Vec::new(),
            };
            for (coding, suffix) in accepted {
                let path = PathBuf::from(format!("{full_str}{suffix}"));
                // Any failure to stat it passes over the sibling, as `os.stat`'s OSError does in Python.
                if let Ok(m) = std::fs::metadata(&path) {
                    if m.is_file() {
                        (sibling, meta) = (Some((path, coding)), m);
                        break;
                    }
                }
            }
        }
        let validators = Validators::of(&meta)?;
        // The header order is FileResponse's: those given to it, then its own.
        let mut headers = HeaderMap::new();
        let vary = HeaderValue::from_static("Accept-Encoding");
        if validators.not_modified(&head.headers)? {
            // NotModifiedResponse keeps these of NOT_MODIFIED_HEADERS, in the file answer's order.
            if mount.precompressed {
                headers.append(http::header::VARY, vary);
            }
            headers.append(http::header::ETAG, value(&validators.etag)?);
            return Ok(Response { status: StatusCode::NOT_MODIFIED, headers, body: ResponseBody::empty() });
        }
        if let Some((_, coding)) = sibling {
            headers.append(http::header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        if mount.precompressed {
            headers.append(http::header::VARY, vary);
        }
        let content_type = if media_type.starts_with("text/") && !media_type.to_ascii_lowercase().contains("charset=") {
            format!("{media_type}; charset=utf-8")
        } else {
            media_type.to_owned()
        };
        headers.append(http::header::CONTENT_TYPE, value(&content_type)?);
        headers.append(http::header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let range = validators.range(&head.headers)?;
        let (status, start, end) = match range {
            Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end),
            None => (StatusCode::OK, 0, validators.size),
        };
        headers.append(http::header::CONTENT_LENGTH, HeaderValue::from(end - start));
        headers.append(http::header::LAST_MODIFIED, value(&validators.last_modified)?);
        headers.append(http::header::ETAG, value(&validators.etag)?);
        if range.is_some() {
            let content_range = format!("bytes {start}-{}/{}", end - 1, validators.size);
            headers.append(http::header::CONTENT_RANGE, value(&content_range)?);
        }
        let body = if head.method == Method::HEAD {
            ResponseBody::empty()
        } else {
            let path = sibling.as_ref().map_or(full.as_path(), |(path, _)| path.as_path());
            body(path, start, end, range.is_some())?
        };
        Ok(Response { status, headers, body })
    }
}

impl Mount {
    /// `StaticFiles.lookup_path`: the first directory holding the path, resolved (symlinks and all,
    /// or only lexically with `follow_symlink`) and still inside that directory.
    fn lookup(&self, relative: &str) -> Result<(PathBuf, Metadata), Decline> {
        for directory in &self.directories {
            let joined = directory.join(relative);
            let (full, base) = if self.follow_symlink {
                (absolute(&joined)?, absolute(directory)?)
            } else {
                match (std::fs::canonicalize(&joined), std::fs::canonicalize(directory)) {
                    (Ok(full), Ok(base)) => (full, base),
                    (Err(e), Ok(_)) if missing(&e) => continue,
                    _ => return Err(Decline),
                }
            };
            if !full.starts_with(&base) {
                continue;
            }
            match std::fs::metadata(&full) {
                Ok(meta) => return Ok((full, meta)),
                Err(e) if missing(&e) => continue,
                Err(_) => return Err(Decline),
            }
        }
        Err(Decline)
    }
}

/// The errors `lookup_path` passes over to try the next directory.
fn missing(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// `os.path.normpath(os.path.join(*route_path.split("/")))`, when it names something below the
/// mount: a path climbing out of it, naming the mount itself, or holding what `lookup_path` refuses
/// (a leading backslash, a NUL, bytes that were not UTF-8) declines.
fn normalize(route_path: &str) -> Result<String, Decline> {
    if route_path.contains(['\0', '\u{FFFD}']) {
        return Err(Decline);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in route_path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or(Decline)?;
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if joined.is_empty() || joined.starts_with('\\') {
        return Err(Decline);
    }
    Ok(joined)
}

/// `os.path.abspath`: joined to the working directory and normalized without touching the disk.
fn absolute(path: &Path) -> Result<PathBuf, Decline> {
    let joined =
        if path.is_absolute() { path.to_owned() } else { std::env::current_dir().map_err(|_| Decline)?.join(path) };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                // `normpath` keeps `/` at `/..`.
                if out.parent().is_some() {
                    out.pop();
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

fn value(s: &str) -> Result<HeaderValue, Decline> {
    HeaderValue::from_str(s).map_err(|_| Decline)
}

/// The bytes `start..end` of the file: one read below [`CHUNK`] (up to it for a range, as
/// `FileResponse` sends a range of exactly one chunk in one message), else a stream. Only that
/// split is visible (GZip compresses a one-message body of fewer than `minimum_size` bytes not at
/// all, a stream always), so the stream reads [`STREAM_READ`] at a time, for fewer hops.
fn body(path: &Path, start: u64, end: u64, ranged: bool) -> Result<ResponseBody, Decline> {
    let mut file = File::open(path).map_err(|_| Decline)?;
    file.seek(SeekFrom::Start(start)).map_err(|_| Decline)?;
    let len = end - start;
    if len < CHUNK || (ranged && len == CHUNK) {
        return read_span(&file, len).map(ResponseBody::full).map_err(|_| Decline);
    }
    let (sender, body) = ResponseBody::channel(2);
    let file = Arc::new(file);
    tokio::spawn(async move {
        let mut left = len;
        while left > 0 {
            let want = STREAM_READ.min(left);
            let reader = Arc::clone(&file);
            let read = tokio::task::spawn_blocking(move || read_span(&reader, want)).await;
            // A file that shrank or failed mid-way aborts the answer (its length is already sent).
            let Ok(Ok(chunk)) = read else { return };
            if sender.send(chunk).await.is_err() {
                return;
            }
            left -= want;
        }
        // The sender ends the body; nothing is left to report if the client has gone.
        drop(sender.finish().await);
    });
    Ok(body)
}

/// Exactly `len` bytes from the file's position, read into fresh memory without zeroing it first.
fn read_span(mut file: &File, len: u64) -> std::io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len as usize);
    file.by_ref().take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_paths_normalize_like_normpath() {
        assert_eq!(normalize("/css/a.css"), Ok("css/a.css".to_owned()));
        assert_eq!(normalize("//css/./a.css"), Ok("css/a.css".to_owned()));
        assert_eq!(normalize("/css/../a.css"), Ok("a.css".to_owned()));
        assert_eq!(normalize("/../a.css"), Err(Decline));
        assert_eq!(normalize("/"), Err(Decline));
        assert_eq!(normalize("/\\etc/passwd"), Err(Decline));
        assert_eq!(normalize("/a\0b"), Err(Decline));
    }

    #[test]
    fn absolute_is_lexical() {
        assert_eq!(absolute(Path::new("/srv/static/../x/./y")), Ok(PathBuf::from("/srv/x/y")));
        assert_eq!(absolute(Path::new("/../x")), Ok(PathBuf::from("/x")));
    }
}

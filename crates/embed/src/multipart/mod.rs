//! `multipart/form-data` request bodies parsed on the network side, for the `Form`/`File` parameters of
//! native path operations.
//!
//! Starlette parses a form in the interpreter: every piece of body crosses into Python, goes through
//! python-multipart's parser, and is written into each file's `SpooledTemporaryFile` there. Here a Tokio
//! task reads the body, parses it with the same grammar ([`parser`]), applies Starlette's rules (a part's
//! name and file name from its `Content-Disposition`, the `max_files`/`max_fields`/`max_part_size`
//! limits, the first broken rule in body order being the one reported) and spools each file as
//! Starlette's `SpooledTemporaryFile` would: in memory up to the spool size, past it in an unnamed
//! temporary file written on the blocking pool. The interpreter sees the finished form once.

mod disposition;
mod parser;

use std::fs::File;
use std::io::Write;
use std::os::fd::IntoRawFd;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use covetpy_protocols::RequestBody;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use self::parser::{Malformed, Parser, Sink};

/// Bytes read from the connection at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The limits Starlette's `MultiPartParser` applies, as the app set them.
#[derive(Debug, Clone)]
pub(crate) struct FormLimits {
    /// Parts with a file name the form may have.
    pub(crate) max_files: u64,
    /// Parts without one.
    pub(crate) max_fields: u64,
    /// The largest part without a file name.
    pub(crate) max_part_size: u64,
    /// A file larger than this goes to disk (0: never).
    pub(crate) spool_max_size: u64,
    /// Where those files are made (`tempfile.gettempdir()`).
    pub(crate) temp_dir: PathBuf,
}

/// Why a form could not be read; the interpreter raises what Starlette raises for each.
#[derive(Debug)]
pub(crate) enum FormError {
    /// The body breaks the multipart grammar.
    Malformed,
    /// A part's `Content-Disposition` has no `name`.
    NoName,
    /// More files than `max_files`.
    TooManyFiles,
    /// More fields than `max_fields`.
    TooManyFields,
    /// A field longer than `max_part_size`.
    PartTooLarge,
    /// The client went away before the body ended.
    Disconnected,
    /// A temporary file could not be written.
    Io(std::io::Error),
}

impl From<Malformed> for FormError {
    fn from(_: Malformed) -> Self {
        FormError::Malformed
    }
}

impl FormError {
    /// The name the interpreter side knows the error by.
    fn kind(&self) -> &'static str {
        match self {
            FormError::Malformed => "malformed",
            FormError::NoName => "no_name",
            FormError::TooManyFiles => "too_many_files",
            FormError::TooManyFields => "too_many_fields",
            FormError::PartTooLarge => "part_too_large",
            FormError::Disconnected => "disconnected",
            FormError::Io(_) => "io",
        }
    }
}

/// One file's content: in memory, or (past the spool size) in a temporary file.
#[derive(Default)]
struct Spool {
    /// The content when in memory; bytes not yet written when on disk.
    chunks: Vec<Bytes>,
    size: u64,
    file: Option<File>,
}

/// What a part is, from its `Content-Disposition`, and what it holds so far.
enum Kind {
    Field { name: Vec<u8>, value: Vec<u8> },
    File { name: Vec<u8>, filename: Vec<u8>, spool: usize },
}

/// A finished part (a file hands its headers to the app; a field's are not kept by Starlette).
struct Item {
    kind: Kind,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Default)]
struct Part {
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    disposition: Option<Vec<u8>>,
    kind: Option<Kind>,
}

/// Starlette's rules on top of the parser's events.
struct Collector<'a> {
    limits: &'a FormLimits,
    part: Part,
    items: Vec<Item>,
    spools: Vec<Spool>,
    files: u64,
    fields: u64,
}

impl Sink for Collector<'_> {
    type Error = FormError;

    fn part_begin(&mut self) {
        self.part = Part::default();
    }

    fn header(&mut self, name: &[u8], value: &[u8]) {
        let name = name.to_ascii_lowercase();
        if name == b"content-disposition" {
            self.part.disposition = Some(value.to_vec());
        }
        self.part.headers.push((name, value.to_vec()));
    }

    fn headers_done(&mut self) -> Result<(), FormError> {
        let params = disposition::params(self.part.disposition.as_deref().unwrap_or_default());
        let name = params.get(b"name").ok_or(FormError::NoName)?.to_vec();
        self.part.kind = Some(match params.get(b"filename") {
            Some(filename) => {
                self.files += 1;
                if self.files > self.limits.max_files {
                    return Err(FormError::TooManyFiles);
                }
                self.spools.push(Spool::default());
                Kind::File { name, filename: filename.to_vec(), spool: self.spools.len() - 1 }
            }
            None => {
                self.fields += 1;
                if self.fields > self.limits.max_fields {
                    return Err(FormError::TooManyFields);
                }
                Kind::Field { name, value: Vec::new() }
            }
        });
        Ok(())
    }

    fn data(&mut self, data: Bytes) -> Result<(), FormError> {
        match &mut self.part.kind {
            Some(Kind::Field { value, .. }) => {
                if (value.len() + data.len()) as u64 > self.limits.max_part_size {
                    return Err(FormError::PartTooLarge);
                }
                value.extend_from_slice(&data);
            }
            Some(Kind::File { spool, .. }) => {
                let spool = &mut self.spools[*spool];
                spool.size += data.len() as u64;
                spool.chunks.push(data);
            }
            // Content comes only after a part's headers, which always set its kind.
            None => {}
        }
        Ok(())
    }

    fn part_end(&mut self) {
        let part = std::mem::take(&mut self.part);
        if let Some(kind) = part.kind {
            self.items.push(Item { kind, headers: part.headers });
        }
    }
}

impl Collector<'_> {
    /// Writes out what files past the spool size hold in memory, on the blocking pool.
    async fn flush(&mut self) -> Result<(), FormError> {
        let spool_max = self.limits.spool_max_size;
        for spool in &mut self.spools {
            let due = spool.file.is_some() || (spool_max > 0 && spool.size > spool_max);
            if spool.chunks.is_empty() || !due {
                continue;
            }
            let chunks = std::mem::take(&mut spool.chunks);
            let file = spool.file.take();
            let dir = self.limits.temp_dir.clone();
            let written = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
                let mut file = match file {
                    Some(file) => file,
                    None => tempfile_in(&dir)?,
                };
                for chunk in &chunks {
                    file.write_all(chunk)?;
                }
                Ok(file)
            })
            .await
            .map_err(|e| FormError::Io(std::io::Error::other(e)))?;
            spool.file = Some(written.map_err(FormError::Io)?);
        }
        Ok(())
    }
}

/// An unnamed file in `dir`, readable and writable, gone when closed (as Python's `TemporaryFile`).
fn tempfile_in(dir: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new().read(true).write(true).mode(0o600).custom_flags(libc::O_TMPFILE).open(dir);
    match opened {
        Ok(file) => Ok(file),
        // A file system without O_TMPFILE: a named file, unlinked at once.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)) => {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            for _ in 0..100 {
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = dir.join(format!("covetpy-upload-{}-{n}", std::process::id()));
                match std::fs::OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path) {
                    Ok(file) => {
                        std::fs::remove_file(&path)?;
                        return Ok(file);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(std::io::Error::other("could not make a temporary file"))
        }
        Err(e) => Err(e),
    }
}

/// A form read to its end: its items in order and the files they refer to.
pub(crate) struct Form {
    items: Vec<Item>,
    spools: Vec<Spool>,
}

/// Reads and parses the body: `first` (the bytes that came with the head) and then `rest`.
pub(crate) async fn read(
    first: Bytes,
    rest: Option<Arc<tokio::sync::Mutex<RequestBody>>>,
    boundary: &[u8],
    limits: &FormLimits,
) -> Result<Form, FormError> {
    let mut parser = Parser::new(boundary)?;
    let mut sink =
        Collector { limits, part: Part::default(), items: Vec::new(), spools: Vec::new(), files: 0, fields: 0 };
    if !first.is_empty() {
        parser.feed(&first, &mut sink)?;
        sink.flush().await?;
    }
    if let Some(rest) = rest {
        let mut body = rest.lock().await;
        loop {
            match body.next_chunk(READ_CHUNK).await {
                Ok(Some(chunk)) => {
                    parser.feed(&chunk, &mut sink)?;
                    sink.flush().await?;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("{e}");
                    return Err(FormError::Disconnected);
                }
            }
        }
    }
    Ok(Form { items: sink.items, spools: sink.spools })
}

/// The outcome for the interpreter: `(None, items)` or `(error kind, [])`. An item is
/// `(name, None, None, value, size)` for a field and `(name, filename, headers, content, size)` for a
/// file, where `content` is `bytes` or, for a file on disk, a file descriptor positioned at its end
/// that the receiver owns. Names, file names and values are the raw bytes; decoding them by the
/// form's charset is the interpreter's (as Starlette's).
pub(crate) fn to_python<'py>(py: Python<'py>, outcome: Result<Form, FormError>) -> PyResult<Bound<'py, PyTuple>> {
    let form = match outcome {
        Ok(form) => form,
        Err(e) => {
            if let FormError::Io(io) = &e {
                tracing::warn!("could not spool an upload: {io}");
            }
            return PyTuple::new(py, [e.kind().into_pyobject(py)?.into_any(), PyList::empty(py).into_any()]);
        }
    };
    let Form { items, mut spools } = form;
    let list = PyList::empty(py);
    for Item { kind, headers } in items {
        let entry = match kind {
            Kind::Field { name, value } => {
                let size = value.len();
                (
                    PyBytes::new(py, &name),
                    py.None(),
                    py.None(),
                    PyBytes::new(py, &value).into_any().unbind(),
                    size as u64,
                )
                    .into_pyobject(py)?
            }
            Kind::File { name, filename, spool } => {
                let spool = std::mem::take(&mut spools[spool]);
                let headers: Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> =
                    headers.iter().map(|(k, v)| (PyBytes::new(py, k), PyBytes::new(py, v))).collect();
                let content = match spool.file {
                    Some(file) => file.into_raw_fd().into_pyobject(py)?.into_any().unbind(),
                    None => joined(py, &spool.chunks)?.into_any().unbind(),
                };
                (PyBytes::new(py, &name), PyBytes::new(py, &filename), headers, content, spool.size)
                    .into_pyobject(py)?
            }
        };
        list.append(entry)?;
    }
    PyTuple::new(py, [py.None().into_bound(py), list.into_any()])
}

/// The chunks as one `bytes`, copied once.
fn joined<'py>(py: Python<'py>, chunks: &[Bytes]) -> PyResult<Bound<'py, PyBytes>> {
    let len: usize = chunks.iter().map(Bytes::len).sum();
    let size = pyo3::ffi::Py_ssize_t::try_from(len).map_err(|_| pyo3::exceptions::PyOverflowError::new_err(len))?;
    // `PyBytes::new_with` zeroes the buffer first, which for a file of a megabyte costs as much as
    // the copy itself: ask CPython for an uninitialised one and fill every byte.
    // SAFETY: the GIL is held (`py`); a null source makes CPython allocate `size` bytes without
    // reading anything.
    let raw = unsafe { pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size) };
    if raw.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `raw` is a new reference to a bytes object, owned from here on.
    let bytes = unsafe { Bound::from_owned_ptr(py, raw) };
    // SAFETY: the object is a bytes object of `len` bytes that nothing else has seen yet, so its
    // buffer may be written; the chunks' lengths add up to `len`.
    unsafe {
        let mut at = pyo3::ffi::PyBytes_AsString(raw).cast::<u8>();
        for chunk in chunks {
            std::ptr::copy_nonoverlapping(chunk.as_ptr(), at, chunk.len());
            at = at.add(chunk.len());
        }
        Ok(bytes.cast_into_unchecked())
    }
}

//! `wsgi.file_wrapper`: when an application returns a file this way, the server reads the file itself,
//! off the GIL, instead of iterating over it in Python.

use pyo3::prelude::*;

/// Block size used when a wrapped object has no file descriptor and is read through Python.
const DEFAULT_BLOCK: usize = 8192;

/// Wraps a file-like object for the server to send.
#[pyclass(module = "covetpy", name = "FileWrapper")]
pub(crate) struct FileWrapper {
    pub(crate) filelike: Py<PyAny>,
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize = DEFAULT_BLOCK))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> Self {
        FileWrapper { filelike, blksize: blksize.max(1) }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// Iteration, for when the server cannot read the file itself (for example a BytesIO).
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let block = self.filelike.bind(py).call_method1("read", (self.blksize,))?;
        Ok((block.len()? > 0).then_some(block))
    }

    /// Closes the wrapped object, as PEP 3333 asks.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr("close")? {
            filelike.call_method0("close")?;
        }
        Ok(())
    }
}

/// The descriptor and current offset of a wrapped real file, if it is one.
pub(crate) fn os_file(py: Python<'_>, wrapper: &FileWrapper) -> Option<(std::fs::File, u64)> {
    use std::os::fd::{BorrowedFd, RawFd};
    let filelike = wrapper.filelike.bind(py);
    let fd: RawFd = filelike.call_method0("fileno").ok()?.extract().ok()?;
    let offset: u64 = filelike.call_method0("tell").ok()?.extract().ok()?;
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor belongs to the live file object we hold a reference to, and we only
    // duplicate it; the duplicate is ours to close.
    let owned = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned().ok()?;
    let file = std::fs::File::from(owned);
    file.metadata().ok().filter(|m| m.is_file())?;
    Some((file, offset))
}

//! Context variables: each call runs in its own copy of the base context.
//!
//! The base context is the one the application was imported in. Tasks on the event loop get their copy
//! through `asyncio.Task(context=...)`; calls on pool threads (WSGI, native `def` endpoints) enter a copy
//! here for as long as the call runs, iterating its response included, so a value set while serving one
//! request is never seen by another.

use pyo3::ffi;
use pyo3::prelude::*;

/// A copy of the calling thread's current context.
pub(crate) fn copy_current(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: called with the GIL held; returns a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent()) }.map(Bound::unbind)
}

/// Runs `f` inside a fresh copy of `base`. If the copy cannot be made or entered (which would mean
/// `base` is not a context), `f` runs in the thread's current context and the error is logged.
pub(crate) fn in_copy<R>(py: Python<'_>, base: &Py<PyAny>, f: impl FnOnce() -> R) -> R {
    // SAFETY: `base` is a contextvars.Context (LoadedApp::context); PyContext_Copy returns a new
    // reference or NULL with an exception set.
    let copy = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_Copy(base.as_ptr())) };
    let copy = match copy {
        Ok(copy) => copy,
        Err(e) => {
            tracing::error!("could not copy the base context: {e}");
            return f();
        }
    };
    // SAFETY: a valid context object, entered and exited on this thread with the GIL held.
    if unsafe { ffi::PyContext_Enter(copy.as_ptr()) } != 0 {
        let e = PyErr::fetch(py);
        tracing::error!("could not enter the request context: {e}");
        return f();
    }
    let result = f();
    // SAFETY: the context entered above, on this thread; every enter is matched by this exit even when
    // `f` raised, since Python errors come back as values here.
    if unsafe { ffi::PyContext_Exit(copy.as_ptr()) } != 0 {
        let e = PyErr::fetch(py);
        tracing::error!("could not leave the request context: {e}");
    }
    result
}

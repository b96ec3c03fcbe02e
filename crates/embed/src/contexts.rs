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

/// A fresh copy of `base`, which must be a `contextvars.Context`.
pub(crate) fn copy<'py>(py: Python<'py>, base: &Py<PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `base` is a contextvars.Context (LoadedApp::context); PyContext_Copy returns a new
    // reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_Copy(base.as_ptr())) }
}

/// Runs `f` inside `context` (a `contextvars.Context`), as `context.run(f)` would.
pub(crate) fn run_in<R>(py: Python<'_>, context: &Bound<'_, PyAny>, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    enter(py, context)?;
    let result = f();
    exit(py, context);
    result
}

/// Runs `f` inside a fresh copy of `base`. If the copy cannot be made or entered (which would mean
/// `base` is not a context), `f` runs in the thread's current context and the error is logged.
pub(crate) fn in_copy<R>(py: Python<'_>, base: &Py<PyAny>, f: impl FnOnce() -> R) -> R {
    let copy = match copy(py, base).and_then(|copy| enter(py, &copy).map(|()| copy)) {
        Ok(copy) => copy,
        Err(e) => {
            tracing::error!("could not enter a fresh context for the call: {e}");
            return f();
        }
    };
    let result = f();
    exit(py, &copy);
    result
}

fn enter(py: Python<'_>, context: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: called with the GIL held, on the thread that will exit it; Enter type-checks its argument
    // and fails with an exception set (for a non-context, or one already entered elsewhere).
    if unsafe { ffi::PyContext_Enter(context.as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(())
}

/// Leaves a context [`enter`] entered. Every enter is matched by an exit even when the work in between
/// failed, since Python errors come back as values here.
fn exit(py: Python<'_>, context: &Bound<'_, PyAny>) {
    // SAFETY: the context entered on this thread by `enter`, with the GIL held.
    if unsafe { ffi::PyContext_Exit(context.as_ptr()) } != 0 {
        let e = PyErr::fetch(py);
        tracing::error!("could not leave a context: {e}");
    }
}

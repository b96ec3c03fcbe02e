//! Stepping coroutines from Rust.
//!
//! Most request handlers never wait on real I/O: the body is already here and `send` only queues bytes.
//! Such a coroutine runs to completion in a single `PyIter_Send` with no event-loop involvement. Only
//! when it yields (it awaits a real asyncio future) is it handed to the event loop as a Task.

use pyo3::ffi;
use pyo3::prelude::*;

/// What one step of a coroutine produced.
pub(crate) enum Step<'py> {
    /// It returned.
    Done,
    /// It raised.
    Failed(PyErr),
    /// It is waiting on this object (an asyncio future, or None for a bare yield).
    Waiting(Bound<'py, PyAny>),
}

/// Turns what the application returned into something `PyIter_Send` can drive: a coroutine as is, any
/// other awaitable through its `__await__` iterator.
pub(crate) fn awaitable_iter<'py>(obj: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: type checks on a valid object pointer.
    let is_coro = unsafe { ffi::PyCoro_CheckExact(obj.as_ptr()) } != 0;
    if is_coro {
        return Ok(obj);
    }
    obj.call_method0(pyo3::intern!(obj.py(), "__await__")).map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "the application returned {}, which is not awaitable",
            type_name(&obj)
        ))
    })
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "an object".into())
}

/// Sends `None` into the coroutine once and reports where it stopped.
pub(crate) fn step<'py>(coro: &Bound<'py, PyAny>) -> Step<'py> {
    let py = coro.py();
    let mut result: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `coro` is a valid iterator and we hold the GIL; PyIter_Send stores a new reference in
    // `result` for PYGEN_RETURN and PYGEN_NEXT and leaves an exception set for PYGEN_ERROR.
    let status = unsafe { ffi::PyIter_Send(coro.as_ptr(), ffi::Py_None(), &mut result) };
    match status {
        ffi::PySendResult::PYGEN_RETURN => {
            // SAFETY: a new reference, see above; dropping it releases the return value.
            drop(unsafe { Bound::from_owned_ptr(py, result) });
            Step::Done
        }
        ffi::PySendResult::PYGEN_NEXT => Step::Waiting(unsafe { Bound::from_owned_ptr(py, result) }),
        ffi::PySendResult::PYGEN_ERROR => Step::Failed(
            PyErr::take(py)
                .unwrap_or_else(|| pyo3::exceptions::PySystemError::new_err("coroutine failed without an exception")),
        ),
    }
}

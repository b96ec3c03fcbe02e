//! Stepping coroutines from Rust.
//!
//! Most request handlers never wait on real I/O: the body is already here and `send` only queues bytes.
//! Such a coroutine runs to completion in a single `PyIter_Send` with no event-loop involvement. Only
//! when it yields (it awaits a real asyncio future) is it handed to the event loop as a Task.

use pyo3::ffi;
use pyo3::prelude::*;

/// What one step of a coroutine produced.
pub(crate) enum Step<'py> {
    /// It returned this value.
    Done(Bound<'py, PyAny>),
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
        // SAFETY: a new reference, see above.
        ffi::PySendResult::PYGEN_RETURN => Step::Done(unsafe { Bound::from_owned_ptr(py, result) }),
        ffi::PySendResult::PYGEN_NEXT => Step::Waiting(unsafe { Bound::from_owned_ptr(py, result) }),
        ffi::PySendResult::PYGEN_ERROR => Step::Failed(
            PyErr::take(py)
                .unwrap_or_else(|| pyo3::exceptions::PySystemError::new_err("coroutine failed without an exception")),
        ),
    }
}

/// What to do with an awaitable's outcome once it is known.
pub(crate) type Then = Box<dyn FnOnce(Python<'_>, PyResult<Py<PyAny>>) + Send>;

/// Runs `awaitable` to completion and then calls `then` with its result: at once when it finishes
/// without waiting, else from the event loop when the Task that `resume` creates is done.
pub(crate) fn drive(py: Python<'_>, resume: &Py<PyAny>, awaitable: Bound<'_, PyAny>, then: Then) {
    let coro = match awaitable_iter(awaitable) {
        Ok(coro) => coro,
        Err(e) => return then(py, Err(e)),
    };
    match step(&coro) {
        Step::Done(value) => then(py, Ok(value.unbind())),
        Step::Failed(e) => then(py, Err(e)),
        Step::Waiting(pending) => {
            let continuation = Continuation { then: std::sync::Mutex::new(Some(then)) };
            let handed =
                Py::new(py, continuation).and_then(|c| resume.call1(py, (coro, pending, c.clone_ref(py))).map(|_| c));
            if let Err(e) = handed {
                tracing::error!("could not hand a coroutine to the event loop: {e}");
            }
        }
    }
}

/// The done-callback of a Task started by [`drive`].
#[pyclass]
struct Continuation {
    then: std::sync::Mutex<Option<Then>>,
}

#[pymethods]
impl Continuation {
    fn __call__(&self, py: Python<'_>, task: &Bound<'_, PyAny>) {
        let then = self.then.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(then) = then {
            then(py, task_result(task));
        }
    }
}

/// A finished Task's result, its exception, or CancelledError if it was cancelled.
pub(crate) fn task_result(task: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = task.py();
    if task.call_method0(pyo3::intern!(py, "cancelled"))?.is_truthy()? {
        return Err(pyo3::exceptions::asyncio::CancelledError::new_err("the task was cancelled"));
    }
    task.call_method0(pyo3::intern!(py, "result")).map(Bound::unbind)
}

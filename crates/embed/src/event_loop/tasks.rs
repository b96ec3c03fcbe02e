//! Running coroutines as asyncio Tasks, stepped at once.
//!
//! Every call the event loop serves becomes its own `asyncio.Task`, in its own copy of the base context,
//! exactly as under uvicorn. The Task's first step runs inside [`drive`] (Python 3.12's eager start, or
//! its equivalent on 3.11; see `_covetpy_runtime.Tasks`), so a handler that never waits on real I/O
//! finishes before `drive` returns, with no trip through the event loop and no extra latency. Only a
//! Task that is still pending after that step gets a done-callback.

use pyo3::intern;
use pyo3::prelude::*;

/// What to do with an awaitable's outcome once it is known.
pub(crate) type Then = Box<dyn FnOnce(Python<'_>, PyResult<Py<PyAny>>) + Send>;

/// Starts `awaitable` as a Task through `tasks` (a `_covetpy_runtime.Tasks`) and calls `then` with its
/// result: at once when the first step finished it, else from the event loop when the Task is done.
pub(crate) fn drive(py: Python<'_>, tasks: &Py<PyAny>, awaitable: Bound<'_, PyAny>, then: Then) {
    let task = match tasks.bind(py).call_method1(intern!(py, "start"), (awaitable,)) {
        Ok(task) => task,
        Err(e) => return then(py, Err(e)),
    };
    match task.call_method0(intern!(py, "done")).and_then(|done| done.is_truthy()) {
        Ok(true) => then(py, task_result(&task)),
        Ok(false) => {
            let continuation = Continuation { then: std::sync::Mutex::new(Some(then)) };
            let added = Py::new(py, continuation)
                .and_then(|c| task.call_method1(intern!(py, "add_done_callback"), (c,)).map(drop));
            if let Err(e) = added {
                tracing::error!("could not follow a task: {}", crate::bootstrap::format_error(py, &e));
            }
        }
        Err(e) => then(py, Err(e)),
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

/// A finished Task's result, its exception, or CancelledError if it was cancelled. Asking marks the
/// exception retrieved, so asyncio does not log it a second time.
fn task_result(task: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    task.call_method0(intern!(task.py(), "result")).map(Bound::unbind)
}

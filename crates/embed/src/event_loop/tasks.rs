//! Running coroutines as asyncio Tasks, stepped at once.
//!
//! Every call the event loop serves becomes its own `asyncio.Task`, in its own copy of the base context,
//! exactly as under uvicorn. The Task's first step runs inside [`drive`], as Python 3.12's eager tasks
//! run it, so a handler that never waits on real I/O finishes before `drive` returns, with no trip
//! through the event loop and no extra latency. Only a Task that is still pending after that step gets
//! a done-callback.
//!
//! Python 3.12+ has `Task(..., eager_start=True)`. On 3.11 `Task.__init__` schedules its first step with
//! `loop.call_soon`; [`Starter`] shadows that method on the loop instance for the duration of the
//! constructor with [`EagerStep`], which runs the step there and then and removes itself first, so every
//! other `call_soon` (including those the step makes) reaches the loop as usual. This works for uvloop
//! (`--loop uvloop`) as it is: `uvloop.Loop` is a Python subclass of the Cython loop, so its instances
//! have a `__dict__`, and `_asyncio.Task` looks `call_soon` up as an ordinary attribute.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PySet, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};

/// What to do with an awaitable's outcome once it is known.
pub(crate) type Then = Box<dyn FnOnce(Python<'_>, PyResult<Py<PyAny>>) + Send>;

/// Starts calls as Tasks on one event loop. Built once per event-loop thread.
pub(crate) struct Starter {
    task_type: Py<PyAny>,
    event_loop: Py<PyAny>,
    /// The loop instance's `__dict__`, where [`EagerStep`] is put while a Task is constructed.
    loop_dict: Py<PyDict>,
    base_context: Py<PyAny>,
    /// `asyncio.current_task`.
    current_task: Py<PyAny>,
    eager_step: Py<EagerStep>,
    /// True on Python 3.12+, whose Task takes `eager_start`.
    eager_start: bool,
    /// `_covetpy_runtime.await_any`, for awaitables that are not coroutines.
    await_any: Py<PyAny>,
    /// `Tasks.pending`: the Tasks still running, cancelled at shutdown.
    pending: Py<PySet>,
    /// `pending.discard`, the done-callback that keeps `pending` current.
    discard: Py<PyAny>,
    call_soon: Py<PyString>,
}

impl Starter {
    /// Reads what it needs from asyncio, the loop and `tasks` (a `_covetpy_runtime.Tasks`).
    pub(crate) fn new(
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        base_context: &Bound<'_, PyAny>,
        tasks: &Bound<'_, PyAny>,
    ) -> PyResult<Starter> {
        let asyncio = py.import("asyncio")?;
        let loop_dict = event_loop.getattr("__dict__")?.cast_into::<PyDict>()?;
        let pending = tasks.getattr("pending")?.cast_into::<PySet>()?;
        let discard = pending.getattr("discard")?;
        let version = py.version_info();
        Ok(Starter {
            task_type: asyncio.getattr("Task")?.unbind(),
            event_loop: event_loop.clone().unbind(),
            eager_step: Py::new(py, EagerStep { loop_dict: loop_dict.clone().unbind() })?,
            loop_dict: loop_dict.unbind(),
            base_context: base_context.clone().unbind(),
            current_task: asyncio.getattr("current_task")?.unbind(),
            eager_start: (version.major, version.minor) >= (3, 12),
            await_any: py.import("_covetpy_runtime")?.getattr("await_any")?.unbind(),
            pending: pending.unbind(),
            discard: discard.unbind(),
            call_soon: intern!(py, "call_soon").clone().unbind(),
        })
    }

    /// Creates the Task for `awaitable` in a fresh copy of the base context and runs its first step.
    fn start<'py>(&self, awaitable: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = awaitable.py();
        // SAFETY: a type check on a valid object.
        let is_coro = unsafe { ffi::PyCoro_CheckExact(awaitable.as_ptr()) } != 0;
        let coro = if is_coro { awaitable } else { self.await_any.bind(py).call1((awaitable,))? };
        let context = crate::contexts::copy(py, &self.base_context)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item(intern!(py, "loop"), self.event_loop.bind(py))?;
        kwargs.set_item(intern!(py, "context"), context)?;
        let task_type = self.task_type.bind(py);
        if self.eager_start {
            kwargs.set_item(intern!(py, "eager_start"), true)?;
            return task_type.call((coro,), Some(&kwargs));
        }
        // Inside another Task the first step cannot run here; let the loop schedule it.
        if !self.current_task.bind(py).call1((self.event_loop.bind(py),))?.is_none() {
            return task_type.call((coro,), Some(&kwargs));
        }
        let loop_dict = self.loop_dict.bind(py);
        let call_soon = self.call_soon.bind(py);
        loop_dict.set_item(call_soon, self.eager_step.bind(py))?;
        let task = task_type.call((coro,), Some(&kwargs));
        // EagerStep removed itself if it ran; if the constructor failed first, it is still there.
        if loop_dict.contains(call_soon)? {
            loop_dict.del_item(call_soon)?;
        }
        task
    }
}

/// Stands in for `loop.call_soon` while a Task is constructed on 3.11: runs the Task's first step now.
#[pyclass(frozen)]
struct EagerStep {
    loop_dict: Py<PyDict>,
}

#[pymethods]
impl EagerStep {
    #[pyo3(signature = (callback, *args, context=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        // First, so that every call_soon the step itself makes goes to the loop.
        let loop_dict = self.loop_dict.bind(py);
        if loop_dict.contains(intern!(py, "call_soon"))? {
            loop_dict.del_item(intern!(py, "call_soon"))?;
        }
        match context {
            Some(context) => crate::contexts::run_in(py, context, || callback.call1(args)).map(drop),
            None => callback.call1(args).map(drop),
        }
    }
}

/// Starts `awaitable` as a Task and calls `then` with its result: at once when the first step finished
/// it, else from the event loop when the Task is done.
pub(crate) fn drive(py: Python<'_>, starter: &Starter, awaitable: Bound<'_, PyAny>, then: Then) {
    let task = match starter.start(awaitable) {
        Ok(task) => task,
        Err(e) => return then(py, Err(e)),
    };
    match task.call_method0(intern!(py, "done")).and_then(|done| done.is_truthy()) {
        Ok(true) => then(py, task_result(&task)),
        Ok(false) => {
            let followed = Py::new(py, Continuation { then: std::sync::Mutex::new(Some(then)) })
                .and_then(|c| c.into_bound_py_any(py))
                .and_then(|continuation| {
                    starter.pending.bind(py).add(&task)?;
                    let add = intern!(py, "add_done_callback");
                    task.call_method1(add, (starter.discard.bind(py),))?;
                    task.call_method1(add, (continuation,)).map(drop)
                });
            if let Err(e) = followed {
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

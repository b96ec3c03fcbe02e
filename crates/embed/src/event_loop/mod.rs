//! The interpreter's event-loop thread, independent of any interface.
//!
//! One thread owns an asyncio event loop. Tokio threads post [`Job`]s to it through a [`LoopSender`]
//! (see [`queue`]); the loop wakes when the queue's socket becomes readable and runs the jobs, which
//! start calls as Tasks through [`tasks`]. The interfaces (`asgi`, `native`) build on this: they give
//! [`LoopThread::spawn`] a set-up function that runs on the thread before serving begins (lifespan
//! startup, reading the route table) and returns what their request handlers share.

pub(crate) mod queue;
pub(crate) mod tasks;

use std::sync::Arc;
use std::thread::JoinHandle;

use pyo3::prelude::*;

pub(crate) use self::queue::{Job, LoopSender};
use self::queue::{LoopReceiver, Message};
use self::tasks::Starter;
use crate::StartupError;

/// How long Tasks still running at shutdown get to finish once cancelled.
const CANCEL_GRACE: f64 = 5.0;

/// What uvicorn says to the Tasks it cancels when the graceful timeout has run out; an app may look.
const CANCEL_MESSAGE: &str = "Task cancelled, timeout graceful shutdown exceeded";

/// Which event loop runs the application (`--loop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventLoopKind {
    /// asyncio's selector event loop, as uvicorn's `asyncio` loop factory makes it.
    Asyncio,
    /// `uvloop.new_event_loop()`.
    Uvloop,
    /// `asyncio.new_event_loop()`, whatever the current event loop policy makes (uvicorn's `none`).
    PolicyDefault,
}

impl EventLoopKind {
    /// The name `_covetpy_runtime.new_event_loop` takes.
    fn name(self) -> &'static str {
        match self {
            EventLoopKind::Asyncio => "asyncio",
            EventLoopKind::Uvloop => "uvloop",
            EventLoopKind::PolicyDefault => "none",
        }
    }
}

/// Decides the event loop before the app is imported: `requested`, or for `None` (`--loop auto`)
/// uvloop when it can be imported, else asyncio, as uvicorn decides. Asking for uvloop when it cannot
/// be imported is an error, reported in one line.
pub fn resolve_event_loop(requested: Option<EventLoopKind>) -> Result<EventLoopKind, String> {
    let asked = requested.map_or("auto", EventLoopKind::name);
    Python::attach(|py| {
        let resolved: String = crate::bootstrap::install(py)
            .and_then(|runtime| runtime.call_method1("resolve_loop", (asked,)))
            .and_then(|name| name.extract())
            .map_err(|e| {
                let detail = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                format!("--loop {asked}: uvloop cannot be imported ({detail}); install it with `pip install uvloop`")
            })?;
        Ok(match resolved.as_str() {
            "uvloop" => EventLoopKind::Uvloop,
            "none" => EventLoopKind::PolicyDefault,
            _ => EventLoopKind::Asyncio,
        })
    })
}

/// The event loop as the set-up function sees it.
pub(crate) struct LoopEnv<'py> {
    /// The asyncio event loop (not running yet while set-up runs).
    pub(crate) event_loop: Bound<'py, PyAny>,
    /// The `_covetpy_runtime.Tasks` of this loop: its main Task and the calls still running.
    pub(crate) tasks: Bound<'py, PyAny>,
    /// Starts every call as a Task in its own context copy.
    pub(crate) starter: Arc<Starter>,
    /// The context every Task's context is copied from: the one the app was imported in.
    pub(crate) base_context: Bound<'py, PyAny>,
    /// Where to post jobs for this thread.
    pub(crate) sender: LoopSender,
}

/// What a set-up function hands back: the value for the caller, and what to run on the thread after
/// the loop has stopped (lifespan shutdown; returns whether it succeeded).
pub(crate) struct Started<T> {
    /// Crosses to the thread that called [`LoopThread::spawn`].
    pub(crate) shared: T,
    /// Runs on the event-loop thread at shutdown.
    pub(crate) teardown: Teardown,
}

/// What runs on the event-loop thread after the loop has stopped, given the loop; true on success.
pub(crate) type Teardown = Box<dyn FnOnce(Python<'_>, &Bound<'_, PyAny>) -> bool>;

/// A running event-loop thread.
pub(crate) struct LoopThread {
    sender: LoopSender,
    thread: JoinHandle<bool>,
}

impl LoopThread {
    /// Starts the thread, runs `setup` on it with the loop created, then serves jobs. Returns once
    /// `setup` has finished, with its value.
    pub(crate) fn spawn<T, F>(
        base_context: Py<PyAny>,
        kind: EventLoopKind,
        tokio: &tokio::runtime::Handle,
        setup: F,
    ) -> Result<(LoopThread, T), StartupError>
    where
        T: Send + 'static,
        F: for<'py> FnOnce(Python<'py>, &LoopEnv<'py>) -> Result<Started<T>, StartupError> + Send + 'static,
    {
        let (sender, receiver) = queue::channel(tokio).map_err(|e| StartupError::Internal(e.to_string()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_sender = sender.clone();
        let thread = std::thread::Builder::new()
            .name("covetpy-python".into())
            .spawn(move || {
                crate::scheduling::batch_current_thread();
                Python::attach(|py| run(py, base_context, kind, thread_sender, receiver, setup, ready_tx))
            })
            .map_err(|e| StartupError::Internal(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(shared)) => Ok((LoopThread { sender, thread }, shared)),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(StartupError::Internal("the interpreter thread exited during startup".into())),
        }
    }

    /// Stops the event loop, cancels the Tasks still running, runs the teardown and waits for the
    /// thread. Returns what the teardown returned.
    pub(crate) fn shutdown(self) -> bool {
        self.sender.stop();
        self.thread.join().unwrap_or(false)
    }
}

/// The body of the event-loop thread.
fn run<T, F>(
    py: Python<'_>,
    base_context: Py<PyAny>,
    kind: EventLoopKind,
    sender: LoopSender,
    receiver: LoopReceiver,
    setup: F,
    ready: std::sync::mpsc::Sender<Result<T, StartupError>>,
) -> bool
where
    F: for<'py> FnOnce(Python<'py>, &LoopEnv<'py>) -> Result<Started<T>, StartupError>,
{
    let create = || -> PyResult<LoopEnv<'_>> {
        let asyncio = py.import("asyncio")?;
        let event_loop = py.import("_covetpy_runtime")?.call_method1("new_event_loop", (kind.name(),))?;
        asyncio.call_method1("set_event_loop", (&event_loop,))?;
        let base_context = base_context.into_bound(py);
        let tasks = py.import("_covetpy_runtime")?.getattr("Tasks")?.call1((&event_loop,))?;
        let starter = Arc::new(Starter::new(py, &event_loop, &base_context, &tasks)?);
        Ok(LoopEnv { event_loop, tasks, starter, base_context, sender })
    };
    let env = match create() {
        Ok(env) => env,
        Err(e) => {
            let _ = ready.send(Err(StartupError::Internal(crate::bootstrap::format_error(py, &e))));
            return false;
        }
    };
    let Started { shared, teardown } = match setup(py, &env) {
        Ok(started) => started,
        Err(e) => {
            let _ = ready.send(Err(e));
            let _ = env.event_loop.call_method0("close");
            return false;
        }
    };
    let fd = receiver.fd();
    let serve = || -> PyResult<()> {
        let dispatcher = Dispatcher { receiver, tasks: env.tasks.clone().unbind() };
        env.event_loop.call_method1("add_reader", (fd, Py::new(py, dispatcher)?))?;
        let _ = ready.send(Ok(shared));
        run_until_complete_in_copy(&env.base_context, &env.event_loop, env.tasks.call_method0("serve")?)?;
        env.event_loop.call_method1("remove_reader", (fd,))?;
        Ok(())
    };
    if let Err(e) = serve() {
        tracing::error!("the event loop failed: {}", crate::bootstrap::format_error(py, &e));
    }
    if let Err(e) = cancel_pending(py, &env) {
        tracing::error!("could not cancel the running tasks: {}", crate::bootstrap::format_error(py, &e));
    }
    let ok = teardown(py, &env.event_loop);
    let _ = env.event_loop.call_method0("close");
    flush_std_streams(py);
    ok
}

/// Runs `coro` to completion on `event_loop`, which is not running, in a fresh copy of `base_context`:
/// the Task it becomes gets a context of its own, as every Task on this thread does (the server's main
/// Task, lifespan startup and shutdown).
pub(crate) fn run_until_complete_in_copy<'py>(
    base_context: &Bound<'py, PyAny>,
    event_loop: &Bound<'py, PyAny>,
    coro: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = coro.py();
    let context = crate::contexts::copy(py, base_context.as_unbound())?;
    let run = event_loop.getattr(pyo3::intern!(py, "run_until_complete"))?;
    crate::contexts::run_in(py, &context, || run.call1((coro,)))
}

/// Cancels the Tasks still running when the loop stops (the server's graceful timeout is over, as in
/// uvicorn) and gives them a moment to unwind.
fn cancel_pending(py: Python<'_>, env: &LoopEnv<'_>) -> PyResult<()> {
    let cancelled = env.tasks.call_method1("cancel_pending", (CANCEL_MESSAGE,))?;
    if cancelled.len()? == 0 {
        return Ok(());
    }
    tracing::error!("Cancel {} running task(s), timeout graceful shutdown exceeded", cancelled.len()?);
    let asyncio = py.import("asyncio")?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("timeout", CANCEL_GRACE)?;
    let wait = asyncio.call_method("wait", (cancelled,), Some(&kwargs))?;
    env.event_loop.call_method1("run_until_complete", (wait,))?;
    Ok(())
}

/// Called by the event loop whenever the queue's socket is readable.
#[pyclass(unsendable)]
struct Dispatcher {
    receiver: LoopReceiver,
    tasks: Py<PyAny>,
}

#[pymethods]
impl Dispatcher {
    fn __call__(&self, py: Python<'_>) {
        for message in self.receiver.drain() {
            match message {
                Message::Run(job) => job.run(py),
                Message::Stop => {
                    if let Err(e) = self.tasks.call_method0(py, "stop") {
                        tracing::error!("could not stop the event loop: {e}");
                    }
                }
            }
        }
    }
}

/// Print output the app buffered would otherwise be lost, since the process exits without finalising
/// the interpreter.
fn flush_std_streams(py: Python<'_>) {
    if let Ok(sys) = py.import("sys") {
        for name in ["stdout", "stderr"] {
            if let Ok(stream) = sys.getattr(name) {
                let _ = stream.call_method0("flush");
            }
        }
    }
}

//! The ASGI interface.
//!
//! [`AsgiServer::start`] spawns the interpreter thread: it creates an asyncio event loop, runs lifespan
//! startup, and then serves requests posted by [`AsgiHandler`], which the network side calls. Each request
//! becomes one call into Python that builds the scope and steps the app's coroutine; only coroutines that
//! really wait are handed to the event loop.

pub(crate) mod call;
mod context;
mod scope;
pub(crate) mod websocket;

use std::sync::Arc;
use std::thread::JoinHandle;

use covetpy_protocols::{Handler, Request, Response};
use http::StatusCode;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::oneshot;

use self::call::{CallShared, DisconnectGuard, HttpCall};
use self::context::AsgiContext;
use crate::inbox::{self, Event, Inbox, Mailbox};
use crate::native::{run_async, AsgiRunner, NativeCall, NativeContext};
use crate::LoadedApp;

/// `--lifespan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifespanMode {
    /// Run it; if the app does not support it, carry on.
    Auto,
    /// Run it; any failure stops the server.
    On,
    /// Do not run it.
    Off,
}

impl LifespanMode {
    fn as_str(self) -> &'static str {
        match self {
            LifespanMode::Auto => "auto",
            LifespanMode::On => "on",
            LifespanMode::Off => "off",
        }
    }
}

/// Settings for serving an ASGI app.
#[derive(Debug, Clone)]
pub struct AsgiOptions {
    /// `--lifespan`.
    pub lifespan: LifespanMode,
    /// `--root-path`.
    pub root_path: String,
}

/// The app could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The app reported a lifespan startup failure (or raised with `--lifespan on`).
    #[error("application startup failed")]
    LifespanFailed,
    /// The interpreter thread could not be set up.
    #[error("could not start the interpreter thread: {0}")]
    Internal(String),
}

/// The running interpreter thread. Dropping it without [`AsgiServer::shutdown`] leaves the thread running.
pub struct AsgiServer {
    inbox: Inbox,
    thread: JoinHandle<bool>,
    native: Option<Arc<NativeContext>>,
}

/// What the interpreter thread reports once startup is over.
type Ready = Result<Option<Arc<NativeContext>>, StartupError>;

impl AsgiServer {
    /// Starts the interpreter thread and runs lifespan startup; returns once the app is ready.
    pub fn start(
        app: LoadedApp,
        options: AsgiOptions,
        tokio: tokio::runtime::Handle,
    ) -> Result<AsgiServer, StartupError> {
        Self::spawn(app, options, tokio, false)
    }

    /// Like [`AsgiServer::start`] for a CovetPy native app: after lifespan startup the thread also reads
    /// the app's route table.
    pub(crate) fn start_native(
        app: LoadedApp,
        options: AsgiOptions,
        tokio: tokio::runtime::Handle,
    ) -> Result<AsgiServer, StartupError> {
        Self::spawn(app, options, tokio, true)
    }

    /// The native app's context, when started with [`AsgiServer::start_native`].
    pub(crate) fn native_context(&self) -> Option<Arc<NativeContext>> {
        self.native.clone()
    }

    /// Where to post events for the interpreter thread.
    pub(crate) fn inbox(&self) -> Inbox {
        self.inbox.clone()
    }

    fn spawn(
        app: LoadedApp,
        options: AsgiOptions,
        tokio: tokio::runtime::Handle,
        native: bool,
    ) -> Result<AsgiServer, StartupError> {
        let (inbox, mailbox) = inbox::channel(&tokio).map_err(|e| StartupError::Internal(e.to_string()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_inbox = inbox.clone();
        let thread = std::thread::Builder::new()
            .name("covetpy-python".into())
            .spawn(move || {
                crate::sched::batch_current_thread();
                interpreter_thread(app.app, options, tokio, thread_inbox, mailbox, native, ready_tx)
            })
            .map_err(|e| StartupError::Internal(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(native)) => Ok(AsgiServer { inbox, thread, native }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(StartupError::Internal("the interpreter thread exited during startup".into())),
        }
    }

    /// The request handler to give the network side.
    pub fn handler(&self) -> AsgiHandler {
        AsgiHandler { inbox: self.inbox.clone() }
    }

    /// Stops the event loop, runs lifespan shutdown and waits for the thread. Returns false if the app
    /// reported a shutdown failure.
    pub fn shutdown(self) -> bool {
        self.inbox.post(Event::Stop);
        self.thread.join().unwrap_or(false)
    }
}

/// Hands requests to the interpreter thread. Implements the network side's [`Handler`].
#[derive(Clone)]
pub struct AsgiHandler {
    inbox: Inbox,
}

impl Handler for AsgiHandler {
    async fn call(&self, request: Request) -> Response {
        let Request { head, body, websocket } = request;
        if let Some(upgrade) = websocket {
            let (reply, response) = oneshot::channel();
            if !self.inbox.post(Event::WebSocket(Box::new(websocket::WsCall { head, upgrade, reply, route: None }))) {
                return crate::intake::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
            }
            return response.await.unwrap_or_else(|_| crate::intake::internal_error());
        }
        let (first, body) = match crate::intake::split_body(body) {
            Ok(split) => split,
            Err(response) => return *response,
        };
        let shared = CallShared::new(self.inbox.clone(), body.is_none());
        let (reply, response) = oneshot::channel();
        let mut guard = DisconnectGuard(Some(Arc::clone(&shared)));
        let call = HttpCall { head, first, body, reply, shared };
        if !self.inbox.post(Event::Http(Box::new(call))) {
            guard.0 = None;
            return crate::intake::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        // If hyper drops this future (the client left) the guard tells the app via `http.disconnect`.
        let response = response.await;
        guard.0 = None;
        response.unwrap_or_else(|_| crate::intake::internal_error())
    }
}

/// Called by the event loop whenever the mailbox socket is readable.
#[pyclass(unsendable)]
struct Dispatcher {
    mailbox: Mailbox,
    ctx: Arc<AsgiContext>,
    event_loop: Py<PyAny>,
    native: Option<Arc<NativeContext>>,
    runner: Arc<dyn AsgiRunner>,
}

/// Runs self-streaming native response objects through the ASGI machinery.
struct ResponseRunner {
    ctx: Arc<AsgiContext>,
}

impl AsgiRunner for ResponseRunner {
    fn run(&self, py: Python<'_>, response: &Bound<'_, PyAny>, call: Box<NativeCall>) {
        let NativeCall { head, reply, .. } = *call;
        let shared = CallShared::new(self.ctx.inbox.clone(), true);
        call::start(py, &self.ctx, response, HttpCall { head, first: bytes::Bytes::new(), body: None, reply, shared });
    }
}

#[pymethods]
impl Dispatcher {
    fn __call__(&self, py: Python<'_>) {
        for event in self.mailbox.drain() {
            match event {
                Event::Http(http) => call::start(py, &self.ctx, self.ctx.app.bind(py), *http),
                Event::WebSocket(ws) => websocket::start(py, &self.ctx, *ws),
                Event::WsWake(fut, outcome) => {
                    if let Err(e) = websocket::wake(py, &self.ctx, fut, outcome) {
                        tracing::error!("could not resume a websocket: {}", crate::bootstrap::format_error(py, &e));
                    }
                }
                Event::Native(native) => match &self.native {
                    Some(ctx) => run_async(py, ctx, Arc::clone(&self.runner), native),
                    None => tracing::error!("a native request reached an ASGI app"),
                },
                Event::NativeAsgi(response, native) => self.runner.run(py, response.bind(py), native),
                Event::Wake(fut, outcome) => {
                    if let Err(e) = call::wake(py, &self.ctx, fut, outcome) {
                        tracing::error!("could not resume a request: {}", crate::bootstrap::format_error(py, &e));
                    }
                }
                Event::Stop => {
                    if let Err(e) = self.event_loop.call_method0(py, "stop") {
                        tracing::error!("could not stop the event loop: {e}");
                    }
                }
            }
        }
    }
}

/// The body of the interpreter thread. Returns whether lifespan shutdown succeeded.
fn interpreter_thread(
    app: Py<PyAny>,
    options: AsgiOptions,
    tokio: tokio::runtime::Handle,
    inbox: Inbox,
    mailbox: Mailbox,
    native: bool,
    ready: std::sync::mpsc::Sender<Ready>,
) -> bool {
    Python::attach(|py| {
        let setup = || -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>, bool)> {
            let asyncio = py.import("asyncio")?;
            let event_loop = asyncio.call_method0("new_event_loop")?;
            asyncio.call_method1("set_event_loop", (&event_loop,))?;
            let runtime = py.import("_covetpy_runtime")?;
            let lifespan = runtime.getattr("Lifespan")?.call1((app.bind(py), options.lifespan.as_str()))?;
            let started =
                event_loop.call_method1("run_until_complete", (lifespan.call_method0("startup")?,))?.is_truthy()?;
            Ok((event_loop, lifespan, started))
        };
        let (event_loop, lifespan, started) = match setup() {
            Ok(parts) => parts,
            Err(e) => {
                let _ = ready.send(Err(StartupError::Internal(crate::bootstrap::format_error(py, &e))));
                return false;
            }
        };
        if !started {
            let _ = ready.send(Err(StartupError::LifespanFailed));
            return false;
        }
        let serve = || -> PyResult<()> {
            let runtime = py.import("_covetpy_runtime")?;
            let state = lifespan.getattr("state")?.cast_into::<PyDict>()?;
            let ctx = Arc::new(AsgiContext {
                app: app.clone_ref(py),
                root_path: options.root_path.clone(),
                root_path_str: pyo3::types::PyString::new(py, &options.root_path).unbind(),
                state: state.unbind(),
                create_future: event_loop.getattr("create_future")?.unbind(),
                resume: runtime.getattr("resume")?.unbind(),
                client_disconnected: runtime.getattr("ClientDisconnected")?.unbind(),
                inbox: inbox.clone(),
                tokio,
            });
            let native_ctx = if native {
                let loaded = NativeContext::load(
                    py,
                    app.bind(py),
                    &event_loop,
                    inbox,
                    options.root_path.clone(),
                    ctx.state.clone_ref(py),
                )?;
                Some(Arc::new(loaded))
            } else {
                None
            };
            let fd = mailbox.fd();
            let runner: Arc<dyn AsgiRunner> = Arc::new(ResponseRunner { ctx: Arc::clone(&ctx) });
            let dispatcher = Dispatcher {
                mailbox,
                ctx,
                event_loop: event_loop.clone().unbind(),
                native: native_ctx.clone(),
                runner,
            };
            event_loop.call_method1("add_reader", (fd, Py::new(py, dispatcher)?))?;
            let _ = ready.send(Ok(native_ctx));
            event_loop.call_method0("run_forever")?;
            event_loop.call_method1("remove_reader", (fd,))?;
            Ok(())
        };
        if let Err(e) = serve() {
            tracing::error!("the event loop failed: {}", crate::bootstrap::format_error(py, &e));
            let _ = ready.send(Err(StartupError::Internal(e.to_string())));
        }
        let stopped = lifespan
            .call_method0("shutdown")
            .and_then(|coro| event_loop.call_method1("run_until_complete", (coro,)))
            .and_then(|ok| ok.is_truthy());
        let _ = event_loop.call_method0("close");
        flush_std_streams(py);
        match stopped {
            Ok(ok) => ok,
            Err(e) => {
                tracing::error!("lifespan shutdown failed: {}", crate::bootstrap::format_error(py, &e));
                false
            }
        }
    })
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

//! What every ASGI call on the event-loop thread shares.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::event_loop::tasks::Starter;
use crate::event_loop::LoopSender;

/// Per-application state built once on the interpreter thread after lifespan startup.
pub(crate) struct AsgiContext {
    /// The ASGI application.
    pub(crate) app: Py<PyAny>,
    /// `--root-path`, for building paths in Rust.
    pub(crate) root_path: String,
    /// The same, as a Python string, so each scope shares one object.
    pub(crate) root_path_str: Py<PyString>,
    /// The lifespan state; each request gets a shallow copy.
    pub(crate) state: Py<PyDict>,
    /// `loop.create_future`, bound once.
    pub(crate) create_future: Py<PyAny>,
    /// Runs each call as its own Task.
    pub(crate) tasks: Arc<Starter>,
    /// `_covetpy_runtime.ClientDisconnected`.
    pub(crate) client_disconnected: Py<PyAny>,
    /// Where background Tokio tasks post their results.
    pub(crate) sender: LoopSender,
    /// The Tokio runtime, for reads and writes that have to wait.
    pub(crate) tokio: tokio::runtime::Handle,
}

impl AsgiContext {
    /// The same context serving another ASGI app (the native interface's stack without the
    /// middleware it runs in Rust).
    pub(crate) fn with_app(&self, py: Python<'_>, app: Py<PyAny>) -> AsgiContext {
        AsgiContext {
            app,
            root_path: self.root_path.clone(),
            root_path_str: self.root_path_str.clone_ref(py),
            state: self.state.clone_ref(py),
            create_future: self.create_future.clone_ref(py),
            tasks: Arc::clone(&self.tasks),
            client_disconnected: self.client_disconnected.clone_ref(py),
            sender: self.sender.clone(),
            tokio: self.tokio.clone(),
        }
    }
}

//! The WSGI interface (PEP 3333).
//!
//! Requests go to a [pool](crate::pool) of Python threads (`--threads`). Each runs the application
//! synchronously, so a handler that blocks on I/O holds up only its own thread; the GIL is released
//! whenever a thread waits on the network.

mod call;
mod environ;
mod file_wrapper;
mod input;

use std::sync::Arc;

use covetpy_protocols::{Handler, Request, Response};
use http::StatusCode;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use tokio::sync::oneshot;

use self::call::WsgiCall;
use crate::pool::{Pool, PoolSender};
use crate::{LoadedApp, StartupError};

/// Settings for serving a WSGI app.
#[derive(Debug, Clone)]
pub struct WsgiOptions {
    /// `--threads`: how many requests may run at once.
    pub threads: usize,
    /// `--root-path`, given to the app as `SCRIPT_NAME`.
    pub root_path: String,
    /// Whether other worker processes serve the same app (`wsgi.multiprocess`).
    pub multiprocess: bool,
}

/// What every request on every worker thread shares.
pub(crate) struct WsgiContext {
    app: Py<PyAny>,
    root_path: Py<PyString>,
    errors: Py<PyAny>,
    file_wrapper: Py<PyType>,
    /// Each request runs in a fresh copy of this context.
    base_context: Py<PyAny>,
    multiprocess: bool,
    tokio: tokio::runtime::Handle,
}

/// The running worker threads.
pub struct WsgiServer {
    pool: Pool<WsgiCall>,
}

impl std::fmt::Debug for WsgiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsgiServer").finish_non_exhaustive()
    }
}

impl WsgiServer {
    /// Starts `options.threads` worker threads.
    pub fn start(
        app: LoadedApp,
        options: WsgiOptions,
        tokio: tokio::runtime::Handle,
    ) -> Result<WsgiServer, StartupError> {
        let ctx = Python::attach(|py| -> PyResult<WsgiContext> {
            Ok(WsgiContext {
                app: app.app.clone_ref(py),
                base_context: app.context.clone_ref(py),
                root_path: PyString::new(py, &options.root_path).unbind(),
                errors: py.import("sys")?.getattr("stderr")?.unbind(),
                file_wrapper: py.get_type::<file_wrapper::FileWrapper>().unbind(),
                multiprocess: options.multiprocess,
                tokio,
            })
        })
        .map_err(|e| StartupError::Internal(e.to_string()))?;
        let ctx = Arc::new(ctx);
        let pool = Pool::start("covetpy-wsgi", options.threads, move |py, call| {
            crate::contexts::in_copy(py, &ctx.base_context, || call::handle(py, &ctx, call));
        })?;
        Ok(WsgiServer { pool })
    }

    /// The request handler to give the network side.
    pub fn handler(&self) -> WsgiHandler {
        WsgiHandler { jobs: self.pool.sender() }
    }

    /// Asks the worker threads to stop once the queued requests are done.
    pub fn shutdown(self) {
        self.pool.shutdown();
    }
}

/// Queues requests for the worker threads. Implements the network side's [`Handler`].
#[derive(Clone)]
pub struct WsgiHandler {
    jobs: PoolSender<WsgiCall>,
}

impl std::fmt::Debug for WsgiHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsgiHandler").finish_non_exhaustive()
    }
}

impl Handler for WsgiHandler {
    async fn call(&self, request: Request) -> Response {
        let Request { head, body, .. } = request;
        let (first, body) = match crate::first_chunk::split_body(body) {
            Ok(split) => split,
            Err(response) => return *response,
        };
        let (reply, response) = oneshot::channel();
        if !self.jobs.send(WsgiCall { head, first, body, reply }) {
            return crate::stock_responses::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        response.await.unwrap_or_else(|_| crate::stock_responses::internal_error())
    }
}

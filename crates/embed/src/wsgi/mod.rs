//! The WSGI interface (PEP 3333).
//!
//! A pool of Python threads (`--threads`) takes requests from a queue. Each runs the application
//! synchronously, so a handler that blocks on I/O holds up only its own thread; the GIL is released
//! whenever a thread waits on the network. A thread that finishes a request takes the next queued one
//! without giving up the GIL, so under load the work stays on a warm thread.

mod call;
mod environ;
mod file_wrapper;
mod input;

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};

use covetpy_protocols::{Handler, Request, Response};
use http::StatusCode;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use tokio::sync::oneshot;

use self::call::WsgiCall;
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
    multiprocess: bool,
    tokio: tokio::runtime::Handle,
}

enum Job {
    Call(Box<WsgiCall>),
    Stop,
}

/// The running worker threads.
pub struct WsgiServer {
    jobs: Sender<Job>,
    threads: usize,
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
                root_path: PyString::new(py, &options.root_path).unbind(),
                errors: py.import("sys")?.getattr("stderr")?.unbind(),
                file_wrapper: py.get_type::<file_wrapper::FileWrapper>().unbind(),
                multiprocess: options.multiprocess,
                tokio,
            })
        })
        .map_err(|e| StartupError::Internal(e.to_string()))?;
        let ctx = Arc::new(ctx);
        let (jobs, queue) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        let threads = options.threads.max(1);
        for index in 0..threads {
            let ctx = Arc::clone(&ctx);
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("covetpy-wsgi-{index}"))
                .spawn(move || {
                    crate::sched::batch_current_thread();
                    Python::attach(|py| worker(py, &ctx, &queue));
                })
                .map_err(|e| StartupError::Internal(e.to_string()))?;
        }
        Ok(WsgiServer { jobs, threads })
    }

    /// The request handler to give the network side.
    pub fn handler(&self) -> WsgiHandler {
        WsgiHandler { jobs: self.jobs.clone() }
    }

    /// Asks the worker threads to stop once the requests queued before this call are done. Threads
    /// still inside a handler finish on their own; the process does not wait for them.
    pub fn shutdown(self) {
        for _ in 0..self.threads {
            let _ = self.jobs.send(Job::Stop);
        }
    }
}

fn worker(py: Python<'_>, ctx: &WsgiContext, queue: &Mutex<Receiver<Job>>) {
    loop {
        // Take queued work while still holding the GIL; only an empty queue makes the thread sleep.
        let ready = queue.try_lock().ok().map(|q| q.try_recv());
        let job = match ready {
            Some(Ok(job)) => job,
            Some(Err(TryRecvError::Disconnected)) => return,
            Some(Err(TryRecvError::Empty)) | None => {
                match py.detach(|| queue.lock().unwrap_or_else(PoisonError::into_inner).recv()) {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        match job {
            Job::Call(call) => call::handle(py, ctx, *call),
            Job::Stop => return,
        }
    }
}

/// Queues requests for the worker threads. Implements the network side's [`Handler`].
#[derive(Clone)]
pub struct WsgiHandler {
    jobs: Sender<Job>,
}

impl Handler for WsgiHandler {
    async fn call(&self, request: Request) -> Response {
        let Request { head, body } = request;
        let (first, body) = match crate::intake::split_body(body) {
            Ok(split) => split,
            Err(response) => return *response,
        };
        let (reply, response) = oneshot::channel();
        if self.jobs.send(Job::Call(Box::new(WsgiCall { head, first, body, reply }))).is_err() {
            return crate::intake::plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        response.await.unwrap_or_else(|_| crate::intake::internal_error())
    }
}

//! `--log-config`: Python's logging configured from a file before the application is imported, as
//! uvicorn configures it, and the levels it gives uvicorn's loggers read back for covetpy's own lines.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyList;

/// The levels of the loggers that stand for covetpy's own log lines after the configuration, as
/// numbers of Python's logging; `None` for a logger the configuration disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggerLevels {
    /// `uvicorn.error` (or `covetpy.error`): server lines.
    pub error: Option<u32>,
    /// `uvicorn.access` (or `covetpy.access`): access lines.
    pub access: Option<u32>,
}

/// Applies the logging configuration in `path` (JSON, YAML or INI, chosen by the extension as uvicorn
/// chooses) in the embedded interpreter; `level` is `--log-level` when it was given, which then sets
/// uvicorn's loggers as in uvicorn. The error is one line.
pub fn configure(path: &Path, level: Option<u32>) -> Result<LoggerLevels, String> {
    Python::attach(|py| {
        let run = || -> PyResult<(Option<u32>, Option<u32>)> {
            let runtime = crate::bootstrap::install(py)?;
            runtime.call_method1("configure_logging", (path.to_string_lossy().as_ref(), level))?.extract()
        };
        match run() {
            Ok((error, access)) => Ok(LoggerLevels { error, access }),
            Err(e) => {
                let message = e.value(py).str().map(|s| s.to_string()).unwrap_or_else(|_| e.to_string());
                let is_ours = py
                    .import("_covetpy_runtime")
                    .and_then(|rt| rt.getattr("LogConfigError"))
                    .is_ok_and(|kind| e.value(py).is_instance(&kind).unwrap_or(false));
                if is_ours {
                    Err(message)
                } else {
                    Err(format!("--log-config {}: {message}", path.display()))
                }
            }
        }
    })
}

/// Without `--log-config`: sets up Python's `uvicorn`, `uvicorn.error` and `uvicorn.access` loggers as
/// uvicorn's default configuration does (stderr, stdout, `level`, uvicorn's format and colours), so that
/// what an application logs through them appears as it would under uvicorn.
pub fn configure_default(level: u32, colors_stderr: bool, colors_stdout: bool) -> Result<(), String> {
    Python::attach(|py| {
        crate::bootstrap::install(py)
            .and_then(|rt| rt.call_method1("configure_default_logging", (level, colors_stderr, colors_stdout)))
            .map(|_| ())
            .map_err(|e| format!("could not set up Python's logging: {e}"))
    })
}

/// One of covetpy's own log lines, to be logged through Python's `logging` after `--log-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// An access line (`uvicorn.access`) rather than a server line (`uvicorn.error`).
    pub access: bool,
    /// Python's level number.
    pub level: u32,
    /// The formatted message.
    pub message: String,
    /// For an access line in uvicorn's format, its arguments, so that formatters written for uvicorn's
    /// access records (such as `uvicorn.logging.AccessFormatter`) find them.
    pub access_args: Option<AccessArgs>,
}

/// uvicorn's access log arguments: `'%s - "%s %s HTTP/%s" %d'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessArgs {
    /// `host:port` of the client.
    pub client: String,
    /// The request method.
    pub method: String,
    /// Path and query string.
    pub full_path: String,
    /// `1.1`, `2` or `3`.
    pub http_version: String,
    /// The response status.
    pub status: u16,
}

enum Message {
    Line(LogLine),
    Flush(mpsc::SyncSender<()>),
}

/// Hands log lines to Python's `logging` on a thread of its own, so that the threads that serve requests
/// never wait for the GIL to log. Lines are passed on in batches, one GIL acquisition per batch.
#[derive(Debug, Clone)]
pub struct PythonLogging {
    queue: mpsc::Sender<Message>,
}

/// The most lines passed to Python under one acquisition of the GIL.
const BATCH: usize = 256;

impl PythonLogging {
    /// Starts the thread. Call after [`configure`] succeeded, which chose the loggers.
    pub fn start() -> std::io::Result<PythonLogging> {
        let (queue, lines) = mpsc::channel::<Message>();
        std::thread::Builder::new().name("covetpy-log".into()).spawn(move || {
            while let Ok(first) = lines.recv() {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match lines.try_recv() {
                        Ok(message) => batch.push(message),
                        Err(_) => break,
                    }
                }
                emit(batch);
            }
        })?;
        Ok(PythonLogging { queue })
    }

    /// Queues a line; never blocks.
    pub fn log(&self, line: LogLine) {
        // Fails only once the thread is gone, at exit.
        let _ = self.queue.send(Message::Line(line));
    }

    /// Waits, at most `timeout`, until the lines queued so far have been passed to Python.
    pub fn flush(&self, timeout: Duration) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(timeout);
        }
    }
}

fn emit(batch: Vec<Message>) {
    let mut lines = Vec::with_capacity(batch.len());
    let mut flushed = Vec::new();
    for message in batch {
        match message {
            Message::Line(line) => lines.push(line),
            Message::Flush(done) => flushed.push(done),
        }
    }
    if !lines.is_empty() {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let items = PyList::empty(py);
                for line in lines {
                    let args = match line.access_args {
                        Some(a) => {
                            (a.client, a.method, a.full_path, a.http_version, a.status).into_pyobject(py)?.into_any()
                        }
                        None => py.None().into_bound(py),
                    };
                    items.append((line.access, line.level, line.message, args))?;
                }
                crate::bootstrap::install(py)?.call_method1("emit_logs", (items,))?;
                Ok(())
            };
            if let Err(e) = run() {
                // The logging configuration itself failed (a handler raised past logging's own
                // handleError): say so where Python would, and carry on.
                e.print(py);
            }
        });
    }
    for done in flushed {
        let _ = done.send(());
    }
}

//! `--log-config`: Python's logging configured from a file before the application is imported, as
//! uvicorn configures it, and the levels it gives uvicorn's loggers read back for covetpy's own lines.

use std::path::Path;

use pyo3::prelude::*;

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

//! The `_covetpy_native` module (what Python helpers call back into) and the embedded
//! `_covetpy_runtime` helper module.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyModule};

const RUNTIME_SOURCE: &str = include_str!("../python/_covetpy_runtime.py");

/// The `covetpy` package shipped inside the binary: (module name, is a package, source).
const EMBEDDED_PACKAGE: &[(&str, bool, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_package.rs"));

/// The `covetpy` package's data files shipped inside the binary: (path inside the package, bytes).
const EMBEDDED_DATA: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/embedded_data.rs"));

/// Log levels shared with the Python helpers, numbered as Python's `logging` numbers them.
const ERROR: u32 = 40;
const WARNING: u32 = 30;
const INFO: u32 = 20;
const DEBUG: u32 = 10;

/// Writes a message from Python to the server log.
#[pyfunction]
fn log(level: u32, message: &str) {
    match level {
        l if l >= ERROR => tracing::error!("{message}"),
        l if l >= WARNING => tracing::warn!("{message}"),
        l if l >= INFO => tracing::info!("{message}"),
        _ => tracing::debug!("{message}"),
    }
}

/// The bytes of one embedded data file of the `covetpy` package (`"static/favicon.svg"`), or `None`.
/// Copied into a Python `bytes` only when asked for, so a worker that never serves the documentation
/// pages never holds their scripts.
#[pyfunction]
fn package_data<'py>(py: Python<'py>, path: &str) -> Option<Bound<'py, PyBytes>> {
    EMBEDDED_DATA.iter().find(|(name, _)| *name == path).map(|(_, bytes)| PyBytes::new(py, bytes))
}

/// The paths of the embedded data files of the `covetpy` package, relative to the package.
#[pyfunction]
fn package_data_names() -> Vec<&'static str> {
    EMBEDDED_DATA.iter().map(|(name, _)| *name).collect()
}

/// Registers `_covetpy_native`, imports `_covetpy_runtime` and makes the embedded `covetpy` package
/// importable; returns `_covetpy_runtime`.
pub(crate) fn install(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    // --log-config runs before the app is loaded and needs the helpers too; install them only once.
    if let Ok(runtime) = py.import("sys")?.getattr("modules")?.get_item("_covetpy_runtime") {
        return Ok(runtime.cast_into::<PyModule>()?);
    }
    let native = PyModule::new(py, "_covetpy_native")?;
    native.add_function(wrap_pyfunction!(log, &native)?)?;
    native.add_function(wrap_pyfunction!(package_data, &native)?)?;
    native.add_function(wrap_pyfunction!(package_data_names, &native)?)?;
    native.add_class::<crate::asgi::call::AsgiCall>()?;
    native.add("ERROR", ERROR)?;
    native.add("WARNING", WARNING)?;
    native.add("INFO", INFO)?;
    native.add("DEBUG", DEBUG)?;
    py.import("sys")?.getattr("modules")?.set_item("_covetpy_native", &native)?;
    let source = std::ffi::CString::new(RUNTIME_SOURCE)?;
    let runtime = PyModule::from_code(py, &source, c"_covetpy_runtime.py", c"_covetpy_runtime")?;
    py.import("sys")?.getattr("modules")?.set_item("_covetpy_runtime", &runtime)?;
    let sources = pyo3::types::PyDict::new(py);
    for (name, is_package, source) in EMBEDDED_PACKAGE {
        sources.set_item(name, (is_package, source))?;
    }
    runtime.call_method1("install_embedded_package", (sources,))?;
    Ok(runtime)
}

/// Formats a Python exception with its traceback for the log.
pub(crate) fn format_error(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py
        .import("_covetpy_runtime")
        .and_then(|m| m.call_method1("format_exception", (err.value(py), err.traceback(py))))
        .and_then(|s| s.extract::<String>());
    formatted.unwrap_or_else(|_| err.to_string())
}

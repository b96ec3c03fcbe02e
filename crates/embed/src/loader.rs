//! Importing the application named on the command line.

use std::path::Path;

use pyo3::prelude::*;
use pyo3::types::PyList;

/// `module:attribute`, where the attribute may be dotted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    /// The module to import, for example `pkg.main`.
    pub module: String,
    /// The attribute path inside it, for example `app` or `factory.app`.
    pub attribute: String,
}

impl std::str::FromStr for AppSpec {
    type Err = LoadError;

    fn from_str(s: &str) -> Result<Self, LoadError> {
        match s.split_once(':') {
            Some((module, attribute)) if !module.is_empty() && !attribute.is_empty() && !attribute.contains(':') => {
                Ok(AppSpec { module: module.to_owned(), attribute: attribute.to_owned() })
            }
            _ => Err(LoadError::BadSpec(s.to_owned())),
        }
    }
}

impl std::fmt::Display for AppSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.module, self.attribute)
    }
}

/// Which calling convention to use for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// Inspect the application and choose.
    Auto,
    /// ASGI 3: `await app(scope, receive, send)`.
    Asgi,
    /// ASGI 2: `await app(scope)(receive, send)`. Only asked for: [`load`] wraps such an app so that it is
    /// called as ASGI 3, and reports [`Interface::Asgi`].
    Asgi2,
    /// WSGI (PEP 3333): `app(environ, start_response)`.
    Wsgi,
    /// A CovetPy native app (`covetpy.CovetPy`), chosen with `--interface covet` and served by
    /// [`crate::native`].
    Native,
}

impl Interface {
    fn name(self) -> &'static str {
        match self {
            Interface::Auto => "auto",
            Interface::Asgi => "ASGI",
            Interface::Asgi2 => "ASGI 2",
            Interface::Wsgi => "WSGI",
            Interface::Native => "a CovetPy app",
        }
    }
}

/// The application could not be loaded. Each message names the module and attribute involved.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The APP argument is not `module:attribute`.
    #[error("invalid app {0:?}: expected \"<module>:<attribute>\", for example \"main:app\"")]
    BadSpec(String),
    /// The module itself does not exist.
    #[error("could not import module {module:?}: no module of that name (is --app-dir right?)")]
    ModuleNotFound {
        /// The module name.
        module: String,
    },
    /// Importing the module raised.
    #[error("could not import module {module:?}: {error}")]
    ImportFailed {
        /// The module name.
        module: String,
        /// The exception, one line.
        error: String,
        /// The formatted traceback.
        traceback: String,
    },
    /// The attribute path does not exist in the module.
    #[error("attribute {attribute:?} not found in module {module:?}")]
    AttributeNotFound {
        /// The module name.
        module: String,
        /// The full dotted attribute path.
        attribute: String,
    },
    /// `--factory` was given, and calling the factory raised.
    #[error("factory {spec} raised: {error}")]
    FactoryFailed {
        /// The APP argument.
        spec: String,
        /// The exception, one line.
        error: String,
        /// The formatted traceback.
        traceback: String,
    },
    /// `--factory` was given, but the attribute is not callable.
    #[error("{spec} is not callable, so it cannot be used with --factory")]
    NotAFactory {
        /// The APP argument.
        spec: String,
    },
    /// The attribute is not an application of any interface we serve.
    #[error("{spec} is not an ASGI application (an async callable taking scope, receive and send) nor a WSGI application (a callable taking environ and start_response); pass --interface to choose")]
    Undetected {
        /// The APP argument.
        spec: String,
    },
    /// `--interface covet` was asked for, but the attribute is not a `covetpy.CovetPy` app.
    #[error("{spec} is not a CovetPy app (an instance of covetpy.FastAPI or covetpy.CovetPy)")]
    NotNative {
        /// The APP argument.
        spec: String,
    },
    /// The attribute is not callable.
    #[error("{spec} is not callable, so it cannot be served as {interface}")]
    NotCallable {
        /// The APP argument.
        spec: String,
        /// The interface asked for.
        interface: &'static str,
    },
    /// Something else went wrong inside Python while loading.
    #[error("error loading {spec}: {error}")]
    Python {
        /// The APP argument.
        spec: String,
        /// The exception, one line.
        error: String,
    },
}

impl LoadError {
    /// The Python traceback behind the error, when there is one worth showing.
    pub fn traceback(&self) -> Option<&str> {
        match self {
            LoadError::ImportFailed { traceback, .. } | LoadError::FactoryFailed { traceback, .. } => Some(traceback),
            _ => None,
        }
    }
}

/// A loaded application and the interface it will be served with.
pub struct LoadedApp {
    /// The application object.
    pub app: Py<PyAny>,
    /// The resolved interface (never `Auto`).
    pub interface: Interface,
    /// A copy of the context the app was imported in: every call runs in a fresh copy of it, so values
    /// the module set at import are seen by every request and values a request sets by no other.
    pub context: Py<PyAny>,
}

impl std::fmt::Debug for LoadedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedApp").field("interface", &self.interface).finish_non_exhaustive()
    }
}

/// Imports the application with `app_dir` first on `sys.path`, following uvicorn's rules.
pub fn load(spec: &AppSpec, app_dir: &Path, factory: bool, interface: Interface) -> Result<LoadedApp, LoadError> {
    Python::attach(|py| {
        crate::bootstrap::install(py).map_err(|e| python_error(py, spec, &e))?;
        let dir = std::fs::canonicalize(app_dir).unwrap_or_else(|_| app_dir.to_path_buf());
        let sys_path = py.import("sys").and_then(|sys| sys.getattr("path")).map_err(|e| python_error(py, spec, &e))?;
        let sys_path = sys_path
            .cast::<PyList>()
            .map_err(|e| LoadError::Python { spec: spec.to_string(), error: e.to_string() })?;
        sys_path.insert(0, dir.to_string_lossy().as_ref()).map_err(|e| python_error(py, spec, &e))?;

        if interface == Interface::Native {
            // `--interface covet` serves FastAPI apps natively: their `fastapi` imports resolve to covetpy.
            py.import("covetpy._fastapi_alias")
                .and_then(|alias| alias.call_method0("install"))
                .map_err(|e| python_error(py, spec, &e))?;
        }
        let module = py.import(spec.module.as_str()).map_err(|e| import_error(py, spec, &e))?;
        let mut target = module.into_any();
        for part in spec.attribute.split('.') {
            target = target.getattr(part).map_err(|_| LoadError::AttributeNotFound {
                module: spec.module.clone(),
                attribute: spec.attribute.clone(),
            })?;
        }
        if factory {
            if !target.is_callable() {
                return Err(LoadError::NotAFactory { spec: spec.to_string() });
            }
            target = target.call0().map_err(|e| LoadError::FactoryFailed {
                spec: spec.to_string(),
                error: one_line(py, &e),
                traceback: crate::bootstrap::format_error(py, &e),
            })?;
        }
        if !target.is_callable() {
            return Err(LoadError::NotCallable { spec: spec.to_string(), interface: interface.name() });
        }
        let detected: Option<String> = py
            .import("_covetpy_runtime")
            .and_then(|rt| rt.call_method1("detect_interface", (&target,)))
            .and_then(|r| r.extract())
            .map_err(|e| python_error(py, spec, &e))?;
        let resolved = match (interface, detected.as_deref()) {
            (Interface::Auto, Some("asgi2")) | (Interface::Asgi2, _) => {
                target = py
                    .import("_covetpy_runtime")
                    .and_then(|rt| rt.call_method1("Asgi2App", (&target,)))
                    .map_err(|e| python_error(py, spec, &e))?;
                Interface::Asgi
            }
            (Interface::Auto, Some("asgi")) => Interface::Asgi,
            (Interface::Auto, Some("wsgi")) => Interface::Wsgi,
            (Interface::Auto, Some("native")) => Interface::Native,
            (Interface::Auto, _) => return Err(LoadError::Undetected { spec: spec.to_string() }),
            (Interface::Native, found) if found != Some("native") => {
                return Err(LoadError::NotNative { spec: spec.to_string() })
            }
            (chosen, _) => chosen,
        };
        let context = crate::contexts::copy_current(py).map_err(|e| python_error(py, spec, &e))?;
        Ok(LoadedApp { app: target.unbind(), interface: resolved, context })
    })
}

fn one_line(py: Python<'_>, err: &PyErr) -> String {
    let name = err.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
    let value = err.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    if value.is_empty() {
        name
    } else {
        format!("{name}: {value}")
    }
}

fn python_error(py: Python<'_>, spec: &AppSpec, err: &PyErr) -> LoadError {
    LoadError::Python { spec: spec.to_string(), error: one_line(py, err) }
}

/// Tells "the module does not exist" apart from "the module exists but its import failed", as uvicorn
/// does, by checking which module the ModuleNotFoundError is about.
fn import_error(py: Python<'_>, spec: &AppSpec, err: &PyErr) -> LoadError {
    if err.is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py) {
        let missing: Option<String> = err.value(py).getattr("name").ok().and_then(|n| n.extract().ok());
        let ours = missing.as_deref().is_some_and(|m| m == spec.module || spec.module.starts_with(&format!("{m}.")));
        if ours {
            return LoadError::ModuleNotFound { module: spec.module.clone() };
        }
    }
    LoadError::ImportFailed {
        module: spec.module.clone(),
        error: one_line(py, err),
        traceback: crate::bootstrap::format_error(py, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_dotted_attribute() {
        let spec: AppSpec = "pkg.main:factory.app".parse().unwrap();
        assert_eq!(spec.module, "pkg.main");
        assert_eq!(spec.attribute, "factory.app");
    }

    #[test]
    fn spec_without_colon_is_rejected() {
        assert!("main".parse::<AppSpec>().is_err());
        assert!(":app".parse::<AppSpec>().is_err());
        assert!("main:".parse::<AppSpec>().is_err());
    }
}

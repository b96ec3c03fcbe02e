//! Starting CPython inside the process.
//!
//! An embedded interpreter does not look at `VIRTUAL_ENV`, so we tell it which `python` it stands for:
//! `$VIRTUAL_ENV/bin/python` when a virtualenv is active, else the first `python3` on `PATH`. CPython then
//! derives `sys.prefix` and `site-packages` from that executable exactly as the real one would.

use std::ffi::{CString, NulError};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use pyo3::ffi;

/// What the interpreter needs to know before it starts.
#[derive(Debug, Clone)]
pub struct InterpreterOptions {
    /// `sys.argv` as the application will see it.
    pub argv: Vec<String>,
}

/// Starting the interpreter failed.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    /// `VIRTUAL_ENV` points somewhere without a `bin/python`.
    #[error("VIRTUAL_ENV is set to {0}, but {0}/bin/python does not exist")]
    MissingVenvPython(PathBuf),
    /// The virtualenv was made with another Python version than covetpy was built against.
    #[error("the virtualenv at {venv} uses Python {found}, but covetpy was built against Python {built}; recreate the virtualenv with Python {built}")]
    VersionMismatch {
        /// The virtualenv directory.
        venv: PathBuf,
        /// Its Python version.
        found: String,
        /// The version of the linked libpython.
        built: String,
    },
    /// A path or argument contained a NUL byte.
    #[error("argument contains a NUL byte: {0}")]
    Nul(#[from] NulError),
    /// CPython reported an error during start-up.
    #[error("the Python interpreter failed to start: {0}")]
    Init(String),
}

/// Starts CPython with signal handling left to us, then releases the GIL so the interpreter thread can
/// take it. Must be called once, on the main thread, after the process's signal handlers are installed.
pub fn initialize(options: &InterpreterOptions) -> Result<(), InterpreterError> {
    let executable = find_executable()?;
    let argv: Vec<CString> = options.argv.iter().map(|a| CString::new(a.as_bytes())).collect::<Result<_, _>>()?;
    let executable = executable.map(|p| CString::new(p.as_os_str().as_bytes())).transpose()?;
    // SAFETY: PyConfig is initialised by PyConfig_InitPythonConfig before use and cleared afterwards; every
    // string passed in is a valid NUL-terminated C string that outlives the calls.
    unsafe {
        let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::zeroed();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let mut config = config.assume_init();
        // Tokio owns SIGINT/SIGTERM; Python must not replace those handlers.
        config.install_signal_handlers = 0;
        // Our own command line is not Python's: do not let CPython parse it for -X options and the like.
        config.parse_argv = 0;
        let mut raw: Vec<*const std::ffi::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        let status = ffi::PyConfig_SetBytesArgv(&mut config, raw.len() as ffi::Py_ssize_t, raw.as_mut_ptr());
        check(status, &mut config)?;
        if let Some(exe) = &executable {
            let status = ffi::PyConfig_SetBytesString(&mut config, &mut config.executable, exe.as_ptr());
            check(status, &mut config)?;
        }
        let status = ffi::Py_InitializeFromConfig(&config);
        check(status, &mut config)?;
        ffi::PyConfig_Clear(&mut config);
    }
    Ok(())
}

/// Gives up the GIL held by the thread that initialised the interpreter. Call once after start-up work
/// on the main thread is done, so the interpreter thread can run.
pub fn release_main_thread() {
    // SAFETY: called on the thread that holds the GIL after initialisation; the thread state is
    // deliberately never restored because the main thread does not run Python again.
    unsafe {
        ffi::PyEval_SaveThread();
    }
}

unsafe fn check(status: ffi::PyStatus, config: &mut ffi::PyConfig) -> Result<(), InterpreterError> {
    // SAFETY: status came from a PyConfig call; err_msg is a static C string when set.
    unsafe {
        if ffi::PyStatus_Exception(status) == 0 {
            return Ok(());
        }
        ffi::PyConfig_Clear(config);
        let msg = if status.err_msg.is_null() {
            "unknown error".to_owned()
        } else {
            std::ffi::CStr::from_ptr(status.err_msg).to_string_lossy().into_owned()
        };
        Err(InterpreterError::Init(msg))
    }
}

/// The `python` executable that stands for the interpreter (see [`initialize`]), for running Python in a
/// child process with the same installation and packages; `python3` when there is none to name.
pub fn python_executable() -> Result<PathBuf, InterpreterError> {
    Ok(find_executable()?.unwrap_or_else(|| PathBuf::from("python3")))
}

/// The `python` the interpreter should present itself as: the virtualenv's, else the first `python3` on
/// `PATH` (through pyenv-style shims to the real binary), else CPython's own default.
fn find_executable() -> Result<Option<PathBuf>, InterpreterError> {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        let venv = PathBuf::from(venv);
        let python = venv.join("bin").join("python");
        if !python.exists() {
            return Err(InterpreterError::MissingVenvPython(venv));
        }
        check_venv_version(&venv)?;
        return Ok(Some(python));
    }
    let Some(found) = search_path("python3") else { return Ok(None) };
    if is_script(&found) {
        return Ok(resolve_shim(&found));
    }
    Ok(Some(found))
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Shims (pyenv, asdf) are shell scripts that exec the real interpreter; CPython cannot locate its
/// prefix from a script, so we ask the shim which binary it runs.
fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && &head == b"#!"
}

fn resolve_shim(shim: &Path) -> Option<PathBuf> {
    let out = std::process::Command::new(shim)
        .args(["-c", "import sys; print(sys.executable)"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let exe = PathBuf::from(text.trim());
    (out.status.success() && exe.is_absolute()).then_some(exe)
}

/// The `major.minor` of the libpython we are linked against.
fn built_version() -> String {
    // SAFETY: Py_GetVersion returns a static string and may be called before initialisation.
    let full = unsafe { std::ffi::CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy().into_owned();
    major_minor(&full).unwrap_or(full)
}

fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}

/// A virtualenv built with another Python has its packages under another `lib/pythonX.Y`, which our
/// interpreter would silently ignore; refuse with a clear message instead.
fn check_venv_version(venv: &Path) -> Result<(), InterpreterError> {
    let Ok(cfg) = std::fs::read_to_string(venv.join("pyvenv.cfg")) else { return Ok(()) };
    let found = cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info").then(|| value.trim().to_owned())
    });
    let Some(found) = found.as_deref().and_then(major_minor) else { return Ok(()) };
    let built = built_version();
    if found != built {
        return Err(InterpreterError::VersionMismatch { venv: venv.to_path_buf(), found, built });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_minor_ignores_patch_and_build() {
        assert_eq!(major_minor("3.11.7 (main, Jan  1 2024)").as_deref(), Some("3.11"));
        assert_eq!(major_minor("3.12").as_deref(), Some("3.12"));
        assert_eq!(major_minor("x"), None);
    }

    #[test]
    fn venv_with_other_version_is_refused() {
        let dir = std::env::temp_dir().join(format!("covetpy-venv-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pyvenv.cfg"), "home = /usr/bin\nversion = 2.7.18\n").unwrap();
        let err = check_venv_version(&dir).unwrap_err().to_string();
        assert!(err.contains("2.7"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

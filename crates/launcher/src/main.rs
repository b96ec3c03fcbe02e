//! The `covetpy` command that the pip wheel installs into a venv's `bin/`.
//!
//! The server binary embeds CPython: it is linked against one minor version's shared libpython
//! (`DT_NEEDED libpython3.11.so.1.0`), and the wheel must not bundle that library. Where it lives depends
//! on the interpreter (pyenv: `~/.pyenv/versions/3.11.7/lib`, Debian: `/usr/lib/x86_64-linux-gnu`,
//! python.org builds: `/usr/local/lib`), and a binary whose `DT_NEEDED` library is not found fails in the
//! dynamic loader before `main` runs, with a message no user can act on. So the wheel's `covetpy` is this
//! small program, which has no libpython dependency: it picks the interpreter as the server will (the
//! venv in `VIRTUAL_ENV`, else the venv this command is installed in, else the first `python3` on
//! `PATH`), asks that interpreter's own `sysconfig` where its shared libpython is, refuses with one
//! sentence saying what to install when it does not fit, and otherwise execs the server
//! (`<prefix>/libexec/covetpy/covetpy`) with that directory on `LD_LIBRARY_PATH`.
//!
//! Exec, not spawn: the server replaces this process (same pid, so it is PID 1 in a container, and
//! signals reach it directly). `LD_LIBRARY_PATH` rather than rewriting the server's RUNPATH at install
//! time: pip installs files and runs nothing, and the variable is also inherited by the workers the
//! server re-executes itself as.
//!
//! `scripts/build-wheel.sh` compiles this with `COVETPY_BUILT_FOR` set to the interpreter the server was
//! built for: `3.11`, or `3.14t` for a free-threaded build.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The interpreter the server binary next to this one was built for: `major.minor`, with a `t` suffix
/// for a free-threaded build.
const BUILT_FOR: &str = match option_env!("COVETPY_BUILT_FOR") {
    Some(v) => v,
    None => "3.11",
};

/// This package's version, for the messages.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The oldest CPython covetpy runs on (as scripts/env.sh checks when building): `(major, minor)`.
const OLDEST: (u32, u32) = (3, 11);

/// Printed by the interpreter, one value per line, for [`Interpreter::parse`]. `-I -S` keep it from
/// reading the environment and `site`, so it answers in a few milliseconds whatever the venv holds.
const QUERY: &str = "import sys, sysconfig\n\
v = sysconfig.get_config_var\n\
print(sys.implementation.name)\n\
print('%d.%d%s' % (sys.version_info[0], sys.version_info[1], 't' if v('Py_GIL_DISABLED') else ''))\n\
print(sys.version.split()[0])\n\
print(sys.executable)\n\
print(1 if v('Py_ENABLE_SHARED') else 0)\n\
print(v('INSTSONAME') or '')\n\
print(v('LIBDIR') or '')\n\
print(v('LIBPL') or '')\n";

fn main() -> ExitCode {
    match run() {
        // `run` only returns on failure: on success the server has replaced this process.
        Err(message) => {
            // The server's own format for errors before logging starts.
            eprintln!("{:<10}{message}", "ERROR:");
            ExitCode::from(1)
        }
    }
}

/// Finds and checks the interpreter, then execs the server; returns only with the sentence to print.
fn run() -> Result<std::convert::Infallible, String> {
    let exe = std::env::current_exe().map_err(|e| format!("covetpy could not find its own executable: {e}"))?;
    let prefix = exe.parent().and_then(Path::parent).ok_or("covetpy is not installed in a bin/ directory")?;
    let server = prefix.join("libexec").join("covetpy").join("covetpy");
    if !server.is_file() {
        return Err(format!(
            "the covetpy installation under {} is incomplete ({} is missing): reinstall the covetpy wheel",
            prefix.display(),
            server.display()
        ));
    }
    let (python, own_venv) = choose_python(prefix)?;
    let interpreter = Interpreter::ask(&python)?;
    let libdir = interpreter.check()?;
    let mut command = Command::new(&server);
    command.args(std::env::args_os().skip(1)).env("LD_LIBRARY_PATH", library_path(&libdir));
    if let Some(arg0) = std::env::args_os().next() {
        command.arg0(arg0);
    }
    if let Some(venv) = own_venv {
        // The server finds its venv through VIRTUAL_ENV (as when the venv is activated); this is the one
        // the command lives in.
        command.env("VIRTUAL_ENV", venv);
    }
    let err = command.exec();
    Err(format!("covetpy could not start {}: {err}", server.display()))
}

/// The interpreter the server will stand for, by the server's own rule (crates/embed/src/interpreter.rs):
/// `$VIRTUAL_ENV/bin/python` when set, else the first `python3` on `PATH`; except that when this command
/// lives in a venv and no venv is active, that venv is used, as running `venv/bin/uvicorn` uses its
/// venv. Returns the python and, in that last case, the venv to announce to the server.
fn choose_python(prefix: &Path) -> Result<(PathBuf, Option<PathBuf>), String> {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        let venv = PathBuf::from(venv);
        let python = venv.join("bin").join("python");
        if !python.exists() {
            return Err(format!("VIRTUAL_ENV is set to {0}, but {0}/bin/python does not exist", venv.display()));
        }
        return Ok((python, None));
    }
    if prefix.join("pyvenv.cfg").is_file() {
        let python = prefix.join("bin").join("python");
        if python.exists() {
            return Ok((python, Some(prefix.to_path_buf())));
        }
    }
    let found = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("python3")).find(|p| p.is_file()));
    found.map(|p| (p, None)).ok_or_else(|| {
        format!(
            "covetpy {VERSION} serves with CPython {BUILT_FOR} but found no interpreter: no venv is active, \
             {} is not a venv and there is no python3 on PATH",
            prefix.display()
        )
    })
}

/// What the interpreter says about itself.
#[derive(Debug, PartialEq)]
struct Interpreter {
    /// The `python` that was asked.
    python: PathBuf,
    /// `sys.implementation.name`.
    implementation: String,
    /// `major.minor`, `t`-suffixed when free-threaded.
    version: String,
    /// The full version, for the pyenv hint.
    full_version: String,
    /// `Py_ENABLE_SHARED`.
    shared: bool,
    /// `INSTSONAME`: the file name of the shared libpython.
    soname: String,
    /// `LIBDIR` and `LIBPL`, where it is installed.
    dirs: Vec<PathBuf>,
}

impl Interpreter {
    fn ask(python: &Path) -> Result<Interpreter, String> {
        let out = Command::new(python)
            .args(["-I", "-S", "-c", QUERY])
            .output()
            .map_err(|e| format!("covetpy could not run {} to find its libpython: {e}", python.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "covetpy could not ask {} where its libpython is ({}): {}",
                python.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Interpreter::parse(python, &text)
            .ok_or_else(|| format!("{} gave an answer covetpy cannot read: {text:?}", python.display()))
    }

    fn parse(python: &Path, text: &str) -> Option<Interpreter> {
        let mut lines = text.lines();
        let mut next = || lines.next().map(str::to_owned);
        let implementation = next()?;
        let version = next()?;
        let full_version = next()?;
        let executable = next()?;
        let shared = next()? == "1";
        let soname = next()?;
        let dirs = [next()?, next()?].into_iter().filter(|d| !d.is_empty()).map(PathBuf::from).collect();
        let python = if executable.is_empty() { python.to_path_buf() } else { PathBuf::from(executable) };
        Some(Interpreter { python, implementation, version, full_version, shared, soname, dirs })
    }

    /// The directory holding the interpreter's shared libpython, or the sentence saying what to install.
    fn check(&self) -> Result<PathBuf, String> {
        let python = self.python.display();
        let needed = format!("libpython{BUILT_FOR}.so.1.0");
        let plain = BUILT_FOR.trim_end_matches('t');
        let tag = format!("cp{}", self.version.replace('.', ""));
        if self.implementation != "cpython" {
            return Err(format!(
                "covetpy {VERSION} embeds CPython {BUILT_FOR}, but {python} is {}: use a CPython {BUILT_FOR} venv",
                self.implementation
            ));
        }
        if self.version != BUILT_FOR && self.older_than(OLDEST) {
            return Err(format!(
                "covetpy {VERSION} for CPython {BUILT_FOR} needs {needed}, but {python} is CPython {}, and \
                 covetpy needs CPython {}.{} or newer: make the venv with CPython {BUILT_FOR}",
                self.version, OLDEST.0, OLDEST.1
            ));
        }
        if self.version != BUILT_FOR {
            return Err(format!(
                "covetpy {VERSION} for CPython {BUILT_FOR} needs {needed}, but {python} is CPython {}: install \
                 the covetpy wheel built for {tag} into this venv (docs/install.md)",
                self.version
            ));
        }
        if !self.shared {
            return Err(format!(
                "covetpy {VERSION} for CPython {BUILT_FOR} needs {needed}, but {python} was built without \
                 --enable-shared: use a Python with its shared library (pyenv: \
                 PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {}; Debian/Ubuntu: apt install \
                 libpython{plain}) and make the venv with it",
                self.full_version
            ));
        }
        let soname = if self.soname.is_empty() { needed.as_str() } else { self.soname.as_str() };
        self.dirs.iter().find(|dir| dir.join(soname).is_file()).cloned().ok_or_else(|| {
            let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
            format!(
                "covetpy {VERSION} for CPython {BUILT_FOR} needs {soname}, which {python} has in {}, but it is \
                 not there: install it (Debian/Ubuntu: apt install libpython{plain})",
                dirs.join(" or ")
            )
        })
    }
}

impl Interpreter {
    /// Whether the interpreter's `major.minor` is below `oldest`.
    fn older_than(&self, oldest: (u32, u32)) -> bool {
        let mut parts = self.version.trim_end_matches('t').split('.').map(|p| p.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(major), Some(minor)) => (major, minor) < oldest,
            _ => false,
        }
    }
}

/// `dir` before whatever `LD_LIBRARY_PATH` already holds.
fn library_path(dir: &Path) -> OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| dir.as_os_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(version: &str, shared: bool, libdir: &Path) -> String {
        format!(
            "cpython\n{version}\n{version}.1\n/x/bin/python3\n{}\nlibpython{version}.so.1.0\n{}\n\n",
            u8::from(shared),
            libdir.display()
        )
    }

    #[test]
    fn a_matching_shared_interpreter_gives_its_libdir() {
        let dir = std::env::temp_dir().join(format!("covetpy-launcher-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("libpython{BUILT_FOR}.so.1.0")), b"").unwrap();
        let found = Interpreter::parse(Path::new("python"), &answer(BUILT_FOR, true, &dir)).unwrap().check();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, Ok(dir));
    }

    #[test]
    fn another_minor_version_names_the_wheel_to_install() {
        let err = Interpreter::parse(Path::new("python"), &answer("3.99", true, Path::new("/nowhere")))
            .unwrap()
            .check()
            .unwrap_err();
        assert!(err.contains("is CPython 3.99: install the covetpy wheel built for cp399"), "{err}");
    }

    #[test]
    fn an_unsupported_old_version_is_told_the_oldest() {
        let err = Interpreter::parse(Path::new("python"), &answer("3.10", true, Path::new("/nowhere")))
            .unwrap()
            .check()
            .unwrap_err();
        assert!(err.contains("is CPython 3.10, and covetpy needs CPython 3.11 or newer"), "{err}");
    }

    #[test]
    fn a_static_interpreter_is_told_to_use_a_shared_one() {
        let err = Interpreter::parse(Path::new("python"), &answer(BUILT_FOR, false, Path::new("/nowhere")))
            .unwrap()
            .check()
            .unwrap_err();
        assert!(err.contains("was built without --enable-shared"), "{err}");
    }
}

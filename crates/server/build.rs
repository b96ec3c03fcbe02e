//! Records the directory of the libpython we link against as an rpath, so the binary loads the same
//! library it was built with. The interpreter is the one pyo3 builds against: `PYO3_PYTHON`, else
//! `python3`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = Command::new(&python)
        .args(["-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR') or '')"])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !dir.is_empty() {
                println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{dir}");
            }
        }
        _ => println!("cargo:warning=could not ask {python} for its LIBDIR; the binary gets no rpath"),
    }
}

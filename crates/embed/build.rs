//! Embeds the `covetpy` Python package in the binary: every `.py` file under `python/covetpy` becomes an
//! entry of a generated table that the interpreter imports from, and every file under
//! `python/covetpy/static` (the package data the code reads at run time: the documentation pages'
//! scripts, styles and icon) an entry of a second table that `importlib.resources` reads.
#![allow(clippy::expect_used, reason = "a build script reports a broken build environment by panicking")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let package = root.join("python").join("covetpy");
    println!("cargo:rerun-if-changed={}", package.display());
    let mut files = Vec::new();
    collect(&package, &mut files);
    write_data_table(&package);
    files.sort();
    let mut table = String::from("&[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(root.join("python")).expect("file is under python/");
        let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let last = parts.pop().unwrap_or_default();
        let is_package = last == "__init__.py";
        if !is_package {
            parts.push(last.trim_end_matches(".py").to_owned());
        }
        let name = parts.join(".");
        writeln!(table, "    ({name:?}, {is_package}, include_str!({:?})),", file.display().to_string())
            .expect("writing to a String cannot fail");
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_package.rs");
    std::fs::write(out, table).expect("OUT_DIR is writable");
}

/// Writes `embedded_data.rs`: `(path inside the package, bytes)` for every file under `static/`.
fn write_data_table(package: &Path) {
    let mut files = Vec::new();
    collect_all(&package.join("static"), &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(package).expect("file is under the package");
        let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        writeln!(table, "    ({:?}, include_bytes!({:?})),", parts.join("/"), file.display().to_string())
            .expect("writing to a String cannot fail");
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_data.rs");
    std::fs::write(out, table).expect("OUT_DIR is writable");
}

/// Every file under `dir`, at any depth.
fn collect_all(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_all(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                println!("cargo:rerun-if-changed={}", path.display());
                collect(&path, files);
            }
        } else if path.extension().is_some_and(|e| e == "py") {
            files.push(path);
        }
    }
}

//! `--reload`: watches directories (with the `notify` crate) and reports changes to files that match
//! uvicorn's include and exclude rules; the supervisor then replaces the worker.
//!
//! The rules are uvicorn's (its `FileFilter`): a path counts if it matches an include pattern and no
//! exclude pattern and lies in no excluded directory, except that a path ending in the include pattern
//! itself (an explicitly named file) always counts. Patterns are matched like Python's `PurePath.match`:
//! from the right, one `fnmatch` pattern per path component, so `*.py` matches any Python file and
//! `pkg/*.py` only those directly in a `pkg` directory. A pattern naming an existing directory (relative
//! to the current directory) is a directory instead: an included one is watched, an excluded one is
//! ignored with everything below it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::cli::ServeArgs;

/// Watched unless excluded, as in uvicorn.
const DEFAULT_INCLUDES: &[&str] = &["*.py"];
/// Ignored unless included, as in uvicorn.
const DEFAULT_EXCLUDES: &[&str] = &[".*", ".py[cod]", ".sw.*", "~*"];

/// A running watcher and the changes it reports.
#[derive(Debug)]
pub struct Reloader {
    /// Changed files that pass the filter.
    pub changes: mpsc::UnboundedReceiver<PathBuf>,
    /// `--reload-delay`: how long to wait for more changes before restarting.
    pub delay: Duration,
    /// Kept so the watch goes on; dropping it stops watching.
    _watcher: notify::RecommendedWatcher,
}

/// Starts watching as `--reload`, `--reload-dir`, `--reload-include` and `--reload-exclude` say.
pub fn start(args: &ServeArgs, cwd: &Path) -> anyhow::Result<Reloader> {
    let delay = crate::worker::seconds(args.reload_delay, "--reload-delay")?;
    let filter = FileFilter::new(&args.reload_includes, &args.reload_excludes, cwd);
    let dirs = watched_dirs(args, cwd, &filter);
    let (tx, changes) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
        Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
            for path in event.paths.into_iter().filter(|p| filter.matches(p)) {
                let _ = tx.send(path);
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("File watching failed: {e}"),
    })
    .context("could not start watching files for --reload")?;
    for dir in &dirs {
        watcher
            .watch(dir, RecursiveMode::Recursive)
            .with_context(|| format!("--reload-dir {}: could not watch it", dir.display()))?;
    }
    let shown: Vec<String> = dirs.iter().map(|d| format!("'{}'", d.display())).collect();
    tracing::info!("Will watch for changes in these directories: [{}]", shown.join(", "));
    Ok(Reloader { changes, delay, _watcher: watcher })
}

/// `--reload-dir`s (default: the current directory, and `--app-dir` when it is outside it), plus
/// included directories, minus excluded ones and directories inside others already watched.
fn watched_dirs(args: &ServeArgs, cwd: &Path, filter: &FileFilter) -> Vec<PathBuf> {
    let absolute = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
    let mut dirs: Vec<PathBuf> = args.reload_dirs.iter().map(|d| absolute(d)).collect();
    dirs.extend(args.reload_includes.iter().map(|p| absolute(Path::new(p))).filter(|p| p.is_dir()));
    if dirs.is_empty() {
        dirs.push(cwd.to_path_buf());
        let app_dir = absolute(&args.app_dir);
        if !app_dir.starts_with(cwd) {
            dirs.push(app_dir);
        }
    }
    let mut dirs: Vec<PathBuf> = dirs
        .into_iter()
        .map(|d| d.canonicalize().unwrap_or(d))
        .filter(|d| !filter.exclude_dirs.iter().any(|x| d.starts_with(x)))
        .collect();
    dirs.sort();
    dirs.dedup();
    let all = dirs.clone();
    dirs.retain(|d| !all.iter().any(|other| other != d && d.starts_with(other)));
    dirs
}

/// uvicorn's rules for which changed files restart the worker.
#[derive(Debug, Clone)]
struct FileFilter {
    includes: Vec<String>,
    excludes: Vec<String>,
    exclude_dirs: Vec<PathBuf>,
}

impl FileFilter {
    fn new(includes: &[String], excludes: &[String], cwd: &Path) -> FileFilter {
        // A default is dropped when the user names it on the other side.
        let mut all_includes: Vec<String> =
            DEFAULT_INCLUDES.iter().filter(|d| !excludes.iter().any(|e| e == *d)).map(|d| (*d).to_owned()).collect();
        all_includes.extend(includes.iter().cloned());
        let mut all_excludes: Vec<String> =
            DEFAULT_EXCLUDES.iter().filter(|d| !includes.iter().any(|i| i == *d)).map(|d| (*d).to_owned()).collect();
        let mut exclude_dirs = Vec::new();
        for pattern in excludes {
            let dir = cwd.join(pattern);
            if dir.is_dir() {
                exclude_dirs.push(dir.canonicalize().unwrap_or(dir));
            } else {
                all_excludes.push(pattern.clone());
            }
        }
        all_includes.dedup();
        all_excludes.dedup();
        FileFilter { includes: all_includes, excludes: all_excludes, exclude_dirs }
    }

    fn matches(&self, path: &Path) -> bool {
        let Some(include) = self.includes.iter().find(|p| path_match(path, p)) else { return false };
        if path.to_string_lossy().ends_with(include.as_str()) {
            return true;
        }
        if self.exclude_dirs.iter().any(|d| path.starts_with(d)) {
            return false;
        }
        !self.excludes.iter().any(|p| path_match(path, p))
    }
}

/// Python's `PurePath.match` for a POSIX path: the pattern's components, matched from the right.
fn path_match(path: &Path, pattern: &str) -> bool {
    let names: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.len() > names.len() || (pattern.starts_with('/') && parts.len() != names.len()) {
        return false;
    }
    names.iter().rev().zip(parts.iter().rev()).all(|(name, part)| fnmatch(name, part))
}

/// Python's `fnmatch.fnmatchcase`: `*`, `?`, `[seq]` and `[!seq]`; anything else matches itself.
fn fnmatch(name: &str, pattern: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    matches_from(&name, &pattern)
}

fn matches_from(name: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| name.get(skip..).is_some_and(|tail| matches_from(tail, rest))),
        Some(('?', rest)) => name.split_first().is_some_and(|(_, tail)| matches_from(tail, rest)),
        Some(('[', rest)) => match (bracket(rest), name.split_first()) {
            (Some((set_matches, after)), Some((&c, tail))) => set_matches(c) && matches_from(tail, after),
            // An unclosed `[` is a literal, as in fnmatch.
            (None, Some(('[', tail))) => matches_from(tail, rest),
            _ => false,
        },
        Some((&literal, rest)) => name.split_first().is_some_and(|(&c, tail)| c == literal && matches_from(tail, rest)),
    }
}

/// Parses `seq]...` after a `[`: a test for one character, and the pattern after the `]`.
#[allow(clippy::type_complexity)]
fn bracket(pattern: &[char]) -> Option<(Box<dyn Fn(char) -> bool + '_>, &[char])> {
    let (negated, body) = match pattern.first() {
        Some('!') => (true, pattern.get(1..)?),
        _ => (false, pattern),
    };
    // A `]` first in the set is a member, not the end.
    let end = body.iter().skip(1).position(|&c| c == ']')? + 1;
    let set = body.get(..end)?;
    let after = body.get(end + 1..)?;
    let test = move |c: char| {
        let mut i = 0;
        let mut found = false;
        while i < set.len() {
            match (set.get(i), set.get(i + 1), set.get(i + 2)) {
                (Some(&lo), Some('-'), Some(&hi)) => {
                    found |= lo <= c && c <= hi;
                    i += 3;
                }
                (Some(&one), _, _) => {
                    found |= one == c;
                    i += 1;
                }
                _ => break,
            }
        }
        found != negated
    };
    Some((Box::new(test), after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fnmatch_as_python() {
        assert!(fnmatch("app.py", "*.py"));
        assert!(!fnmatch("app.pyc", "*.py"));
        assert!(fnmatch(".hidden", ".*"));
        assert!(fnmatch("~backup", "~*"));
        assert!(!fnmatch(".swp", ".sw.*") && fnmatch(".sw.x", ".sw.*"));
        assert!(fnmatch("a.pyc", "*.py[cod]") && !fnmatch("a.pyx", "*.py[cod]"));
        assert!(fnmatch("a.pyx", "*.py[!cod]"));
        assert!(fnmatch("b3", "b[0-9]") && !fnmatch("bx", "b[0-9]"));
        assert!(fnmatch("a[", "a[") && fnmatch("x", "?") && !fnmatch("", "?"));
    }

    #[test]
    fn path_match_from_the_right() {
        let path = Path::new("/srv/app/pkg/views.py");
        assert!(path_match(path, "*.py"));
        assert!(path_match(path, "pkg/*.py"));
        assert!(!path_match(path, "other/*.py"));
        assert!(!path_match(path, "/pkg/*.py"));
        assert!(path_match(path, "/srv/app/pkg/*.py"));
    }

    #[test]
    fn uvicorn_defaults_and_overrides() {
        let cwd = std::env::temp_dir();
        let filter = FileFilter::new(&[], &[], &cwd);
        assert!(filter.matches(Path::new("/x/app.py")));
        assert!(!filter.matches(Path::new("/x/.app.py")), "hidden files are excluded");
        assert!(!filter.matches(Path::new("/x/~app.py")));
        assert!(!filter.matches(Path::new("/x/data.txt")), "only *.py by default");
        let filter = FileFilter::new(&strings(&["*.txt"]), &strings(&["skip_*.py"]), &cwd);
        assert!(filter.matches(Path::new("/x/data.txt")));
        assert!(!filter.matches(Path::new("/x/skip_me.py")));
        assert!(filter.matches(Path::new("/x/keep.py")));
        // Naming a default on the other side drops it.
        let filter = FileFilter::new(&strings(&[".*"]), &strings(&["*.py"]), &cwd);
        assert!(!filter.matches(Path::new("/x/app.py")));
        assert!(filter.matches(Path::new("/x/.env")));
    }

    #[test]
    fn excluded_directories() {
        let cwd = std::env::temp_dir().join(format!("covetpy-reload-{}", std::process::id()));
        let build = cwd.join("build");
        std::fs::create_dir_all(&build).unwrap_or_default();
        let filter = FileFilter::new(&[], &strings(&["build"]), &cwd);
        let canonical = build.canonicalize().unwrap_or(build.clone());
        assert!(!filter.matches(&canonical.join("gen.py")));
        assert!(filter.matches(&cwd.canonicalize().unwrap_or(cwd.clone()).join("app.py")));
        let _ = std::fs::remove_dir_all(&cwd);
    }
}

//! Option values from outside the command line: `COVETPY_*` and `UVICORN_*` environment variables,
//! `covetpy.toml` and `[tool.covetpy]` in `pyproject.toml` (both read from the current directory).
//!
//! They are turned into command-line arguments and put in front of the user's own, so clap checks
//! every value with the same rules whatever its source, and there is one definition of each option:
//! the `ServeArgs` field. The names come from clap's own description of `covetpy serve`, so every
//! option (present and future) can be set this way with no list to keep in step.
//!
//! A gunicorn config file named by `-c` on the command line is one more source (see `gunicorn.rs`).
//!
//! Precedence, highest first: the command line, `COVETPY_<OPTION>`, `UVICORN_<OPTION>` (uvicorn reads
//! these through click's `auto_envvar_prefix`), the `-c` file, `covetpy.toml`, `pyproject.toml`, the
//! defaults. For `--workers`, `WEB_CONCURRENCY` ranks just below `UVICORN_WORKERS`, above the
//! TOML files and below the `-c` file (in gunicorn it is only the default of `workers`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use clap::{ArgAction, CommandFactory};

use crate::cli::Cli;

/// The settings file read from the current directory; its keys are at the top level.
pub const COVETPY_TOML: &str = "covetpy.toml";
/// Read for its `[tool.covetpy]` table, if it has one.
pub const PYPROJECT_TOML: &str = "pyproject.toml";

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The APP positional argument.
    App,
    /// A flag without a value (`--factory`, `--access-log`).
    Flag,
    /// One value (`--port 8000`).
    Value,
    /// May be given several times (`--header`); an environment variable holds several values
    /// separated by whitespace, as click splits them.
    Multi,
}

/// One option of `covetpy serve`.
#[derive(Debug, Clone)]
struct OptionSpec {
    /// The long name, `timeout-keep-alive`; `app` for APP.
    name: String,
    /// clap's id, for asking whether the command line gave it.
    id: String,
    kind: Kind,
}

/// A value from one source, before it becomes arguments.
#[derive(Debug, Clone, PartialEq)]
enum Setting {
    Bool(bool),
    Values(Vec<String>),
}

/// The options of `covetpy serve`, from clap's description of it.
fn options() -> Vec<OptionSpec> {
    let cli = Cli::command();
    let Some(serve) = cli.find_subcommand("serve") else { return Vec::new() };
    serve
        .get_arguments()
        .filter_map(|arg| {
            let id = arg.get_id().as_str().to_owned();
            if arg.is_positional() {
                return (id == "app").then(|| OptionSpec { name: "app".into(), id, kind: Kind::App });
            }
            let name = arg.get_long()?.to_owned();
            let kind = match arg.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse => Kind::Flag,
                ArgAction::Append => Kind::Multi,
                _ => Kind::Value,
            };
            Some(OptionSpec { name, id, kind })
        })
        .collect()
}

/// `COVETPY_TIMEOUT_KEEP_ALIVE` for `timeout-keep-alive`.
fn env_name(prefix: &str, option: &str) -> String {
    format!("{prefix}_{}", option.to_ascii_uppercase().replace('-', "_"))
}

/// click's boolean spellings.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Some(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// The value of an environment variable as a setting of `spec`.
fn from_env(spec: &OptionSpec, var: &str, text: &str) -> Result<Setting, String> {
    match spec.kind {
        Kind::Flag => parse_bool(text)
            .map(Setting::Bool)
            .ok_or_else(|| format!("{var}={text:?} is not a boolean (use true/false, 1/0, yes/no or on/off)")),
        Kind::Multi => Ok(Setting::Values(text.split_whitespace().map(str::to_owned).collect())),
        Kind::App | Kind::Value => Ok(Setting::Values(vec![text.to_owned()])),
    }
}

/// A TOML value as a setting of `spec`.
fn from_toml(spec: &OptionSpec, key: &str, value: &toml::Value, file: &Path) -> Result<Setting, String> {
    let scalar = |value: &toml::Value| -> Option<String> {
        match value {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let bad = || format!("setting {key:?} in {} has a value of the wrong type", file.display());
    match (spec.kind, value) {
        (Kind::Flag, toml::Value::Boolean(b)) => Ok(Setting::Bool(*b)),
        (Kind::Flag, toml::Value::String(s)) => parse_bool(s).map(Setting::Bool).ok_or_else(bad),
        (Kind::Flag, _) => Err(bad()),
        (Kind::Multi, toml::Value::Array(items)) => {
            items.iter().map(scalar).collect::<Option<Vec<_>>>().map(Setting::Values).ok_or_else(bad)
        }
        (_, value) => scalar(value).map(|s| Setting::Values(vec![s])).ok_or_else(bad),
    }
}

/// The table of settings in a TOML file: the whole document, or one table inside it.
fn read_table(path: &Path, table: Option<&[&str]>) -> Result<Option<toml::Table>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("could not read {}: {e}", path.display())),
    };
    let document: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().lines().next().unwrap_or("invalid TOML").to_owned();
        match line {
            Some(line) => format!("could not parse {} (line {line}): {message}", path.display()),
            None => format!("could not parse {}: {message}", path.display()),
        }
    })?;
    let Some(names) = table else { return Ok(Some(document)) };
    let mut current = document;
    for name in names {
        match current.remove(*name) {
            Some(toml::Value::Table(inner)) => current = inner,
            Some(_) => return Err(format!("{} in {} is not a table", names.join("."), path.display())),
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// The settings of one file, by option name.
fn file_settings(
    specs: &[OptionSpec],
    path: &Path,
    table: Option<&[&str]>,
) -> Result<BTreeMap<String, Setting>, String> {
    let mut settings = BTreeMap::new();
    let Some(table) = read_table(path, table)? else { return Ok(settings) };
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            return Err(format!("unknown setting {key:?} in {}", path.display()));
        };
        if settings.insert(name, from_toml(spec, key, value, path)?).is_some() {
            return Err(format!("setting {key:?} is given twice in {}", path.display()));
        }
    }
    Ok(settings)
}

/// The arguments of one setting that wins over the defaults.
fn arguments(spec: &OptionSpec, setting: &Setting, specs: &[OptionSpec]) -> Vec<OsString> {
    let has_flag = |name: &str| specs.iter().any(|s| s.kind == Kind::Flag && s.name == name);
    match (spec.kind, setting) {
        (Kind::Flag, Setting::Bool(true)) => vec![format!("--{}", spec.name).into()],
        // `access-log = false` is `--no-access-log`; `no-access-log = false` is `--access-log`.
        (Kind::Flag, Setting::Bool(false)) => {
            let opposite = match spec.name.strip_prefix("no-") {
                Some(positive) => positive.to_owned(),
                None => format!("no-{}", spec.name),
            };
            if has_flag(&opposite) {
                vec![format!("--{opposite}").into()]
            } else {
                Vec::new()
            }
        }
        (Kind::App, Setting::Values(values)) => values.iter().map(OsString::from).collect(),
        (_, Setting::Values(values)) => values.iter().map(|v| OsString::from(format!("--{}={v}", spec.name))).collect(),
        (_, Setting::Bool(b)) => vec![format!("--{}={b}", spec.name).into()],
    }
}

/// The ids the command line itself gives (parsed with APP optional so a missing APP that a setting
/// supplies is no error here), and its `-c` config file. `None` when the command line does not parse:
/// clap reports that later.
fn given_on_command_line(argv: &[OsString], specs: &[OptionSpec]) -> Option<(Vec<String>, Option<String>)> {
    let command = Cli::command().mut_subcommand("serve", |serve| serve.mut_arg("app", |app| app.required(false)));
    let matches = command.try_get_matches_from(argv).ok()?;
    let (_, serve) = matches.subcommand()?;
    let given = specs
        .iter()
        .filter(|s| serve.value_source(&s.id) == Some(clap::parser::ValueSource::CommandLine))
        .map(|s| s.id.clone())
        .collect();
    Some((given, serve.get_one::<String>("config").cloned()))
}

/// The settings of the `-c` file, by option name.
fn config_settings(specs: &[OptionSpec], location: &str, cwd: &Path) -> Result<BTreeMap<String, Setting>, String> {
    let table = crate::gunicorn::read_config(location, cwd)?;
    let file = Path::new(location);
    let mut settings = BTreeMap::new();
    for (name, value) in &table {
        let Some(spec) = specs.iter().find(|s| s.name == *name) else {
            return Err(format!("-c {location}: covetpy has no option --{name}"));
        };
        settings.insert(name.clone(), from_toml(spec, name, value, file)?);
    }
    Ok(settings)
}

/// The command line as clap is given it, and where the arguments that did not come from the command
/// line came from (`--port=9000 (COVETPY_PORT)`), for a clap error to point at.
#[derive(Debug, Default)]
pub struct Effective {
    /// The arguments.
    pub argv: Vec<OsString>,
    /// One entry per setting taken from the environment or a file.
    pub origins: Vec<String>,
}

/// The command line with the settings of the environment and of the files in `cwd` put in front of
/// the user's arguments. Anything but `covetpy serve ...` is returned as it is.
pub fn effective_argv(
    argv: Vec<OsString>,
    cwd: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Effective, String> {
    if argv.get(1).is_none_or(|a| a != "serve") {
        return Ok(Effective { argv, origins: Vec::new() });
    }
    let specs = options();
    // click ignores an environment variable set to the empty string.
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let Some((given, config)) = given_on_command_line(&argv, &specs) else {
        return Ok(Effective { argv, origins: Vec::new() });
    };
    let mut chosen = BTreeMap::new();
    for (file, table) in [(PYPROJECT_TOML, Some(&["tool", "covetpy"][..])), (COVETPY_TOML, None)] {
        let settings = file_settings(&specs, &cwd.join(file), table)?;
        chosen.extend(settings.into_iter().map(|(name, setting)| (name, (setting, file.to_owned()))));
    }
    // Workers get the supervisor's effective command line, which holds the file's settings already: the
    // file runs once, in the main process, as under gunicorn.
    let config = match config.filter(|_| env(crate::worker::WORKER_ENV).is_none()) {
        Some(location) => {
            let origin = format!("-c {location}");
            config_settings(&specs, &location, cwd)?.into_iter().map(|(n, s)| (n, (s, origin.clone()))).collect()
        }
        None => BTreeMap::new(),
    };
    chosen.extend(config.clone());
    for prefix in ["UVICORN", "COVETPY"] {
        for spec in &specs {
            let var = env_name(prefix, &spec.name);
            if let Some(text) = env(&var) {
                chosen.insert(spec.name.clone(), (from_env(spec, &var, &text)?, var));
            }
        }
    }
    // WEB_CONCURRENCY is an environment variable too: it beats the files, not COVETPY_/UVICORN_WORKERS.
    let workers_from_env = ["COVETPY", "UVICORN"].iter().any(|p| env(&env_name(p, "workers")).is_some());
    if !workers_from_env && env("WEB_CONCURRENCY").is_some() {
        chosen.remove("workers");
        if let Some(workers) = config.get("workers") {
            chosen.insert("workers".to_owned(), workers.clone());
        }
    }
    let is_given = |name: &str| specs.iter().any(|s| s.name == name && given.contains(&s.id));
    let mut inserted = Vec::new();
    let mut origins = Vec::new();
    for spec in &specs {
        let Some((setting, origin)) = chosen.get(&spec.name) else { continue };
        // A flag and its `no-` form are one setting: either on the command line beats both.
        let pair = match spec.name.strip_prefix("no-") {
            Some(positive) => positive.to_owned(),
            None => format!("no-{}", spec.name),
        };
        if is_given(&spec.name) || (spec.kind == Kind::Flag && is_given(&pair)) {
            continue;
        }
        let arguments = arguments(spec, setting, &specs);
        let shown: Vec<_> = arguments.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        if !shown.is_empty() {
            origins.push(format!("{} ({origin})", shown.join(" ")));
        }
        inserted.extend(arguments);
    }
    let mut out = Vec::with_capacity(argv.len() + inserted.len());
    let mut rest = argv.into_iter();
    out.extend(rest.by_ref().take(2));
    out.extend(inserted);
    out.extend(rest);
    Ok(Effective { argv: out, origins })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn strings(effective: Effective) -> Vec<String> {
        effective.argv.into_iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("covetpy-settings-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn environment_order_and_command_line() {
        let dir = temp_dir("env");
        let env = |name: &str| match name {
            "COVETPY_PORT" => Some("9001".to_owned()),
            "UVICORN_PORT" => Some("9002".to_owned()),
            "UVICORN_HOST" => Some("0.0.0.0".to_owned()),
            "UVICORN_ACCESS_LOG" => Some("off".to_owned()),
            "COVETPY_FACTORY" => Some("".to_owned()),
            _ => None,
        };
        let got = strings(effective_argv(argv(&["covetpy", "serve", "main:app", "--host", "::1"]), &dir, env).unwrap());
        assert!(got.contains(&"--port=9001".to_owned()), "{got:?}");
        assert!(got.contains(&"--no-access-log".to_owned()), "{got:?}");
        assert!(!got.iter().any(|a| a.starts_with("--host=")), "{got:?}");
        assert!(!got.iter().any(|a| a == "--factory"), "{got:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_and_unknown_keys() {
        let dir = temp_dir("files");
        std::fs::write(dir.join(PYPROJECT_TOML), "[tool.covetpy]\nport = 7000\ntimeout_keep_alive = 9\n").unwrap();
        std::fs::write(dir.join(COVETPY_TOML), "app = \"main:app\"\nport = 7001\nfactory = true\n").unwrap();
        let got = strings(effective_argv(argv(&["covetpy", "serve"]), &dir, |_| None).unwrap());
        assert!(got.contains(&"--port=7001".to_owned()), "{got:?}");
        assert!(got.contains(&"--timeout-keep-alive=9".to_owned()), "{got:?}");
        assert!(got.contains(&"--factory".to_owned()) && got.contains(&"main:app".to_owned()), "{got:?}");
        std::fs::write(dir.join(COVETPY_TOML), "prot = 1\n").unwrap();
        let err = effective_argv(argv(&["covetpy", "serve", "main:app"]), &dir, |_| None).unwrap_err();
        assert!(err.contains("\"prot\"") && err.contains(COVETPY_TOML), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lifecycle_options_come_from_the_environment_and_files() {
        let dir = temp_dir("lifecycle");
        std::fs::write(dir.join(COVETPY_TOML), "reload_include = [\"*.txt\", \"*.html\"]\ntimeout = 30\n").unwrap();
        let env = |name: &str| match name {
            "COVETPY_RELOAD" => Some("true".to_owned()),
            "UVICORN_RELOAD_EXCLUDE" => Some("skip_*.py build".to_owned()),
            "UVICORN_RELOAD_DELAY" => Some("0.5".to_owned()),
            "COVETPY_WORKERS_MAX_RSS" => Some("512".to_owned()),
            _ => None,
        };
        let effective = effective_argv(argv(&["covetpy", "serve", "main:app"]), &dir, env).unwrap();
        let cli = <Cli as clap::Parser>::try_parse_from(effective.argv).unwrap();
        let crate::cli::Command::Serve(args) = cli.command;
        assert!(args.reload);
        assert_eq!(args.reload_includes, ["*.txt", "*.html"]);
        assert_eq!(args.reload_excludes, ["skip_*.py", "build"]);
        assert_eq!((args.reload_delay, args.request_timeout(), args.workers_max_rss), (0.5, Some(30.0), Some(512)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_boolean_is_refused() {
        let dir = temp_dir("bool");
        let env = |name: &str| (name == "COVETPY_FACTORY").then(|| "maybe".to_owned());
        assert!(effective_argv(argv(&["covetpy", "serve", "main:app"]), &dir, env).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

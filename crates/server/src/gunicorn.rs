//! What gunicorn deployments bring along: the `-k/--worker-class` of their command lines and their
//! `gunicorn.conf.py`.
//!
//! The config file is Python (`workers = multiprocessing.cpu_count() * 2 + 1`), so it is run by the
//! app's own `python` (the one the embedded interpreter stands for: `$VIRTUAL_ENV/bin/python`, else
//! `python3`) in a child process that prints the settings it defines. A child rather than the embedded
//! interpreter because the file is read before anything else happens: before Tokio installs its signal
//! handlers (which must precede interpreter start-up), in a supervisor that never starts Python at all,
//! and without leaving the file's imports and side effects in the interpreter that later serves the app.
//! The settings come back as TOML values and join the other settings sources of `settings.rs`.

use std::path::Path;
use std::process::Command;

/// Worker classes of gunicorn command lines that covetpy stands in for, and whether the app is then
/// called as WSGI (gunicorn's own workers) rather than detected.
const WORKER_CLASSES: &[(&str, bool)] = &[
    ("uvicorn.workers.UvicornWorker", false),
    ("uvicorn.workers.UvicornH11Worker", false),
    ("uvicorn_worker.UvicornWorker", false),
    ("uvicorn_worker.UvicornH11Worker", false),
    ("sync", true),
    ("gthread", true),
    ("gunicorn.workers.sync.SyncWorker", true),
    ("gunicorn.workers.gthread.ThreadWorker", true),
];

/// Worker classes refused by name: they patch or replace the I/O layer the app runs on.
const REFUSED_CLASSES: &[&str] = &["gevent", "eventlet", "tornado"];

/// Whether `-k CLASS` is accepted, and if so whether it means WSGI; an error line otherwise.
pub fn worker_class_is_wsgi(class: &str) -> Result<bool, String> {
    let name = class.strip_prefix("egg:gunicorn#").unwrap_or(class);
    if let Some((_, wsgi)) = WORKER_CLASSES.iter().find(|(known, _)| known.eq_ignore_ascii_case(name)) {
        return Ok(*wsgi);
    }
    let lower = name.to_ascii_lowercase();
    if let Some(kind) = REFUSED_CLASSES.iter().find(|kind| lower.contains(*kind)) {
        return Err(format!(
            "--worker-class {class}: {kind} workers are not supported; covetpy serves async apps as ASGI on its own event loop"
        ));
    }
    Err(format!(
        "--worker-class {class}: unknown worker class (accepted: uvicorn.workers.UvicornWorker, uvicorn_worker.UvicornWorker, sync, gthread)"
    ))
}

/// The start-up line for an accepted `-k`.
pub fn worker_class_line(class: &str, wsgi: bool, interface_given: bool) -> String {
    let how = match (wsgi, interface_given) {
        (_, true) => "with the --interface given",
        (true, false) => "calling it as WSGI",
        (false, false) => "detecting ASGI, WSGI or a CovetPy app",
    };
    format!("--worker-class {class}: covetpy serves the app itself ({how})")
}

/// The Python run in the child: executes the file (or imports `python:MODULE`) as gunicorn does and
/// prints one TOML line per top-level name. Callables become `{ callable = true }` (server hooks, or
/// the file's helpers), values TOML cannot hold `{ unrepresentable = "TYPE" }`; modules and private
/// names are left out. JSON strings, numbers, booleans and lists are valid TOML values.
const READ_CONFIG: &str = r#"
import importlib, importlib.util, json, sys, types
where = sys.argv[1]
if where.startswith("python:"):
    module = importlib.import_module(where[len("python:"):])
else:
    path = where[len("file:"):] if where.startswith("file:") else where
    spec = importlib.util.spec_from_file_location("__config__", path)
    if spec is None or spec.loader is None:
        sys.exit("not a Python file: " + path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["__config__"] = module
    spec.loader.exec_module(module)
lines = []
for name, value in vars(module).items():
    if name.startswith("_") or isinstance(value, types.ModuleType):
        continue
    if callable(value):
        text = "{ callable = true }"
    elif value is None:
        text = "{ none = true }"
    else:
        try:
            if isinstance(value, dict):
                raise TypeError
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            text = "{ unrepresentable = %s }" % json.dumps(type(value).__name__)
    lines.append("%s = %s" % (json.dumps(name), text))
print("\n".join(lines))
"#;

/// gunicorn settings and the covetpy options they become.
const MAPPED: &[(&str, &str)] = &[
    ("wsgi_app", "app"),
    ("bind", "bind"),
    ("backlog", "backlog"),
    ("workers", "workers"),
    ("worker_class", "worker-class"),
    ("threads", "threads"),
    ("max_requests", "limit-max-requests"),
    ("max_requests_jitter", "limit-max-requests-jitter"),
    ("graceful_timeout", "timeout-graceful-shutdown"),
    ("keepalive", "timeout-keep-alive"),
    ("limit_request_line", "limit-request-line"),
    ("limit_request_fields", "limit-request-fields"),
    ("limit_request_field_size", "limit-request-field-size"),
    ("chdir", "chdir"),
    ("raw_env", "env"),
    ("pidfile", "pid"),
    ("forwarded_allow_ips", "forwarded-allow-ips"),
    ("accesslog", "access-logfile"),
    ("access_log_format", "access-logformat"),
    ("errorlog", "error-logfile"),
    ("loglevel", "log-level"),
    ("pythonpath", "pythonpath"),
    ("proxy_protocol", "proxy-protocol"),
    ("keyfile", "ssl-keyfile"),
    ("certfile", "ssl-certfile"),
    ("cert_reqs", "ssl-cert-reqs"),
    ("ca_certs", "ssl-ca-certs"),
    ("ciphers", "ssl-ciphers"),
    ("root_path", "root-path"),
    ("timeout", "timeout"),
    ("reload", "reload"),
    ("ssl_version", "ssl-version"),
    ("logconfig", "log-config"),
];

/// gunicorn settings whose value `false` is gunicorn's default and so asks for nothing covetpy lacks.
const FALSE_BY_DEFAULT: &[&str] = &[
    "daemon",
    "preload_app",
    "spew",
    "check_config",
    "print_config",
    "capture_output",
    "reuse_port",
    "initgroups",
    "syslog",
    "enable_stdio_inheritance",
    "disable_redirect_access_to_syslog",
    "enable_backlog_metric",
];

/// gunicorn's server hooks: callables it runs at points of its own process model.
const HOOKS: &[&str] = &[
    "on_starting",
    "on_reload",
    "when_ready",
    "pre_fork",
    "post_fork",
    "post_worker_init",
    "worker_int",
    "worker_abort",
    "pre_exec",
    "pre_request",
    "post_request",
    "child_exit",
    "worker_exit",
    "nworkers_changed",
    "on_exit",
    "ssl_context",
    "on_dirty_starting",
    "dirty_post_fork",
    "dirty_worker_init",
    "dirty_worker_exit",
];

/// Every other gunicorn setting: covetpy has no equivalent, so a config file that sets one is refused.
const UNSUPPORTED: &[&str] = &[
    "config",
    "worker_connections",
    "reload_engine",
    "reload_extra_files",
    "sendfile",
    "worker_tmp_dir",
    "user",
    "group",
    "umask",
    "tmp_upload_dir",
    "secure_scheme_headers",
    "logger_class",
    "logconfig_dict",
    "logconfig_json",
    "syslog_addr",
    "syslog_prefix",
    "syslog_facility",
    "statsd_host",
    "dogstatsd_tags",
    "statsd_prefix",
    "proc_name",
    "default_proc_name",
    "paste",
    "protocol",
    "uwsgi_allow_ips",
    "suppress_ragged_eofs",
    "do_handshake_on_connect",
    "http_protocols",
    "raw_paste_global_conf",
    "permit_obsolete_folding",
    "strip_header_spaces",
    "permit_unconventional_http_method",
    "permit_unconventional_http_version",
    "casefold_http_method",
    "forwarder_headers",
    "header_map",
    "asgi_loop",
    "asgi_lifespan",
    "asgi_disconnect_grace_period",
    "http_parser",
    "dirty_apps",
    "dirty_workers",
    "dirty_timeout",
    "dirty_threads",
    "dirty_graceful_timeout",
    "control_socket",
    "control_socket_mode",
    "control_socket_disable",
];

/// Runs the config file `location` (a path, `file:PATH` or `python:MODULE`) and returns its settings as
/// covetpy option names with TOML values, ready for `settings.rs`.
pub fn read_config(location: &str, cwd: &Path) -> Result<toml::Table, String> {
    let is_module = location.starts_with("python:");
    if !is_module && !cwd.join(location.strip_prefix("file:").unwrap_or(location)).is_file() {
        return Err(format!("-c {location}: no such file"));
    }
    let python = covetpy_embed::interpreter::python_executable().map_err(|e| e.to_string())?;
    let output = Command::new(&python)
        .args(["-c", READ_CONFIG, location])
        .current_dir(cwd)
        .output()
        .map_err(|e| format!("-c {location}: could not run {}: {e}", python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The traceback first, then the one line that says what failed.
        eprint!("{stderr}");
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("it exited with an error");
        return Err(format!("-c {location}: could not load the config file: {last}"));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let names: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("-c {location}: could not read its settings: {}", e.message()))?;
    map_settings(location, names)
}

/// The covetpy settings for gunicorn's names; refuses hooks and settings covetpy does not have, naming
/// them all at once. Names gunicorn does not know are the file's own variables, skipped as gunicorn does.
fn map_settings(location: &str, names: toml::Table) -> Result<toml::Table, String> {
    let is_marker = |value: &toml::Value, marker: &str| value.as_table().is_some_and(|t| t.contains_key(marker));
    let hooks: Vec<&str> = names
        .iter()
        .filter(|(k, v)| HOOKS.contains(&k.as_str()) && is_marker(v, "callable"))
        .map(|(k, _)| k.as_str())
        .collect();
    if !hooks.is_empty() {
        return Err(format!("-c {location}: server hooks are not supported: {}", hooks.join(", ")));
    }
    let unsupported: Vec<&str> = names
        .iter()
        .filter(|(k, v)| {
            UNSUPPORTED.contains(&k.as_str())
                || HOOKS.contains(&k.as_str())
                || (FALSE_BY_DEFAULT.contains(&k.as_str()) && v.as_bool() != Some(false) && !is_marker(v, "none"))
        })
        .map(|(k, _)| k.as_str())
        .collect();
    if !unsupported.is_empty() {
        return Err(format!("-c {location}: gunicorn settings covetpy does not support: {}", unsupported.join(", ")));
    }
    let mut out = toml::Table::new();
    // gunicorn has a second list for PROXY protocol peers; covetpy trusts one list for both.
    if let Some(proxy_ips) = names.get("proxy_allow_ips").filter(|v| !is_marker(v, "none")) {
        match names.get("forwarded_allow_ips") {
            Some(forwarded) if ip_list(forwarded) != ip_list(proxy_ips) => {
                return Err(format!(
                    "-c {location}: proxy_allow_ips differs from forwarded_allow_ips; covetpy trusts one list (--forwarded-allow-ips) for both"
                ))
            }
            _ => {
                out.insert("forwarded-allow-ips".into(), toml::Value::String(ip_list(proxy_ips)));
            }
        }
    }
    for (name, value) in names {
        let Some((_, option)) = MAPPED.iter().find(|(g, _)| *g == name) else { continue };
        if is_marker(&value, "none") {
            continue;
        }
        if let Some(kind) = value.as_table().and_then(|t| t.get("unrepresentable")).and_then(|v| v.as_str()) {
            return Err(format!("-c {location}: setting {name} has a value of type {kind}"));
        }
        if is_marker(&value, "callable") {
            return Err(format!("-c {location}: setting {name} is a function, not a value"));
        }
        let value = match (*option, value) {
            ("bind" | "env", toml::Value::String(one)) => toml::Value::Array(vec![toml::Value::String(one)]),
            ("forwarded-allow-ips", list) => toml::Value::String(ip_list(&list)),
            ("pythonpath", toml::Value::Array(dirs)) => toml::Value::String(
                dirs.iter()
                    .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("log-level", toml::Value::String(level)) => toml::Value::String(level.to_ascii_lowercase()),
            (_, value) => value,
        };
        out.insert((*option).to_owned(), value);
    }
    Ok(out)
}

/// A list of addresses as the comma-separated text of `--forwarded-allow-ips`.
fn ip_list(value: &toml::Value) -> String {
    match value {
        toml::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(","),
        toml::Value::String(s) => s.split(',').map(str::trim).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn worker_classes() {
        assert_eq!(worker_class_is_wsgi("uvicorn.workers.UvicornWorker"), Ok(false));
        assert_eq!(worker_class_is_wsgi("sync"), Ok(true));
        assert_eq!(worker_class_is_wsgi("egg:gunicorn#gthread"), Ok(true));
        assert!(worker_class_is_wsgi("gevent").unwrap_err().contains("gevent workers are not supported"));
        assert!(worker_class_is_wsgi("geventwebsocket.gunicorn.workers.GeventWebSocketWorker").is_err());
        assert!(worker_class_is_wsgi("mine.Worker").unwrap_err().contains("unknown worker class"));
    }

    #[test]
    fn settings_are_mapped_and_the_rest_refused() {
        let got = map_settings(
            "g.py",
            table("bind = \"0.0.0.0:80\"\nworkers = 3\nkeepalive = 2\nloglevel = \"DEBUG\"\ncores = 4\nhelper = { callable = true }\ndaemon = false\naccesslog = { none = true }\nforwarded_allow_ips = [\"10.0.0.1\", \"10.0.0.2\"]\n"),
        )
        .unwrap();
        assert_eq!(got.get("bind"), Some(&toml::Value::Array(vec!["0.0.0.0:80".into()])));
        assert_eq!(got.get("workers").and_then(|v| v.as_integer()), Some(3));
        assert_eq!(got.get("timeout-keep-alive").and_then(|v| v.as_integer()), Some(2));
        assert_eq!(got.get("log-level").and_then(|v| v.as_str()), Some("debug"));
        assert_eq!(got.get("forwarded-allow-ips").and_then(|v| v.as_str()), Some("10.0.0.1,10.0.0.2"));
        assert!(!got.contains_key("cores") && !got.contains_key("access-logfile"));
        let err = map_settings("g.py", table("post_fork = { callable = true }\non_exit = { callable = true }\n"))
            .unwrap_err();
        assert!(err.contains("server hooks are not supported: on_exit, post_fork"), "{err}");
        let err = map_settings("g.py", table("worker_connections = 5\npreload_app = true\n")).unwrap_err();
        assert!(err.contains("preload_app, worker_connections"), "{err}");
    }
}

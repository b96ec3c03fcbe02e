//! The command line, with uvicorn's option names and defaults.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Serve Python web applications (ASGI, WSGI and CovetPy apps) from one Rust executable.
#[derive(Debug, Parser)]
#[command(name = "covetpy", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve an application, e.g. `covetpy serve main:app --port 8000`.
    Serve(ServeArgs),
}

/// `covetpy serve`.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// The application as `module:attribute` (the attribute may be dotted).
    #[arg(value_name = "APP")]
    pub app: String,

    /// Bind to this address.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Bind to this TCP port (0 picks a free port).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Bind to this Unix domain socket instead of TCP.
    #[arg(long, value_name = "PATH")]
    pub uds: Option<PathBuf>,

    /// How to call the application.
    #[arg(long, value_enum, default_value_t = InterfaceArg::Auto)]
    pub interface: InterfaceArg,

    /// Treat APP as a zero-argument factory that returns the application.
    #[arg(long)]
    pub factory: bool,

    /// Directory put first on sys.path before importing APP.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub app_dir: PathBuf,

    /// Threads per worker for blocking handlers (WSGI apps, `def` endpoints of CovetPy apps), so one
    /// that waits on I/O does not hold up other requests.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,

    /// Number of worker processes (defaults to $WEB_CONCURRENCY, else 1). `-w` as in gunicorn.
    #[arg(short = 'w', long, env = "WEB_CONCURRENCY", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: u32,

    /// ASGI lifespan protocol.
    #[arg(long, value_enum, default_value_t = LifespanArg::Auto)]
    pub lifespan: LifespanArg,

    /// ASGI root_path, for apps mounted below a path prefix by a proxy.
    #[arg(long, default_value = "")]
    pub root_path: String,

    /// Log level.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Log one line per request (the default).
    #[arg(long, overrides_with = "no_access_log")]
    pub access_log: bool,

    /// Do not log requests.
    #[arg(long, overrides_with = "access_log")]
    pub no_access_log: bool,

    /// Close keep-alive connections idle for this many seconds. gunicorn's --keep-alive is accepted too
    /// (gunicorn's default is 2, covetpy's stays uvicorn's 5).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, visible_alias = "keep-alive")]
    pub timeout_keep_alive: f64,

    /// Fail a request whose body sends nothing for this many seconds while the app waits for it: the
    /// client gets 408 and the connection closes (0 turns this off).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub timeout_request_body: f64,

    /// Longest HTTP/1 request line in bytes (method, target and version); longer ones get 414. 0 removes
    /// the limit (hyper still refuses targets over 64 KiB).
    #[arg(long, value_name = "BYTES", default_value_t = 4094)]
    pub limit_request_line: usize,

    /// Most header fields in an HTTP/1 request, up to 32768 (0 means 32768); more get 431.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=32768))]
    pub limit_request_fields: u32,

    /// Longest HTTP/1 header line in bytes (name, ": ", value and CRLF); longer ones get 431. 0 removes the
    /// limit (the whole head is still bounded by --h11-max-incomplete-event-size).
    #[arg(long, value_name = "BYTES", default_value_t = 8190)]
    pub limit_request_field_size: usize,

    /// On SIGTERM/SIGINT (and when a worker retires), wait at most this many seconds for in-flight
    /// requests before cancelling them; `none` waits for all of them. 0 cancels them at once. gunicorn's
    /// --graceful-timeout is accepted too.
    #[arg(
        long,
        value_name = "SECONDS|none",
        visible_alias = "graceful-timeout",
        default_value_t = GracePeriod::Seconds(DEFAULT_GRACEFUL_TIMEOUT)
    )]
    pub timeout_graceful_shutdown: GracePeriod,

    /// WebSocket support: `auto` serves WebSocket handshakes, `none` passes them to the app as plain
    /// HTTP requests.
    #[arg(long, value_enum, default_value_t = WsArg::Auto)]
    pub ws: WsArg,

    /// Largest WebSocket message accepted, in bytes; bigger ones close the connection with 1009.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub ws_max_size: usize,

    /// WebSocket messages that may wait for the app before the server stops reading from the client.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub ws_max_queue: u32,

    /// Seconds between WebSocket pings (0 turns pings off).
    #[arg(long, value_name = "SECONDS", default_value_t = 20.0)]
    pub ws_ping_interval: f64,

    /// Seconds a WebSocket ping may go unanswered before the connection is closed with 1011.
    #[arg(long, value_name = "SECONDS", default_value_t = 20.0)]
    pub ws_ping_timeout: f64,

    /// TLS certificate chain (PEM). Turns on HTTPS; ALPN offers h2 and http/1.1.
    #[arg(long, value_name = "PATH")]
    pub ssl_certfile: Option<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 RSA, SEC1 EC, or encrypted PKCS#8).
    #[arg(long, value_name = "PATH", requires = "ssl_certfile")]
    pub ssl_keyfile: Option<PathBuf>,

    /// Password for an encrypted --ssl-keyfile.
    #[arg(long, value_name = "PASSWORD", requires = "ssl_certfile")]
    pub ssl_keyfile_password: Option<String>,

    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, value_name = "PATH", requires = "ssl_certfile")]
    pub ssl_ca_certs: Option<PathBuf>,

    /// Client certificates: 0 not requested, 1 optional, 2 required (Python's ssl.CERT_* values).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub ssl_cert_reqs: u8,

    /// Cipher suites, colon-separated (OpenSSL or IANA names); "TLSv1" means every suite rustls offers.
    #[arg(long, value_name = "CIPHERS", default_value = "TLSv1")]
    pub ssl_ciphers: String,

    /// TLS protocol as Python's `ssl.PROTOCOL_*` number, as uvicorn takes it: 17 (`PROTOCOL_TLS_SERVER`) or 2
    /// (`PROTOCOL_TLS`) negotiate TLS 1.2 or 1.3; 5 (`PROTOCOL_TLSv1_2`) offers TLS 1.2 only.
    #[arg(long, value_name = "N", default_value_t = 17)]
    pub ssl_version: u32,

    /// Also serve HTTP/3 over QUIC on the UDP port of the same number (needs --ssl-certfile).
    #[arg(long, requires = "ssl_certfile")]
    pub http3: bool,

    // Proxies, limits and default response headers (uvicorn's names and defaults).
    /// Take the client address, scheme and host from X-Forwarded-For, X-Forwarded-Proto and
    /// X-Forwarded-Host sent by a peer in --forwarded-allow-ips (the default).
    #[arg(long, overrides_with = "no_proxy_headers")]
    pub proxy_headers: bool,

    /// Ignore X-Forwarded-* headers.
    #[arg(long, overrides_with = "proxy_headers")]
    pub no_proxy_headers: bool,

    /// Comma-separated IP addresses, CIDR networks and literals (such as `unix:`) trusted to send proxy
    /// headers and PROXY protocol headers; `*` trusts every peer (defaults to $FORWARDED_ALLOW_IPS, else
    /// 127.0.0.1).
    #[arg(long, value_name = "LIST", env = "FORWARDED_ALLOW_IPS", default_value = "127.0.0.1")]
    pub forwarded_allow_ips: String,

    /// Also read the RFC 7239 Forwarded header from trusted peers; when a request has one, its
    /// X-Forwarded-* headers are ignored.
    #[arg(long)]
    pub forwarded_header: bool,

    /// Every connection must start with a PROXY protocol (v1 or v2) header from a peer in
    /// --forwarded-allow-ips; the client address comes from it. Other connections are closed.
    #[arg(long)]
    pub proxy_protocol: bool,

    /// Past this many open connections, or requests in progress, answer new requests with 503.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_concurrency: Option<u32>,

    /// Connections the kernel may queue before they are accepted (listen(2) backlog).
    #[arg(long, value_name = "N", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    pub backlog: u32,

    /// An extra response header as NAME:VALUE, sent unless the response sets that name; repeatable.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,

    /// Send `server: covetpy` (the default).
    #[arg(long, overrides_with = "no_server_header")]
    pub server_header: bool,

    /// Send no default server header.
    #[arg(long, overrides_with = "server_header")]
    pub no_server_header: bool,

    /// Send a date header on every response (the default).
    #[arg(long, overrides_with = "no_date_header")]
    pub date_header: bool,

    /// Send no default date header.
    #[arg(long, overrides_with = "date_header")]
    pub no_date_header: bool,

    /// Largest HTTP/1 request head in bytes (request line and header fields); larger ones get 431 and
    /// the connection is closed.
    #[arg(long, value_name = "BYTES", default_value_t = 16384, value_parser = clap::value_parser!(u32).range(1..))]
    pub h11_max_incomplete_event_size: u32,

    // Configuration sources, logging and the implementation selectors of uvicorn. Every option can also
    // be set through COVETPY_*/UVICORN_* variables and settings files: see settings.rs.
    /// Load environment variables from this dotenv file before the app is imported (variables already
    /// set are kept).
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,

    /// Configure Python's logging from this file before the app is imported: .json or .yaml/.yml
    /// (logging.config.dictConfig) or else INI (logging.config.fileConfig). The levels of the
    /// uvicorn.error and uvicorn.access loggers also apply to covetpy's own log lines.
    #[arg(long, value_name = "PATH")]
    pub log_config: Option<PathBuf>,

    /// Colour the level names of log lines (default: when writing to a terminal).
    #[arg(long, overrides_with = "no_use_colors")]
    pub use_colors: bool,

    /// Never colour log lines.
    #[arg(long, overrides_with = "use_colors")]
    pub no_use_colors: bool,

    /// The event loop that runs the application: `auto` is uvloop when it is installed, else asyncio.
    #[arg(long = "loop", id = "loop", value_enum, default_value_t = LoopArg::Auto)]
    pub event_loop: LoopArg,

    /// Accepted for uvicorn command lines: covetpy always serves HTTP with its own implementation.
    #[arg(long, value_enum, default_value_t = HttpArg::Auto)]
    pub http: HttpArg,

    // Worker lifecycle: inherited sockets, worker recycling and health checks.
    /// Serve the already bound socket on this inherited file descriptor instead of binding (as uvicorn).
    #[arg(long, value_name = "N", conflicts_with = "uds", value_parser = clap::value_parser!(i32).range(0..))]
    pub fd: Option<i32>,

    /// Replace a worker after it has served this many requests (0: never). The worker finishes its
    /// requests and exits once a fresh worker is serving. gunicorn's --max-requests is accepted too.
    #[arg(long, value_name = "N", visible_alias = "max-requests")]
    pub limit_max_requests: Option<u64>,

    /// Add a random 0..=N to each worker's --limit-max-requests, so workers are not all replaced at once.
    /// gunicorn's --max-requests-jitter is accepted too.
    #[arg(long, value_name = "N", default_value_t = 0, visible_alias = "max-requests-jitter")]
    pub limit_max_requests_jitter: u64,

    /// How long a worker may take to answer the supervisor's health check before it is killed and
    /// replaced.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub timeout_worker_healthcheck: f64,

    // Worker lifecycle, part two: reloading on code changes, request timeouts and memory limits. SIGHUP,
    // SIGTTIN and SIGTTOU are handled by the supervisor (see supervisor.rs).
    /// Restart the worker when a watched file changes (uvicorn's --reload). The new worker starts first;
    /// if it fails to import the app, the old one keeps serving. --workers is ignored, as in uvicorn.
    #[arg(long)]
    pub reload: bool,

    /// Watch this directory for --reload (repeatable; default: the current directory, and --app-dir
    /// when it lies outside it).
    #[arg(long = "reload-dir", value_name = "DIR", requires = "reload")]
    pub reload_dirs: Vec<PathBuf>,

    /// With --reload, also restart on changes to files matching this glob (repeatable; default `*.py`).
    /// A pattern naming a directory adds it to the watched directories.
    #[arg(long = "reload-include", value_name = "GLOB", requires = "reload")]
    pub reload_includes: Vec<String>,

    /// With --reload, ignore changes to files matching this glob (repeatable; default
    /// `.*`, `.py[cod]`, `.sw.*`, `~*`). A pattern naming a directory ignores everything below it.
    #[arg(long = "reload-exclude", value_name = "GLOB", requires = "reload")]
    pub reload_excludes: Vec<String>,

    /// With --reload, seconds to wait after a change for more changes before restarting.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.25, requires = "reload")]
    pub reload_delay: f64,

    /// A request whose response has not started after this many seconds gets 504, and its worker is
    /// replaced (gunicorn's --timeout; 0, the default, turns it off). WebSockets are not timed.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub timeout: f64,

    /// Replace a worker whose resident memory exceeds this many MiB (Granian's --workers-max-rss).
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..))]
    pub workers_max_rss: Option<u64>,

    // gunicorn's command line: binds, worker class, log files, process set-up and its config file.
    /// gunicorn's bind: `HOST:PORT`, `[IPV6]:PORT`, `HOST` (port 8000), `unix:PATH` or `fd://N`; repeat it
    /// to serve several addresses at once. Cannot be combined with --host, --port, --uds or --fd.
    #[arg(short = 'b', long = "bind", value_name = "ADDRESS", conflicts_with_all = ["host", "port", "uds", "fd"])]
    pub binds: Vec<String>,

    /// gunicorn's worker class. `uvicorn.workers.UvicornWorker`, `uvicorn_worker.UvicornWorker` (and their
    /// H11 variants), `sync` and `gthread` are accepted: covetpy serves the app itself (`sync`/`gthread`
    /// call it as WSGI). gevent, eventlet and tornado workers are refused.
    #[arg(short = 'k', long, value_name = "CLASS")]
    pub worker_class: Option<String>,

    /// Write access lines to this file (appended to), or `-` for stdout (the default).
    #[arg(long, value_name = "PATH|-")]
    pub access_logfile: Option<String>,

    /// Write server log lines to this file (appended to), or `-` for stderr (the default).
    #[arg(long, value_name = "PATH|-")]
    pub error_logfile: Option<String>,

    /// Access lines in gunicorn's format language (`%(h)s %(r)s %(s)s ...`, unknown atoms print `-`), or
    /// `json` for one JSON object per request. Without it lines are in uvicorn's format.
    #[arg(long, value_name = "FORMAT", visible_alias = "access-log-format")]
    pub access_logformat: Option<String>,

    /// Change to this directory before anything else is read (the app, --app-dir, log files).
    #[arg(long, value_name = "DIR")]
    pub chdir: Option<PathBuf>,

    /// Comma-separated directories put in front of Python's module search path (through PYTHONPATH).
    #[arg(long, value_name = "DIRS")]
    pub pythonpath: Option<String>,

    /// Set an environment variable for the app, as KEY=VALUE; repeatable. Overrides the environment.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Write the process id of the main process (the supervisor with several workers) to this file,
    /// removed again on exit.
    #[arg(long, value_name = "FILE")]
    pub pid: Option<PathBuf>,

    /// A gunicorn config file (`gunicorn.conf.py`, run as Python), or `python:MODULE`; its settings rank
    /// below the command line and the environment. Settings covetpy lacks and server hooks are refused.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<String>,

    /// The effective command line after `serve` (with the settings of the environment and the files in
    /// it), which the supervisor gives its workers. Set by main, not by clap.
    #[arg(skip)]
    pub effective_argv: Vec<std::ffi::OsString>,

    // Operations endpoints: metrics, probes and the drain sequence (docs/operations.md).
    /// Serve Prometheus metrics at /metrics on this TCP port (summed over every worker).
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<u16>,

    /// Address the --metrics-port listener binds.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1", requires = "metrics_port")]
    pub metrics_host: String,

    /// Answer GET/HEAD of this path with 200 (liveness) without entering Python, on the main port and
    /// the metrics port.
    #[arg(long, value_name = "PATH", value_parser = probe_path)]
    pub health_path: Option<String>,

    /// Answer GET/HEAD of this path with 200 once the app is loaded and lifespan startup has finished,
    /// and 503 before that and while the server drains; on the main port and the metrics port.
    #[arg(long, value_name = "PATH", value_parser = probe_path)]
    pub readiness_path: Option<String>,

    /// After SIGTERM/SIGINT, keep accepting and serving this many seconds while readiness answers 503,
    /// before the graceful shutdown begins.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0)]
    pub shutdown_delay: f64,

    // --- WebSocket compression (permessage-deflate) ---
    /// Accept a WebSocket client's permessage-deflate (RFC 7692) offer: `true`/`false` (also 1/0,
    /// yes/no, on/off), as uvicorn spells it. With `false` the extension is never negotiated.
    #[arg(long, value_name = "BOOL", default_value = "true", action = clap::ArgAction::Set, value_parser = click_bool)]
    pub ws_per_message_deflate: bool,

    // --- Containers: HTTP/3 behind a port mapping ---
    /// With --http3: the UDP port that `Alt-Svc` advertises to clients, when it is not the port
    /// covetpy listens on (`docker run -p 443:8443/udp`, a load balancer forwarding 443).
    #[arg(long, value_name = "PORT", requires = "http3", value_parser = clap::value_parser!(u16).range(1..))]
    pub http3_alt_svc_port: Option<u16>,

    /// Whether `--log-level` was given (on the command line, in the environment or a settings file),
    /// so that it overrides the levels a `--log-config` sets, as in uvicorn. Set by main, not by clap.
    #[arg(skip)]
    pub log_level_given: bool,
}

/// The `--timeout-graceful-shutdown` default: short enough that, with the few seconds cancelled tasks
/// and lifespan shutdown get afterwards, a worker is done within Docker's 10 s stop timeout (and well
/// within Kubernetes' 30 s grace period). See docs/deployment.md.
pub const DEFAULT_GRACEFUL_TIMEOUT: f64 = 5.0;

/// How long a graceful shutdown waits for in-flight requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GracePeriod {
    /// At most this many seconds (finite, not negative).
    Seconds(f64),
    /// `none`: until every request has finished.
    Unlimited,
}

impl std::str::FromStr for GracePeriod {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("none") {
            return Ok(GracePeriod::Unlimited);
        }
        match text.parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(GracePeriod::Seconds(seconds)),
            _ => Err(format!("expected a number of seconds (0 or more) or `none`, got {text:?}")),
        }
    }
}

impl std::fmt::Display for GracePeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GracePeriod::Seconds(seconds) => write!(f, "{seconds}"),
            GracePeriod::Unlimited => f.write_str("none"),
        }
    }
}

/// A probe path: absolute, without a query.
fn probe_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.contains(['?', '#']) || text.contains(char::is_whitespace) {
        return Err(format!("expected an absolute path such as /healthz, got {text:?}"));
    }
    Ok(text.to_owned())
}

/// A click boolean (`--ws-per-message-deflate false`), with the spellings settings files use too.
fn click_bool(text: &str) -> Result<bool, String> {
    crate::settings::parse_bool(text)
        .ok_or_else(|| format!("{text:?} is not a boolean (use true/false, 1/0, yes/no or on/off)"))
}

/// `--loop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoopArg {
    /// uvloop if it can be imported, else asyncio.
    Auto,
    /// asyncio's selector event loop.
    Asyncio,
    /// uvloop; start-up fails if it is not installed.
    Uvloop,
    /// Whatever `asyncio.new_event_loop()` makes under the current event loop policy.
    None,
}

/// `--http`: uvicorn's choice of HTTP parser. covetpy has one HTTP implementation (hyper) for all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HttpArg {
    /// The default.
    Auto,
    /// uvicorn's h11 protocol; served by covetpy's own HTTP implementation.
    H11,
    /// uvicorn's httptools protocol; served by covetpy's own HTTP implementation.
    Httptools,
}

impl ServeArgs {
    /// `--proxy-headers`/`--no-proxy-headers`, last one wins; on by default.
    pub fn proxy_headers_enabled(&self) -> bool {
        !self.no_proxy_headers
    }

    /// `--server-header`/`--no-server-header`, last one wins; on by default.
    pub fn server_header_enabled(&self) -> bool {
        !self.no_server_header
    }

    /// `--date-header`/`--no-date-header`, last one wins; on by default.
    pub fn date_header_enabled(&self) -> bool {
        !self.no_date_header
    }

    /// `Some(true)` for `--use-colors`, `Some(false)` for `--no-use-colors` (last one wins), `None`
    /// to decide by whether the output is a terminal.
    pub fn use_colors(&self) -> Option<bool> {
        if self.use_colors {
            Some(true)
        } else if self.no_use_colors {
            Some(false)
        } else {
            None
        }
    }
}

/// `--ws`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WsArg {
    /// Serve WebSockets.
    Auto,
    /// Treat handshakes as ordinary requests.
    None,
    /// uvicorn's websockets protocol; served like `auto`, by covetpy's own WebSocket implementation.
    Websockets,
    /// uvicorn's sans-I/O websockets protocol; served like `auto`.
    WebsocketsSansio,
    /// uvicorn's wsproto protocol; served like `auto`.
    Wsproto,
}

impl ServeArgs {
    /// Whether access logging is on, after `--access-log`/`--no-access-log` (last one wins).
    pub fn access_log_enabled(&self) -> bool {
        !self.no_access_log
    }

    /// `--limit-max-requests`, with 0 read as "no limit" (gunicorn's meaning of 0).
    pub fn max_requests(&self) -> Option<u64> {
        self.limit_max_requests.filter(|n| *n > 0)
    }

    /// True when a supervisor process runs the workers: with several workers, and with any option that
    /// replaces workers (`--limit-max-requests`, `--reload`, `--timeout`, `--workers-max-rss`), so that a
    /// retiring worker is replaced even when there is only one.
    pub fn supervised(&self) -> bool {
        self.workers > 1
            || self.max_requests().is_some()
            || self.reload
            || self.request_timeout().is_some()
            || self.workers_max_rss.is_some()
    }

    /// `--timeout`, with 0 read as "off" (gunicorn's meaning of 0). Negative and non-finite values are
    /// refused by [`crate::worker::seconds`] where the option is checked at start-up.
    pub fn request_timeout(&self) -> Option<f64> {
        Some(self.timeout).filter(|t| *t != 0.0)
    }

    /// How many worker processes to run: `--workers`, except 1 with `--reload` (as uvicorn).
    pub fn worker_count(&self) -> usize {
        if self.reload {
            1
        } else {
            self.workers as usize
        }
    }
}

/// `--interface`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InterfaceArg {
    /// Inspect the application and choose.
    Auto,
    /// ASGI 3; `asgi3` is accepted too, as uvicorn spells it.
    #[value(alias = "asgi3")]
    Asgi,
    /// ASGI 2: `app(scope)` returns an instance awaited as `instance(receive, send)`.
    Asgi2,
    /// WSGI (PEP 3333).
    Wsgi,
    /// A CovetPy native app (`covetpy.CovetPy`), served by the native interface; `native` is
    /// accepted too.
    #[value(alias = "native")]
    Covet,
}

/// `--lifespan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LifespanArg {
    /// Run it if the app supports it.
    Auto,
    /// Require it.
    On,
    /// Skip it.
    Off,
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Only critical errors (logged as errors).
    Critical,
    /// Errors.
    Error,
    /// Warnings and errors.
    Warning,
    /// The default: start-up, shutdown and access lines.
    Info,
    /// Diagnostics.
    Debug,
    /// Everything.
    Trace,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["covetpy", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(s) => s,
        }
    }

    #[test]
    fn defaults_match_uvicorn() {
        let s = serve(&["main:app"]);
        assert_eq!(s.host, "127.0.0.1");
        assert_eq!(s.port, 8000);
        assert_eq!(s.timeout_keep_alive, 5.0);
        assert!(s.access_log_enabled());
        assert_eq!(s.lifespan, LifespanArg::Auto);
    }

    #[test]
    fn last_access_log_flag_wins() {
        assert!(!serve(&["main:app", "--no-access-log"]).access_log_enabled());
        assert!(serve(&["main:app", "--no-access-log", "--access-log"]).access_log_enabled());
    }

    #[test]
    fn request_limits_default_to_gunicorns() {
        let s = serve(&["main:app"]);
        assert_eq!((s.limit_request_line, s.limit_request_fields, s.limit_request_field_size), (4094, 100, 8190));
        assert_eq!(s.timeout_request_body, 30.0);
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "--limit-request-fields", "32769"]).is_err());
    }

    #[test]
    fn proxy_and_header_options_default_to_uvicorns() {
        let s = serve(&["main:app"]);
        assert!(s.proxy_headers_enabled() && s.server_header_enabled() && s.date_header_enabled());
        assert!(!s.forwarded_header && !s.proxy_protocol);
        assert_eq!((s.backlog, s.h11_max_incomplete_event_size, s.limit_concurrency), (2048, 16384, None));
        let s = serve(&["main:app", "--no-proxy-headers", "--no-server-header", "--no-date-header"]);
        assert!(!s.proxy_headers_enabled() && !s.server_header_enabled() && !s.date_header_enabled());
        let s = serve(&["main:app", "--no-date-header", "--date-header", "--header", "a:1", "--header", "b: 2"]);
        assert!(s.date_header_enabled());
        assert_eq!(s.headers, ["a:1", "b: 2"]);
    }

    #[test]
    fn worker_lifecycle_options_take_uvicorn_and_gunicorn_names() {
        let s = serve(&["main:app"]);
        assert_eq!((s.fd, s.max_requests(), s.limit_max_requests_jitter), (None, None, 0));
        assert_eq!(s.timeout_worker_healthcheck, 5.0);
        assert!(!s.supervised());
        let s = serve(&["main:app", "--limit-max-requests", "200", "--limit-max-requests-jitter", "20"]);
        assert_eq!((s.max_requests(), s.limit_max_requests_jitter), (Some(200), 20));
        assert!(s.supervised());
        let s = serve(&["main:app", "--max-requests", "7", "--max-requests-jitter", "3", "--fd", "3"]);
        assert_eq!((s.max_requests(), s.limit_max_requests_jitter, s.fd), (Some(7), 3, Some(3)));
        assert_eq!(serve(&["main:app", "--max-requests", "0"]).max_requests(), None);
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "--fd", "3", "--uds", "/tmp/s"]).is_err());
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "--fd", "-1"]).is_err());
    }

    #[test]
    fn reload_timeout_and_rss_options() {
        let s = serve(&["main:app"]);
        assert!(!s.reload && s.reload_dirs.is_empty() && s.reload_includes.is_empty());
        assert_eq!((s.reload_delay, s.request_timeout(), s.workers_max_rss), (0.25, None, None));
        assert_eq!(serve(&["main:app", "--timeout", "0"]).request_timeout(), None);
        let s = serve(&["main:app", "--reload", "--reload-dir", "a", "--reload-dir", "b", "--workers", "4"]);
        assert_eq!(s.reload_dirs, [PathBuf::from("a"), PathBuf::from("b")]);
        assert!(s.supervised());
        assert_eq!(s.worker_count(), 1, "--reload ignores --workers, as uvicorn");
        assert!(serve(&["main:app", "--timeout", "30"]).supervised());
        assert!(serve(&["main:app", "--workers-max-rss", "100"]).supervised());
        for needs_reload in ["--reload-dir", "--reload-include", "--reload-exclude", "--reload-delay"] {
            assert!(
                Cli::try_parse_from(["covetpy", "serve", "main:app", needs_reload, "1"]).is_err(),
                "{needs_reload}"
            );
        }
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "--workers-max-rss", "0"]).is_err());
    }

    #[test]
    fn gunicorn_spellings() {
        let s = serve(&["main:app", "-b", "127.0.0.1:9000", "-b", "unix:/tmp/x", "-k", "sync", "--keep-alive", "2"]);
        assert_eq!(s.binds, ["127.0.0.1:9000", "unix:/tmp/x"]);
        assert_eq!((s.worker_class.as_deref(), s.timeout_keep_alive), (Some("sync"), 2.0));
        let s = serve(&["main:app", "-e", "A=1", "-e", "B=2", "-c", "gunicorn.conf.py"]);
        assert_eq!((s.env.len(), s.config.as_deref()), (2, Some("gunicorn.conf.py")));
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "-b", "x:1", "--port", "3"]).is_err());
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "-b", "x:1", "--uds", "/tmp/s"]).is_err());
    }

    #[test]
    fn operations_options() {
        let s = serve(&["main:app"]);
        assert_eq!(s.timeout_graceful_shutdown, GracePeriod::Seconds(DEFAULT_GRACEFUL_TIMEOUT));
        assert_eq!((s.metrics_port, s.health_path.as_deref(), s.shutdown_delay), (None, None, 0.0));
        let s = serve(&["main:app", "--graceful-timeout", "none", "--health-path", "/healthz"]);
        assert_eq!(s.timeout_graceful_shutdown, GracePeriod::Unlimited);
        assert_eq!(s.health_path.as_deref(), Some("/healthz"));
        assert_eq!(
            serve(&["main:app", "--timeout-graceful-shutdown", "0"]).timeout_graceful_shutdown,
            GracePeriod::Seconds(0.0)
        );
        for bad in [["--timeout-graceful-shutdown", "-1"], ["--health-path", "healthz"], ["--readiness-path", "/r?x"]] {
            let mut argv = vec!["covetpy", "serve", "main:app"];
            argv.extend(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "--metrics-host", "0.0.0.0"]).is_err());
    }

    #[test]
    fn zero_workers_is_rejected() {
        assert!(Cli::try_parse_from(["covetpy", "serve", "main:app", "--workers", "0"]).is_err());
    }
}

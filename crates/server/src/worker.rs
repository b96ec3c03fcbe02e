//! One serving process: binds, starts the interpreter, loads the app and serves until told to stop.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use covetpy_embed::interpreter::{self, InterpreterOptions};
use covetpy_embed::logconfig;
use covetpy_embed::{
    loader, resolve_event_loop, AppSpec, AsgiOptions, AsgiServer, EventLoopKind, Interface, LifespanMode,
    NativeOptions, NativeServer, StartupError, WsgiOptions, WsgiServer,
};
use covetpy_protocols::metrics::{Metrics, Totals};
use covetpy_protocols::{
    serve_retiring, tls_server_config, ClientAuth, DefaultHeaders, H3Settings, Handler, Listener, LocalAddr, Probes,
    ProxyConfig, Readiness, RequestLimits, Scheme, ServeOutcome, ServerConfig, TlsOptions, TlsVersions, TrustedProxies,
    WsConfig,
};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

use crate::access_log::{AccessFormat, AccessLog};
use crate::bind::{self, Bind};
use crate::cli::{GracePeriod, HttpArg, InterfaceArg, LifespanArg, LoopArg, ServeArgs, WsArg};
use crate::control::{Control, Counted, RequestBudget, READY};
use crate::logging;
use crate::metrics_text::{self, ProcessFacts};
use crate::timeout::Timed;
use crate::{metrics_http, metrics_shm};

/// Set in the environment of worker processes started by the supervisor.
pub const WORKER_ENV: &str = "COVETPY_WORKER";
/// The sockets inherited from the supervisor, comma-separated, one per bind: for TCP its own bound
/// socket for the worker's slot, else the one socket all workers share (`unix:`, `--fd`, activation).
pub const LISTEN_FD_ENV: &str = "COVETPY_LISTEN_FD";

/// Exit code for a lifespan startup failure, as uvicorn uses.
const EXIT_STARTUP_FAILED: u8 = 3;

/// True in a process started by the supervisor.
pub fn is_worker_process() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// Runs a worker and returns its exit code.
pub fn run(args: &ServeArgs) -> u8 {
    let code = match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    };
    logging::flush_forwarded();
    code
}

/// A timeout option in seconds, refusing values a Duration cannot hold.
pub fn seconds(value: f64, option: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow!("{option} must be a non-negative number of seconds, got {value}"))
}

fn run_inner(args: &ServeArgs) -> anyhow::Result<u8> {
    let keep_alive = seconds(args.timeout_keep_alive, "--timeout-keep-alive")?;
    let request_timeout = args.request_timeout().map(|t| seconds(t, "--timeout")).transpose()?;
    let graceful_timeout = match args.timeout_graceful_shutdown {
        GracePeriod::Seconds(s) => Some(seconds(s, "--timeout-graceful-shutdown")?),
        GracePeriod::Unlimited => None,
    };
    let shutdown_delay = seconds(args.shutdown_delay, "--shutdown-delay")?;
    let probes = probes(args);
    let tls = tls_config(args)?;
    let http3 = http3_config(args)?;
    let default_headers = DefaultHeaders::new(args.server_header_enabled(), args.date_header_enabled(), &args.headers)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("covetpy-io")
        .on_thread_start(covetpy_embed::scheduling::batch_current_thread)
        .build()
        .context("could not start the async runtime")?;
    // Installed before the interpreter starts, so SIGINT/SIGTERM stay ours and never become
    // KeyboardInterrupt inside the application.
    let stop = {
        let _enter = runtime.enter();
        if !is_worker_process() {
            explain_supervisor_signals()?;
        }
        watch_signals()?
    };
    // Started before the app is imported, so the supervisor's health checks are answered during a slow
    // start-up too.
    let control = Control::connect(runtime.handle())?;
    // With --log-config this line waits until Python's logging is set up, so its handlers receive it.
    if args.log_config.is_none() {
        tracing::info!("Started server process [{}]", std::process::id());
    }
    let metrics = start_metrics(args, &runtime, &probes)?;

    // Bind before importing the app, so a busy port is reported without running any application code.
    let binds = match inherited_fds(LISTEN_FD_ENV) {
        Some(fds) => fds.into_iter().map(Bind::Fd).collect(),
        None => bind::binds(args).map_err(|e| anyhow!(e))?,
    };
    bind::check_distinct(&binds).map_err(|e| anyhow!(e))?;
    let listeners = binds.iter().map(|b| bind::open(b, is_worker_process())).collect::<anyhow::Result<Vec<_>>>()?;
    let locals = listeners
        .iter()
        .map(|l| l.local_addr().context("could not read the bound address"))
        .collect::<anyhow::Result<Vec<_>>>()?;

    interpreter::initialize(&InterpreterOptions { argv: std::env::args().collect() })?;
    // Both before the app is imported: its module may log at import, and uvicorn sets up logging and
    // the loop first too.
    if args.log_config.is_none() {
        let colors = logging::Colors::choose(args.use_colors());
        logconfig::configure_default(logging::python_level(args.log_level), colors.stderr, colors.stdout)
            .map_err(|e| anyhow!(e))?;
    }
    if let Some(path) = &args.log_config {
        let forced = args.log_level_given.then(|| logging::python_level(args.log_level));
        match logconfig::configure(path, forced) {
            Ok(levels) => {
                let (server, access) =
                    (logging::python_level_filter(levels.error), logging::python_level_filter(levels.access));
                match logconfig::PythonLogging::start() {
                    Ok(sink) => logging::forward_to_python(sink, server, access),
                    Err(e) => {
                        // Without the thread the lines stay on stderr/stdout, at the configured levels.
                        tracing::warn!("could not start the thread that passes log lines to Python's logging: {e}");
                        logging::set_levels(server, access);
                    }
                }
                tracing::info!("Started server process [{}]", std::process::id());
            }
            Err(e) => {
                tracing::error!("{e}");
                return Ok(1);
            }
        }
    }
    let event_loop = resolve_event_loop(match args.event_loop {
        LoopArg::Auto => None,
        LoopArg::Asyncio => Some(EventLoopKind::Asyncio),
        LoopArg::Uvloop => Some(EventLoopKind::Uvloop),
        LoopArg::None => Some(EventLoopKind::PolicyDefault),
    })
    .map_err(|e| anyhow!(e))?;
    let spec: AppSpec = args.app.parse()?;
    let wsgi_worker = match &args.worker_class {
        Some(class) => crate::gunicorn::worker_class_is_wsgi(class).map_err(|e| anyhow!(e))?,
        None => false,
    };
    let interface = match args.interface {
        // gunicorn's own workers call the app as WSGI.
        InterfaceArg::Auto if wsgi_worker => Interface::Wsgi,
        InterfaceArg::Auto => Interface::Auto,
        InterfaceArg::Asgi => Interface::Asgi,
        InterfaceArg::Asgi2 => Interface::Asgi2,
        InterfaceArg::Wsgi => Interface::Wsgi,
        InterfaceArg::Covet => Interface::Native,
    };
    let loaded = match loader::load(&spec, &args.app_dir, args.factory, interface) {
        Ok(loaded) => loaded,
        Err(e) => {
            if let Some(traceback) = e.traceback() {
                eprintln!("{traceback}");
            }
            tracing::error!("Error loading app. {e}");
            return Ok(1);
        }
    };
    interpreter::release_main_thread();
    if let Some(metrics) = metrics {
        metrics.set_app_kind(metrics_text::app_kind(loaded.interface));
    }

    let asgi_options = AsgiOptions {
        lifespan: match args.lifespan {
            LifespanArg::Auto => LifespanMode::Auto,
            LifespanArg::On => LifespanMode::On,
            LifespanArg::Off => LifespanMode::Off,
        },
        root_path: args.root_path.clone(),
        event_loop,
    };
    let app = match loaded.interface {
        Interface::Wsgi => {
            let options = WsgiOptions {
                threads: args.threads as usize,
                root_path: args.root_path.clone(),
                multiprocess: is_worker_process(),
            };
            App::Wsgi(WsgiServer::start(loaded, options, runtime.handle().clone())?)
        }
        Interface::Native => {
            let options = NativeOptions { asgi: asgi_options, threads: args.threads as usize };
            match NativeServer::start(loaded, options, runtime.handle().clone()) {
                Ok(app) => App::Native(app),
                Err(StartupError::LifespanFailed) => return Ok(EXIT_STARTUP_FAILED),
                Err(e) => return Err(e.into()),
            }
        }
        Interface::Asgi | Interface::Asgi2 | Interface::Auto => {
            match AsgiServer::start(loaded, asgi_options, runtime.handle().clone()) {
                Ok(app) => App::Asgi(app),
                Err(StartupError::LifespanFailed) => return Ok(EXIT_STARTUP_FAILED),
                Err(e) => return Err(e.into()),
            }
        }
    };
    if !is_worker_process() {
        announce_implementations(args);
        let shown: Vec<String> = locals.iter().map(|l| describe(l, tls.is_some())).collect();
        tracing::info!("CovetPy running on {} (Press CTRL+C to quit)", shown.join(", "));
    }
    // The app is loaded and its lifespan startup has finished.
    probes.readiness.set_ready(true);
    if let Some(control) = &control {
        control.send(READY);
    }

    let scheme = if tls.is_some() { Scheme::Https } else { Scheme::Http };
    let limits = RequestLimits {
        line: args.limit_request_line,
        field_size: args.limit_request_field_size,
        // gunicorn reads 0 as its maximum.
        fields: if args.limit_request_fields == 0 { 32768 } else { args.limit_request_fields as usize },
    };
    let body_timeout = Some(seconds(args.timeout_request_body, "--timeout-request-body")?).filter(|t| !t.is_zero());
    let config = ServerConfig {
        keep_alive,
        graceful_timeout,
        scheme,
        websocket: websocket_config(args)?,
        tls,
        http3,
        limits,
        body_timeout,
        proxy: proxy_config(args),
        limit_concurrency: args.limit_concurrency.map(|n| n as usize),
        backlog: i32::try_from(args.backlog).unwrap_or(i32::MAX),
        default_headers,
        max_head_size: args.h11_max_incomplete_event_size as usize,
        probes,
        shutdown_delay,
    };
    let shutdown = async move {
        stop.notified().await;
        tracing::info!("Shutting down");
    };
    let budget = match (args.max_requests(), &control) {
        (Some(limit), Some(control)) => {
            Some(RequestBudget::new(limit, args.limit_max_requests_jitter, control.clone()))
        }
        _ => None,
    };
    let retire = {
        let control = control.clone();
        async move {
            match control {
                Some(control) => control.retired().await,
                None => std::future::pending().await,
            }
            tracing::info!(
                "Retiring at the supervisor's request: a replacement is serving, or this worker was removed"
            );
        }
    };
    let access_log = args
        .access_log_enabled()
        .then(|| AccessFormat::parse(args.access_logformat.as_deref()))
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let ends = Ends { shutdown, retire };
    let policies = Policies { budget, timeout: request_timeout, control: control.clone() };
    let outcome = match &app {
        App::Asgi(server) => {
            runtime.block_on(serve_with(listeners, server.handler(), access_log, policies, config, ends))
        }
        App::Wsgi(server) => {
            runtime.block_on(serve_with(listeners, server.handler(), access_log, policies, config, ends))
        }
        App::Native(server) => {
            runtime.block_on(serve_with(listeners, server.handler(), access_log, policies, config, ends))
        }
    }?;
    if let ServeOutcome::TimedOut { open } = outcome {
        tracing::warn!("Graceful shutdown timed out; closing {open} connection(s) that were still open");
    }
    match app {
        App::Asgi(server) => {
            server.shutdown();
        }
        App::Wsgi(server) => server.shutdown(),
        App::Native(server) => {
            server.shutdown();
        }
    }
    runtime.shutdown_timeout(Duration::from_millis(200));
    tracing::info!("Finished server process [{}]", std::process::id());
    Ok(0)
}

/// The application being served, by interface.
enum App {
    Asgi(AsgiServer),
    Wsgi(WsgiServer),
    Native(NativeServer),
}

/// What the worker applies to every request on top of the app: `--limit-max-requests` and `--timeout`.
struct Policies {
    budget: Option<RequestBudget>,
    timeout: Option<Duration>,
    control: Option<Control>,
}

/// What ends serving: a shutdown signal, or retirement (`--limit-max-requests`, once a replacement serves).
struct Ends<S, R> {
    shutdown: S,
    retire: R,
}

async fn serve_with<H: Handler>(
    listeners: Vec<Listener>,
    handler: H,
    access_log: Option<AccessFormat>,
    policies: Policies,
    config: ServerConfig,
    ends: Ends<impl std::future::Future<Output = ()>, impl std::future::Future<Output = ()>>,
) -> anyhow::Result<ServeOutcome> {
    let Ends { shutdown, retire } = ends;
    let Policies { budget, timeout, control } = policies;
    // Outside the budget, so a timed-out request still counts; inside the access log, so its 504 is logged.
    let handler = Timed::new(Counted::new(handler, budget), timeout, control);
    let outcome = match access_log {
        Some(format) => {
            serve_retiring(listeners, Arc::new(AccessLog::new(handler, format)), config, shutdown, retire).await
        }
        None => serve_retiring(listeners, Arc::new(handler), config, shutdown, retire).await,
    };
    outcome.context("the server failed")
}

/// `--health-path` and `--readiness-path`, with readiness "starting".
pub fn probes(args: &ServeArgs) -> Probes {
    Probes {
        liveness: args.health_path.clone(),
        readiness_path: args.readiness_path.clone(),
        readiness: Readiness::new(),
    }
}

/// Installs this process's metrics block: the region the supervisor gave a worker, or with
/// `--metrics-port` and no supervisor a block of its own, served on the metrics port from here.
fn start_metrics(
    args: &ServeArgs,
    runtime: &tokio::runtime::Runtime,
    probes: &Probes,
) -> anyhow::Result<Option<&'static Metrics>> {
    let block = if is_worker_process() {
        match metrics_shm::adopt_inherited()? {
            Some(block) => block,
            None => return Ok(None),
        }
    } else {
        let Some(port) = args.metrics_port else { return Ok(None) };
        let listener = metrics_http::bind(&args.metrics_host, port)?;
        let block = Metrics::leaked();
        let readiness = Arc::clone(&probes.readiness);
        let scrape: metrics_http::Scrape = Arc::new(move || {
            let mut totals = Totals::default();
            block.add_to(&mut totals);
            let facts = ProcessFacts {
                restarts: [0; 7],
                resident_bytes: metrics_text::resident_bytes(None),
                workers_ready: u64::from(readiness.is_ready()),
            };
            metrics_text::render(&totals, &facts)
        });
        runtime.spawn(metrics_http::serve(listener, probes.clone(), scrape));
        block
    };
    covetpy_protocols::metrics::install(block);
    Ok(Some(block))
}

/// The rustls configuration from `--ssl-*`, or `None` without `--ssl-certfile`.
pub fn tls_config(args: &ServeArgs) -> anyhow::Result<Option<Arc<covetpy_protocols::RustlsConfig>>> {
    tls_options(args)?.map(|options| tls_server_config(&options, &[b"h2", b"http/1.1"])).transpose().map_err(Into::into)
}

/// With `--http3`: the QUIC settings, ALPN `h3` over the same certificate.
fn http3_config(args: &ServeArgs) -> anyhow::Result<Option<H3Settings>> {
    let Some(options) = tls_options(args)?.filter(|_| args.http3) else { return Ok(None) };
    if options.versions == TlsVersions::Tls12Only {
        bail!("--http3 needs TLS 1.3 (QUIC is built on it), but --ssl-version 5 offers TLS 1.2 only");
    }
    let settings = H3Settings::new(tls_server_config(&options, &[b"h3"])?, is_worker_process())?;
    Ok(Some(match args.http3_alt_svc_port {
        Some(port) => settings.with_alt_svc_port(port),
        None => settings,
    }))
}

/// `--ssl-version`: Python's `ssl.PROTOCOL_*` numbers, as uvicorn passes them to `ssl.SSLContext`.
fn tls_versions(number: u32) -> anyhow::Result<TlsVersions> {
    match number {
        2 | 17 => Ok(TlsVersions::Negotiated),
        5 => Ok(TlsVersions::Tls12Only),
        3 | 4 => bail!(
            "--ssl-version {number} asks for TLS 1.{}, which covetpy does not offer (it implements TLS 1.2 and 1.3); use 17 or 5",
            number - 3
        ),
        16 => bail!("--ssl-version 16 is ssl.PROTOCOL_TLS_CLIENT, a client protocol; a server uses 17 (PROTOCOL_TLS_SERVER)"),
        _ => bail!("--ssl-version {number} is not one of Python's ssl.PROTOCOL_* numbers for a server: 17 (TLS 1.2 or 1.3), 2 (the same) or 5 (TLS 1.2 only)"),
    }
}

fn tls_options(args: &ServeArgs) -> anyhow::Result<Option<TlsOptions>> {
    let versions = tls_versions(args.ssl_version)?;
    let Some(certfile) = args.ssl_certfile.as_ref() else { return Ok(None) };
    Ok(Some(TlsOptions {
        certfile: certfile.clone(),
        keyfile: args.ssl_keyfile.clone(),
        password: args.ssl_keyfile_password.clone(),
        ca_certs: args.ssl_ca_certs.clone(),
        client_auth: match args.ssl_cert_reqs {
            0 => ClientAuth::None,
            1 => ClientAuth::Optional,
            _ => ClientAuth::Required,
        },
        ciphers: Some(args.ssl_ciphers.clone()),
        versions,
    }))
}

/// `--proxy-headers`, `--forwarded-allow-ips`, `--forwarded-header` and `--proxy-protocol`.
fn proxy_config(args: &ServeArgs) -> ProxyConfig {
    ProxyConfig {
        trusted: TrustedProxies::parse(&args.forwarded_allow_ips),
        x_forwarded: args.proxy_headers_enabled(),
        forwarded: args.forwarded_header,
        proxy_protocol: args.proxy_protocol,
    }
}

/// `--http h11` and `--ws wsproto` name uvicorn's protocol implementations; they are accepted so
/// uvicorn command lines keep working, and one line says what serves instead.
pub fn announce_implementations(args: &ServeArgs) {
    let http = match args.http {
        HttpArg::Auto => None,
        HttpArg::H11 => Some("h11"),
        HttpArg::Httptools => Some("httptools"),
    };
    if let Some(name) = http {
        tracing::info!("--http {name}: HTTP is served by covetpy's own HTTP/1.1 and HTTP/2 implementation");
    }
    let ws = match args.ws {
        WsArg::Auto | WsArg::None => None,
        WsArg::Websockets => Some("websockets"),
        WsArg::WebsocketsSansio => Some("websockets-sansio"),
        WsArg::Wsproto => Some("wsproto"),
    };
    if let Some(name) = ws {
        tracing::info!("--ws {name}: WebSockets are served by covetpy's own WebSocket implementation");
    }
    if let Some(class) = &args.worker_class {
        // Checked at start-up (main), so only accepted classes reach here.
        let wsgi = crate::gunicorn::worker_class_is_wsgi(class).unwrap_or(false);
        tracing::info!("{}", crate::gunicorn::worker_class_line(class, wsgi, args.interface != InterfaceArg::Auto));
    }
}

/// The WebSocket settings from `--ws*`, or `None` with `--ws none`.
fn websocket_config(args: &ServeArgs) -> anyhow::Result<Option<WsConfig>> {
    if args.ws == WsArg::None {
        return Ok(None);
    }
    let optional = |value: f64, option: &str| -> anyhow::Result<Option<Duration>> {
        Ok(Some(seconds(value, option)?).filter(|d| !d.is_zero()))
    };
    Ok(Some(WsConfig {
        max_size: args.ws_max_size,
        max_queue: args.ws_max_queue as usize,
        ping_interval: optional(args.ws_ping_interval, "--ws-ping-interval")?,
        ping_timeout: optional(args.ws_ping_timeout, "--ws-ping-timeout")?,
        per_message_deflate: args.ws_per_message_deflate,
    }))
}

/// SIGHUP, SIGTTIN and SIGTTOU restart and resize workers, which only the supervisor does. A single
/// process without one says so instead of dying (SIGHUP's default) or being stopped (SIGTTIN/SIGTTOU's).
fn explain_supervisor_signals() -> anyhow::Result<()> {
    for (kind, name) in [
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::from_raw(libc::SIGTTIN), "SIGTTIN"),
        (SignalKind::from_raw(libc::SIGTTOU), "SIGTTOU"),
    ] {
        let mut stream = signal(kind).with_context(|| format!("could not install the {name} handler"))?;
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                tracing::warn!(
                    "{name} ignored: restarting and resizing workers needs the supervisor, which runs with \
                     --workers > 1, --reload, --timeout, --workers-max-rss or --limit-max-requests"
                );
            }
        });
    }
    Ok(())
}

/// First SIGINT/SIGTERM: notify the returned handle (graceful shutdown). Second: exit at once.
fn watch_signals() -> anyhow::Result<Arc<Notify>> {
    let mut term = signal(SignalKind::terminate()).context("could not install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("could not install the SIGINT handler")?;
    let stop = Arc::new(Notify::new());
    let notify = Arc::clone(&stop);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        notify.notify_one();
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("Second signal received; exiting without waiting");
        std::process::exit(1);
    });
    Ok(stop)
}

/// How the bound address is shown in the start-up line.
pub fn describe(local: &LocalAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    match local {
        LocalAddr::Tcp(addr) if addr.is_ipv6() => format!("{scheme}://[{}]:{}", addr.ip(), addr.port()),
        LocalAddr::Tcp(addr) => format!("{scheme}://{addr}"),
        LocalAddr::Unix(path) => format!("unix socket {}", path.display()),
    }
}

/// The descriptors the supervisor passed, comma-separated, one per bind.
fn inherited_fds(var: &str) -> Option<Vec<RawFd>> {
    std::env::var(var).ok()?.split(',').map(|fd| fd.trim().parse().ok()).collect()
}

//! The supervisor: a parent process that starts the workers (`--workers N`, or one worker with an option
//! that replaces workers), replaces any that die, stop answering health checks, use up their request limit,
//! time out on a request (`--timeout`) or grow past `--workers-max-rss`, restarts them all on SIGHUP or on a
//! code change (`--reload`), adds and removes one on SIGTTIN and SIGTTOU, and passes SIGTERM and SIGINT on.
//!
//! Every replacement goes the same way ([`slots::Workers::replace`]): the new worker starts first, and the
//! old one is told to retire only once the new one reports READY. So no request is refused meanwhile, and a
//! new worker that cannot even load the app (a syntax error under `--reload`) leaves the old one serving.
//!
//! The supervisor opens every listening socket and keeps it open for its whole life; workers inherit them.
//! For TCP it binds one `SO_REUSEPORT` socket per worker slot, so the kernel spreads connections across the
//! slots. A Unix socket, `--fd` or a socket from systemd is a single socket that every worker shares.
//!
//! Holding the sockets in the supervisor is what makes replacing a worker lossless. On Linux, closing the
//! last descriptor of a `SO_REUSEPORT` listener resets the connections queued on it that no one accepted
//! yet. Here a worker that stops accepting only closes its own copy: the socket stays open, and what is
//! queued on it is accepted by the worker's replacement, which inherits the same socket. A retiring worker
//! is also only told to stop once its replacement is serving, so the slot never goes without an acceptor.
//!
//! Each worker has a control socket (see [`crate::control`]) on which it reports readiness and its request
//! limit, and answers health-check pings.

mod slots;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use covetpy_protocols::{Endpoint, Listener};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::bind::{self, Bind};
use crate::cli::{GracePeriod, ServeArgs};
use crate::control::{LIMIT_REACHED, PONG, READY, TIMED_OUT};
use crate::metrics_http;
use crate::metrics_text::RestartReason;
use crate::worker;
use crate::worker_metrics::{self, SharedBoard};
use slots::{Event, Removed, Setup, Sockets, Workers};

/// Added to `--timeout-graceful-shutdown` before a retiring worker is killed: time for it to close its
/// connections (WebSockets get 2 s for their close frames) and to run lifespan shutdown.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

/// Runs the supervisor and returns the exit code.
pub fn run(args: &ServeArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("could not start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(supervise(args)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    }
}

/// How often health checks run: often enough that a stuck worker is found soon after its timeout.
fn check_interval(timeout: Duration) -> Duration {
    (timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// How long a retiring worker may take before it is killed: `--timeout-graceful-shutdown` (plus a margin
/// for closing), else `--timeout`, else no limit (as uvicorn, which waits for every request).
fn drain_allowance(args: &ServeArgs) -> anyhow::Result<Option<Duration>> {
    if let GracePeriod::Seconds(graceful) = args.timeout_graceful_shutdown {
        return Ok(Some(worker::seconds(graceful, "--timeout-graceful-shutdown")? + SHUTDOWN_MARGIN));
    }
    args.request_timeout().map(|t| worker::seconds(t, "--timeout")).transpose()
}

/// Waits for the next change `--reload` reports (never, without it).
async fn next_change(reloader: &mut Option<crate::reload::Reloader>) -> Option<PathBuf> {
    match reloader {
        Some(reloader) => reloader.changes.recv().await,
        None => std::future::pending().await,
    }
}

/// The changed files as uvicorn lists them: relative to the current directory where possible.
fn describe_changes(changed: &[PathBuf], cwd: &std::path::Path) -> String {
    let mut names: Vec<String> =
        changed.iter().map(|p| p.strip_prefix(cwd).unwrap_or(p).display().to_string()).collect();
    names.sort();
    names.dedup();
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

async fn supervise(args: &ServeArgs) -> anyhow::Result<u8> {
    let mut term = signal(SignalKind::terminate()).context("could not install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("could not install the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("could not install the SIGHUP handler")?;
    let mut ttin = signal(SignalKind::from_raw(libc::SIGTTIN)).context("could not install the SIGTTIN handler")?;
    let mut ttou = signal(SignalKind::from_raw(libc::SIGTTOU)).context("could not install the SIGTTOU handler")?;
    tracing::info!("Started parent process [{}]", std::process::id());
    worker::announce_implementations(args);
    let health_timeout = worker::seconds(args.timeout_worker_healthcheck, "--timeout-worker-healthcheck")?;
    if health_timeout.is_zero() {
        bail!("--timeout-worker-healthcheck must be greater than 0");
    }
    if let Some(timeout) = args.request_timeout() {
        worker::seconds(timeout, "--timeout")?;
    }
    let drain_allowance = drain_allowance(args)?;
    let cwd = std::env::current_dir().context("could not read the current directory")?;
    if args.reload && args.workers > 1 {
        tracing::warn!("\"workers\" flag is ignored when reloading is enabled.");
    }
    let mut reloader = if args.reload { Some(crate::reload::start(args, &cwd)?) } else { None };
    // Checked here too, so a bad certificate fails once with one message instead of once per worker.
    let tls = worker::tls_config(args)?.is_some();
    let count = args.worker_count();
    let backlog = i32::try_from(args.backlog).unwrap_or(i32::MAX);
    let binds = bind::binds(args).map_err(|e| anyhow!(e))?;
    bind::check_distinct(&binds).map_err(|e| anyhow!(e))?;
    let mut sockets = Vec::with_capacity(binds.len());
    let mut shown = Vec::with_capacity(binds.len());
    for b in &binds {
        let (socket, text) = match b {
            Bind::Fd(_) | Bind::Endpoint(Endpoint::Unix(_)) => {
                let listener = bind::open(b, false)?;
                let text =
                    worker::describe(&listener.local_addr().context("could not read the socket's address")?, tls);
                (Sockets::Shared(listener), text)
            }
            Bind::Endpoint(Endpoint::Tcp { port: 0, .. }) => {
                bail!("port 0 cannot be combined with --workers or an option that replaces workers: each worker would get a different port")
            }
            Bind::Endpoint(endpoint) => {
                let listeners: Vec<Listener> =
                    (0..count).map(|_| bind::open(b, true)).collect::<anyhow::Result<_>>()?;
                // Listening here, in slot order, numbers the sockets of the reuseport group as the slots are
                // numbered, which steering relies on (see crate::steering); workers listening again only set
                // the backlog.
                for listener in &listeners {
                    listener.listen(backlog).context("could not listen on the workers' sockets")?;
                }
                let text = format!("{}://{endpoint}", if tls { "https" } else { "http" });
                (Sockets::PerSlot { endpoint: endpoint.clone(), listeners }, text)
            }
        };
        shown.push(text);
        sockets.push(socket);
    }
    let shown = shown.join(", ");

    let probes = worker::probes(args);
    let board = match args.metrics_port {
        Some(port) => {
            let listener = metrics_http::bind(&args.metrics_host, port)?;
            let board = SharedBoard::default();
            let scrape: metrics_http::Scrape = {
                let board = Arc::clone(&board);
                Arc::new(move || worker_metrics::lock(&board).render())
            };
            tokio::spawn(metrics_http::serve(listener, probes.clone(), scrape));
            Some(board)
        }
        None => None,
    };

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let setup = Setup {
        args: args.effective_argv.clone(),
        drain_allowance,
        backlog,
        board,
        readiness: Arc::clone(&probes.readiness),
    };
    let mut workers = Workers::new(setup, sockets, count, events_tx)?;
    for slot in 0..count {
        workers.spawn(slot)?;
    }
    let max_rss = args.workers_max_rss.map(crate::memory::mib);

    let mut started = false;
    let mut health = tokio::time::interval(check_interval(health_timeout));
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // --reload: files changed since the first change of a batch, and when the batch is acted on.
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut reload_at: Option<tokio::time::Instant> = None;
    let forwarded = loop {
        tokio::select! {
            _ = term.recv() => break libc::SIGTERM,
            _ = int.recv() => break libc::SIGINT,
            _ = health.tick() => {
                workers.check_health(health_timeout);
                if let Some(limit) = max_rss {
                    workers.check_memory(limit)?;
                }
            }
            _ = hup.recv() => {
                tracing::info!("Handling signal: hup; restarting {} worker(s)", workers.count());
                for slot in 0..workers.count() {
                    workers.replace(slot, RestartReason::Sighup, "is restarted (SIGHUP)")?;
                }
            }
            _ = ttin.recv() => {
                tracing::info!("Handling signal: ttin");
                workers.add_slot()?;
            }
            _ = ttou.recv() => {
                tracing::info!("Handling signal: ttou");
                workers.remove_slot();
            }
            Some(path) = next_change(&mut reloader) => {
                if reload_at.is_none() {
                    let delay = reloader.as_ref().map(|r| r.delay).unwrap_or_default();
                    reload_at = Some(tokio::time::Instant::now() + delay);
                }
                changed.push(path);
            }
            () = tokio::time::sleep_until(reload_at.unwrap_or_else(tokio::time::Instant::now)), if reload_at.is_some() => {
                reload_at = None;
                tracing::warn!("Detected changes in {}. Reloading...", describe_changes(&changed, &cwd));
                changed.clear();
                for slot in 0..workers.count() {
                    workers.replace(slot, RestartReason::Reload, "runs the code from before the change")?;
                }
            }
            Some(event) = events.recv() => match event {
                Event::Message { pid, message: PONG, .. } => {
                    if let Some(proc) = workers.find(pid) {
                        proc.ping_sent = None;
                    }
                }
                Event::Message { slot, pid, message: READY } => {
                    if !workers.ready(slot, pid)? {
                        continue;
                    }
                    if workers.ready_count() == workers.count() && !started {
                        started = true;
                        let n = workers.count();
                        let n = if n == 1 { "1 worker".to_owned() } else { format!("{n} workers") };
                        tracing::info!("CovetPy running on {shown} with {n} (Press CTRL+C to quit)");
                    }
                }
                Event::Message { slot, pid, message: LIMIT_REACHED } => {
                    workers.replace_pid(slot, pid, RestartReason::MaxRequests, "reached its request limit")?;
                }
                Event::Message { slot, pid, message: TIMED_OUT } => {
                    workers.replace_pid(slot, pid, RestartReason::Timeout, "has a request that ran past --timeout")?;
                }
                Event::Message { .. } => {}
                Event::Exit { slot, pid, code } => {
                    // Read before `remove` forgets it: a worker killed for its health check is counted apart.
                    let killed = workers.find(pid).is_some_and(|p| p.killed);
                    match workers.remove(slot, pid) {
                        Removed::Unknown => {}
                        Removed::Retired => match code {
                            Some(0) => tracing::info!("Worker process [{pid}] retired"),
                            _ => tracing::warn!("Retiring worker process [{pid}] ended with exit code {code:?}"),
                        },
                        Removed::Current => {
                            if let Some(previous) = workers.keep_previous(slot) {
                                tracing::error!(
                                    "New worker process [{pid}] exited before serving (exit code {code:?}); worker \
                                     process [{previous}] goes on serving"
                                );
                                continue;
                            }
                            if !started && reloader.is_some() {
                                tracing::error!("Worker process [{pid}] exited during startup; waiting for changes to try again");
                                continue;
                            }
                            if !started {
                                tracing::error!("Worker process [{pid}] exited during startup; stopping");
                                workers.signal_all(libc::SIGTERM);
                                while workers.running() > 0 {
                                    match events.recv().await {
                                        Some(Event::Exit { slot, pid, .. }) => {
                                            workers.remove(slot, pid);
                                        }
                                        Some(Event::Message { .. }) => {}
                                        None => break,
                                    }
                                }
                                return Ok(code.and_then(|c| u8::try_from(c).ok()).filter(|c| *c != 0).unwrap_or(1));
                            }
                            tracing::warn!("Worker process [{pid}] died (exit code {code:?}); starting a new one");
                            workers.restarted(if killed { RestartReason::Healthcheck } else { RestartReason::Exited });
                            workers.spawn(slot)?;
                        }

                    }
                },
            }
        }
    };
    workers.set_draining();
    tracing::info!("Stopping {} worker(s)", workers.running());
    workers.signal_all(forwarded);
    workers.close_sockets();
    while workers.running() > 0 {
        tokio::select! {
            Some(event) = events.recv() => {
                if let Event::Exit { slot, pid, .. } = event {
                    workers.remove(slot, pid);
                }
            }
            // A second signal is passed on too: workers treat it as "stop now".
            _ = term.recv() => workers.signal_all(libc::SIGTERM),
            _ = int.recv() => workers.signal_all(libc::SIGINT),
        }
    }
    for b in &binds {
        if let Bind::Endpoint(Endpoint::Unix(path)) = b {
            let _ = std::fs::remove_file(path);
        }
    }
    tracing::info!("Finished parent process [{}]", std::process::id());
    Ok(0)
}

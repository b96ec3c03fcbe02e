//! The supervisor: a parent process that starts the workers (`--workers N`, or one worker with
//! `--limit-max-requests`), replaces any that die, stop answering health checks or use up their request
//! limit, and passes SIGTERM and SIGINT on to them.
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

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use covetpy_protocols::{Endpoint, Listener, LocalAddr, Readiness};
use tokio::io::AsyncReadExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::cli::ServeArgs;
use crate::control::{CONTROL_FD_ENV, LIMIT_REACHED, PING, PONG, READY, RETIRE};
use crate::metrics_http;
use crate::metrics_shm::{Region, METRICS_FD_ENV};
use crate::metrics_text::RestartReason;
use crate::worker::{self, LISTEN_FD_ENV, WORKER_ENV};
use crate::worker_metrics::{self, SharedBoard};

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

/// Something a worker did.
enum Event {
    /// The process exited (`code` is `None` when a signal killed it).
    Exit { slot: usize, pid: u32, code: Option<i32> },
    /// It sent a byte on its control socket.
    Message { slot: usize, pid: u32, message: u8 },
}

/// One worker process.
struct Proc {
    pid: u32,
    control: OwnedWriteHalf,
    /// When the unanswered health-check ping was sent.
    ping_sent: Option<Instant>,
    /// Killed for not answering; its exit is awaited.
    killed: bool,
}

/// A worker slot: the worker serving it, and any earlier workers still finishing their requests.
#[derive(Default)]
struct Slot {
    current: Option<Proc>,
    ready: bool,
    retiring: Vec<Proc>,
}

/// Where workers accept connections.
enum Sockets {
    /// One socket shared by every worker.
    Shared(Listener),
    /// One `SO_REUSEPORT` TCP socket per slot.
    PerSlot(Vec<Listener>),
}

struct Workers {
    exe: std::path::PathBuf,
    args: Vec<std::ffi::OsString>,
    sockets: Sockets,
    slots: Vec<Slot>,
    events: mpsc::UnboundedSender<Event>,
    /// With `--metrics-port`: every worker gets a shared metrics region, summed here when scraped.
    board: Option<SharedBoard>,
    /// What the supervisor's readiness probe reports: ready while at least one worker serves.
    readiness: Arc<Readiness>,
}

impl Workers {
    fn spawn(&mut self, slot: usize) -> anyhow::Result<()> {
        let listen_fd = match &self.sockets {
            Sockets::Shared(listener) => listener.raw_fd(),
            Sockets::PerSlot(listeners) => listeners.get(slot).context("no socket for the worker slot")?.raw_fd(),
        };
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().context("could not create a control socket")?;
        let control_fd = theirs.as_raw_fd();
        let region = self.board.as_ref().map(|_| Region::create()).transpose()?;
        let metrics_fd = region.as_ref().map(Region::raw_fd);
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args)
            .env(WORKER_ENV, "1")
            .env(CONTROL_FD_ENV, control_fd.to_string())
            .env(LISTEN_FD_ENV, listen_fd.to_string())
            .stdin(Stdio::null());
        if let Some(fd) = metrics_fd {
            cmd.env(METRICS_FD_ENV, fd.to_string());
        }
        let inherit = [Some(control_fd), Some(listen_fd), metrics_fd];
        // SAFETY: only async-signal-safe calls (fcntl, prctl) run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in inherit.into_iter().flatten() {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                // A worker must not outlive a supervisor that was killed outright.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("could not start a worker process")?;
        // Only the worker keeps its end, so the supervisor sees end-of-file when the worker is gone.
        drop(theirs);
        let pid = child.id().unwrap_or(0);
        if let (Some(board), Some(region)) = (&self.board, region) {
            worker_metrics::lock(board).add(pid, region);
        }
        ours.set_nonblocking(true).context("could not set up a control socket")?;
        let (mut read, control) =
            tokio::net::UnixStream::from_std(ours).context("could not set up a control socket")?.into_split();
        let events = self.events.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = read.read(&mut buf).await {
                for &message in &buf[..n] {
                    let _ = events.send(Event::Message { slot, pid, message });
                }
            }
        });
        let events = self.events.clone();
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code());
            let _ = events.send(Event::Exit { slot, pid, code });
        });
        if let Some(entry) = self.slots.get_mut(slot) {
            entry.current = Some(Proc { pid, control, ping_sent: None, killed: false });
            entry.ready = false;
        }
        Ok(())
    }

    fn procs_mut(&mut self) -> impl Iterator<Item = &mut Proc> {
        self.slots.iter_mut().flat_map(|s| s.current.iter_mut().chain(s.retiring.iter_mut()))
    }

    fn signal_all(&mut self, sig: libc::c_int) {
        for proc in self.procs_mut() {
            kill(proc.pid, sig);
        }
    }

    fn running(&self) -> usize {
        self.slots.iter().map(|s| usize::from(s.current.is_some()) + s.retiring.len()).sum()
    }

    fn ready(&self) -> usize {
        self.slots.iter().filter(|s| s.ready).count()
    }

    /// Forgets an exited worker; true if it was the slot's current worker (not a retiring one).
    fn remove(&mut self, slot: usize, pid: u32) -> bool {
        if let Some(board) = &self.board {
            worker_metrics::lock(board).exited(pid);
        }
        let Some(entry) = self.slots.get_mut(slot) else { return false };
        if entry.current.as_ref().is_some_and(|p| p.pid == pid) {
            entry.current = None;
            entry.ready = false;
            self.readiness_changed();
            return true;
        }
        entry.retiring.retain(|p| p.pid != pid);
        false
    }

    /// Brings readiness and the ready-workers gauge up to date after a slot's `ready` changed.
    fn readiness_changed(&self) {
        let ready = self.ready();
        self.readiness.set_ready(ready > 0);
        if let Some(board) = &self.board {
            worker_metrics::lock(board).set_workers_ready(ready);
        }
    }

    fn restarted(&self, reason: RestartReason) {
        if let Some(board) = &self.board {
            worker_metrics::lock(board).restarted(reason);
        }
    }

    fn find(&mut self, slot: usize, pid: u32) -> Option<&mut Proc> {
        let entry = self.slots.get_mut(slot)?;
        entry.current.iter_mut().chain(entry.retiring.iter_mut()).find(|p| p.pid == pid)
    }

    /// Pings every worker without an unanswered ping, and kills those whose ping is older than `timeout`.
    fn check_health(&mut self, timeout: Duration) {
        let now = Instant::now();
        for proc in self.procs_mut() {
            match proc.ping_sent {
                _ if proc.killed => {}
                Some(sent) if now.duration_since(sent) > timeout => {
                    tracing::warn!(
                        "Worker process [{}] did not answer a health check within {timeout:?}; killing it",
                        proc.pid
                    );
                    kill(proc.pid, libc::SIGKILL);
                    proc.killed = true;
                }
                Some(_) => {}
                None => {
                    // A full or broken socket counts as an unanswered ping: the worker is stuck or gone.
                    let _ = proc.control.try_write(&[PING]);
                    proc.ping_sent = Some(now);
                }
            }
        }
    }
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid of our own child; at worst it has already exited.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// How often health checks run: often enough that a stuck worker is found soon after its timeout.
fn check_interval(timeout: Duration) -> Duration {
    (timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

async fn supervise(args: &ServeArgs) -> anyhow::Result<u8> {
    let mut term = signal(SignalKind::terminate()).context("could not install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("could not install the SIGINT handler")?;
    tracing::info!("Started parent process [{}]", std::process::id());
    worker::announce_implementations(args);
    let health_timeout = worker::seconds(args.timeout_worker_healthcheck, "--timeout-worker-healthcheck")?;
    if health_timeout.is_zero() {
        bail!("--timeout-worker-healthcheck must be greater than 0");
    }
    let endpoint = worker::endpoint(args);
    // Checked here too, so a bad certificate fails once with one message instead of once per worker.
    let tls = worker::tls_config(args)?.is_some();
    let count = args.workers as usize;
    let inherited = crate::activation::socket_to_serve(args);
    let sockets = match (inherited, &endpoint) {
        // SAFETY: `--fd` or systemd passed this socket to us, and nothing else in this process uses it.
        (Some(fd), _) => Sockets::Shared(unsafe { Listener::from_inherited(fd) }?),
        (None, Endpoint::Unix(_)) => Sockets::Shared(Listener::bind(&endpoint, false)?),
        (None, Endpoint::Tcp { port: 0, .. }) => {
            bail!("--port 0 cannot be combined with --workers or --limit-max-requests: each worker would get a different port")
        }
        (None, Endpoint::Tcp { .. }) => {
            Sockets::PerSlot((0..count).map(|_| Listener::bind(&endpoint, true)).collect::<Result<_, _>>()?)
        }
    };
    let shown = match (&sockets, &endpoint) {
        (Sockets::Shared(listener), _) => {
            worker::describe(&listener.local_addr().context("could not read the socket's address")?, tls)
        }
        (Sockets::PerSlot(_), Endpoint::Tcp { host, port }) => {
            let scheme = if tls { "https" } else { "http" };
            format!("{scheme}://{}", Endpoint::Tcp { host: host.clone(), port: *port })
        }
        (Sockets::PerSlot(_), Endpoint::Unix(path)) => worker::describe(&LocalAddr::Unix(path.clone()), tls),
    };

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
    let mut workers = Workers {
        exe: std::env::current_exe().context("could not find the covetpy executable")?,
        args: std::env::args_os().skip(1).collect(),
        sockets,
        slots: (0..count).map(|_| Slot::default()).collect(),
        events: events_tx,
        board,
        readiness: Arc::clone(&probes.readiness),
    };
    for slot in 0..count {
        workers.spawn(slot)?;
    }

    let mut started = false;
    let mut health = tokio::time::interval(check_interval(health_timeout));
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let forwarded = loop {
        tokio::select! {
            _ = term.recv() => break libc::SIGTERM,
            _ = int.recv() => break libc::SIGINT,
            _ = health.tick() => workers.check_health(health_timeout),
            Some(event) = events.recv() => match event {
                Event::Message { slot, pid, message: PONG } => {
                    if let Some(proc) = workers.find(slot, pid) {
                        proc.ping_sent = None;
                    }
                }
                Event::Message { slot, pid, message: READY } => {
                    let Some(entry) = workers.slots.get_mut(slot) else { continue };
                    if entry.current.as_ref().is_none_or(|p| p.pid != pid) {
                        continue;
                    }
                    entry.ready = true;
                    // The replacement accepts now, so the workers it replaces may stop.
                    for old in &entry.retiring {
                        let _ = old.control.try_write(&[RETIRE]);
                    }
                    workers.readiness_changed();
                    if workers.ready() == count && !started {
                        started = true;
                        let n = if count == 1 { "1 worker".to_owned() } else { format!("{count} workers") };
                        tracing::info!("CovetPy running on {shown} with {n} (Press CTRL+C to quit)");
                    }
                }
                Event::Message { slot, pid, message: LIMIT_REACHED } => {
                    let Some(entry) = workers.slots.get_mut(slot) else { continue };
                    let Some(old) = entry.current.take_if(|p| p.pid == pid) else { continue };
                    tracing::info!("Worker process [{pid}] reached its request limit; starting its replacement");
                    entry.retiring.push(old);
                    entry.ready = false;
                    workers.readiness_changed();
                    workers.restarted(RestartReason::MaxRequests);
                    workers.spawn(slot)?;
                }
                Event::Message { .. } => {}
                Event::Exit { slot, pid, code } => {
                    let killed = workers.find(slot, pid).is_some_and(|p| p.killed);
                    if !workers.remove(slot, pid) {
                        match code {
                            Some(0) => tracing::info!("Worker process [{pid}] retired"),
                            _ => tracing::warn!("Retiring worker process [{pid}] ended with exit code {code:?}"),
                        }
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
        }
    };

    workers.readiness.set_draining();
    tracing::info!("Stopping {} worker(s)", workers.running());
    workers.signal_all(forwarded);
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
    if let (None, Endpoint::Unix(path)) = (inherited, &endpoint) {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("Finished parent process [{}]", std::process::id());
    Ok(0)
}

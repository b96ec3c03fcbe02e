//! The supervisor's record of its workers: one slot per worker (its socket, the worker serving it and
//! earlier workers still finishing), and everything done to them: starting, replacing, retiring, killing.

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use covetpy_protocols::{Endpoint, Listener, Readiness};
use tokio::io::AsyncReadExt;
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::control::{CONTROL_FD_ENV, PING, RETIRE};
use crate::metrics_shm::{Region, METRICS_FD_ENV};
use crate::metrics_text::RestartReason;
use crate::worker::{LISTEN_FD_ENV, WORKER_ENV};
use crate::worker_metrics::{self, SharedBoard};

/// After SIGTTOU steers new connections away from the removed slot's socket, how long its worker goes
/// on accepting: long enough for handshakes begun before the switch to complete and be accepted.
const STEER_SETTLE: Duration = Duration::from_secs(1);

/// Something a worker did.
pub enum Event {
    /// The process exited (`code` is `None` when a signal killed it).
    Exit { slot: usize, pid: u32, code: Option<i32> },
    /// It sent a byte on its control socket.
    Message { slot: usize, pid: u32, message: u8 },
}

/// One worker process.
pub struct Proc {
    pub pid: u32,
    control: OwnedWriteHalf,
    /// When the unanswered health-check ping was sent.
    pub ping_sent: Option<Instant>,
    /// Killed (for not answering, or not finishing in time); its exit is awaited.
    pub killed: bool,
    /// Told to retire.
    retire_sent: bool,
    /// When a retiring worker that is still running is killed.
    kill_at: Option<Instant>,
}

/// A worker slot: the worker serving it, and any earlier workers still finishing their requests.
#[derive(Default)]
pub struct Slot {
    current: Option<Proc>,
    ready: bool,
    retiring: Vec<Proc>,
    /// A restart was asked for while the current worker was still starting: restart again once it is
    /// ready (it may have loaded the code from before the change).
    restart_when_ready: bool,
}

/// A slot removed by SIGTTOU, whose workers are finishing.
struct Leaving {
    slot: Slot,
    /// The slot's own sockets (one per TCP bind), closed once its workers are gone.
    _sockets: Vec<Listener>,
    /// When its worker is told to retire; until then it accepts what was queued on its socket.
    retire_at: Instant,
}

/// Where workers accept connections, for one bind.
pub enum Sockets {
    /// One socket shared by every worker.
    Shared(Listener),
    /// One `SO_REUSEPORT` TCP socket per slot, bound to `endpoint` (new slots get a new one).
    PerSlot {
        /// The address, for the sockets of new slots (SIGTTIN).
        endpoint: Endpoint,
        /// The sockets, in slot order.
        listeners: Vec<Listener>,
    },
}

/// What [`Workers::remove`] found for an exited worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// The slot's current worker.
    Current,
    /// A worker that was retiring (replaced, or in a removed slot).
    Retired,
    /// Not one of ours any more.
    Unknown,
}

/// How the supervisor runs its workers, apart from their sockets.
pub struct Setup {
    /// The command line the workers get: the effective one, so that the settings of the environment and
    /// of the settings files (a `-c` file among them) are read once, by the supervisor.
    pub args: Vec<std::ffi::OsString>,
    /// How long a retiring worker may take to finish before it is killed; `None` waits for it.
    pub drain_allowance: Option<Duration>,
    /// The listen(2) backlog of sockets bound for new slots.
    pub backlog: i32,
    /// With `--metrics-port`: the metrics of every worker.
    pub board: Option<SharedBoard>,
    /// The supervisor's readiness.
    pub readiness: Arc<Readiness>,
}

/// All the workers.
pub struct Workers {
    exe: std::path::PathBuf,
    args: Vec<std::ffi::OsString>,
    /// One entry per bind.
    sockets: Vec<Sockets>,
    slots: Vec<Slot>,
    leaving: Vec<Leaving>,
    events: mpsc::UnboundedSender<Event>,
    /// How long a retiring worker may take to finish before it is killed; `None` waits for it.
    drain_allowance: Option<Duration>,
    backlog: i32,
    /// With `--metrics-port`: every worker gets a shared metrics region, summed here when scraped.
    board: Option<SharedBoard>,
    /// What the supervisor's readiness probe reports: ready while at least one worker serves.
    readiness: Arc<Readiness>,
    /// Whether the steering program is attached (after the first SIGTTIN or SIGTTOU).
    steered: bool,
}

impl Workers {
    /// Workers with `count` empty slots; none is started yet.
    pub fn new(
        setup: Setup,
        sockets: Vec<Sockets>,
        count: usize,
        events: mpsc::UnboundedSender<Event>,
    ) -> anyhow::Result<Workers> {
        let Setup { args, drain_allowance, backlog, board, readiness } = setup;
        Ok(Workers {
            exe: std::env::current_exe().context("could not find the covetpy executable")?,
            args,
            sockets,
            slots: (0..count).map(|_| Slot::default()).collect(),
            leaving: Vec::new(),
            events,
            drain_allowance,
            backlog,
            board,
            readiness,
            steered: false,
        })
    }

    /// How many slots there are.
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    /// Starts a worker for `slot`, which becomes the slot's current worker.
    pub fn spawn(&mut self, slot: usize) -> anyhow::Result<()> {
        let listen_fds = self
            .sockets
            .iter()
            .map(|sockets| match sockets {
                Sockets::Shared(listener) => Ok(listener.raw_fd()),
                Sockets::PerSlot { listeners, .. } => {
                    Ok(listeners.get(slot).context("no socket for the worker slot")?.raw_fd())
                }
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let listen_env = listen_fds.iter().map(|fd| fd.to_string()).collect::<Vec<_>>().join(",");
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().context("could not create a control socket")?;
        let control_fd = theirs.as_raw_fd();
        let region = self.board.as_ref().map(|_| Region::create()).transpose()?;
        let metrics_fd = region.as_ref().map(Region::raw_fd);
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args)
            .env(WORKER_ENV, "1")
            .env(CONTROL_FD_ENV, control_fd.to_string())
            .env(LISTEN_FD_ENV, listen_env)
            .stdin(Stdio::null());
        if let Some(fd) = metrics_fd {
            cmd.env(METRICS_FD_ENV, fd.to_string());
        }
        let mut inherit = listen_fds;
        inherit.push(control_fd);
        inherit.extend(metrics_fd);
        // SAFETY: only async-signal-safe calls (fcntl, prctl) run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
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
            entry.current =
                Some(Proc { pid, control, ping_sent: None, killed: false, retire_sent: false, kill_at: None });
            entry.ready = false;
        }
        Ok(())
    }

    /// Starts a replacement for `slot`'s current worker, which is told to retire once the replacement is
    /// serving. A slot whose worker is still starting is restarted once it is ready instead; an empty slot
    /// (its worker failed to start under `--reload`) just gets a new worker. `why` goes in the log.
    pub fn replace(&mut self, slot: usize, reason: RestartReason, why: &str) -> anyhow::Result<()> {
        let Some(entry) = self.slots.get_mut(slot) else { return Ok(()) };
        match entry.current.take_if(|_| entry.ready) {
            Some(old) => {
                tracing::info!("Worker process [{}] {why}; starting its replacement", old.pid);
                entry.retiring.push(old);
                entry.ready = false;
                entry.restart_when_ready = false;
                self.readiness_changed();
                self.restarted(reason);
                self.spawn(slot)
            }
            None if entry.current.is_some() => {
                entry.restart_when_ready = true;
                Ok(())
            }
            None => self.spawn(slot),
        }
    }

    /// Replaces `pid` if it is still `slot`'s current worker.
    pub fn replace_pid(&mut self, slot: usize, pid: u32, reason: RestartReason, why: &str) -> anyhow::Result<()> {
        let current = self.slots.get(slot).and_then(|s| s.current.as_ref()).is_some_and(|p| p.pid == pid);
        if current {
            self.replace(slot, reason, why)?;
        }
        Ok(())
    }

    /// `slot`'s worker `pid` reported READY: the workers it replaces retire. True if it is the current
    /// worker of its slot.
    pub fn ready(&mut self, slot: usize, pid: u32) -> anyhow::Result<bool> {
        let allowance = self.drain_allowance;
        let Some(entry) = self.slots.get_mut(slot) else { return Ok(false) };
        if entry.current.as_ref().is_none_or(|p| p.pid != pid) {
            return Ok(false);
        }
        entry.ready = true;
        // The replacement accepts now, so the workers it replaces may stop.
        for old in entry.retiring.iter_mut().filter(|p| !p.retire_sent) {
            old.retire(allowance);
        }
        let restart = std::mem::take(&mut entry.restart_when_ready);
        self.readiness_changed();
        if restart {
            self.replace(slot, RestartReason::Reload, "was started before the latest change")?;
        }
        Ok(true)
    }

    /// How many slots have a worker that is serving.
    pub fn ready_count(&self) -> usize {
        self.slots.iter().filter(|s| s.ready).count()
    }

    /// After `slot`'s new worker exited without becoming ready: if it was replacing a worker that has not
    /// been told to retire yet, that one serves the slot again, and its pid is returned.
    pub fn keep_previous(&mut self, slot: usize) -> Option<u32> {
        let entry = self.slots.get_mut(slot)?;
        let index = entry.retiring.iter().rposition(|p| !p.retire_sent)?;
        let previous = entry.retiring.remove(index);
        let pid = previous.pid;
        entry.current = Some(previous);
        entry.ready = true;
        entry.restart_when_ready = false;
        self.readiness_changed();
        Some(pid)
    }

    fn procs_mut(&mut self) -> impl Iterator<Item = &mut Proc> {
        self.slots
            .iter_mut()
            .chain(self.leaving.iter_mut().map(|l| &mut l.slot))
            .flat_map(|s| s.current.iter_mut().chain(s.retiring.iter_mut()))
    }

    /// Sends `sig` to every worker.
    pub fn signal_all(&mut self, sig: libc::c_int) {
        for proc in self.procs_mut() {
            kill(proc.pid, sig);
        }
    }

    /// How many worker processes are running.
    pub fn running(&self) -> usize {
        self.slots
            .iter()
            .chain(self.leaving.iter().map(|l| &l.slot))
            .map(|s| usize::from(s.current.is_some()) + s.retiring.len())
            .sum()
    }

    /// Forgets an exited worker and says what it was.
    pub fn remove(&mut self, slot: usize, pid: u32) -> Removed {
        if let Some(board) = &self.board {
            worker_metrics::lock(board).exited(pid);
        }
        if let Some(entry) = self.slots.get_mut(slot) {
            if entry.current.as_ref().is_some_and(|p| p.pid == pid) {
                entry.current = None;
                entry.ready = false;
                self.readiness_changed();
                return Removed::Current;
            }
            let before = entry.retiring.len();
            entry.retiring.retain(|p| p.pid != pid);
            if entry.retiring.len() != before {
                return Removed::Retired;
            }
        }
        let mut found = Removed::Unknown;
        for leaving in &mut self.leaving {
            let slot = &mut leaving.slot;
            if slot.current.as_ref().is_some_and(|p| p.pid == pid) {
                slot.current = None;
                found = Removed::Retired;
            }
            let before = slot.retiring.len();
            slot.retiring.retain(|p| p.pid != pid);
            if slot.retiring.len() != before {
                found = Removed::Retired;
            }
        }
        // A removed slot's socket closes once no worker of it is left.
        self.leaving.retain(|l| l.slot.current.is_some() || !l.slot.retiring.is_empty());
        found
    }

    /// Brings readiness and the ready-workers gauge up to date after a slot's `ready` changed.
    fn readiness_changed(&self) {
        let ready = self.ready_count();
        self.readiness.set_ready(ready > 0);
        if let Some(board) = &self.board {
            worker_metrics::lock(board).set_workers_ready(ready);
        }
    }

    /// Counts a replacement worker started for `reason`.
    pub fn restarted(&self, reason: RestartReason) {
        if let Some(board) = &self.board {
            worker_metrics::lock(board).restarted(reason);
        }
    }

    /// From SIGTERM/SIGINT on, the supervisor's readiness probe answers 503.
    pub fn set_draining(&self) {
        self.readiness.set_draining();
    }

    /// Lets go of the supervisor's copies of the listening sockets once the workers are told to stop:
    /// no worker is started again, and each socket then closes with the last worker holding it, so a
    /// connection that arrives after the workers stopped accepting is refused instead of waiting in
    /// a backlog nobody reads.
    pub fn close_sockets(&mut self) {
        self.sockets.clear();
    }

    /// The worker `pid`, wherever it is.
    pub fn find(&mut self, pid: u32) -> Option<&mut Proc> {
        self.procs_mut().find(|p| p.pid == pid)
    }

    /// SIGTTIN: one more slot, with its own socket when each slot has one.
    pub fn add_slot(&mut self) -> anyhow::Result<()> {
        let slot = self.slots.len();
        for sockets in &mut self.sockets {
            if let Sockets::PerSlot { endpoint, listeners } = sockets {
                let listener = Listener::bind(endpoint, true)?;
                listener.listen(self.backlog).context("could not listen on the new worker's socket")?;
                listeners.push(listener);
            }
        }
        self.slots.push(Slot::default());
        if self.steered {
            self.steer();
        }
        tracing::info!("Adding a worker: now {} worker(s)", self.slots.len());
        self.spawn(slot)
    }

    /// SIGTTOU: one slot fewer, never below one. With a socket per slot, new connections are first steered
    /// away from the last slot's socket; its worker accepts what is already queued there for a moment,
    /// then retires, and the socket closes when the worker is gone. A shared socket loses nothing: the
    /// worker retires at once and the others accept from the same queue.
    pub fn remove_slot(&mut self) {
        if self.slots.len() <= 1 {
            tracing::warn!("Not removing the last worker");
            return;
        }
        let sockets: Vec<Listener> = self
            .sockets
            .iter_mut()
            .filter_map(|sockets| match sockets {
                Sockets::Shared(_) => None,
                Sockets::PerSlot { listeners, .. } => listeners.pop(),
            })
            .collect();
        let Some(slot) = self.slots.pop() else { return };
        let settle = if sockets.is_empty() { Duration::ZERO } else { STEER_SETTLE };
        if !sockets.is_empty() {
            self.steered = true;
            self.steer();
        }
        tracing::info!("Removing a worker: now {} worker(s)", self.slots.len());
        self.leaving.push(Leaving { slot, _sockets: sockets, retire_at: Instant::now() + settle });
    }

    /// Points each reuseport group (one per TCP bind) at the current slots' sockets.
    fn steer(&self) {
        for sockets in &self.sockets {
            let Sockets::PerSlot { listeners, .. } = sockets else { continue };
            let Some(first) = listeners.first() else { continue };
            let active = u32::try_from(listeners.len()).unwrap_or(u32::MAX);
            if let Err(e) = crate::steering::steer(first.raw_fd(), active) {
                tracing::warn!(
                    "Could not steer new connections to the remaining workers ({e}); connections queued on a \
                     removed worker's socket may be reset"
                );
            }
        }
    }

    /// Pings every worker without an unanswered ping, and kills those whose ping is older than `timeout`
    /// and retiring ones past their drain allowance. Tells removed slots' workers to retire when due.
    pub fn check_health(&mut self, timeout: Duration) {
        let now = Instant::now();
        let allowance = self.drain_allowance;
        for leaving in self.leaving.iter_mut().filter(|l| l.retire_at <= now) {
            if let Some(proc) = leaving.slot.current.as_mut().filter(|p| !p.retire_sent) {
                proc.retire(allowance);
            }
        }
        for proc in self.procs_mut() {
            if proc.killed {
                continue;
            }
            if let Some(deadline) = proc.kill_at.filter(|d| *d <= now) {
                let late = now.duration_since(deadline) + allowance.unwrap_or_default();
                tracing::warn!("Retiring worker process [{}] did not finish within {late:?}; killing it", proc.pid);
                kill(proc.pid, libc::SIGKILL);
                proc.killed = true;
                continue;
            }
            match proc.ping_sent {
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

    /// `--workers-max-rss`: replaces serving workers whose resident memory is above `limit` bytes.
    pub fn check_memory(&mut self, limit: u64) -> anyhow::Result<()> {
        let over: Vec<(usize, u64)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.ready)
            .filter_map(|(i, s)| {
                let pid = s.current.as_ref()?.pid;
                crate::memory::resident_bytes(pid).filter(|rss| *rss > limit).map(|rss| (i, rss))
            })
            .collect();
        for (slot, rss) in over {
            let why =
                format!("uses {} MiB, more than --workers-max-rss {} MiB", rss / (1024 * 1024), limit / (1024 * 1024));
            self.replace(slot, RestartReason::MaxRss, &why)?;
        }
        Ok(())
    }
}

impl Proc {
    /// Tells the worker to finish and exit; past `allowance` it is killed.
    fn retire(&mut self, allowance: Option<Duration>) {
        let _ = self.control.try_write(&[RETIRE]);
        self.retire_sent = true;
        self.kill_at = allowance.map(|a| Instant::now() + a);
    }
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid of our own child; at worst it has already exited.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

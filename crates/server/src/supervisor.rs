//! `--workers N`: a parent process that starts N workers, restarts any that die, and passes SIGTERM and
//! SIGINT on to them.
//!
//! Workers bind the TCP port themselves with `SO_REUSEPORT`, so the kernel spreads connections across
//! them. A Unix socket cannot be shared that way, so the parent binds it once and the workers inherit it.

use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Stdio;

use anyhow::{bail, Context};
use covetpy_protocols::{Endpoint, Listener, LocalAddr};
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::cli::ServeArgs;
use crate::worker::{self, LISTEN_FD_ENV, READY_FD_ENV, WORKER_ENV};

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

struct Exit {
    slot: usize,
    pid: u32,
    code: Option<i32>,
}

struct Workers {
    exe: std::path::PathBuf,
    args: Vec<std::ffi::OsString>,
    ready_fd: RawFd,
    listen_fd: Option<RawFd>,
    pids: Vec<Option<u32>>,
    exits: mpsc::UnboundedSender<Exit>,
}

impl Workers {
    fn spawn(&mut self, slot: usize) -> anyhow::Result<()> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args).env(WORKER_ENV, "1").env(READY_FD_ENV, self.ready_fd.to_string()).stdin(Stdio::null());
        if let Some(fd) = self.listen_fd {
            cmd.env(LISTEN_FD_ENV, fd.to_string());
        }
        let inherit = [Some(self.ready_fd), self.listen_fd];
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
        let pid = child.id().unwrap_or(0);
        self.pids[slot] = Some(pid);
        let exits = self.exits.clone();
        tokio::spawn(async move {
            let code = child.wait().await.ok().and_then(|s| s.code());
            let _ = exits.send(Exit { slot, pid, code });
        });
        Ok(())
    }

    fn signal_all(&self, sig: libc::c_int) {
        for pid in self.pids.iter().flatten() {
            // SAFETY: kill(2) with a pid of our own child; at worst it has already exited.
            unsafe {
                libc::kill(*pid as libc::pid_t, sig);
            }
        }
    }

    fn running(&self) -> usize {
        self.pids.iter().flatten().count()
    }
}

async fn supervise(args: &ServeArgs) -> anyhow::Result<u8> {
    let mut term = signal(SignalKind::terminate()).context("could not install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("could not install the SIGINT handler")?;
    tracing::info!("Started parent process [{}]", std::process::id());
    worker::announce_implementations(args);
    let endpoint = worker::endpoint(args);
    // Checked here too, so a bad certificate fails once with one message instead of once per worker.
    let tls = worker::tls_config(args)?.is_some();
    if matches!(endpoint, Endpoint::Tcp { port: 0, .. }) {
        bail!("--port 0 cannot be combined with --workers: each worker would get a different port");
    }
    let shared_socket = match &endpoint {
        Endpoint::Unix(_) => Some(Listener::bind(&endpoint, false)?),
        Endpoint::Tcp { .. } => None,
    };
    let (mut ready_reader, ready_writer) = std::io::pipe().context("could not create the readiness pipe")?;
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        while matches!(ready_reader.read(&mut byte), Ok(1)) {
            if ready_tx.send(()).is_err() {
                break;
            }
        }
    });

    let count = args.workers as usize;
    let (exits_tx, mut exits) = mpsc::unbounded_channel();
    let mut workers = Workers {
        exe: std::env::current_exe().context("could not find the covetpy executable")?,
        args: std::env::args_os().skip(1).collect(),
        ready_fd: ready_writer.as_raw_fd(),
        listen_fd: shared_socket.as_ref().map(Listener::raw_fd),
        pids: vec![None; count],
        exits: exits_tx,
    };
    for slot in 0..count {
        workers.spawn(slot)?;
    }

    let mut ready = 0usize;
    let mut started = false;
    let forwarded = loop {
        tokio::select! {
            _ = term.recv() => break libc::SIGTERM,
            _ = int.recv() => break libc::SIGINT,
            Some(()) = ready_rx.recv() => {
                ready += 1;
                if ready == count && !started {
                    started = true;
                    let shown = match &endpoint {
                        Endpoint::Unix(path) => worker::describe(&LocalAddr::Unix(path.clone()), tls),
                        Endpoint::Tcp { host, port } => {
                            let scheme = if tls { "https" } else { "http" };
                            format!("{scheme}://{}", Endpoint::Tcp { host: host.clone(), port: *port })
                        }
                    };
                    tracing::info!("CovetPy running on {shown} with {count} workers (Press CTRL+C to quit)");
                }
            }
            Some(exit) = exits.recv() => {
                workers.pids[exit.slot] = None;
                if !started {
                    tracing::error!("Worker process [{}] exited during startup; stopping", exit.pid);
                    workers.signal_all(libc::SIGTERM);
                    while workers.running() > 0 {
                        match exits.recv().await {
                            Some(other) => workers.pids[other.slot] = None,
                            None => break,
                        }
                    }
                    return Ok(exit.code.and_then(|c| u8::try_from(c).ok()).filter(|c| *c != 0).unwrap_or(1));
                }
                tracing::warn!("Worker process [{}] died (exit code {:?}); starting a new one", exit.pid, exit.code);
                ready = ready.saturating_sub(1);
                workers.spawn(exit.slot)?;
            }
        }
    };

    tracing::info!("Stopping {} worker(s)", workers.running());
    workers.signal_all(forwarded);
    while workers.running() > 0 {
        tokio::select! {
            Some(exit) = exits.recv() => {
                workers.pids[exit.slot] = None;
            }
            // A second signal is passed on too: workers treat it as "stop now".
            _ = term.recv() => workers.signal_all(libc::SIGTERM),
            _ = int.recv() => workers.signal_all(libc::SIGINT),
        }
    }
    if let Endpoint::Unix(path) = &endpoint {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("Finished parent process [{}]", std::process::id());
    Ok(0)
}

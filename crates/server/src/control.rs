//! The channel between the supervisor and each of its workers: one end of a Unix socket pair per worker,
//! carrying one byte per message.
//!
//! The supervisor sends [`PING`] for its health check (`--timeout-worker-healthcheck`) and [`RETIRE`] once
//! a replacement is serving; the worker answers pings with [`PONG`], and reports [`READY`] once it is
//! serving, [`LIMIT_REACHED`] when `--limit-max-requests` is used up and [`TIMED_OUT`] when a request
//! ran past `--timeout`. The worker's side runs as a task
//! on its Tokio runtime, so a worker whose runtime is stuck stops answering pings, not just one that died.

use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use covetpy_protocols::{Handler, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

/// The worker's end of its control socket, as a descriptor number.
pub const CONTROL_FD_ENV: &str = "COVETPY_CONTROL_FD";

/// Supervisor to worker: answer with [`PONG`].
pub const PING: u8 = b'p';
/// Supervisor to worker: a replacement is serving; stop accepting, finish and exit.
pub const RETIRE: u8 = b'r';
/// Worker to supervisor: the answer to [`PING`].
pub const PONG: u8 = b'P';
/// Worker to supervisor: the app is loaded and the worker is about to accept connections.
pub const READY: u8 = b'S';
/// Worker to supervisor: `--limit-max-requests` is reached; start a replacement.
pub const LIMIT_REACHED: u8 = b'L';
/// Worker to supervisor: a request ran past `--timeout`; start a replacement.
pub const TIMED_OUT: u8 = b'T';

/// The worker's side of the control channel.
#[derive(Debug, Clone)]
pub struct Control {
    outgoing: mpsc::UnboundedSender<u8>,
    retire: Arc<Notify>,
}

impl Control {
    /// In a worker started by the supervisor, adopts the inherited control socket and starts the task that
    /// answers it on `runtime`. `None` in a process without a supervisor.
    pub fn connect(runtime: &tokio::runtime::Handle) -> anyhow::Result<Option<Control>> {
        let Some(fd) = std::env::var(CONTROL_FD_ENV).ok().and_then(|v| v.parse::<RawFd>().ok()) else {
            return Ok(None);
        };
        // SAFETY: the supervisor passes one end of a socket pair made for this worker alone, and nothing
        // else in this process uses that descriptor.
        let stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
        stream.set_nonblocking(true).context("could not set up the supervisor channel")?;
        set_cloexec(fd);
        let _enter = runtime.enter();
        let stream = tokio::net::UnixStream::from_std(stream).context("could not set up the supervisor channel")?;
        let (outgoing, queued) = mpsc::unbounded_channel();
        let retire = Arc::new(Notify::new());
        runtime.spawn(answer(stream, queued, Arc::clone(&retire)));
        Ok(Some(Control { outgoing, retire }))
    }

    /// Sends one message to the supervisor (in order with the others; a closed channel is ignored, as the
    /// supervisor is then gone and the worker is being stopped by its parent-death signal).
    pub fn send(&self, message: u8) {
        let _ = self.outgoing.send(message);
    }

    /// Resolves once the supervisor has sent [`RETIRE`].
    pub async fn retired(&self) {
        self.retire.notified().await;
    }
}

/// Marks an inherited descriptor close-on-exec, so programs the application starts do not inherit it.
fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor this process owns; failure only means a child could inherit it.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}

async fn answer(stream: tokio::net::UnixStream, mut queued: mpsc::UnboundedReceiver<u8>, retire: Arc<Notify>) {
    let (mut read, mut write) = stream.into_split();
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            received = read.read(&mut buf) => match received {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    for &message in &buf[..n] {
                        match message {
                            // Answered in the guard; a failed write means the supervisor is gone.
                            PING if write.write_all(&[PONG]).await.is_err() => return,
                            // A permit is stored if nobody waits yet, so an early RETIRE is not lost.
                            RETIRE => retire.notify_one(),
                            _ => {}
                        }
                    }
                }
            },
            Some(message) = queued.recv() => {
                if write.write_all(&[message]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `--limit-max-requests` for one worker: the limit with its jitter applied, and the count so far.
#[derive(Debug)]
pub struct RequestBudget {
    limit: u64,
    served: AtomicU64,
    control: Control,
}

impl RequestBudget {
    /// `limit` plus a random 0..=`jitter` (as gunicorn and uvicorn draw it, once per worker).
    pub fn new(limit: u64, jitter: u64, control: Control) -> RequestBudget {
        let extra = if jitter == 0 { 0 } else { random_u64() % (jitter.saturating_add(1)).max(1) };
        RequestBudget { limit: limit.saturating_add(extra), served: AtomicU64::new(0), control }
    }
}

/// A random number without a dependency: std's hasher keys are seeded from the OS for each RandomState.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// Wraps a handler and counts its requests against a [`RequestBudget`].
#[derive(Debug)]
pub struct Counted<H> {
    inner: H,
    budget: Option<RequestBudget>,
}

impl<H> Counted<H> {
    /// Counts the requests `inner` serves against `budget` (with `None`, only forwards them).
    pub fn new(inner: H, budget: Option<RequestBudget>) -> Self {
        Counted { inner, budget }
    }
}

impl<H: Handler> Handler for Counted<H> {
    async fn call(&self, request: Request) -> Response {
        if let Some(budget) = &self.budget {
            // Exactly one request sees the limit, so the supervisor is asked once. The worker keeps serving
            // until the replacement is up, so no request is refused meanwhile.
            if budget.served.fetch_add(1, Ordering::Relaxed).saturating_add(1) == budget.limit {
                tracing::info!(
                    "Maximum request limit of {} reached; retiring once a replacement is serving",
                    budget.limit
                );
                budget.control.send(LIMIT_REACHED);
            }
        }
        self.inner.call(request).await
    }
}

//! The one-way path from Tokio threads to the event-loop thread.
//!
//! Network-side code never touches Python. It posts [`Job`]s through a [`LoopSender`]; the event loop
//! watches the read end of a socket pair and drains the queue when woken. A flag makes sure only the
//! first message after a drain pays for the wake-up write, so under load one wake-up carries many
//! requests.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use covetpy_protocols::metrics::Queue;
use pyo3::prelude::*;

/// Work for the event-loop thread, run there with the GIL held. Each interface defines its own jobs
/// (a new request, a future to resolve), so this queue names none of them.
pub(crate) trait Job: Send {
    /// Does the work, on the event-loop thread.
    fn run(self: Box<Self>, py: Python<'_>);
}

/// What travels through the queue.
pub(crate) enum Message {
    /// Run this job.
    Run(Box<dyn Job>),
    /// Stop the event loop (server shutdown).
    Stop,
}

struct Bell {
    rung: AtomicBool,
    writer: UnixStream,
    /// Wakes the ringer task, which writes the wake-up byte at the end of the Tokio thread's current
    /// turn, so every request that turn produced shares one wake-up.
    deferred: tokio::sync::Notify,
}

impl Bell {
    fn ring(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            if tokio::runtime::Handle::try_current().is_ok() {
                self.deferred.notify_one();
            } else {
                self.write();
            }
        }
    }

    fn write(&self) {
        // A full socket buffer means a wake-up is already pending, so a failed write loses nothing.
        let _ = (&self.writer).write(&[1]);
    }
}

/// Writes the wake-up byte for messages posted from Tokio threads, once per scheduler turn.
async fn ringer(bell: Arc<Bell>) {
    loop {
        bell.deferred.notified().await;
        // yield_now defers this task until the runtime has polled its I/O driver, which lets the other
        // connections that are ready this turn post their requests first.
        tokio::task::yield_now().await;
        bell.write();
    }
}

/// The sending side; cheap to clone and usable from any thread without the GIL.
#[derive(Clone)]
pub(crate) struct LoopSender {
    tx: mpsc::Sender<Message>,
    bell: Arc<Bell>,
}

impl LoopSender {
    /// Queues a job and wakes the event-loop thread. Returns false once the thread has gone away.
    pub(crate) fn post(&self, job: Box<dyn Job>) -> bool {
        self.send(Message::Run(job))
    }

    /// Asks the event loop to stop.
    pub(crate) fn stop(&self) -> bool {
        self.send(Message::Stop)
    }

    fn send(&self, message: Message) -> bool {
        // Counted before it is queued, so the loop thread never takes away what was not added yet.
        let metrics = covetpy_protocols::metrics::installed();
        if let Some(m) = metrics {
            m.queued(Queue::EventLoop, 1);
        }
        if self.tx.send(message).is_err() {
            if let Some(m) = metrics {
                m.dequeued(Queue::EventLoop, 1);
            }
            return false;
        }
        self.bell.ring();
        true
    }
}

/// The receiving side, owned by the event-loop thread.
pub(crate) struct LoopReceiver {
    rx: mpsc::Receiver<Message>,
    reader: UnixStream,
    bell: Arc<Bell>,
}

/// How many messages one wake-up handles before yielding back to the event loop, so a flood of new
/// requests cannot starve tasks that are already running.
const BATCH: usize = 512;

impl LoopReceiver {
    /// The descriptor the event loop should watch for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Takes the messages that are waiting. Call when the descriptor is readable.
    pub(crate) fn drain(&self) -> Vec<Message> {
        // At most one byte is pending per drain (the flag admits one write until we clear it), so a
        // single read empties the socket without a second, failing read.
        let mut sink = [0u8; 64];
        let _ = (&self.reader).read(&mut sink);
        // Clear the flag only after emptying the socket: a producer that finds it clear writes a fresh
        // byte, which must not be swallowed by the read above.
        self.bell.rung.store(false, Ordering::Release);
        let messages: Vec<Message> = self.rx.try_iter().take(BATCH).collect();
        if let Some(m) = covetpy_protocols::metrics::installed() {
            m.dequeued(Queue::EventLoop, messages.len());
        }
        if messages.len() == BATCH {
            self.bell.ring();
        }
        messages
    }
}

/// Creates a connected sender and receiver; `tokio` runs the task that batches wake-ups.
pub(crate) fn channel(tokio: &tokio::runtime::Handle) -> io::Result<(LoopSender, LoopReceiver)> {
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    let (tx, rx) = mpsc::channel();
    let bell = Arc::new(Bell { rung: AtomicBool::new(false), writer, deferred: tokio::sync::Notify::new() });
    tokio.spawn(ringer(Arc::clone(&bell)));
    Ok((LoopSender { tx, bell: Arc::clone(&bell) }, LoopReceiver { rx, reader, bell }))
}

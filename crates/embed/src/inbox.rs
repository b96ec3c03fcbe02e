//! The one-way path from Tokio threads to the interpreter thread.
//!
//! Network-side code never touches Python. It posts [`Event`]s to an [`Inbox`]; the interpreter thread's
//! event loop watches the read end of a socket pair and drains the queue when woken. A flag makes sure
//! only the first event after a drain pays for the wake-up write, so under load one wake-up carries many
//! requests.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use pyo3::prelude::*;

use crate::asgi::call::{HttpCall, Outcome};

/// Work for the interpreter thread.
pub(crate) enum Event {
    /// A new HTTP request to hand to the application.
    Http(Box<HttpCall>),
    /// A native request for an `async def` endpoint.
    Native(Box<crate::native::NativeCall>),
    /// A native response object that streams itself as an ASGI app.
    NativeAsgi(Py<PyAny>, Box<crate::native::NativeCall>),
    /// Resolve an asyncio future the application is waiting on.
    Wake(Py<PyAny>, Outcome),
    /// Stop the event loop (server shutdown).
    Stop,
}

struct Bell {
    rung: AtomicBool,
    writer: UnixStream,
}

impl Bell {
    fn ring(&self) {
        if !self.rung.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is already pending, so a failed write loses nothing.
            let _ = (&self.writer).write(&[1]);
        }
    }
}

/// The sending side; cheap to clone and usable from any thread without the GIL.
#[derive(Clone)]
pub(crate) struct Inbox {
    tx: mpsc::Sender<Event>,
    bell: Arc<Bell>,
}

impl Inbox {
    /// Queues an event and wakes the interpreter thread. Returns false once the thread has gone away.
    pub(crate) fn post(&self, event: Event) -> bool {
        if self.tx.send(event).is_err() {
            return false;
        }
        self.bell.ring();
        true
    }
}

/// The receiving side, owned by the interpreter thread.
pub(crate) struct Mailbox {
    rx: mpsc::Receiver<Event>,
    reader: UnixStream,
    bell: Arc<Bell>,
}

/// How many events one wake-up handles before yielding back to the event loop, so a flood of new
/// requests cannot starve tasks that are already running.
const BATCH: usize = 512;

impl Mailbox {
    /// The descriptor the event loop should watch for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Takes the events that are waiting. Call when the descriptor is readable.
    pub(crate) fn drain(&self) -> Vec<Event> {
        let mut sink = [0u8; 64];
        while matches!((&self.reader).read(&mut sink), Ok(n) if n > 0) {}
        // Clear the flag only after emptying the socket: a producer that finds it clear writes a fresh
        // byte, which must not be swallowed by the read above.
        self.bell.rung.store(false, Ordering::Release);
        let events: Vec<Event> = self.rx.try_iter().take(BATCH).collect();
        if events.len() == BATCH {
            self.bell.ring();
        }
        events
    }
}

/// Creates a connected inbox and mailbox.
pub(crate) fn channel() -> io::Result<(Inbox, Mailbox)> {
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    let (tx, rx) = mpsc::channel();
    let bell = Arc::new(Bell { rung: AtomicBool::new(false), writer });
    Ok((Inbox { tx, bell: Arc::clone(&bell) }, Mailbox { rx, reader, bell }))
}

//! A pool of Python threads that run blocking handlers (WSGI apps, `def` endpoints).
//!
//! Jobs come from one queue. A thread that finishes a job takes the next queued one without giving up
//! the GIL, so under load the work stays on a warm thread; only an empty queue puts a thread to sleep,
//! with the GIL released.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};

use covetpy_protocols::metrics::{self, Queue};
use pyo3::prelude::*;

use crate::StartupError;

enum Job<T> {
    Run(T),
    Stop,
}

/// Sends work to the pool; cheap to clone.
pub(crate) struct PoolSender<T> {
    tx: Sender<Job<T>>,
}

impl<T> Clone for PoolSender<T> {
    fn clone(&self) -> Self {
        PoolSender { tx: self.tx.clone() }
    }
}

impl<T> PoolSender<T> {
    /// Queues a job; false once the pool has shut down.
    pub(crate) fn send(&self, job: T) -> bool {
        // Counted before it is queued, so the thread that takes it never subtracts first.
        let metrics = metrics::installed();
        if let Some(m) = metrics {
            m.queued(Queue::ThreadPool, 1);
        }
        let sent = self.tx.send(Job::Run(job)).is_ok();
        if let (Some(m), false) = (metrics, sent) {
            m.dequeued(Queue::ThreadPool, 1);
        }
        sent
    }
}

/// The running threads.
pub(crate) struct Pool<T> {
    tx: Sender<Job<T>>,
    threads: usize,
}

impl<T: Send + 'static> Pool<T> {
    /// Starts `threads` threads named `{name}-{i}`, each running `run` for every job it takes.
    pub(crate) fn start<F>(name: &str, threads: usize, run: F) -> Result<Pool<T>, StartupError>
    where
        F: Fn(Python<'_>, T) + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        let threads = threads.max(1);
        for index in 0..threads {
            let rx = Arc::clone(&rx);
            let run = Arc::clone(&run);
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    crate::scheduling::batch_current_thread();
                    Python::attach(|py| work(py, &rx, &*run));
                })
                .map_err(|e| StartupError::Internal(e.to_string()))?;
        }
        Ok(Pool { tx, threads })
    }

    /// A handle for queueing jobs.
    pub(crate) fn sender(&self) -> PoolSender<T> {
        PoolSender { tx: self.tx.clone() }
    }

    /// Asks every thread to stop after the jobs queued before this call. Threads still inside a job
    /// finish on their own; nobody waits for them.
    pub(crate) fn shutdown(&self) {
        for _ in 0..self.threads {
            let _ = self.tx.send(Job::Stop);
        }
    }
}

fn work<T: Send>(py: Python<'_>, rx: &Mutex<Receiver<Job<T>>>, run: &dyn Fn(Python<'_>, T)) {
    loop {
        let ready = rx.try_lock().ok().map(|q| q.try_recv());
        let job = match ready {
            Some(Ok(job)) => job,
            Some(Err(TryRecvError::Disconnected)) => return,
            Some(Err(TryRecvError::Empty)) | None => {
                match py.detach(|| rx.lock().unwrap_or_else(PoisonError::into_inner).recv()) {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        match job {
            Job::Run(job) => {
                if let Some(m) = metrics::installed() {
                    m.dequeued(Queue::ThreadPool, 1);
                }
                run(py, job);
            }
            Job::Stop => return,
        }
    }
}

//! The supervisor's view of its workers' metrics: the shared region of every live worker, what the
//! workers that have exited counted before they went, and the supervisor's own numbers (restarts).
//! A scrape sums them, so the numbers are for the whole server and counters never go back when a
//! worker is replaced.

use std::sync::{Arc, Mutex, PoisonError};

use covetpy_protocols::metrics::Totals;

use crate::metrics_shm::Region;
use crate::metrics_text::{self, ProcessFacts, RestartReason};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Board {
    live: Vec<(u32, Region)>,
    retired: Totals,
    facts: ProcessFacts,
}

/// The board, shared by the supervisor's loop and the metrics listener.
pub type SharedBoard = Arc<Mutex<Board>>;

/// Locks the board; a panic elsewhere while it was held leaves plain counters, still fine to read.
pub fn lock(board: &SharedBoard) -> std::sync::MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Board {
    /// Worker `pid` counts into `region`.
    pub fn add(&mut self, pid: u32, region: Region) {
        self.live.push((pid, region));
    }

    /// Worker `pid` has exited: its counters are kept, its gauges dropped.
    pub fn exited(&mut self, pid: u32) {
        if let Some(at) = self.live.iter().position(|(p, _)| *p == pid) {
            let (_, region) = self.live.swap_remove(at);
            region.metrics().add_counters_to(&mut self.retired);
        }
    }

    /// A replacement worker was started.
    pub fn restarted(&mut self, reason: RestartReason) {
        self.facts.restarts[reason as usize] += 1;
    }

    /// How many workers serve now.
    pub fn set_workers_ready(&mut self, ready: usize) {
        self.facts.workers_ready = ready as u64;
    }

    /// The exposition of everything.
    pub fn render(&self) -> String {
        let mut totals = self.retired.clone();
        let mut resident = metrics_text::resident_bytes(None);
        for (pid, region) in &self.live {
            region.metrics().add_to(&mut totals);
            resident += metrics_text::resident_bytes(Some(*pid));
        }
        let facts = ProcessFacts { resident_bytes: resident, ..self.facts.clone() };
        metrics_text::render(&totals, &facts)
    }
}

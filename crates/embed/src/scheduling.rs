//! Thread scheduling hints.
//!
//! The network threads and the interpreter thread hand work to each other. When they share a core, the
//! kernel's default is to switch to a thread the moment it is woken, so every hand-off would carry a
//! single request. Marking both sides as batch threads lets the running side finish what it has ready
//! first, so each hand-off carries many requests. On separate cores the hint changes nothing.

/// Marks the calling thread `SCHED_BATCH`. Failure only loses the optimisation, so it is ignored.
pub fn batch_current_thread() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid parameter struct.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

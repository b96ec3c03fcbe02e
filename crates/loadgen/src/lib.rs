//! What the load generators share: their runtime and how they report latency.

use std::future::Future;
use std::process::ExitCode;

/// Runs `work` on a multi-threaded Tokio runtime with `threads` workers (at least one); `name` prefixes
/// the error printed when the runtime cannot start.
pub fn block_on(name: &str, threads: usize, work: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build() {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `p`th percentile (nearest rank) of sorted latencies in microseconds; 0 when there are none.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A latency for people: microseconds below 10 ms, milliseconds above.
pub fn fmt_us(us: u32) -> String {
    if us >= 10_000 {
        format!("{:.2} ms", f64::from(us) / 1000.0)
    } else {
        format!("{us} us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&sorted, 50.0), 5);
        assert_eq!(percentile(&sorted, 99.0), 10);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(fmt_us(1500), "1500 us");
        assert_eq!(fmt_us(12_345), "12.35 ms");
    }
}

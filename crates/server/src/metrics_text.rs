//! The Prometheus text exposition (format 0.0.4) of the server's metrics; docs/operations.md lists
//! them.

use std::fmt::Write;

use covetpy_embed::Interface;
use covetpy_protocols::metrics::{Protocol, Queue, Totals, APP_KINDS, LATENCY_BOUNDS_US, STATUS_SLOTS};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why the supervisor started a replacement worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// The worker exited or was killed without being asked to.
    Exited = 0,
    /// It did not answer the supervisor's health check in time and was killed.
    Healthcheck = 1,
    /// It used up `--limit-max-requests`.
    MaxRequests = 2,
    /// SIGHUP restarted every worker.
    Sighup = 3,
    /// `--reload` saw a change.
    Reload = 4,
    /// A request ran past `--timeout`.
    Timeout = 5,
    /// It used more memory than `--workers-max-rss`.
    MaxRss = 6,
}

impl RestartReason {
    const ALL: [RestartReason; 7] = [
        RestartReason::Exited,
        RestartReason::Healthcheck,
        RestartReason::MaxRequests,
        RestartReason::Sighup,
        RestartReason::Reload,
        RestartReason::Timeout,
        RestartReason::MaxRss,
    ];

    fn label(self) -> &'static str {
        match self {
            RestartReason::Exited => "exited",
            RestartReason::Healthcheck => "healthcheck",
            RestartReason::MaxRequests => "max_requests",
            RestartReason::Sighup => "sighup",
            RestartReason::Reload => "reload",
            RestartReason::Timeout => "timeout",
            RestartReason::MaxRss => "max_rss",
        }
    }
}

/// Numbers that are not in the workers' blocks.
#[derive(Debug, Default, Clone)]
pub struct ProcessFacts {
    /// Replacement workers started, by [`RestartReason`].
    pub restarts: [u64; 7],
    /// Resident memory of the serving processes together, in bytes.
    pub resident_bytes: u64,
    /// Workers that are serving.
    pub workers_ready: u64,
}

/// The tag a worker's block carries for the interface of its app (see `Metrics::set_app_kind`).
pub fn app_kind(interface: Interface) -> u64 {
    match interface {
        Interface::Asgi | Interface::Asgi2 | Interface::Auto => 1,
        Interface::Wsgi => 2,
        Interface::Native => 3,
    }
}

/// The `interface` label for a block's tag (0: the app was not loaded yet).
fn interface_label(kind: usize) -> Option<&'static str> {
    match kind {
        1 => Some("asgi"),
        2 => Some("wsgi"),
        3 => Some("covet"),
        _ => None,
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Renders `totals` and `facts`.
pub fn render(totals: &Totals, facts: &ProcessFacts) -> String {
    let mut out = String::with_capacity(4096);
    let kinds: Vec<(usize, &str)> =
        (0..APP_KINDS).filter(|&k| totals.kinds_seen[k]).filter_map(|k| Some((k, interface_label(k)?))).collect();

    header(&mut out, "covetpy_requests_total", "counter", "Requests answered, by interface and status code.");
    for &(kind, interface) in &kinds {
        for (status, &count) in totals.requests[kind].iter().enumerate().take(STATUS_SLOTS) {
            if count > 0 {
                let _ =
                    writeln!(out, "covetpy_requests_total{{interface=\"{interface}\",status=\"{status}\"}} {count}");
            }
        }
    }

    let name = "covetpy_request_duration_seconds";
    header(&mut out, name, "histogram", "Time from a request's head to the end of its response, in seconds.");
    for &(kind, interface) in &kinds {
        let mut cumulative = 0;
        for (bucket, &count) in totals.latency[kind].iter().enumerate() {
            cumulative += count;
            let le = LATENCY_BOUNDS_US.get(bucket).map_or_else(|| "+Inf".to_owned(), |us| seconds(*us));
            let _ = writeln!(out, "{name}_bucket{{interface=\"{interface}\",le=\"{le}\"}} {cumulative}");
        }
        let sum = seconds(totals.latency_sum_us[kind]);
        let _ = writeln!(out, "{name}_sum{{interface=\"{interface}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{interface=\"{interface}\"}} {cumulative}");
    }

    header(&mut out, "covetpy_requests_in_flight", "gauge", "Requests whose response is not written yet.");
    for &(kind, interface) in &kinds {
        let _ = writeln!(out, "covetpy_requests_in_flight{{interface=\"{interface}\"}} {}", totals.in_flight[kind]);
    }

    header(&mut out, "covetpy_connections_open", "gauge", "Open client connections, by protocol.");
    for protocol in Protocol::ALL {
        let open = totals.connections[protocol as usize];
        let _ = writeln!(out, "covetpy_connections_open{{protocol=\"{}\"}} {open}", protocol.label());
    }

    header(&mut out, "covetpy_python_queue_depth", "gauge", "Jobs waiting for a Python thread, by queue.");
    for queue in Queue::ALL {
        let depth = totals.queued[queue as usize];
        let _ = writeln!(out, "covetpy_python_queue_depth{{queue=\"{}\"}} {depth}", queue.label());
    }

    header(&mut out, "covetpy_worker_restarts_total", "counter", "Replacement workers started, by reason.");
    for reason in RestartReason::ALL {
        let count = facts.restarts[reason as usize];
        let _ = writeln!(out, "covetpy_worker_restarts_total{{reason=\"{}\"}} {count}", reason.label());
    }

    header(&mut out, "covetpy_workers_ready", "gauge", "Worker processes serving requests.");
    let _ = writeln!(out, "covetpy_workers_ready {}", facts.workers_ready);

    let help = "Resident memory of the server's processes (supervisor and workers), in bytes.";
    header(&mut out, "covetpy_resident_memory_bytes", "gauge", help);
    let _ = writeln!(out, "covetpy_resident_memory_bytes {}", facts.resident_bytes);
    out
}

/// Microseconds as seconds, exactly.
fn seconds(micros: u64) -> String {
    let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The resident set of process `pid` (this process with `None`), in bytes; 0 if it cannot be read.
pub fn resident_bytes(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/statm"),
        None => "/proc/self/statm".to_owned(),
    };
    let pages = std::fs::read_to_string(path)
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(5_000), "0.005");
        assert_eq!(seconds(10_000_000), "10");
        assert_eq!(seconds(1_250_001), "1.250001");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn renders_requests_by_interface() {
        let mut totals = Totals::default();
        totals.kinds_seen[2] = true;
        totals.requests[2][404] = 3;
        totals.latency[2][0] = 3;
        let text = render(&totals, &ProcessFacts::default());
        assert!(text.contains("covetpy_requests_total{interface=\"wsgi\",status=\"404\"} 3\n"));
        assert!(text.contains("covetpy_request_duration_seconds_bucket{interface=\"wsgi\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("covetpy_worker_restarts_total{reason=\"healthcheck\"} 0\n"));
    }
}

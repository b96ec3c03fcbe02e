//! `--workers-max-rss`: how much memory a worker process holds.

/// The resident set size of process `pid` in bytes, from `/proc/PID/statm`; `None` when the process is
/// gone or the file cannot be read.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages.saturating_mul(u64::try_from(page_size).ok().filter(|p| *p > 0)?))
}

/// Bytes in `mib` mebibytes (Granian's unit for the option).
pub fn mib(mib: u64) -> u64 {
    mib.saturating_mul(1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_size() {
        let own = resident_bytes(std::process::id()).unwrap_or(0);
        assert!(own > 1024 * 1024, "a running test binary holds more than 1 MiB, got {own}");
        assert_eq!(resident_bytes(u32::MAX), None);
        assert_eq!(mib(3), 3 * 1024 * 1024);
    }
}

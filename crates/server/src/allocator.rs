//! How the C allocator keeps memory between requests.
//!
//! glibc's `malloc` hands the free memory at the top of a heap back to the kernel once it exceeds
//! the trim threshold, which it sets to twice the largest block it has had to map on its own (about
//! 2 MiB after a 1 MiB upload). A server that builds a megabyte of `bytes` per request for a few
//! requests at a time keeps crossing that line: every freed buffer is returned, and the next one is
//! faulted in and zeroed by the kernel page by page, which measured as half the server's time on a
//! 1 MiB multipart upload (docs/benchmarks.md). Fixed thresholds keep up to [`TRIM_THRESHOLD`] of free
//! memory per heap for reuse instead.

/// Free memory at the top of a heap that is kept rather than returned to the kernel.
const TRIM_THRESHOLD: i32 = 64 * 1024 * 1024;
/// Blocks from this size up are mapped on their own and returned as soon as they are freed.
const MMAP_THRESHOLD: i32 = 4 * 1024 * 1024;

/// Environment variables by which glibc is told how to manage its heaps; when one is set, the
/// operator's choice stands and nothing here changes it.
const GLIBC_SETTINGS: [&str; 5] =
    ["GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX"];

/// Sets the thresholds, unless the environment already configures glibc's allocator. Call it before
/// any other thread starts: `mallopt` is not meant to race with allocations.
pub fn tune() {
    if GLIBC_SETTINGS.iter().any(|name| std::env::var_os(name).is_some()) {
        return;
    }
    set_thresholds();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() {
    // SAFETY: mallopt takes plain integers; the caller runs before other threads exist.
    let done = unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            && libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    };
    if !done {
        // Logging is not set up this early; the allocator's defaults remain, which is only slower.
        eprintln!("{:<10}could not set the allocator's thresholds; using glibc's defaults", "WARNING:");
    }
}

// Other C libraries have their own policies and no such knobs.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() {}

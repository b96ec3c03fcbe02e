//! The memory a worker counts its metrics in when a supervisor runs it: an anonymous shared file
//! (memfd) that the supervisor creates for each worker process, maps itself and passes to the worker
//! by descriptor, as it passes the control socket. The worker maps it too and counts into it with
//! relaxed atomics; the supervisor reads the same pages when scraped, so nothing is sent per request.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use anyhow::{bail, Context};
use covetpy_protocols::metrics::Metrics;

/// The worker's descriptor of its metrics region.
pub const METRICS_FD_ENV: &str = "COVETPY_METRICS_FD";

/// One worker's metrics block, mapped in this process.
#[derive(Debug)]
pub struct Region {
    ptr: NonNull<u8>,
    fd: OwnedFd,
}

// SAFETY: the mapping is only ever accessed through the atomics of `Metrics`, which any thread (and
// any process) may use at once; the pointer itself is never written after creation.
unsafe impl Send for Region {}
// SAFETY: as above, shared access goes through atomics only.
unsafe impl Sync for Region {}

const SIZE: usize = std::mem::size_of::<Metrics>();

impl Region {
    /// A fresh, zeroed region (close-on-exec; the supervisor clears that for the one worker it is for).
    pub fn create() -> anyhow::Result<Region> {
        // SAFETY: memfd_create with a NUL-terminated name; the result is checked.
        let raw = unsafe { libc::memfd_create(c"covetpy-metrics".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("could not create a shared metrics region");
        }
        // SAFETY: `raw` is a descriptor we just created and own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let len = libc::off_t::try_from(SIZE).context("metrics block too large")?;
        // SAFETY: ftruncate on our own descriptor; a new memfd reads as zeros up to its length.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } < 0 {
            return Err(std::io::Error::last_os_error()).context("could not size the shared metrics region");
        }
        let ptr = map(fd.as_raw_fd())?;
        Ok(Region { ptr, fd })
    }

    /// The descriptor to pass to the worker.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The block in the region.
    pub fn metrics(&self) -> &Metrics {
        // SAFETY: the mapping is page-aligned, `SIZE` bytes long, zeroed at creation and only written
        // through `Metrics`; it lives as long as `self`, which the returned reference borrows.
        unsafe { Metrics::from_zeroed(self.ptr.as_ptr()) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `create`; no reference into it outlives `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), SIZE);
        }
    }
}

fn map(fd: RawFd) -> anyhow::Result<NonNull<u8>> {
    // SAFETY: a fresh shared mapping of `SIZE` bytes of a descriptor we hold; the result is checked.
    let ptr =
        unsafe { libc::mmap(std::ptr::null_mut(), SIZE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error()).context("could not map the shared metrics region");
    }
    NonNull::new(ptr.cast::<u8>()).context("the shared metrics region mapped at address 0")
}

/// In a worker started by a supervisor that serves metrics: maps the region it was given, for the
/// rest of the process. `None` when there is none.
pub fn adopt_inherited() -> anyhow::Result<Option<&'static Metrics>> {
    let Some(fd) = std::env::var(METRICS_FD_ENV).ok().and_then(|v| v.parse::<RawFd>().ok()) else {
        return Ok(None);
    };
    // SAFETY: the supervisor passes a memfd made for this worker alone, and nothing else in this
    // process uses that descriptor; it is closed once mapped (the mapping keeps the memory).
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: fstat on a descriptor we own, into a zeroed struct.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } < 0
        || usize::try_from(stat.st_size).map_or(true, |size| size < SIZE)
    {
        bail!("{METRICS_FD_ENV} is not a metrics region of this covetpy version");
    }
    let ptr = map(fd.as_raw_fd())?;
    // SAFETY: the mapping is page-aligned, large enough (checked above), zeroed by the supervisor at
    // creation and only written through `Metrics`; it is never unmapped in this process.
    Ok(Some(unsafe { Metrics::from_zeroed(ptr.as_ptr()) }))
}

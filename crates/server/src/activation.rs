//! Sockets opened by someone else: `--fd N`, and systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`,
//! the `sd_listen_fds` protocol).

use std::os::fd::RawFd;
use std::sync::OnceLock;

use crate::cli::ServeArgs;

/// The first descriptor passed by socket activation (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// The first passed descriptor and how many were passed, once [`take_systemd_sockets`] has run.
static SYSTEMD_SOCKETS: OnceLock<Option<(RawFd, RawFd)>> = OnceLock::new();

/// Reads and clears the socket activation variables, as `sd_listen_fds(1)` does, so the application and
/// any program it starts do not mistake the sockets for their own. Must run first in `main`, while the
/// process has a single thread: changing the environment is only sound then.
pub fn take_systemd_sockets() {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(name);
    }
    let ours = pid.and_then(|p| p.trim().parse::<u32>().ok()) == Some(std::process::id());
    let count = count.and_then(|n| n.trim().parse::<RawFd>().ok()).filter(|n| *n > 0);
    let first = match (ours, count) {
        (true, Some(count)) => {
            for fd in LISTEN_FDS_START..LISTEN_FDS_START.saturating_add(count) {
                // SAFETY: fcntl on descriptors systemd passed to this process; on one that is not open it
                // fails harmlessly. Close-on-exec keeps them from leaking into programs the app runs.
                unsafe {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
            Some((LISTEN_FDS_START, count))
        }
        _ => None,
    };
    let _ = SYSTEMD_SOCKETS.set(first);
}

/// The already open socket to serve instead of binding one, if any: `--fd N`, else (without `--uds` or `--bind`) the
/// first socket passed by systemd socket activation.
pub fn socket_to_serve(args: &ServeArgs) -> Option<RawFd> {
    if let Some(fd) = args.fd {
        return Some(fd);
    }
    let (activated, count) =
        SYSTEMD_SOCKETS.get().copied().flatten().filter(|_| args.uds.is_none() && args.binds.is_empty())?;
    if count > 1 {
        tracing::warn!("Socket activation passed {count} sockets; serving the first (fd {activated})");
    }
    Some(activated)
}

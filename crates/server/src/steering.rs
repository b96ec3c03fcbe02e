//! Which of the supervisor's per-slot `SO_REUSEPORT` sockets the kernel hands new TCP connections to.
//!
//! By default Linux picks a socket of the group by a hash of the connection. To remove a slot
//! (SIGTTOU) without resetting connections, its socket must first stop receiving new ones: closing a
//! socket of the group resets whatever is queued on it. A small classic BPF program attached to the group
//! (`SO_ATTACH_REUSEPORT_CBPF`) picks `random % active` instead, so only the first `active` sockets get
//! new connections; the removed slot's worker goes on accepting what was queued before the switch, and
//! only then retires and lets the socket close.
//!
//! The program returns an index into the group, and the kernel numbers the group's sockets in the order
//! they started listening; the supervisor therefore calls listen(2) on each socket itself, in slot order
//! (see `supervisor.rs`), and only ever removes the last slot, so the indices and the slots agree.

use std::io;
use std::os::fd::RawFd;

/// Sends new connections on the reuseport group of `fd` to its first `active` sockets only.
pub fn steer(fd: RawFd, active: u32) -> io::Result<()> {
    if active == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "at least one socket must accept connections"));
    }
    // Instruction classes and modes, as in <linux/filter.h>; the opcode fields are 16 bits wide.
    let op = |code: u32| code as u16;
    let random_offset = (libc::SKF_AD_OFF + libc::SKF_AD_RANDOM) as u32;
    let mut program = [
        // A = a random 32-bit number
        libc::sock_filter { code: op(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS), jt: 0, jf: 0, k: random_offset },
        // A = A % active
        libc::sock_filter { code: op(libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K), jt: 0, jf: 0, k: active },
        // the socket at index A
        libc::sock_filter { code: op(libc::BPF_RET | libc::BPF_A), jt: 0, jf: 0, k: 0 },
    ];
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: `fprog` points at `program`, which outlives the call; the kernel copies the program.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&raw const fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

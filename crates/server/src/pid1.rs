//! PID 1 duties, for containers: when covetpy is started as process 1 of its PID namespace (`docker run`
//! without `--init`, a Kubernetes pod), the kernel hands it every orphaned process of the namespace to
//! reap, and a signal whose handler is the default one is not delivered to it at all.
//!
//! covetpy does this itself, as `tini` would, and in the same way: the process forks once, first thing in
//! `main`, and the parent becomes a tiny init that only reaps and forwards signals; the child goes on to
//! be the server (supervisor or single worker) exactly as when it is not PID 1.
//!
//! Why a separate init process instead of a reaping loop inside the server: a reaper that calls
//! `waitpid(-1)` in the process that also runs the app would steal exit statuses that others wait for by
//! pid: the supervisor's for its workers (tokio waits for each child by its pid), and the application's for
//! the subprocesses it starts itself (`subprocess` and asyncio wait by pid, and read a stolen status as
//! exit code 0). Orphans cannot be told apart from the app's own children (both have covetpy as parent),
//! so the only robust rule is that the process which receives orphans runs no one else's code. Here
//! orphans are re-parented to the init, never to the server, and the server's own children and waits
//! are untouched. The cost is one small forked process that sleeps in `sigwaitinfo`.

use std::process::ExitCode;

/// Signals the init does not take over: the ones that report a fault of the init itself, and the two
/// that cannot be blocked or caught.
const NOT_FORWARDED: [libc::c_int; 9] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGABRT,
    libc::SIGSYS,
];

/// When this process is PID 1, forks: returns `None` in the child, which goes on as the server, and in
/// the parent runs the init until the server has exited, then returns the server's exit code (for a server
/// killed by a signal, 128 plus its number, as a shell reports it). Returns `None` at once when this
/// process is not PID 1. Must run while the process has one thread (first in `main`), since it forks.
pub fn become_init_if_pid1() -> Option<ExitCode> {
    // SAFETY: getpid cannot fail.
    if unsafe { libc::getpid() } != 1 {
        return None;
    }
    // SAFETY: sigset_t and sigaction are plain data, initialised (sigfillset, zeroed) before use; sigprocmask,
    // sigaction and fork are called while the process has a single thread, so the child continues with a
    // consistent state.
    unsafe {
        let mut forwarded: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut forwarded);
        for sig in NOT_FORWARDED {
            libc::sigdelset(&mut forwarded, sig);
        }
        let mut previous: libc::sigset_t = std::mem::zeroed();
        // Blocked before the fork, so no signal meant for the server is lost between the fork and the
        // first sigwaitinfo; a blocked signal is also queued for PID 1 even though its handler is SIG_DFL.
        libc::sigprocmask(libc::SIG_BLOCK, &forwarded, &mut previous);
        // An inherited SIG_IGN for SIGCHLD would make the kernel reap children itself, and the init
        // would never see the server's exit; the server gets back what it inherited.
        let mut default_action: libc::sigaction = std::mem::zeroed();
        default_action.sa_sigaction = libc::SIG_DFL;
        let mut inherited_action: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, &default_action, &mut inherited_action);
        match libc::fork() {
            0 => {
                libc::sigaction(libc::SIGCHLD, &inherited_action, std::ptr::null_mut());
                libc::sigprocmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                None
            }
            server if server > 0 => Some(ExitCode::from(run_init(server, &forwarded))),
            _ => {
                libc::sigaction(libc::SIGCHLD, &inherited_action, std::ptr::null_mut());
                libc::sigprocmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                eprintln!(
                    "{:<10}covetpy is PID 1 but could not fork its init process ({}); orphaned processes will \
                     not be reaped",
                    "WARNING:",
                    std::io::Error::last_os_error()
                );
                None
            }
        }
    }
}

/// The init's loop: waits for signals (all of `forwarded` are blocked), reaps every exited child on
/// SIGCHLD, passes every other signal sent by a process (`docker stop`, `kill`) on to the server, and
/// returns the server's exit code once the server is gone.
fn run_init(server: libc::pid_t, forwarded: &libc::sigset_t) -> u8 {
    loop {
        // SAFETY: siginfo_t is plain data that sigwaitinfo fills in; `forwarded` is a valid, initialised set.
        let (sig, code) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(forwarded, &mut info);
            (sig, info.si_code)
        };
        if sig < 0 {
            // EINTR (a stop and continue); nothing else can happen with a valid set.
            continue;
        }
        if sig == libc::SIGCHLD {
            if let Some(status) = reap_all(server) {
                return exit_code(status);
            }
        } else if code <= 0 {
            // Sent by kill(2) or sigqueue(2) (si_code SI_USER, SI_QUEUE, SI_TKILL...). A signal the kernel
            // generated for the terminal's process group (Ctrl-C gives SI_KERNEL) has reached the server
            // too, and passing it on would make it a second Ctrl-C, which means "stop now".
            // SAFETY: kill(2) on the server's pid; if it has just exited, its exit is reaped next.
            unsafe {
                libc::kill(server, sig);
            }
        }
    }
}

/// Reaps every child that has exited (the server and any orphan re-parented to the init); returns the
/// server's wait status if the server was among them.
fn reap_all(server: libc::pid_t) -> Option<libc::c_int> {
    let mut server_status = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: waitpid with a valid out-pointer; WNOHANG makes it return 0 when no child has exited.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return server_status;
        }
        if pid == server {
            server_status = Some(status);
        }
    }
}

/// A wait status as an exit code: the exit status, or 128 plus the signal that killed the process.
fn exit_code(status: libc::c_int) -> u8 {
    if libc::WIFEXITED(status) {
        u8::try_from(libc::WEXITSTATUS(status)).unwrap_or(1)
    } else if libc::WIFSIGNALED(status) {
        u8::try_from(128 + libc::WTERMSIG(status)).unwrap_or(255)
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        // Wait statuses as the kernel encodes them: exit status in the second byte, signal in the first.
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGTERM), 128 + 15);
    }
}

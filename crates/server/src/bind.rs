//! The addresses to serve: gunicorn's `--bind` forms, or uvicorn's `--host`/`--port`/`--uds`/`--fd`
//! (and systemd socket activation) when no `--bind` is given.

use std::os::fd::RawFd;
use std::path::PathBuf;

use covetpy_protocols::{Endpoint, Listener};

use crate::cli::ServeArgs;

/// gunicorn's port for a `--bind HOST` without one.
const DEFAULT_PORT: u16 = 8000;

/// One address to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// Bind this TCP address or Unix socket.
    Endpoint(Endpoint),
    /// Serve this already open socket (`fd://N`, `--fd N`, socket activation).
    Fd(RawFd),
}

/// Reads one `--bind` value: `HOST:PORT`, `[IPV6]:PORT`, `[IPV6]`, `HOST` (port 8000), `unix:PATH` or
/// `fd://N`, as gunicorn does.
pub fn parse(text: &str) -> Result<Bind, String> {
    let bad = |why: &str| format!("--bind {text:?}: {why}");
    if let Some(path) = text.strip_prefix("unix:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(bad("unix: needs a socket path"));
        }
        return Ok(Bind::Endpoint(Endpoint::Unix(PathBuf::from(path))));
    }
    if let Some(fd) = text.strip_prefix("fd://") {
        return fd
            .parse::<RawFd>()
            .ok()
            .filter(|fd| *fd >= 0)
            .map(Bind::Fd)
            .ok_or_else(|| bad("fd:// needs a descriptor number"));
    }
    let port = |p: &str| p.parse::<u16>().map_err(|_| bad("the port must be a number from 0 to 65535"));
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("an IPv6 address needs its closing ']'"))?;
        match after {
            "" => (host, DEFAULT_PORT),
            _ => (host, port(after.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)?),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => return Err(bad("write an IPv6 address as [ADDRESS]:PORT")),
            Some((host, p)) => (host, port(p)?),
            None => (text, DEFAULT_PORT),
        }
    };
    // gunicorn binds every interface for an empty host (`:8000`).
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok(Bind::Endpoint(Endpoint::Tcp { host: host.to_owned(), port }))
}

/// Everything to serve, in order: the `--bind` values, else the one address of `--fd`, socket
/// activation, `--uds` or `--host`/`--port`.
pub fn binds(args: &ServeArgs) -> Result<Vec<Bind>, String> {
    if !args.binds.is_empty() {
        return args.binds.iter().map(|b| parse(b)).collect();
    }
    if let Some(fd) = crate::activation::socket_to_serve(args) {
        return Ok(vec![Bind::Fd(fd)]);
    }
    Ok(vec![Bind::Endpoint(match &args.uds {
        Some(path) => Endpoint::Unix(path.clone()),
        None => Endpoint::Tcp { host: args.host.clone(), port: args.port },
    })])
}

/// Opens one address: binds it, or adopts the inherited socket.
pub fn open(bind: &Bind, reuse_port: bool) -> anyhow::Result<Listener> {
    Ok(match bind {
        // SAFETY: `fd://N`, `--fd` or systemd passed this socket to us, nothing else in this process uses
        // it, and `check_distinct` refuses a descriptor listed twice.
        Bind::Fd(fd) => unsafe { Listener::from_inherited(*fd) }?,
        Bind::Endpoint(endpoint) => Listener::bind(endpoint, reuse_port)?,
    })
}

/// Refuses a descriptor given twice, which would be adopted (and closed) twice.
pub fn check_distinct(binds: &[Bind]) -> Result<(), String> {
    for (i, bind) in binds.iter().enumerate() {
        if binds[..i].contains(bind) {
            return Err(format!("--bind lists the same address twice: {}", show(bind)));
        }
    }
    Ok(())
}

/// A bind as the user would write it.
pub fn show(bind: &Bind) -> String {
    match bind {
        Bind::Fd(fd) => format!("fd://{fd}"),
        Bind::Endpoint(endpoint) => endpoint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Bind {
        Bind::Endpoint(Endpoint::Tcp { host: host.into(), port })
    }

    #[test]
    fn gunicorn_forms() {
        assert_eq!(parse("127.0.0.1:9000"), Ok(tcp("127.0.0.1", 9000)));
        assert_eq!(parse("localhost"), Ok(tcp("localhost", 8000)));
        assert_eq!(parse("[::1]:9001"), Ok(tcp("::1", 9001)));
        assert_eq!(parse("[::1]"), Ok(tcp("::1", 8000)));
        assert_eq!(parse(":9002"), Ok(tcp("0.0.0.0", 9002)));
        assert_eq!(parse("unix:/tmp/a.sock"), Ok(Bind::Endpoint(Endpoint::Unix("/tmp/a.sock".into()))));
        assert_eq!(parse("fd://3"), Ok(Bind::Fd(3)));
    }

    #[test]
    fn bad_binds_say_why() {
        for bad in ["host:http", "::1:80", "[::1", "fd://x", "fd://-1", "unix:", "h:70000"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        assert!(check_distinct(&[Bind::Fd(3), Bind::Fd(3)]).is_err());
    }
}

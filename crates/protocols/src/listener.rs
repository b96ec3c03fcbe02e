use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP host name or address and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port; 0 asks the OS for a free one.
        port: u16,
    },
    /// A Unix domain socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// The local end of a listening socket or connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// Binding a listener failed; the message names the address.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The host name did not resolve to any address.
    #[error("could not resolve host {host:?}: {source}")]
    Resolve {
        /// The host as given.
        host: String,
        /// Why resolution failed.
        source: io::Error,
    },
    /// The socket could not be created, bound or put into listening state.
    #[error("could not bind {endpoint}: {source}")]
    Bind {
        /// What was being bound.
        endpoint: Endpoint,
        /// The OS error (for example "Address already in use").
        source: io::Error,
    },
    /// An inherited file descriptor was not a listening socket.
    #[error("file descriptor {fd} is not a usable listening socket: {source}")]
    Inherited {
        /// The descriptor number.
        fd: RawFd,
        /// The OS error.
        source: io::Error,
    },
}

/// A bound socket, not yet attached to an async runtime.
///
/// Binding claims the address (so a busy port is reported at once), but connections are only accepted
/// after [`Listener::listen`]: until then a connection attempt is refused, so a load balancer's health
/// check does not see the server as up while the application is still starting.
#[derive(Debug)]
pub struct Listener {
    socket: Socket,
}

impl Listener {
    /// Binds and listens. With `reuse_port`, several processes may bind the same TCP port and the kernel
    /// spreads connections across them. A stale Unix socket file is replaced, as uvicorn does.
    pub fn bind(endpoint: &Endpoint, reuse_port: bool) -> Result<Listener, BindError> {
        match endpoint {
            Endpoint::Tcp { host, port } => {
                let addr = resolve(host, *port)?;
                bind_tcp(addr, reuse_port)
            }
            Endpoint::Unix(path) => bind_unix(path),
        }
        .map(|socket| Listener { socket })
        .map_err(|source| BindError::Bind { endpoint: endpoint.clone(), source })
    }

    /// Starts accepting connections, with room for `backlog` connections the server has not accepted
    /// yet (the kernel caps it at `net.core.somaxconn`). Calling it again is harmless.
    pub fn listen(&self, backlog: i32) -> io::Result<()> {
        self.socket.listen(backlog)
    }

    /// True for a Unix domain socket.
    pub fn is_unix(&self) -> bool {
        self.socket.local_addr().is_ok_and(|a| a.is_unix())
    }

    pub(crate) fn into_tcp(self) -> std::net::TcpListener {
        self.socket.into()
    }

    pub(crate) fn into_unix(self) -> std::os::unix::net::UnixListener {
        self.socket.into()
    }

    /// Adopts a stream socket inherited from a parent process (the supervisor, `--fd`, or systemd socket
    /// activation). It may be bound only: [`Listener::listen`] puts it into listening state. The descriptor
    /// is marked close-on-exec, so programs the application runs do not inherit it.
    ///
    /// A descriptor that is not open, or not a bound stream socket, is refused and left as it was.
    ///
    /// # Safety
    /// If `fd` is an open socket, nothing else in this process may own it: on success it is taken over.
    pub unsafe fn from_inherited(fd: RawFd) -> Result<Listener, BindError> {
        let refuse = |source| BindError::Inherited { fd, source };
        if fd < 0 {
            return Err(refuse(io::Error::new(io::ErrorKind::InvalidInput, "negative descriptor")));
        }
        {
            // Checked through a borrow first, so a descriptor given by mistake (a file, a pipe, stdout) is
            // reported without being closed.
            // SAFETY: `fd` is not -1 and stays open for this block; on a closed descriptor the calls below
            // just fail with EBADF.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let socket = SockRef::from(&borrowed);
            socket.local_addr().map_err(refuse)?;
            if socket.r#type().map_err(refuse)? != Type::STREAM {
                return Err(refuse(io::Error::new(io::ErrorKind::InvalidInput, "not a stream (TCP or Unix) socket")));
            }
        }
        // SAFETY: the caller guarantees nobody else owns the open socket `fd`.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let socket = Socket::from(owned);
        socket.set_nonblocking(true).map_err(refuse)?;
        socket.set_cloexec(true).map_err(refuse)?;
        Ok(Listener { socket })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<LocalAddr> {
        let addr = self.socket.local_addr()?;
        if let Some(ip) = addr.as_socket() {
            return Ok(LocalAddr::Tcp(ip));
        }
        Ok(LocalAddr::Unix(addr.as_pathname().map(Path::to_path_buf).unwrap_or_default()))
    }

    /// The raw descriptor, for handing the socket to worker processes.
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, BindError> {
    let mut addrs =
        (host, port).to_socket_addrs().map_err(|source| BindError::Resolve { host: host.to_owned(), source })?;
    addrs.next().ok_or_else(|| BindError::Resolve {
        host: host.to_owned(),
        source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
    })
}

fn bind_tcp(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn bind_unix(path: &Path) -> io::Result<Socket> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.set_nonblocking(true)?;
    // Same permissions uvicorn gives its socket, so a proxy running as another user can connect.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_binds_a_free_port() {
        let l = Listener::bind(&Endpoint::Tcp { host: "127.0.0.1".into(), port: 0 }, false).unwrap();
        match l.local_addr().unwrap() {
            LocalAddr::Tcp(addr) => assert_ne!(addr.port(), 0),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bound_socket_refuses_connections_until_listening() {
        let l = Listener::bind(&Endpoint::Tcp { host: "127.0.0.1".into(), port: 0 }, false).unwrap();
        let LocalAddr::Tcp(addr) = l.local_addr().unwrap() else { panic!("tcp") };
        assert!(std::net::TcpStream::connect(addr).is_err());
        l.listen(crate::DEFAULT_BACKLOG).unwrap();
        assert!(std::net::TcpStream::connect(addr).is_ok());
    }

    #[test]
    fn port_in_use_names_the_address() {
        let l = Listener::bind(&Endpoint::Tcp { host: "127.0.0.1".into(), port: 0 }, false).unwrap();
        l.listen(crate::DEFAULT_BACKLOG).unwrap();
        let LocalAddr::Tcp(addr) = l.local_addr().unwrap() else { panic!("tcp") };
        let err = Listener::bind(&Endpoint::Tcp { host: "127.0.0.1".into(), port: addr.port() }, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("127.0.0.1:{}", addr.port())), "{err}");
    }

    #[test]
    fn inherited_descriptor_must_be_a_stream_socket() {
        let file = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: the descriptor is refused (not a socket), so it is not taken over.
        let err = unsafe { Listener::from_inherited(file.as_raw_fd()) }.unwrap_err();
        assert!(err.to_string().contains("not a usable listening socket"), "{err}");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // SAFETY: as above: a datagram socket is refused.
        assert!(unsafe { Listener::from_inherited(udp.as_raw_fd()) }.is_err());
        // Both descriptors are still open and usable.
        assert!(udp.local_addr().is_ok());
        assert!(file.metadata().is_ok());
    }

    #[test]
    fn inherited_bound_socket_listens() {
        let bound = Listener::bind(&Endpoint::Tcp { host: "127.0.0.1".into(), port: 0 }, false).unwrap();
        let LocalAddr::Tcp(addr) = bound.local_addr().unwrap() else { panic!("tcp") };
        let fd = std::os::fd::IntoRawFd::into_raw_fd(bound.socket);
        // SAFETY: `fd` was released from its owner above.
        let adopted = unsafe { Listener::from_inherited(fd) }.unwrap();
        adopted.listen(crate::DEFAULT_BACKLOG).unwrap();
        assert!(std::net::TcpStream::connect(addr).is_ok());
    }

    #[test]
    fn endpoint_display_brackets_ipv6() {
        assert_eq!(Endpoint::Tcp { host: "::1".into(), port: 80 }.to_string(), "[::1]:80");
    }
}

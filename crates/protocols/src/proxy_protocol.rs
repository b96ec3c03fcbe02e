//! The PROXY protocol (HAProxy's, versions 1 and 2), for `--proxy-protocol`: a load balancer that
//! forwards raw TCP starts each connection with a header naming the original client. The header is read
//! before TLS and before HTTP; bytes read past it are handed on untouched.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ahead::Ahead;

/// The version 2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 1 line, CRLF included (the specification's limit).
const V1_MAX: usize = 107;
/// Version 2: the fixed part before the addresses.
const V2_FIXED: usize = 16;

/// What a PROXY header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// The original client's address.
    Client(SocketAddr),
    /// `UNKNOWN` (v1), `LOCAL` or an address family other than TCP/UDP over IP (v2): the connection's
    /// own peer stands.
    Unknown,
}

/// The result of looking at the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A complete header, this many bytes long.
    Done(Header, usize),
    /// Not enough bytes yet.
    More,
}

/// Not a PROXY protocol header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid;

/// Parses a header at the start of `buf`.
fn parse(buf: &[u8]) -> Result<Parsed, Invalid> {
    let prefix = buf.len().min(V2_SIGNATURE.len());
    if buf[..prefix] == V2_SIGNATURE[..prefix] {
        return if prefix < V2_SIGNATURE.len() { Ok(Parsed::More) } else { parse_v2(buf) };
    }
    let prefix = buf.len().min(6);
    if buf[..prefix] != b"PROXY "[..prefix] {
        return Err(Invalid);
    }
    parse_v1(buf)
}

/// `PROXY TCP4 src dst sport dport\r\n`, `PROXY TCP6 ...`, `PROXY UNKNOWN ...\r\n`.
fn parse_v1(buf: &[u8]) -> Result<Parsed, Invalid> {
    let Some(lf) = buf.iter().take(V1_MAX).position(|&b| b == b'\n') else {
        return if buf.len() >= V1_MAX { Err(Invalid) } else { Ok(Parsed::More) };
    };
    let line = buf[..lf].strip_suffix(b"\r").ok_or(Invalid)?;
    let line = std::str::from_utf8(line).map_err(|_| Invalid)?;
    let mut parts = line.split(' ');
    if parts.next() != Some("PROXY") {
        return Err(Invalid);
    }
    let header = match parts.next() {
        Some("UNKNOWN") => Header::Unknown,
        Some(family @ ("TCP4" | "TCP6")) => {
            let (Some(src), Some(_dst), Some(sport), Some(_dport), None) =
                (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(Invalid);
            };
            let ip: IpAddr = src.parse().map_err(|_| Invalid)?;
            if ip.is_ipv4() != (family == "TCP4") {
                return Err(Invalid);
            }
            let port: u16 = sport.parse().map_err(|_| Invalid)?;
            Header::Client(SocketAddr::new(ip, port))
        }
        _ => return Err(Invalid),
    };
    Ok(Parsed::Done(header, lf + 1))
}

/// The binary header: signature, version/command, family/transport, length, addresses, TLVs.
fn parse_v2(buf: &[u8]) -> Result<Parsed, Invalid> {
    if buf.len() < V2_FIXED {
        return Ok(Parsed::More);
    }
    let version_command = buf[12];
    let family = buf[13];
    let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if version_command >> 4 != 2 {
        return Err(Invalid);
    }
    let total = V2_FIXED + length;
    if buf.len() < total {
        return Ok(Parsed::More);
    }
    let body = &buf[V2_FIXED..total];
    let header = match version_command & 0x0f {
        // LOCAL: the proxy's own connection (a health check); the peer stands.
        0 => Header::Unknown,
        1 => match family >> 4 {
            // AF_INET, over STREAM or DGRAM.
            1 => {
                let a: [u8; 12] = body.get(..12).and_then(|a| a.try_into().ok()).ok_or(Invalid)?;
                let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
                Header::Client(SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([a[8], a[9]])))
            }
            // AF_INET6.
            2 => {
                let a: [u8; 36] = body.get(..36).and_then(|a| a.try_into().ok()).ok_or(Invalid)?;
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&a[..16]);
                Header::Client(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), u16::from_be_bytes([a[32], a[33]])))
            }
            // AF_UNSPEC or AF_UNIX: no IP address to report.
            0 | 3 => Header::Unknown,
            _ => return Err(Invalid),
        },
        _ => return Err(Invalid),
    };
    Ok(Parsed::Done(header, total))
}

/// Reads the PROXY header from the start of `stream`. Returns what it said and the stream with any bytes
/// read beyond the header put back in front.
pub(crate) async fn read_header<S: AsyncRead + Unpin>(mut stream: S) -> io::Result<(Header, Ahead<S>)> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse(&buf) {
            Ok(Parsed::Done(header, used)) => {
                let rest = Bytes::from(buf).slice(used..);
                return Ok((header, Ahead::new(stream, rest)));
            }
            Ok(Parsed::More) => {}
            Err(Invalid) => return Err(io::Error::new(io::ErrorKind::InvalidData, "not a PROXY protocol header")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(buf: &[u8]) -> (Header, usize) {
        match parse(buf) {
            Ok(Parsed::Done(h, n)) => (h, n),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn v1_lines() {
        let line = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /";
        assert_eq!(done(line), (Header::Client("192.0.2.1:56324".parse().unwrap()), 45));
        let line = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 80\r\n";
        assert_eq!(done(line).0, Header::Client("[2001:db8::1]:4000".parse().unwrap()));
        assert_eq!(done(b"PROXY UNKNOWN\r\n").0, Header::Unknown);
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(Parsed::More));
        assert_eq!(parse(b"PRO"), Ok(Parsed::More));
        assert_eq!(parse(b"PROXY TCP4 ::1 ::1 1 2\r\n"), Err(Invalid));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4 1.2.3.4 99999 2\r\n"), Err(Invalid));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Err(Invalid));
        assert_eq!(parse(&[b'A'; 200]), Err(Invalid));
        let mut long = b"PROXY ".to_vec();
        long.extend_from_slice(&[b'x'; 200]);
        assert_eq!(parse(&long), Err(Invalid));
    }

    #[test]
    fn v2_headers() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0, 12, 192, 0, 2, 1, 10, 0, 0, 1, 0x1f, 0x90, 0, 80]);
        h.extend_from_slice(b"GET");
        assert_eq!(done(&h), (Header::Client("192.0.2.1:8080".parse().unwrap()), 28));
        assert_eq!(parse(&h[..20]), Ok(Parsed::More));
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(done(&local), (Header::Unknown, 16));
        let mut v6 = V2_SIGNATURE.to_vec();
        v6.extend_from_slice(&[0x21, 0x21, 0, 36]);
        let mut src = [0u8; 16];
        src[15] = 1;
        v6.extend_from_slice(&src);
        v6.extend_from_slice(&[0u8; 16]);
        v6.extend_from_slice(&[0, 7, 0, 80]);
        assert_eq!(done(&v6).0, Header::Client("[::1]:7".parse().unwrap()));
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse(&short), Err(Invalid));
        let mut bad_version = V2_SIGNATURE.to_vec();
        bad_version.extend_from_slice(&[0x11, 0x11, 0, 0]);
        assert_eq!(parse(&bad_version), Err(Invalid));
    }
}

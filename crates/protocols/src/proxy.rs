//! Reverse-proxy information: which peers are trusted (`--forwarded-allow-ips`), and rewriting a
//! request's client address, scheme and host from the headers a trusted proxy adds (`X-Forwarded-For`,
//! `X-Forwarded-Proto`, `X-Forwarded-Host`, and with `--forwarded-header` RFC 7239 `Forwarded`).
//!
//! The rules follow uvicorn's `ProxyHeadersMiddleware`: only a request whose direct peer is trusted is
//! rewritten; the client is the first address in the forwarding chain, read from the right, that is not
//! itself a trusted proxy (the leftmost one when all are trusted), with port 0 because the chain does
//! not carry ports. Values that do not parse are ignored: the request keeps what the socket said.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderName, HeaderValue, FORWARDED, HOST};
use http::HeaderMap;

use crate::{RequestHead, Scheme};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The peers trusted to report the real client: `--forwarded-allow-ips`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// `*`: every peer, including Unix-socket peers (which have no address).
    all: bool,
    addrs: Vec<IpAddr>,
    /// Networks as (address with host bits cleared, prefix length).
    nets: Vec<(IpAddr, u8)>,
    /// Entries that are neither addresses nor networks (for example `unix:`, which nginx puts in
    /// `X-Forwarded-For` for a client on a Unix socket); they match chain entries spelled the same.
    literals: Vec<String>,
}

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses, CIDR networks and literals; the value `*` alone
    /// trusts everything. As in uvicorn, a `*` inside a longer list is only a literal.
    pub fn parse(value: &str) -> TrustedProxies {
        let items: Vec<&str> = value.split(',').map(str::trim).collect();
        let mut trusted = TrustedProxies { all: items == ["*"], ..TrustedProxies::default() };
        if trusted.all {
            return trusted;
        }
        for item in items.into_iter().filter(|item| !item.is_empty()) {
            if let Some(net) = parse_network(item) {
                trusted.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                trusted.addrs.push(ip);
            } else {
                trusted.literals.push(item.to_owned());
            }
        }
        trusted
    }

    /// Whether a direct peer is trusted. A Unix-socket peer (`None`) is trusted only by `*`, as in
    /// uvicorn, where such a peer has no client address to match.
    pub fn trusts_peer(&self, peer: Option<&SocketAddr>) -> bool {
        self.all || peer.is_some_and(|peer| self.trusts_ip(peer.ip()))
    }

    fn trusts_ip(&self, ip: IpAddr) -> bool {
        self.all || self.addrs.contains(&ip) || self.nets.iter().any(|&(net, bits)| in_network(ip, net, bits))
    }

    /// Whether an entry of a forwarding chain (an address, with or without a port, or a literal such as
    /// `unix:`) is trusted.
    fn trusts_entry(&self, entry: &str) -> bool {
        if self.all {
            return true;
        }
        if entry.is_empty() {
            return false;
        }
        match node_address(entry) {
            Some(addr) => self.trusts_ip(addr.ip()),
            None => self.literals.iter().any(|literal| literal == entry),
        }
    }

    /// The entry naming the client in a chain of hops listed left (client) to right (last proxy): the
    /// first untrusted one from the right, else the leftmost.
    fn client_entry(&self, chain: &[&str]) -> Option<usize> {
        if chain.is_empty() {
            return None;
        }
        if self.all {
            return Some(0);
        }
        Some(chain.iter().rposition(|entry| !self.trusts_entry(entry)).unwrap_or(0))
    }
}

/// `a.b.c.d/n` or `x::/n`, with host bits cleared (Python's `ip_network` refuses host bits; a
/// network given with them is taken to mean the network that contains the address).
fn parse_network(item: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = item.split_once('/')?;
    let addr: IpAddr = addr.trim().parse().ok()?;
    let bits: u8 = bits.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return None;
    }
    Some((mask(addr, bits), bits))
}

fn mask(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    ip.is_ipv4() == net.is_ipv4() && mask(ip, bits) == net
}

/// What to read from a trusted proxy (`--proxy-headers`, `--forwarded-header`, `--forwarded-allow-ips`).
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// Who may set the headers (and send a PROXY protocol header).
    pub trusted: TrustedProxies,
    /// Read `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` (`--proxy-headers`).
    pub x_forwarded: bool,
    /// Read RFC 7239 `Forwarded` (`--forwarded-header`); when a request has it, the `X-Forwarded-*`
    /// headers of that request are ignored.
    pub forwarded: bool,
    /// Every connection must start with a PROXY protocol v1 or v2 header (`--proxy-protocol`).
    pub proxy_protocol: bool,
}

/// What a proxy reported about the original request.
#[derive(Debug, Default, PartialEq, Eq)]
struct Reported {
    client: Option<SocketAddr>,
    scheme: Option<Scheme>,
    host: Option<HeaderValue>,
}

impl ProxyConfig {
    /// True if requests may need rewriting at all.
    pub(crate) fn reads_headers(&self) -> bool {
        self.x_forwarded || self.forwarded
    }

    /// Rewrites `head.client`, `head.scheme` and the `host` header from the forwarding headers, if the
    /// direct peer is trusted. A request with none of the headers costs a few map lookups.
    pub(crate) fn apply(&self, head: &mut RequestHead) {
        let use_forwarded = self.forwarded && head.headers.contains_key(FORWARDED);
        let use_x = !use_forwarded
            && self.x_forwarded
            && (head.headers.contains_key(&X_FORWARDED_FOR)
                || head.headers.contains_key(&X_FORWARDED_PROTO)
                || head.headers.contains_key(&X_FORWARDED_HOST));
        if !(use_forwarded || use_x) || !self.trusted.trusts_peer(head.client.as_ref()) {
            return;
        }
        let reported = if use_forwarded {
            from_forwarded(&head.headers, &self.trusted)
        } else {
            from_x_forwarded(&head.headers, &self.trusted)
        };
        if let Some(client) = reported.client {
            head.client = Some(client);
        }
        if let Some(scheme) = reported.scheme {
            head.scheme = scheme;
        }
        if let Some(host) = reported.host {
            head.headers.insert(HOST, host);
        }
    }
}

/// The last value of a header, as uvicorn reads it (it keeps the last of repeated fields).
fn last<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get_all(name).iter().next_back().and_then(|v| v.to_str().ok())
}

fn from_x_forwarded(headers: &HeaderMap, trusted: &TrustedProxies) -> Reported {
    // Repeated X-Forwarded-For fields are one list (RFC 9110 section 5.3), so a proxy that adds its own
    // field instead of extending the existing one is still read from the right.
    let chain: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|field| field.split(','))
        .map(str::trim)
        .collect();
    Reported {
        client: trusted.client_entry(&chain).and_then(|i| node_address(chain[i])),
        scheme: last(headers, &X_FORWARDED_PROTO).and_then(scheme_of),
        host: last(headers, &X_FORWARDED_HOST).map(str::trim).and_then(valid_host),
    }
}

/// The scheme a proxy reports: uvicorn's four values (`http`, `https`, `ws`, `wss`; any case, since
/// schemes are case-insensitive). A WebSocket request reports ws/wss whichever pair was sent.
fn scheme_of(proto: &str) -> Option<Scheme> {
    let proto = proto.trim();
    if proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss") {
        Some(Scheme::Https)
    } else if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("ws") {
        Some(Scheme::Http)
    } else {
        None
    }
}

/// One hop's node from `X-Forwarded-For` or a `Forwarded` `for=`: an IPv4 address, an IPv6 address
/// (bare or in brackets), either with an optional port. `unknown`, obfuscated names and anything else
/// give `None`. The port is kept when a `Forwarded` node names one; otherwise it is 0, as in uvicorn.
fn node_address(node: &str) -> Option<SocketAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr);
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(|ip| SocketAddr::new(IpAddr::V6(ip), 0))
}

/// A host the application may see in `Host`: `host[:port]`, no user information, a numeric port.
fn valid_host(value: &str) -> Option<HeaderValue> {
    if value.is_empty() || value.contains([',', '@', '/', ' ']) {
        return None;
    }
    let authority: http::uri::Authority = value.parse().ok()?;
    if authority.as_str().len() != value.len() {
        return None;
    }
    HeaderValue::from_str(value).ok()
}

/// One element of a `Forwarded` header: the parameters one proxy added.
#[derive(Debug, Default, PartialEq, Eq)]
struct Element {
    node: String,
    proto: Option<String>,
    host: Option<String>,
}

fn from_forwarded(headers: &HeaderMap, trusted: &TrustedProxies) -> Reported {
    let mut elements = Vec::new();
    for value in headers.get_all(FORWARDED) {
        // A field that does not parse is dropped whole: its hops cannot be told apart.
        if let Some(parsed) = value.to_str().ok().and_then(parse_forwarded) {
            elements.extend(parsed);
        }
    }
    let chain: Vec<&str> = elements.iter().map(|e| e.node.as_str()).collect();
    let Some(chosen) = trusted.client_entry(&chain).and_then(|i| elements.get(i)) else {
        return Reported::default();
    };
    // The element that names the client also says how that client reached the first proxy.
    Reported {
        client: node_address(&chosen.node),
        scheme: chosen.proto.as_deref().and_then(scheme_of),
        host: chosen.host.as_deref().and_then(valid_host),
    }
}

/// Parses `Forwarded` (RFC 7239 section 4): elements separated by commas, `name=value` pairs by
/// semicolons, values tokens or quoted strings. `None` if the field is malformed.
fn parse_forwarded(value: &str) -> Option<Vec<Element>> {
    let mut elements = vec![Element::default()];
    let bytes = value.as_bytes();
    let mut at = 0;
    loop {
        while at < bytes.len() && matches!(bytes[at], b' ' | b'\t') {
            at += 1;
        }
        if at >= bytes.len() {
            break;
        }
        match bytes[at] {
            b',' => {
                elements.push(Element::default());
                at += 1;
                continue;
            }
            b';' => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let eq = at + bytes[at..].iter().position(|&b| b == b'=')?;
        let name = value[at..eq].trim();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return None;
        }
        at = eq + 1;
        let parsed = if bytes.get(at) == Some(&b'"') {
            let mut out = String::new();
            at += 1;
            loop {
                match bytes.get(at)? {
                    b'"' => break,
                    b'\\' => {
                        at += 1;
                        out.push(char::from(*bytes.get(at)?));
                    }
                    &b => out.push(char::from(b)),
                }
                at += 1;
            }
            at += 1;
            out
        } else {
            let end = bytes[at..]
                .iter()
                .position(|&b| matches!(b, b';' | b',' | b' ' | b'\t'))
                .map_or(bytes.len(), |p| at + p);
            let token = &value[at..end];
            at = end;
            token.to_owned()
        };
        let element = elements.last_mut()?;
        if name.eq_ignore_ascii_case("for") {
            element.node = parsed;
        } else if name.eq_ignore_ascii_case("proto") {
            element.proto = Some(parsed);
        } else if name.eq_ignore_ascii_case("host") {
            element.host = Some(parsed);
        }
    }
    Some(elements)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn head(peer: Option<&str>, headers: &[(&'static str, &str)]) -> RequestHead {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        RequestHead {
            method: http::Method::GET,
            uri: "/".parse().unwrap(),
            version: crate::HttpVersion::Http11,
            headers: map,
            scheme: Scheme::Http,
            client: peer.map(addr),
            server: crate::LocalAddr::Unix(Default::default()),
        }
    }

    fn config(trusted: &str, forwarded: bool) -> ProxyConfig {
        ProxyConfig { trusted: TrustedProxies::parse(trusted), x_forwarded: true, forwarded, proxy_protocol: false }
    }

    #[test]
    fn trusted_list_parses_addresses_networks_and_literals() {
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8 ,::1, unix:, 192.168.1.7/24");
        assert!(t.trusts_entry("127.0.0.1"));
        assert!(t.trusts_entry("10.200.3.4"));
        assert!(t.trusts_entry("192.168.1.200"));
        assert!(!t.trusts_entry("192.168.2.1"));
        assert!(t.trusts_entry("::1"));
        assert!(t.trusts_entry("unix:"));
        assert!(!t.trusts_entry("unix:/x"));
        assert!(!t.trusts_entry(""));
        assert!(!t.trusts_peer(None));
        assert!(TrustedProxies::parse("*").trusts_peer(None));
        assert!(!TrustedProxies::parse("10.0.0.1,*").trusts_entry("1.2.3.4"));
    }

    #[test]
    fn x_forwarded_for_is_walked_from_the_right() {
        let c = config("127.0.0.1, 10.0.0.0/8", false);
        let mut h = head(Some("127.0.0.1:5000"), &[("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.1.1.1")]);
        c.apply(&mut h);
        assert_eq!(h.client, Some(addr("2.2.2.2:0")));
        let mut h = head(Some("127.0.0.1:5000"), &[("x-forwarded-for", "10.2.2.2, 10.1.1.1")]);
        c.apply(&mut h);
        assert_eq!(h.client, Some(addr("10.2.2.2:0")));
        let mut h = head(Some("127.0.0.1:5000"), &[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "10.1.1.1")]);
        c.apply(&mut h);
        assert_eq!(h.client, Some(addr("1.1.1.1:0")));
    }

    #[test]
    fn untrusted_peers_and_garbage_change_nothing() {
        let c = config("10.0.0.1", false);
        let mut h = head(Some("127.0.0.1:5000"), &[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-proto", "https")]);
        c.apply(&mut h);
        assert_eq!((h.client, h.scheme), (Some(addr("127.0.0.1:5000")), Scheme::Http));
        let c = config("127.0.0.1", false);
        let mut h = head(
            Some("127.0.0.1:5000"),
            &[("x-forwarded-for", "not an ip"), ("x-forwarded-proto", "gopher"), ("x-forwarded-host", "a b")],
        );
        c.apply(&mut h);
        assert_eq!((h.client, h.scheme), (Some(addr("127.0.0.1:5000")), Scheme::Http));
        assert!(!h.headers.contains_key(HOST));
    }

    #[test]
    fn proto_and_host_are_taken() {
        let c = config("127.0.0.1", false);
        let mut h =
            head(Some("127.0.0.1:1"), &[("x-forwarded-proto", " wss "), ("x-forwarded-host", "example.com:8443")]);
        c.apply(&mut h);
        assert_eq!(h.scheme, Scheme::Https);
        assert_eq!(h.headers.get(HOST).unwrap(), "example.com:8443");
    }

    #[test]
    fn forwarded_header_names_client_proto_and_host() {
        let c = config("127.0.0.1, 10.0.0.0/8", true);
        let value =
            r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711";proto=HTTPS;host="ex.com", for=10.1.1.1"#;
        let mut h = head(Some("127.0.0.1:1"), &[("forwarded", value), ("x-forwarded-for", "9.9.9.9")]);
        c.apply(&mut h);
        assert_eq!(h.client, Some(addr("[2001:db8:cafe::17]:4711")));
        assert_eq!(h.scheme, Scheme::Https);
        assert_eq!(h.headers.get(HOST).unwrap(), "ex.com");
    }

    #[test]
    fn malformed_forwarded_is_ignored() {
        assert!(parse_forwarded(r#"for="unterminated"#).is_none());
        assert!(parse_forwarded("for").is_none());
        let c = config("127.0.0.1", true);
        let mut h = head(Some("127.0.0.1:1"), &[("forwarded", "for=unknown;proto=https")]);
        c.apply(&mut h);
        assert_eq!((h.client, h.scheme), (Some(addr("127.0.0.1:1")), Scheme::Https));
    }
}

//! `h3bench`: an HTTP/3 load generator.
//!
//! Opens `-c` QUIC connections to the server (any certificate is accepted) and runs `-m`
//! concurrent request streams on each: every stream loop sends a GET for the URL, reads the
//! whole response and starts the next one, for `-d` seconds. Prints requests per second,
//! errors (failed streams and non-2xx responses) and the p50/p99 latency.
//!
//! ```text
//! h3bench --url https://127.0.0.1:8443/ -c 4 -m 50 -d 10
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use clap::Parser;
use loadgen::{fmt_us, percentile};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

#[derive(Debug, Parser)]
#[command(name = "h3bench", about = "HTTP/3 load generator")]
struct Args {
    /// URL to request (https:// only; the port is the server's UDP port).
    #[arg(long, default_value = "https://127.0.0.1:8443/")]
    url: String,
    /// QUIC connections.
    #[arg(short = 'c', long, default_value_t = 4)]
    connections: usize,
    /// Concurrent request streams per connection.
    #[arg(short = 'm', long, default_value_t = 50)]
    streams: usize,
    /// Seconds of measurement.
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Client threads.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object instead of the human-readable summary.
    #[arg(long)]
    json: bool,
}

/// What one stream loop measured.
#[derive(Default)]
struct Stats {
    requests: u64,
    errors: u64,
    non_2xx: u64,
    bytes: u64,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

impl Stats {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| e.to_string());
    }

    fn merge(&mut self, other: Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.non_2xx += other.non_2xx;
        self.bytes += other.bytes;
        self.latencies_us.extend(other.latencies_us);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.connections == 0 || args.streams == 0 || args.duration.is_nan() || args.duration <= 0.0 {
        eprintln!("h3bench: --connections, --streams and --duration must be positive");
        return ExitCode::from(2);
    }
    let threads = args.threads;
    loadgen::block_on("h3bench", threads, run(args))
}

struct Target {
    addr: SocketAddr,
    host: String,
    uri: http::Uri,
}

fn parse_target(url: &str) -> Result<Target, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("only https:// URLs are supported, not {url}"));
    }
    let host =
        uri.host().ok_or_else(|| format!("no host in {url}"))?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    let uri = if uri.path_and_query().is_none() {
        format!("{url}/").parse().map_err(|e| format!("bad URL {url}: {e}"))?
    } else {
        uri
    };
    Ok(Target { addr, host, uri })
}

/// Accepts every server certificate: this is a benchmark client for local servers.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_endpoint(target: &Target) -> Result<quinn::Endpoint, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(5)));
    config.transport_config(Arc::new(transport));
    let bind = if target.addr.is_ipv6() {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    };
    let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| format!("UDP socket: {e}"))?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}

type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

async fn open(endpoint: quinn::Endpoint, target: Arc<Target>) -> Result<(Sender, quinn::Connection), String> {
    let connecting = endpoint.connect(target.addr, &target.host).map_err(|e| format!("connect: {e}"))?;
    let conn = connecting.await.map_err(|e| format!("QUIC handshake with {}: {e}", target.addr))?;
    let (mut driver, sender) =
        h3::client::new(h3_quinn::Connection::new(conn.clone())).await.map_err(|e| format!("HTTP/3 setup: {e}"))?;
    tokio::spawn(async move {
        let _ = driver.wait_idle().await;
    });
    Ok((sender, conn))
}

/// One request: GET the URL and read the whole response; returns (2xx?, body bytes).
async fn one_request(sender: &mut Sender, target: &Target) -> Result<(bool, u64), String> {
    let request = http::Request::get(target.uri.clone()).body(()).map_err(|e| e.to_string())?;
    let mut stream = sender.send_request(request).await.map_err(|e| format!("send_request: {e}"))?;
    stream.finish().await.map_err(|e| format!("finish: {e}"))?;
    let response = stream.recv_response().await.map_err(|e| format!("recv_response: {e}"))?;
    let mut bytes = 0u64;
    while let Some(chunk) = stream.recv_data().await.map_err(|e| format!("recv_data: {e}"))? {
        bytes += chunk.remaining() as u64;
    }
    Ok((response.status().is_success(), bytes))
}

/// One stream loop: request after request until the deadline.
async fn drive(mut sender: Sender, target: Arc<Target>, deadline: Instant) -> Stats {
    let mut stats = Stats::default();
    let mut consecutive_errors = 0u32;
    while Instant::now() < deadline {
        let started = Instant::now();
        let remaining = deadline.saturating_duration_since(started) + Duration::from_secs(5);
        match tokio::time::timeout(remaining, one_request(&mut sender, &target)).await {
            Ok(Ok((success, bytes))) => {
                consecutive_errors = 0;
                let now = Instant::now();
                if now <= deadline {
                    stats.requests += 1;
                    stats.bytes += bytes;
                    if !success {
                        stats.non_2xx += 1;
                    }
                    stats.latencies_us.push(u32::try_from(now.duration_since(started).as_micros()).unwrap_or(u32::MAX));
                }
            }
            Ok(Err(e)) => {
                stats.error(e);
                consecutive_errors += 1;
            }
            Err(_) => {
                stats.error("request timed out");
                consecutive_errors += 1;
            }
        }
        if consecutive_errors >= 100 {
            break; // the connection is gone; do not spin
        }
    }
    stats
}

async fn run(args: Args) -> ExitCode {
    let target = match parse_target(&args.url) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("h3bench: {e}");
            return ExitCode::from(2);
        }
    };
    let duration = Duration::from_secs_f64(args.duration);

    // Connect everything first, so the measurement does not include handshakes.
    let mut connecting = Vec::with_capacity(args.connections);
    let mut endpoints = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        // One endpoint (UDP socket) per connection, like separate clients.
        let endpoint = match client_endpoint(&target) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("h3bench: {e}");
                return ExitCode::FAILURE;
            }
        };
        endpoints.push(endpoint.clone());
        connecting.push(tokio::spawn(open(endpoint, target.clone())));
    }
    let mut connections = Vec::with_capacity(args.connections);
    let mut total = Stats::default();
    for task in connecting {
        match task.await {
            Ok(Ok(c)) => connections.push(c),
            Ok(Err(e)) => total.error(e),
            Err(e) => total.error(e),
        }
    }
    if connections.is_empty() {
        eprintln!("h3bench: no connection could be opened: {}", total.first_error.unwrap_or_default());
        return ExitCode::FAILURE;
    }

    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(connections.len() * args.streams);
    for (sender, _) in &connections {
        for _ in 0..args.streams {
            workers.push(tokio::spawn(drive(sender.clone(), target.clone(), deadline)));
        }
    }
    for worker in workers {
        match worker.await {
            Ok(stats) => total.merge(stats),
            Err(e) => total.error(e),
        }
    }
    let elapsed = start.elapsed().min(duration).as_secs_f64();
    for (sender, conn) in connections {
        drop(sender);
        conn.close(0u32.into(), b"done");
    }
    for endpoint in endpoints {
        let _ = tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await;
    }

    total.latencies_us.sort_unstable();
    let rate = total.requests as f64 / elapsed;
    let p50 = percentile(&total.latencies_us, 50.0);
    let p99 = percentile(&total.latencies_us, 99.0);
    let max = total.latencies_us.last().copied().unwrap_or(0);
    if args.json {
        println!(
            "{{\"connections\": {}, \"streams\": {}, \"duration\": {:.3}, \"requests\": {}, \
             \"requests_per_sec\": {:.1}, \"errors\": {}, \"non_2xx\": {}, \"bytes\": {}, \
             \"p50_us\": {}, \"p99_us\": {}, \"max_us\": {}}}",
            args.connections,
            args.streams,
            elapsed,
            total.requests,
            rate,
            total.errors,
            total.non_2xx,
            total.bytes,
            p50,
            p99,
            max
        );
    } else {
        println!("{} connections x {} streams, {:.2} s, {}", args.connections, args.streams, elapsed, target.uri);
        println!("  requests:    {} ({rate:.1} req/s)", total.requests);
        println!("  errors:      {}", total.errors);
        println!("  non-2xx:     {}", total.non_2xx);
        println!("  body bytes:  {}", total.bytes);
        println!("  latency p50: {}", fmt_us(p50));
        println!("  latency p99: {}", fmt_us(p99));
        println!("  latency max: {}", fmt_us(max));
        if let Some(e) = &total.first_error {
            println!("  first error: {e}");
        }
    }
    if total.requests == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

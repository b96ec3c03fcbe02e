//! `wsbench`: a WebSocket echo load generator.
//!
//! Opens `-c` connections to a WebSocket echo endpoint; each sends a message of `--size` bytes
//! and waits for the echo, in a loop, for `-d` seconds (with `--depth N`, each keeps N messages
//! in flight). Prints messages per second, errors and the p50/p99 round-trip latency.
//!
//! ```text
//! wsbench --url ws://127.0.0.1:8000/ -c 64 -d 10 --size 16
//! ```

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use loadgen::{fmt_us, percentile};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};

#[derive(Debug, Parser)]
#[command(name = "wsbench", about = "WebSocket echo load generator")]
struct Args {
    /// WebSocket URL of an echo endpoint (ws:// only).
    #[arg(long, default_value = "ws://127.0.0.1:8000/")]
    url: String,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measurement.
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Message size in bytes.
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Messages each connection keeps in flight (1: send, await the echo, repeat).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Send text messages instead of binary ones.
    #[arg(long)]
    text: bool,
    /// Client threads.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Print one JSON object instead of the human-readable summary.
    #[arg(long)]
    json: bool,
}

/// What one connection measured.
#[derive(Default)]
struct Stats {
    messages: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.connections == 0 || args.depth == 0 || args.duration.is_nan() || args.duration <= 0.0 {
        eprintln!("wsbench: --connections, --depth and --duration must be positive");
        return ExitCode::from(2);
    }
    let threads = args.threads;
    loadgen::block_on("wsbench", threads, run(args))
}

async fn run(args: Args) -> ExitCode {
    let payload = Bytes::from(vec![b'x'; args.size]);
    let text = String::from_utf8(vec![b'x'; args.size]).unwrap_or_default();
    let duration = Duration::from_secs_f64(args.duration);

    // Connect everything first, so the measurement does not include handshakes.
    let mut connecting = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        connecting.push(tokio::spawn(open(args.url.clone())));
    }
    let mut sockets = Vec::with_capacity(args.connections);
    let mut connect_errors = 0u64;
    let mut first_error = None;
    for task in connecting {
        match task.await {
            Ok(Ok(ws)) => sockets.push(ws),
            Ok(Err(e)) => {
                connect_errors += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                connect_errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if sockets.is_empty() {
        eprintln!("wsbench: no connection could be opened: {}", first_error.unwrap_or_default());
        return ExitCode::FAILURE;
    }

    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(sockets.len());
    for ws in sockets {
        let message = if args.text { Message::text(text.clone()) } else { Message::binary(payload.clone()) };
        workers.push(tokio::spawn(drive(ws, message, args.depth, deadline)));
    }
    let mut total = Stats { errors: connect_errors, ..Stats::default() };
    for worker in workers {
        match worker.await {
            Ok(stats) => {
                total.messages += stats.messages;
                total.errors += stats.errors;
                total.latencies_us.extend(stats.latencies_us);
            }
            Err(_) => total.errors += 1,
        }
    }
    let elapsed = start.elapsed().min(duration).as_secs_f64();
    total.latencies_us.sort_unstable();
    let rate = total.messages as f64 / elapsed;
    let p50 = percentile(&total.latencies_us, 50.0);
    let p99 = percentile(&total.latencies_us, 99.0);
    let max = total.latencies_us.last().copied().unwrap_or(0);
    if args.json {
        println!(
            "{{\"connections\": {}, \"depth\": {}, \"size\": {}, \"duration\": {:.3}, \"messages\": {}, \
             \"messages_per_sec\": {:.1}, \"errors\": {}, \"p50_us\": {}, \"p99_us\": {}, \"max_us\": {}}}",
            args.connections, args.depth, args.size, elapsed, total.messages, rate, total.errors, p50, p99, max
        );
    } else {
        println!(
            "{} connections, depth {}, {} B {} messages, {:.2} s",
            args.connections,
            args.depth,
            args.size,
            if args.text { "text" } else { "binary" },
            elapsed
        );
        println!("  messages:    {} ({rate:.1} msg/s)", total.messages);
        println!("  errors:      {}", total.errors);
        println!("  latency p50: {}", fmt_us(p50));
        println!("  latency p99: {}", fmt_us(p99));
        println!("  latency max: {}", fmt_us(max));
        if let Some(e) = first_error {
            println!("  first connect error: {e}");
        }
    }
    if total.messages == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn open(url: String) -> Result<Ws, String> {
    let request = url.as_str().into_client_request().map_err(|e| e.to_string())?;
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(format!("only ws:// URLs are supported, not {url}"));
    }
    let host = uri.host().ok_or_else(|| format!("no host in {url}"))?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host, port)).await.map_err(|e| format!("connect {host}:{port}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let config = WebSocketConfig::default().max_message_size(None).max_frame_size(None);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// One connection's loop: keep `depth` messages in flight until the deadline.
async fn drive(ws: Ws, message: Message, depth: usize, deadline: Instant) -> Stats {
    let mut stats = Stats::default();
    let (mut sink, mut stream) = ws.split();
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let expected_len = message.len();
    for _ in 0..depth {
        sent_at.push_back(Instant::now());
        if sink.feed(message.clone()).await.is_err() {
            stats.errors += 1;
            return stats;
        }
    }
    if sink.flush().await.is_err() {
        stats.errors += 1;
        return stats;
    }
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    loop {
        let received = tokio::select! {
            received = stream.next() => received,
            () = &mut sleep => break,
        };
        match received {
            Some(Ok(reply @ (Message::Text(_) | Message::Binary(_)))) => {
                let reply_len = reply.len();
                let now = Instant::now();
                if let Some(sent) = sent_at.pop_front() {
                    if now <= deadline {
                        stats.messages += 1;
                        stats
                            .latencies_us
                            .push(u32::try_from(now.duration_since(sent).as_micros()).unwrap_or(u32::MAX));
                    }
                }
                if reply_len != expected_len {
                    stats.errors += 1;
                }
                if now >= deadline {
                    break;
                }
                sent_at.push_back(Instant::now());
                if sink.send(message.clone()).await.is_err() {
                    stats.errors += 1;
                    return stats;
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(_))) | None => {
                stats.errors += 1;
                return stats;
            }
            Some(Err(_)) => {
                stats.errors += 1;
                return stats;
            }
        }
    }
    // Close politely; the server's answer is not waited for long.
    let _ = sink.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(m)) = stream.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    stats
}

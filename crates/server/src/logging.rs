//! Log output in uvicorn's shape: `LEVEL:    message`. Server messages go to stderr, access lines to
//! stdout, both through background writers so a slow terminal or pipe never stalls a request.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::cli::LogLevel;

/// The tracing target of access log lines.
pub const ACCESS_TARGET: &str = "covetpy::access";

/// Keeps the background writers alive; dropping it flushes what is queued.
pub struct LogGuards {
    _stderr: WorkerGuard,
    _stdout: WorkerGuard,
}

/// Installs the global subscriber.
pub fn init(level: LogLevel) -> LogGuards {
    let filter = match level {
        LogLevel::Critical | LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warning => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let (stderr, stderr_guard) = tracing_appender::non_blocking(std::io::stderr());
    let (stdout, stdout_guard) = tracing_appender::non_blocking(std::io::stdout());
    let server = tracing_subscriber::fmt::layer()
        .event_format(UvicornStyle)
        .with_writer(stderr)
        .with_filter(filter_fn(|meta| meta.target() != ACCESS_TARGET && is_ours(meta.target())));
    let access = tracing_subscriber::fmt::layer()
        .event_format(UvicornStyle)
        .with_writer(stdout)
        .with_filter(filter_fn(|meta| meta.target() == ACCESS_TARGET));
    tracing_subscriber::registry().with(server.and_then(access).with_filter(filter)).init();
    LogGuards { _stderr: stderr_guard, _stdout: stdout_guard }
}

/// Library crates log plenty at debug level; only our own crates speak unless tracing everything.
fn is_ours(target: &str) -> bool {
    target.starts_with("covetpy")
}

/// `INFO:     message`, the level and colon padded to ten columns as uvicorn prints them.
struct UvicornStyle;

impl<S, N> FormatEvent<S, N> for UvicornStyle
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR:",
            Level::WARN => "WARNING:",
            Level::INFO => "INFO:",
            Level::DEBUG => "DEBUG:",
            Level::TRACE => "TRACE:",
        };
        write!(writer, "{level:<10}")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

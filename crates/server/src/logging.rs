//! Log output in uvicorn's shape: `LEVEL:    message`. Server messages go to stderr, access lines to
//! stdout, both through background writers so a slow terminal or pipe never stalls a request.

use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;

use covetpy_embed::logconfig::{AccessArgs, LogLine, PythonLogging};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::cli::LogLevel;

/// The tracing target of access log lines.
pub const ACCESS_TARGET: &str = "covetpy::access";
/// The tracing target of access lines written as they are, with no level name in front (gunicorn's
/// formats and JSON).
pub const ACCESS_RAW_TARGET: &str = "covetpy::access::raw";

/// Whether a target is one of the access log's.
fn is_access(target: &str) -> bool {
    target == ACCESS_TARGET || target == ACCESS_RAW_TARGET
}

/// Files the log lines go to instead of stderr (server lines) and stdout (access lines):
/// `--error-logfile` and `--access-logfile`.
#[derive(Debug, Default)]
pub struct Files {
    /// Server lines.
    pub error: Option<std::fs::File>,
    /// Access lines.
    pub access: Option<std::fs::File>,
}

impl Files {
    /// Opens the files named by `--error-logfile`/`--access-logfile` for appending; `-` (or nothing)
    /// keeps the standard stream.
    pub fn open(error: Option<&str>, access: Option<&str>) -> Result<Files, String> {
        let open = |option: &str, path: Option<&str>| -> Result<Option<std::fs::File>, String> {
            let Some(path) = path.filter(|p| *p != "-") else { return Ok(None) };
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Some)
                .map_err(|e| format!("{option} {path}: could not open it for writing: {e}"))
        };
        Ok(Files { error: open("--error-logfile", error)?, access: open("--access-logfile", access)? })
    }
}

/// Keeps the background writers alive; dropping it flushes what is queued.
pub struct LogGuards {
    _stderr: WorkerGuard,
    _stdout: WorkerGuard,
}

/// Installs the global subscriber. `colors` says whether level names are coloured on stderr (server
/// lines) and on stdout (access lines).
pub fn init(level: LogLevel, colors: Colors, files: Files) -> LogGuards {
    let filter = level_filter(level);
    // Files get no colours.
    let colors =
        Colors { stderr: colors.stderr && files.error.is_none(), stdout: colors.stdout && files.access.is_none() };
    let (stderr, stderr_guard) = match files.error {
        Some(file) => tracing_appender::non_blocking(file),
        None => tracing_appender::non_blocking(std::io::stderr()),
    };
    let (stdout, stdout_guard) = match files.access {
        Some(file) => tracing_appender::non_blocking(file),
        None => tracing_appender::non_blocking(std::io::stdout()),
    };
    // Each kind of line has its own level, so that a --log-config can set uvicorn.error and
    // uvicorn.access apart; reload layers let worker.rs change them once Python's logging is set up.
    let (server_level, server_handle) = reload::Layer::new(filter);
    let (access_level, access_handle) = reload::Layer::new(filter);
    let server = tracing_subscriber::fmt::layer()
        .event_format(UvicornStyle { colors: colors.stderr })
        .with_writer(stderr)
        .with_filter(filter_fn(|meta| !is_access(meta.target()) && is_ours(meta.target())))
        .with_filter(server_level);
    let access = tracing_subscriber::fmt::layer()
        .event_format(UvicornStyle { colors: colors.stdout })
        .with_writer(stdout)
        .with_filter(filter_fn(|meta| is_access(meta.target())))
        .with_filter(access_level);
    // Off until --log-config hands covetpy's lines to Python's logging; its level filter also keeps
    // library events (hyper's, at debug and trace) from being built for it.
    let (forward_level, forward_handle) = reload::Layer::new(LevelFilter::OFF);
    let forward = ToPython.with_filter(filter_fn(|meta| is_ours(meta.target()))).with_filter(forward_level);
    tracing_subscriber::registry().with(server).with(access).with(forward).init();
    let set: Box<dyn Fn(Levels) + Send + Sync> = Box::new(move |levels: Levels| {
        // Fails only if the subscriber is gone, when there is nothing left to filter.
        let _ = server_handle.reload(levels.server);
        let _ = access_handle.reload(levels.access);
        let _ = forward_handle.reload(levels.forward);
    });
    let _ = SET_LEVELS.set(set);
    LogGuards { _stderr: stderr_guard, _stdout: stdout_guard }
}

/// The levels of the three outputs: server lines on stderr, access lines on stdout, and lines handed
/// to Python's logging.
struct Levels {
    server: LevelFilter,
    access: LevelFilter,
    forward: LevelFilter,
}

/// Changes the levels of the outputs.
static SET_LEVELS: OnceLock<Box<dyn Fn(Levels) + Send + Sync>> = OnceLock::new();

/// Sets the levels of server and access lines, after `--log-config` has set those of Python's
/// `uvicorn.error` and `uvicorn.access` loggers.
pub fn set_levels(server: LevelFilter, access: LevelFilter) {
    if let Some(set) = SET_LEVELS.get() {
        set(Levels { server, access, forward: LevelFilter::OFF });
    }
}

/// Where covetpy's lines go once `--log-config` has configured Python's logging: its loggers, through
/// their handlers and formatters, as uvicorn's own lines go; the levels are those of `uvicorn.error` and
/// `uvicorn.access` there.
struct Forward {
    sink: PythonLogging,
    server: LevelFilter,
    access: LevelFilter,
}

static FORWARD: OnceLock<Forward> = OnceLock::new();

/// From now on, log server and access lines through Python's logging (`sink`) at these levels, and no
/// longer on stderr and stdout.
pub fn forward_to_python(sink: PythonLogging, server: LevelFilter, access: LevelFilter) {
    if FORWARD.set(Forward { sink, server, access }).is_ok() {
        if let Some(set) = SET_LEVELS.get() {
            set(Levels { server: LevelFilter::OFF, access: LevelFilter::OFF, forward: server.max(access) });
        }
    }
}

/// Waits until the lines logged so far have reached Python's handlers (at most a second), so that a
/// worker's last lines are not lost when it exits.
pub fn flush_forwarded() {
    if let Some(forward) = FORWARD.get() {
        forward.sink.flush(std::time::Duration::from_secs(1));
    }
}

/// The layer that hands events to [`FORWARD`].
struct ToPython;

impl<S: Subscriber> Layer<S> for ToPython {
    fn on_event(&self, event: &Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let Some(forward) = FORWARD.get() else { return };
        let meta = event.metadata();
        let access = is_access(meta.target());
        if *meta.level() > if access { forward.access } else { forward.server } {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let access_args = match (fields.client_addr, fields.method, fields.full_path, fields.http_version) {
            (Some(client), Some(method), Some(full_path), Some(http_version)) if access => {
                fields.status_code.map(|status| AccessArgs { client, method, full_path, http_version, status })
            }
            _ => None,
        };
        forward.sink.log(LogLine {
            access,
            level: python_level_of(*meta.level()),
            message: fields.message,
            access_args,
        });
    }
}

/// Python's level number for a tracing level.
fn python_level_of(level: Level) -> u32 {
    match level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// The fields of an event: its message, and the parts of an access line (see access_log.rs) that
/// uvicorn passes as arguments of its access records.
#[derive(Default)]
struct Fields {
    message: String,
    client_addr: Option<String>,
    method: Option<String>,
    full_path: Option<String>,
    http_version: Option<String>,
    status_code: Option<u16>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = || format!("{value:?}");
        match field.name() {
            "message" => self.message = text(),
            "client_addr" => self.client_addr = Some(text()),
            "method" => self.method = Some(text()),
            "full_path" => self.full_path = Some(text()),
            "http_version" => self.http_version = Some(text()),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "status_code" {
            self.status_code = u16::try_from(value).ok();
        }
    }
}

/// Writes only an event's message: the other fields of access lines are for [`ToPython`].
struct MessageOnly<'a, 'w>(&'a mut Writer<'w>, fmt::Result);

impl Visit for MessageOnly<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.1 = write!(self.0, "{value:?}");
        }
    }
}

/// The filter for `--log-level`; `critical` keeps errors, since covetpy logs nothing as critical.
fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Critical | LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warning => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// The filter for a level number of Python's logging (`None`: the logger is disabled). As with
/// `--log-level critical`, levels above ERROR keep errors.
pub fn python_level_filter(level: Option<u32>) -> LevelFilter {
    match level {
        None => LevelFilter::OFF,
        Some(l) if l <= 5 => LevelFilter::TRACE,
        Some(l) if l <= 10 => LevelFilter::DEBUG,
        Some(l) if l <= 20 => LevelFilter::INFO,
        Some(l) if l <= 30 => LevelFilter::WARN,
        Some(_) => LevelFilter::ERROR,
    }
}

/// Python's number for a `--log-level`, as uvicorn's LOG_LEVELS has it.
pub fn python_level(level: LogLevel) -> u32 {
    match level {
        LogLevel::Critical => 50,
        LogLevel::Error => 40,
        LogLevel::Warning => 30,
        LogLevel::Info => 20,
        LogLevel::Debug => 10,
        LogLevel::Trace => 5,
    }
}

/// Whether to colour level names, per stream.
#[derive(Debug, Clone, Copy)]
pub struct Colors {
    /// Server lines.
    pub stderr: bool,
    /// Access lines.
    pub stdout: bool,
}

impl Colors {
    /// `--use-colors`/`--no-use-colors`, else colours on each stream that is a terminal. (uvicorn
    /// looks at stdout for both; asking each stream keeps escape codes out of a redirected one.)
    pub fn choose(forced: Option<bool>) -> Colors {
        match forced {
            Some(on) => Colors { stderr: on, stdout: on },
            None => Colors { stderr: std::io::stderr().is_terminal(), stdout: std::io::stdout().is_terminal() },
        }
    }
}

/// Library crates log plenty at debug level; only our own crates speak unless tracing everything.
fn is_ours(target: &str) -> bool {
    target.starts_with("covetpy")
}

/// `INFO:     message`, the level and colon padded to ten columns as uvicorn prints them; with colours
/// the level name is coloured as uvicorn's DefaultFormatter colours it (click's ANSI codes).
struct UvicornStyle {
    colors: bool,
}

impl<S, N> FormatEvent<S, N> for UvicornStyle
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        if event.metadata().target() == ACCESS_RAW_TARGET {
            let mut message = MessageOnly(&mut writer, Ok(()));
            event.record(&mut message);
            message.1?;
            return writeln!(writer);
        }
        let (name, color) = match *event.metadata().level() {
            Level::ERROR => ("ERROR", "31"),
            Level::WARN => ("WARNING", "33"),
            Level::INFO => ("INFO", "32"),
            Level::DEBUG => ("DEBUG", "36"),
            Level::TRACE => ("TRACE", "34"),
        };
        let pad = 9usize.saturating_sub(name.len());
        if self.colors {
            write!(writer, "\x1b[{color}m{name}\x1b[0m:{:pad$}", "")?;
        } else {
            write!(writer, "{name}:{:pad$}", "")?;
        }
        let mut message = MessageOnly(&mut writer, Ok(()));
        event.record(&mut message);
        message.1?;
        writeln!(writer)
    }
}

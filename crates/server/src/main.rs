//! The `covetpy` executable.

mod access_log;
mod activation;
mod allocator;
mod bind;
mod cli;
mod control;
mod dotenv;
mod gunicorn;
mod logging;
mod memory;
mod metrics_http;
mod metrics_shm;
mod metrics_text;
mod pid1;
mod reload;
mod settings;
mod steering;
mod supervisor;
mod timeout;
mod worker;
mod worker_metrics;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    // First, while the process still has one thread (see the functions).
    allocator::tune();
    activation::take_systemd_sockets();
    // Also while there is one thread, since it forks: as PID 1, the parent stays behind as the init.
    if let Some(code) = pid1::become_init_if_pid1() {
        return code;
    }
    let (cli, env_file) = match parse() {
        Ok(parsed) => parsed,
        Err(message) => {
            // Logging is not set up yet; this is its format.
            eprintln!("{:<10}{message}", "ERROR:");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Serve(args) => {
            let files = match prepare_process(&args) {
                Ok(files) => files,
                Err(message) => {
                    eprintln!("{:<10}{message}", "ERROR:");
                    return ExitCode::from(1);
                }
            };
            let _guards = logging::init(args.log_level, logging::Colors::choose(args.use_colors()), files);
            if let Some((path, skipped)) = env_file.filter(|_| !worker::is_worker_process()) {
                tracing::info!("Loading environment from '{}'", path.display());
                if skipped > 0 {
                    tracing::warn!(
                        "{skipped} statement(s) in '{}' could not be parsed and were skipped",
                        path.display()
                    );
                }
            }
            let pid_file = args.pid.as_ref().filter(|_| !worker::is_worker_process());
            if let Some(path) = pid_file {
                if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
                    tracing::error!("--pid {}: could not write the pid file: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            let code = if args.supervised() && !worker::is_worker_process() {
                supervisor::run(&args)
            } else {
                worker::run(&args)
            };
            if let Some(path) = pid_file {
                let _ = std::fs::remove_file(path);
            }
            ExitCode::from(code)
        }
    }
}

/// The command line with the settings of the environment and of the settings files applied; with
/// `--env-file` (from any of those), the file is loaded first and everything read again, so the
/// variables it sets count like any other (`WEB_CONCURRENCY`, `COVETPY_*`). Returns the env file and
/// how many of its statements were skipped, for the log. Clap's own errors (bad values, `--help`)
/// exit here as usual.
fn parse() -> Result<(Cli, Option<(std::path::PathBuf, usize)>), String> {
    let cwd = std::env::current_dir().map_err(|e| format!("could not read the current directory: {e}"))?;
    let read = || -> Result<Cli, String> {
        let effective = settings::effective_argv(std::env::args_os().collect(), &cwd, |name| std::env::var(name).ok())?;
        Ok(parse_argv(effective))
    };
    let cli = read()?;
    let Command::Serve(args) = &cli.command;
    if let Some(path) = args.log_config.as_ref().filter(|p| !p.is_file()) {
        return Err(format!("--log-config {}: no such file", path.display()));
    }
    let Some(path) = args.env_file.clone() else { return Ok((cli, None)) };
    if !path.is_file() {
        return Err(format!("--env-file {}: no such file", path.display()));
    }
    let skipped = dotenv::load(&path)?;
    Ok((read()?, Some((path, skipped))))
}

/// What the gunicorn options ask of the process before anything else runs, while it still has one
/// thread (the environment may only be changed then): `--chdir`, `-e`, `--pythonpath`; checks `-k` and
/// `--access-logformat`; opens the log files. Workers inherit the directory and environment of the
/// supervisor, so they do not change them again.
fn prepare_process(args: &cli::ServeArgs) -> Result<logging::Files, String> {
    if std::env::var("GUNICORN_CMD_ARGS").is_ok_and(|v| !v.trim().is_empty()) {
        return Err(
            "GUNICORN_CMD_ARGS is set, but covetpy does not read it: put those options on the command line".into()
        );
    }
    if let Some(class) = &args.worker_class {
        gunicorn::worker_class_is_wsgi(class)?;
    }
    access_log::AccessFormat::parse(args.access_logformat.as_deref())?;
    let pairs = args
        .env
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key, value)),
            _ => Err(format!("-e {pair:?}: expected KEY=VALUE")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !worker::is_worker_process() {
        if let Some(dir) = &args.chdir {
            std::env::set_current_dir(dir).map_err(|e| format!("--chdir {}: {e}", dir.display()))?;
        }
        for (key, value) in pairs {
            std::env::set_var(key, value);
        }
        if let Some(dirs) = &args.pythonpath {
            let cwd = std::env::current_dir().map_err(|e| format!("could not read the current directory: {e}"))?;
            let mut paths: Vec<std::path::PathBuf> =
                dirs.split(',').map(str::trim).filter(|d| !d.is_empty()).map(|d| cwd.join(d)).collect();
            if let Some(existing) = std::env::var_os("PYTHONPATH") {
                paths.extend(std::env::split_paths(&existing));
            }
            let joined = std::env::join_paths(paths).map_err(|e| format!("--pythonpath {dirs}: {e}"))?;
            std::env::set_var("PYTHONPATH", joined);
        }
    }
    logging::Files::open(args.error_logfile.as_deref(), args.access_logfile.as_deref())
}

/// Parses the effective command line, noting whether `--log-level` was given by some source. A clap
/// error exits as clap exits, with a line saying which arguments came from elsewhere.
fn parse_argv(effective: settings::Effective) -> Cli {
    let matches = match Cli::command().try_get_matches_from(&effective.argv) {
        Ok(matches) => matches,
        Err(e) => {
            let is_usage_error = e.use_stderr();
            let _ = e.print();
            if is_usage_error && !effective.origins.is_empty() {
                eprintln!("note: from the environment and settings files: {}", effective.origins.join(", "));
            }
            std::process::exit(e.exit_code());
        }
    };
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let Command::Serve(args) = &mut cli.command;
    args.effective_argv = effective.argv.iter().skip(1).cloned().collect();
    let given = matches
        .subcommand_matches("serve")
        .and_then(|serve| serve.value_source("log_level"))
        .is_some_and(|source| source == clap::parser::ValueSource::CommandLine);
    args.log_level_given = given;
    cli
}

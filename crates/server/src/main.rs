//! The `covetpy` executable.

mod access_log;
mod cli;
mod logging;
mod supervisor;
mod worker;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let _guards = logging::init(args.log_level);
            let code = if args.workers > 1 && !worker::is_worker_process() {
                supervisor::run(&args)
            } else {
                worker::run(&args)
            };
            ExitCode::from(code)
        }
    }
}

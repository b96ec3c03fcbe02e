//! The `covetpy` executable.

mod access_log;
mod activation;
mod cli;
mod control;
mod logging;
mod supervisor;
mod worker;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    // First, while the process still has one thread (see the function).
    activation::take_systemd_sockets();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let _guards = logging::init(args.log_level);
            let code = if args.supervised() && !worker::is_worker_process() {
                supervisor::run(&args)
            } else {
                worker::run(&args)
            };
            ExitCode::from(code)
        }
    }
}

//! The `hearth` binary: player, offline renderer, prober, cache tools and benchmarks.
//!
//! Built on the public `hearth` API alone. Every error a user can cause ends here as one
//! readable line on stderr and a non-zero exit code: 2 for bad input (a file that is missing,
//! not audio, damaged, unsupported; a bad flag value), 1 for anything else.

mod analyze;
mod cli;
mod demo;
mod failure;
mod probe;
mod render;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => render::render_demo(),
        Some(Command::Probe(args)) => probe::run(&args),
        Some(Command::Render(args)) => render::run(&args),
        Some(Command::Analyze(args)) => analyze::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("hearth: {failure}");
            failure.exit_code()
        }
    }
}

//! The `hearth` binary: player, offline renderer, prober, cache tools and benchmarks.
//!
//! Built on the public `hearth` API alone. Every error a user can cause ends here as one
//! readable line on stderr and a non-zero exit code: 2 for bad input (a file that is missing,
//! not audio, damaged, unsupported; a bad flag or config value), 1 for anything else.

mod analyze;
mod bench;
mod cache_cmd;
mod cli;
mod config;
mod demo;
mod devices;
mod failure;
mod json;
mod logging;
mod memory;
#[cfg(target_os = "linux")]
mod mpris;
mod paths;
mod play;
mod playlist;
mod probe;
mod render;
mod session;
mod tui;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, PlayArgs};
use crate::failure::Failure;

// Debug builds abort if the audio callback ever allocates (release builds pay nothing).
#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

fn main() -> ExitCode {
    memory::tune_allocator();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("hearth: {failure}");
            failure.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let (mut file, _) = config::load(cli.config.as_deref())?;
    // The cache flags override the file's keys.
    if let Some(b) = cli.cache_budget {
        file.cache_budget = Some(config::ByteSize(b));
    }
    if let Some(n) = cli.cache_max_tracks {
        file.cache_max_tracks = Some(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(d) = cli.cache_ttl_days {
        file.cache_ttl_days = Some(d);
    }
    let default_play = PlayArgs::default();
    let tui = match &cli.command {
        None => true,
        Some(Command::Play(a)) => !a.json,
        _ => false,
    } && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    let settings_for_logs =
        config::Settings::resolve(cli.cache_dir.as_deref(), &default_play.opts, &file)?;
    logging::init(
        cli.verbose,
        cli.log_file.as_deref(),
        tui,
        &settings_for_logs.cache.dir,
    );
    match &cli.command {
        None => play::run(cli.cache_dir.as_deref(), &default_play, &file),
        Some(Command::Play(args)) => play::run(cli.cache_dir.as_deref(), args, &file),
        Some(Command::Probe(args)) => probe::run(args),
        Some(Command::Render(args)) => render::run(args),
        Some(Command::Analyze(args)) => analyze::run(args),
        Some(Command::Devices(args)) => devices::run(args, cli.verbose > 0),
        Some(Command::Cache(cmd)) => cache_cmd::run(cmd, &settings_for_logs),
        Some(Command::Bench(args)) => bench::run(args, &settings_for_logs),
    }
}

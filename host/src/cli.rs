//! Command-line interface: every subcommand, flag and its documentation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Hearth: a real-time audio player with auto-mastering and an instant-seek chunk cache.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do; without a subcommand, Hearth renders the bundled demo track.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe an audio file: container, codec, rate, channels, bit depth, length, tags.
    Probe(ProbeArgs),
    /// Decode a file through the pipeline and write 32-bit float WAV at the engine rate.
    Render(RenderArgs),
}

/// `hearth probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The audio file.
    pub file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `hearth render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The audio file.
    pub file: PathBuf,
    /// Output WAV file (32-bit float).
    #[arg(short, long, value_name = "OUT.wav")]
    pub output: PathBuf,
    /// Engine (output) sample rate in Hz; default: the source's rate.
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8000..=384000))]
    pub rate: Option<u32>,
    /// Render what decodes from a truncated or damaged file (with a warning) instead of failing.
    #[arg(long)]
    pub partial: bool,
}

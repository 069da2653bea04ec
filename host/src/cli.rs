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
    /// Decode a file through the pipeline (and the mastering chain) into 32-bit float WAV.
    Render(RenderArgs),
    /// Measure a file's loudness (BS.1770 / EBU R128): integrated, range, true peak.
    Analyze(AnalyzeArgs),
}

/// `hearth analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The audio file.
    pub file: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Analyse at this rate (default: the source's rate).
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8000..=384000))]
    pub rate: Option<u32>,
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
    /// Master with this preset: adaptive, gentle, warm, bright, punchy, live, loudness.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<hearth::Preset>,
    /// How much of the mastered variant to mix in, 0.0–1.0 (default 1.0; needs --preset).
    #[arg(long, value_name = "X", requires = "preset", value_parser = parse_intensity)]
    pub intensity: Option<f32>,
}

/// An intensity in 0.0–1.0.
pub fn parse_intensity(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0.0–1.0"))
    }
}

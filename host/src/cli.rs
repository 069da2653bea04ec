//! Command-line interface: every subcommand, flag and its documentation.
//!
//! Flags that a config file can also set (see `config`) are `Option`s here: unset means "take
//! the config file's value, else the default".

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Hearth: a real-time audio player with auto-mastering and an instant-seek chunk cache.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file (TOML); default: the platform config directory's hearth/config.toml.
    #[arg(long, global = true, env = "HEARTH_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Cache directory; default: the platform cache directory (e.g. $XDG_CACHE_HOME/hearth).
    #[arg(long, global = true, env = "HEARTH_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Cache byte budget, e.g. "2GiB" or "500MB" (default 2 GiB).
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size)]
    pub cache_budget: Option<u64>,
    /// Most tracks kept in the cache (default 500).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_max_tracks: Option<u64>,
    /// Days a track stays cached without being played (default 30).
    #[arg(long, global = true, value_name = "DAYS", value_parser = parse_days)]
    pub cache_ttl_days: Option<f64>,
    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Write logs to this file (the player's terminal UI never shows them).
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// What to do; without a subcommand, Hearth plays the bundled demo track.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Play files and directories (the bundled demo when none are given).
    Play(PlayArgs),
    /// Decode files through the pipeline (and the mastering chain) into 32-bit float WAV.
    Render(RenderArgs),
    /// Describe an audio file: container, codec, rate, channels, bit depth, length, tags.
    Probe(ProbeArgs),
    /// Measure a file's loudness (BS.1770 / EBU R128): integrated, range, true peak.
    Analyze(AnalyzeArgs),
    /// List output devices with their supported rates and formats.
    Devices(DevicesArgs),
    /// Inspect and maintain the cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Measure latencies of the real engine (seek, toggle, preset, first audio, fill, load).
    Bench(BenchArgs),
}

/// Settings shared by everything that plays or warms (flags over config over defaults).
#[derive(Debug, Args, Default, Clone)]
pub struct PlaybackOpts {
    /// Output: `device`, `device:NAME`, `null` (silent, paced like a device) or `wav:PATH`
    /// (records what you would have heard, paced in real time).
    #[arg(long, value_name = "SPEC")]
    pub output: Option<String>,
    /// Engine/output sample rate in Hz (default: the device's).
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8000..=384000))]
    pub rate: Option<u32>,
    /// Output buffer size in frames.
    #[arg(long, value_name = "FRAMES", value_parser = clap::value_parser!(u32).range(16..=16384))]
    pub buffer: Option<u32>,
    /// Mastering preset: adaptive, gentle, warm, bright, punchy, live, loudness.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<hearth::Preset>,
    /// Share of the mastered variant, 0.0–1.0.
    #[arg(long, value_name = "X", value_parser = parse_unit)]
    pub intensity: Option<f32>,
    /// Enhancement (auto-mastering) on or off.
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    pub enhance: Option<bool>,
    /// Volume, 0.0–4.0 (1.0 = unchanged).
    #[arg(long, value_name = "V", value_parser = parse_volume)]
    pub volume: Option<f32>,
    /// Crossfade between tracks in seconds (0 = gapless, the default).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub crossfade: Option<f64>,
    /// Loudness normalisation of the original variant: off (default), track or album
    /// (−18 LUFS, true peak ≤ −1 dBTP).
    #[arg(long, value_name = "off|track|album")]
    pub normalize: Option<hearth::Normalize>,
}

/// `hearth play`.
#[derive(Debug, Args, Default)]
pub struct PlayArgs {
    /// Files and directories (directories are expanded to their audio files, sorted
    /// naturally).
    pub paths: Vec<PathBuf>,
    /// JSON control protocol: commands on stdin, events on stdout, one object per line.
    #[arg(long)]
    pub json: bool,
    /// Restart the saved session (queue, track, position, paused or playing, enhancement,
    /// volume); paths given on the command line play instead.
    #[arg(long, overrides_with = "no_resume")]
    pub resume: bool,
    /// Do not restart the saved session, whatever the config file's `resume` says.
    #[arg(long, overrides_with = "resume")]
    pub no_resume: bool,
    /// Playback settings.
    #[command(flatten)]
    pub opts: PlaybackOpts,
}

impl PlayArgs {
    /// `--resume` → `Some(true)`, `--no-resume` → `Some(false)` (the last one given wins),
    /// neither → `None` (the config file decides).
    pub fn resume_flag(&self) -> Option<bool> {
        match (self.resume, self.no_resume) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
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

/// `hearth render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The audio file(s).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output WAV file (32-bit float); with several inputs, an output directory.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Engine (output) sample rate in Hz; default: each source's rate.
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8000..=384000))]
    pub rate: Option<u32>,
    /// Render what decodes from a truncated or damaged file (with a warning) instead of failing.
    #[arg(long)]
    pub partial: bool,
    /// Master with this preset: adaptive, gentle, warm, bright, punchy, live, loudness.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<hearth::Preset>,
    /// How much of the mastered variant to mix in, 0.0–1.0 (default 1.0; needs --preset).
    #[arg(long, value_name = "X", requires = "preset", value_parser = parse_unit)]
    pub intensity: Option<f32>,
    /// Parallel renders in batch mode (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

/// `hearth devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `hearth cache ...`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Tracks, bytes, budget, hit/miss counts and rates, time saved.
    Stats {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Warm whole tracks (original and enhanced) into the cache, in parallel, as many as fit
    /// the budget (most recently played first, then in the order given).
    Warm(WarmArgs),
    /// Remove cached tracks.
    Clean {
        /// Only tracks not played for this many days.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<f64>,
        /// Everything.
        #[arg(long, conflicts_with = "older_than")]
        all: bool,
    },
    /// Check every cached file's header and chunk checksums.
    Verify {
        /// Remove what is broken (bad files; bad chunks are marked missing).
        #[arg(long)]
        repair: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// `hearth cache warm`.
#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Files and directories.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Enhanced variant to warm besides the original (default: the configured preset).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<hearth::Preset>,
    /// Tracks warmed in parallel (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Engine rate to warm for (default: the configured rate, else the output device's).
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(8000..=384000))]
    pub rate: Option<u32>,
    /// Print one JSON object (what was warmed, what did not fit, what failed) instead of
    /// progress bars and a summary.
    #[arg(long)]
    pub json: bool,
}

/// `hearth bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Files to measure (default: the bundled demo).
    pub files: Vec<PathBuf>,
    /// One JSON object per file.
    #[arg(long)]
    pub json: bool,
    /// Engine rate.
    #[arg(long, value_name = "HZ", default_value_t = 48_000, value_parser = clap::value_parser!(u32).range(8000..=384000))]
    pub rate: u32,
    /// Buffer size in frames (the null sink's callback size).
    #[arg(long, value_name = "FRAMES", default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=16384))]
    pub buffer: u32,
    /// Runs per latency.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub runs: u32,
    /// Seed for the random positions.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Also draw the latency distributions into an SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Distinct tracks (made from each file) in the memory session that follows the
    /// latencies; 0 skips it.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=10000))]
    pub session_tracks: u32,
    /// While the latencies after the fill figure are measured, warm fresh copies of the file
    /// one after another in the background of the same process — on every core, at the
    /// lowest priority, as a library warm would — to show what warming costs playback.
    #[arg(long)]
    pub warm_library: bool,
    /// Test hook: slow the filler down by this many ms per unit of work (shows that the
    /// measurements follow the engine).
    #[arg(long, hide = true, default_value_t = 0)]
    pub slow_filler_ms: u64,
}

/// A number in 0.0–1.0.
pub fn parse_unit(s: &str) -> Result<f32, String> {
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

/// A volume in 0.0–4.0.
pub fn parse_volume(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=4.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0.0–4.0"))
    }
}

/// Seconds ≥ 0 (and ≤ 30).
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if (0.0..=30.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is outside 0–30 s"))
    }
}

/// `on`/`off` (also true/false, yes/no, 1/0).
pub fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not on or off")),
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    let b = parse_bytes(s)?;
    if b < 16 << 20 {
        return Err(format!("{s} is less than 16 MiB"));
    }
    Ok(b)
}

fn parse_days(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(d) if d > 0.0 && d.is_finite() => Ok(d),
        _ => Err(format!("'{s}' is not a positive number of days")),
    }
}

/// "2GiB", "1.5 GB", "500MB", "4096" → bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try \"2GiB\")"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => return Err(format!("unknown size unit '{other}' in '{s}'")),
    };
    Ok((n * mult) as u64)
}

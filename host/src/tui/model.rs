//! What the terminal UI shows: a [`ViewModel`] snapshot of the engine, gathered by the
//! session and drawn by `view`.
//!
//! Runs on: the UI thread.

use std::time::Duration;

use hearth::{Preset, Transport};

/// Everything one frame shows, gathered from the engine (see `session.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewModel {
    /// The entry the listener is on, if any.
    pub track: Option<TrackView>,
    /// Playing, paused or stopped.
    pub transport: Transport,
    /// The renderer is waiting for audio (a cache miss).
    pub buffering: bool,
    /// Where the current track is.
    pub position: Duration,
    /// Warm-tier presence of the current track, one row per variant.
    pub cache: Vec<CacheRow>,
    /// Enhancement settings.
    pub enhancement: EnhancementView,
    /// Volume, linear (0.0–4.0).
    pub volume: f32,
    /// Loudness normalisation and the playing track's gain from it, dB.
    pub normalize: (hearth::Normalize, f32),
    /// Where the audio goes (`None` until the output is open).
    pub output: Option<OutputView>,
    /// Why the cache is unusable, while it is.
    pub cache_problem: Option<String>,
    /// The queue, in order.
    pub queue: Vec<QueueRow>,
    /// The latest message (errors stay a few seconds).
    pub notice: Option<Notice>,
}

/// The current track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackView {
    /// Title tag, else the file name.
    pub title: String,
    /// Artist tag.
    pub artist: Option<String>,
    /// Album tag.
    pub album: Option<String>,
    /// Length, once the file has been opened.
    pub duration: Option<Duration>,
}

/// One variant's row of the cache map.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheRow {
    /// "original" or the preset's name.
    pub label: String,
    /// One flag per chunk: in the warm tier.
    pub chunks: Vec<bool>,
    /// The enhanced variant (drawn in another colour).
    pub enhanced: bool,
}

/// Enhancement on/off, preset, intensity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnhancementView {
    /// On or off.
    pub on: bool,
    /// The chosen preset.
    pub preset: Preset,
    /// 0.0 (original) to 1.0 (fully enhanced).
    pub intensity: f32,
}

/// The output and its counters.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputView {
    /// Device name, "null", or the WAV path.
    pub name: String,
    /// Rate, Hz.
    pub rate: u32,
    /// Frames per callback, when known.
    pub buffer_frames: Option<u32>,
    /// Underruns so far.
    pub underruns: u64,
    /// Render time / buffer duration of the last callback.
    pub load_last: f32,
    /// Highest load seen.
    pub load_max: f32,
    /// Why this is the null sink although a device was asked for.
    pub fallback: Option<String>,
}

/// One queue entry.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    /// "Title · Artist", else the file name.
    pub title: String,
    /// Opened, waiting, or unplayable.
    pub status: RowStatus,
    /// The entry the listener is on.
    pub current: bool,
}

/// Where a queue entry stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RowStatus {
    /// Not opened yet.
    Pending,
    /// Playable, this long.
    Ready(Duration),
    /// Skipped, and why.
    Failed(String),
}

/// A message on the notice line.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// An error (red) or information (grey).
    pub error: bool,
}

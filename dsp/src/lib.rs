//! hearth-dsp: Hearth's track analysis and mastering ("enhancement") chain.
//!
//! Everything here is pure and deterministic: no files, no threads, no clocks. The chain's
//! output is a function of (source audio, preset) alone — through the track analysis and the
//! per-preset calibration, both themselves deterministic — which is what lets the cache produce
//! any enhanced chunk on its own, in any order.
//!
//! * [`analysis`] — BS.1770 loudness, range, peaks and spectral balance of a track;
//! * [`preset`] — the presets and their parameters;
//! * [`chain`] — gain → EQ ([`biquad`]) → [`compressor`] → width → [`limiter`] (true peak via
//!   [`truepeak`]);
//! * [`calibrate`] — the per-(track, preset) gain correction that lands on the target;
//! * [`intensity`] — the original/enhanced mix the renderer plays, and why it is safe.
//!
//! Threads: all of it runs on the cache's filler thread(s); none on the audio thread.

pub mod analysis;
pub mod biquad;
pub mod calibrate;
pub mod chain;
pub mod compressor;
pub mod db;
pub mod intensity;
pub mod limiter;
pub mod preset;
pub mod sliding;
pub mod truepeak;

pub use analysis::{ANALYSIS_VERSION, AnalysisPlan, Analyzer, TrackAnalysis, analysis_plan};
pub use calibrate::{
    CalibrationWindow, Calibrator, Fed, Measured, OwnedWindow, calibrate, calibration_plan,
};
pub use chain::Chain;
pub use preset::{ChainParams, Preset, UnknownPreset};

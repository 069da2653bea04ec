//! hearth-dsp: Hearth's track analysis and mastering ("enhancement") chain.
//!
//! Everything here is pure and deterministic: no files, no threads, no clocks. The chain's
//! output is a function of (source audio, track analysis, preset) alone, which is what lets the
//! cache produce any chunk on its own, in any order.

pub mod analysis;
pub mod preset;

pub use analysis::{ANALYSIS_VERSION, TrackAnalysis};
pub use preset::{Preset, UnknownPreset};

//! Track analysis: loudness, range, peaks and spectral balance, per ITU-R BS.1770 / EBU R128.

use serde::{Deserialize, Serialize};

/// Bumped whenever the analysis algorithm changes: cached analyses and enhanced chunks made
/// from an older version are discarded.
pub const ANALYSIS_VERSION: u32 = 1;

/// What the mastering chain needs to know about a whole track. Deterministic: a function of
/// the source audio alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackAnalysis {
    /// [`ANALYSIS_VERSION`] at the time it was made.
    pub version: u32,
    /// Sample rate the analysis ran at.
    pub rate: u32,
    /// Integrated loudness (BS.1770-4, gated), LUFS. `-70` or lower for silence.
    pub integrated_lufs: f64,
    /// Loudness range (EBU Tech 3342), LU.
    pub loudness_range_lu: f64,
    /// Maximum true peak (4× oversampled), dBTP.
    pub true_peak_dbtp: f64,
    /// Maximum sample peak, dBFS.
    pub sample_peak_dbfs: f64,
    /// Track length, seconds.
    pub duration_seconds: f64,
    /// Fraction of the track the figures were measured on (1.0: all of it).
    pub coverage: f64,
    /// Average level per octave band (centres 31.5 Hz … 16 kHz), dB relative to the total.
    pub band_levels_db: Vec<f32>,
    /// Side-to-mid energy ratio, dB (−∞ for mono is stored as −100).
    pub side_to_mid_db: f32,
}

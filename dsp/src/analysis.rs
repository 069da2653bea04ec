//! Track analysis: loudness, loudness range, peaks and spectral balance, per ITU-R BS.1770-4 /
//! EBU R128 (measured with the `ebur128` crate) plus an octave-band spectrum for `adaptive`.
//!
//! # Not waiting for a whole-track decode
//!
//! The chain needs the analysis before it can produce the first enhanced chunk of a track.
//! Decoding a whole 4-minute track first would delay that by a third of a second, so the
//! analysis the chain uses is a deterministic function of a fixed plan of windows
//! ([`analysis_plan`]): tracks up to 75 s are analysed whole; longer ones through 16 evenly
//! spaced 2.5 s windows (40 s of audio wherever the track is long), measured as one programme
//! with BS.1770's gating (each window's filters are seeded with the 100 ms before it). Being a
//! function of the source alone, this estimate *is* the analysis: it never changes once made,
//! so cached enhanced chunks stay valid. A full front-to-back analysis, made when a track is
//! warmed whole, is kept beside it for display; the tests check the two agree within 0.5 LU.

use std::ops::Range;
use std::sync::Arc;

use ebur128::{EbuR128, Mode};
use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

/// Bumped whenever the analysis algorithm changes: cached analyses and enhanced chunks made
/// from an older version are discarded.
pub const ANALYSIS_VERSION: u32 = 1;

/// Tracks up to this long are analysed whole.
pub const FULL_ANALYSIS_MAX_SECONDS: u64 = 75;
const WINDOWS: u64 = 16;
const WINDOW_MS: u64 = 2500;
/// Filter warm-up before each window (not measured).
pub const SEED_MS: u64 = 100;
/// Loudness floor: silence measures as this.
pub const SILENCE_LUFS: f64 = -70.0;
const FFT_SIZE: usize = 4096;

/// What the mastering chain needs to know about a whole track. Deterministic: a function of
/// the source audio alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackAnalysis {
    /// [`ANALYSIS_VERSION`] at the time it was made.
    pub version: u32,
    /// Sample rate the analysis ran at.
    pub rate: u32,
    /// Integrated loudness (BS.1770-4, gated), LUFS; [`SILENCE_LUFS`] for silence.
    pub integrated_lufs: f64,
    /// Loudness range (EBU Tech 3342), LU.
    pub loudness_range_lu: f64,
    /// Maximum true peak (4× oversampled), dBTP; the sample peak when not measured.
    pub true_peak_dbtp: f64,
    /// Maximum sample peak, dBFS.
    pub sample_peak_dbfs: f64,
    /// Track length, seconds.
    pub duration_seconds: f64,
    /// Fraction of the track the figures were measured on (1.0: all of it).
    pub coverage: f64,
    /// Average level per octave band (centres 31.5 Hz … 16 kHz), dB relative to the total.
    pub band_levels_db: Vec<f32>,
    /// Side-to-mid energy ratio, dB (−100 for mono).
    pub side_to_mid_db: f32,
}

/// Octave-band centres of [`TrackAnalysis::band_levels_db`], Hz.
pub const BAND_CENTRES: [f64; 10] = [
    31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0,
];

/// Frees a finished meter's audio buffer, keeping what combining meters needs.
///
/// A meter with short-term loudness (which loudness range needs) keeps 3 s of audio for its
/// sliding window — 2.3 MB at 48 kHz stereo — but once its window has been measured, only its
/// gating-block energies (and peaks) matter: `loudness_global_multiple` and
/// `loudness_range_multiple` read nothing else. `change_parameters` to the lowest rate the
/// crate accepts reallocates that buffer at 16 Hz and keeps the energies and peaks; the only
/// thing it drops is the unfinished block, which gating never counts. Without this, the
/// 16 windows of an analysis in progress held 37 MB.
pub(crate) fn shrink(meter: &mut EbuR128) {
    let _ = meter.change_parameters(meter.channels(), 16);
}

/// Which frames of a track the analysis reads: windows, each preceded by a seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisPlan {
    /// Measured ranges, in frames, in order, not overlapping.
    pub windows: Vec<Range<u64>>,
    /// Seed length before each window (clipped at the track start), frames.
    pub seed: u64,
}

impl AnalysisPlan {
    /// The seed range before window `i`.
    pub fn seed_range(&self, i: usize) -> Range<u64> {
        let w = &self.windows[i];
        w.start.saturating_sub(self.seed)..w.start
    }
}

/// The windows the (estimated) analysis of a track of `total_frames` at `rate` reads.
pub fn analysis_plan(total_frames: u64, rate: u32) -> AnalysisPlan {
    let r = u64::from(rate);
    let seed = SEED_MS * r / 1000;
    if total_frames <= FULL_ANALYSIS_MAX_SECONDS * r {
        return AnalysisPlan {
            windows: std::iter::once(0..total_frames).collect(),
            seed,
        };
    }
    let len = WINDOW_MS * r / 1000;
    let windows = (0..WINDOWS)
        .map(|i| {
            // Centres at (i + ½)/N of the track.
            let centre = (2 * i + 1) * total_frames / (2 * WINDOWS);
            let start = centre - len / 2;
            start..start + len
        })
        .collect();
    AnalysisPlan { windows, seed }
}

/// Why an analysis could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// The loudness meter rejected the parameters.
    #[error("loudness meter: {0}")]
    Meter(String),
}

/// Accumulates the analysis window by window.
pub struct Analyzer {
    rate: u32,
    total_frames: u64,
    mode: Mode,
    done: Vec<EbuR128>,
    current: Option<EbuR128>,
    fft: Arc<dyn RealToComplex<f32>>,
    fft_in: Vec<f32>,
    fft_out: Vec<realfft::num_complex::Complex<f32>>,
    hann: Vec<f32>,
    pending: Vec<f32>,
    band_power: [f64; 10],
    bin_band: Vec<Option<usize>>,
    mid_energy: f64,
    side_energy: f64,
    sample_peak: f32,
    measured: u64,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("rate", &self.rate)
            .field("measured", &self.measured)
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    /// An analyzer for a track of `total_frames` at `rate`; `true_peak` adds the (costlier)
    /// true-peak measurement.
    pub fn new(rate: u32, total_frames: u64, true_peak: bool) -> Result<Self, AnalysisError> {
        let mut mode = Mode::I | Mode::LRA | Mode::SAMPLE_PEAK;
        if true_peak {
            mode |= Mode::TRUE_PEAK;
        }
        // Validate the parameters once, up front.
        EbuR128::new(2, rate, mode).map_err(|e| AnalysisError::Meter(e.to_string()))?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_SIZE);
        let fft_out = fft.make_output_vec();
        let hann = (0..FFT_SIZE)
            .map(|i| {
                let x = std::f32::consts::PI * 2.0 * i as f32 / FFT_SIZE as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        let bin_hz = f64::from(rate) / FFT_SIZE as f64;
        let bin_band = (0..fft_out.len())
            .map(|k| {
                let f = k as f64 * bin_hz;
                BAND_CENTRES
                    .iter()
                    .position(|&c| f >= c / 2f64.sqrt() && f < c * 2f64.sqrt())
            })
            .collect();
        Ok(Self {
            rate,
            total_frames,
            mode,
            done: Vec::new(),
            current: None,
            fft_in: fft.make_input_vec(),
            fft,
            fft_out,
            hann,
            pending: Vec::with_capacity(FFT_SIZE),
            band_power: [0.0; 10],
            bin_band,
            mid_energy: 0.0,
            side_energy: 0.0,
            sample_peak: 0.0,
            measured: 0,
        })
    }

    /// Starts a new window; `seed` (interleaved stereo, may be empty) warms the meter's
    /// filters without being measured.
    pub fn begin_window(&mut self, seed: &[f32]) -> Result<(), AnalysisError> {
        self.end_window();
        let mut meter = EbuR128::new(2, self.rate, self.mode)
            .map_err(|e| AnalysisError::Meter(e.to_string()))?;
        if !seed.is_empty() {
            meter
                .seed_frames_f32(seed)
                .map_err(|e| AnalysisError::Meter(e.to_string()))?;
        }
        self.current = Some(meter);
        self.pending.clear();
        Ok(())
    }

    fn end_window(&mut self) {
        if let Some(mut m) = self.current.take() {
            shrink(&mut m);
            self.done.push(m);
        }
    }

    /// Measures `audio` (interleaved stereo) as the continuation of the current window.
    pub fn feed(&mut self, audio: &[f32]) -> Result<(), AnalysisError> {
        if self.current.is_none() {
            self.begin_window(&[])?;
        }
        if let Some(m) = self.current.as_mut() {
            m.add_frames_f32(audio)
                .map_err(|e| AnalysisError::Meter(e.to_string()))?;
        }
        for f in audio.chunks_exact(2) {
            let (l, r) = (f[0], f[1]);
            self.sample_peak = self.sample_peak.max(l.abs()).max(r.abs());
            let mid = 0.5 * (l + r);
            let side = 0.5 * (l - r);
            self.mid_energy += f64::from(mid * mid);
            self.side_energy += f64::from(side * side);
            self.pending.push(mid);
            if self.pending.len() == FFT_SIZE {
                self.spectrum();
            }
        }
        self.measured += (audio.len() / 2) as u64;
        Ok(())
    }

    fn spectrum(&mut self) {
        for ((d, s), w) in self.fft_in.iter_mut().zip(&self.pending).zip(&self.hann) {
            *d = s * w;
        }
        self.pending.clear();
        if self
            .fft
            .process(&mut self.fft_in, &mut self.fft_out)
            .is_err()
        {
            return;
        }
        for (bin, band) in self.fft_out.iter().zip(&self.bin_band) {
            if let Some(b) = band {
                self.band_power[*b] += f64::from(bin.norm_sqr());
            }
        }
    }

    /// The analysis of everything fed.
    pub fn finish(mut self) -> TrackAnalysis {
        self.end_window();
        let integrated = EbuR128::loudness_global_multiple(self.done.iter())
            .ok()
            .filter(|v| v.is_finite())
            .map_or(SILENCE_LUFS, |v| v.max(SILENCE_LUFS));
        let lra = EbuR128::loudness_range_multiple(self.done.iter())
            .ok()
            .filter(|v| v.is_finite())
            .unwrap_or(0.0);
        let to_db = |lin: f64| {
            if lin > 1e-10 {
                20.0 * lin.log10()
            } else {
                -200.0
            }
        };
        let sample_peak = to_db(f64::from(self.sample_peak));
        let true_peak = if self.mode.contains(Mode::TRUE_PEAK) {
            let tp = self
                .done
                .iter()
                .flat_map(|m| (0..2).filter_map(move |c| m.true_peak(c).ok()))
                .fold(0.0f64, f64::max);
            to_db(tp).max(sample_peak)
        } else {
            sample_peak
        };
        let total: f64 = self.band_power.iter().sum();
        let band_levels_db = self
            .band_power
            .iter()
            .map(|&p| {
                if total > 0.0 && p > 0.0 {
                    (10.0 * (p / total).log10()).max(-100.0) as f32
                } else {
                    -100.0
                }
            })
            .collect();
        let side_to_mid_db = if self.mid_energy > 0.0 && self.side_energy > 0.0 {
            (10.0 * (self.side_energy / self.mid_energy).log10()).clamp(-100.0, 100.0) as f32
        } else {
            -100.0
        };
        let rate = f64::from(self.rate);
        TrackAnalysis {
            version: ANALYSIS_VERSION,
            rate: self.rate,
            integrated_lufs: integrated,
            loudness_range_lu: lra,
            true_peak_dbtp: true_peak,
            sample_peak_dbfs: sample_peak,
            duration_seconds: self.total_frames as f64 / rate,
            coverage: if self.total_frames == 0 {
                1.0
            } else {
                (self.measured as f64 / self.total_frames as f64).min(1.0)
            },
            band_levels_db,
            side_to_mid_db,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A neutral analysis for unit tests.
    pub fn flat_analysis() -> TrackAnalysis {
        TrackAnalysis {
            version: ANALYSIS_VERSION,
            rate: 48_000,
            integrated_lufs: -20.0,
            loudness_range_lu: 10.0,
            true_peak_dbtp: -3.0,
            sample_peak_dbfs: -3.0,
            duration_seconds: 60.0,
            coverage: 1.0,
            band_levels_db: crate::preset::REFERENCE_BALANCE_DB.to_vec(),
            side_to_mid_db: -12.0,
        }
    }

    #[test]
    fn plan_is_whole_for_short_tracks_and_spread_for_long_ones() {
        let short = analysis_plan(48_000 * 60, 48_000);
        assert_eq!(short.windows, vec![0..48_000 * 60]);
        let long = analysis_plan(48_000 * 240, 48_000);
        assert_eq!(long.windows.len(), 16);
        assert!(long.windows.windows(2).all(|w| w[0].end <= w[1].start));
        assert!(long.windows.last().is_some_and(|w| w.end <= 48_000 * 240));
        let covered: u64 = long.windows.iter().map(|w| w.end - w.start).sum();
        assert_eq!(covered, 16 * 120_000);
    }

    #[test]
    fn a_sine_measures_as_bs1770_says() {
        // A 1 kHz sine peaking at -20 dBFS in both channels: mean square 0.005 per channel,
        // summed over two channels 0.01 (-20 dB); BS.1770's -0.691 dB offset cancels the
        // K-weighting's +0.691 dB at 1 kHz, so it reads -20 LUFS.
        let rate = 48_000;
        let amp = 10f32.powf(-20.0 / 20.0);
        let audio: Vec<f32> = (0..rate * 10)
            .flat_map(|i| {
                let s = amp * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin();
                [s, s]
            })
            .collect();
        let mut a = Analyzer::new(rate, (rate * 10) as u64, true).unwrap();
        a.feed(&audio).unwrap();
        let r = a.finish();
        assert!(
            (r.integrated_lufs - (-20.0)).abs() < 0.2,
            "{}",
            r.integrated_lufs
        );
        assert!(r.loudness_range_lu < 0.5);
        assert!((r.sample_peak_dbfs + 20.0).abs() < 0.01);
        assert!(r.side_to_mid_db <= -100.0 + 1e-3);
        // All the energy is in the 1 kHz band.
        assert!(r.band_levels_db[5] > -0.5, "{:?}", r.band_levels_db);
    }
}

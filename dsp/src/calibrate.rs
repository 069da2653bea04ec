//! Per-(track, preset) loudness calibration.
//!
//! The chain's EQ, compressor and limiter all change loudness, by amounts that depend on the
//! programme. To land on the preset's target, the loudness gain is corrected once per track and
//! preset: the chain runs over a fixed plan of windows ([`calibration_plan`]), the loudness it
//! adds there is measured, and the gain is adjusted so the whole track lands on the target —
//! iterated because the limiter is not linear. The result is a deterministic function of the
//! source and the preset, so chunks made with it are order-independent; it is cached with the
//! track's analysis.

use std::ops::Range;

use ebur128::{EbuR128, Mode};

use crate::analysis::{SILENCE_LUFS, TrackAnalysis};
use crate::chain::Chain;
use crate::preset::Preset;

/// Tracks up to this long calibrate on all of their audio.
pub const WHOLE_TRACK_MAX_SECONDS: u64 = 30;
const WINDOWS: u64 = 6;
const WINDOW_MS: u64 = 2000;
/// Pre-roll before each calibration window: enough for the chain to settle to well within the
/// accuracy a loudness estimate needs (the exact pre-roll is for chunks).
pub const PREROLL_MS: u64 = 400;
const MAX_ITERATIONS: usize = 3;
/// A correction step this small ends the iteration (the limiter's non-linearity is mild).
const CONVERGED_DB: f64 = 0.15;

/// The windows calibration runs the chain over.
pub fn calibration_plan(total_frames: u64, rate: u32) -> Vec<Range<u64>> {
    let r = u64::from(rate);
    if total_frames <= WHOLE_TRACK_MAX_SECONDS * r {
        return std::iter::once(0..total_frames).collect();
    }
    let len = WINDOW_MS * r / 1000;
    (0..WINDOWS)
        .map(|i| {
            let centre = (2 * i + 1) * total_frames / (2 * WINDOWS);
            let start = centre - len / 2;
            start..start + len
        })
        .collect()
}

/// One calibration window's audio: the source over `[start − preroll, end + lookahead)`,
/// zero-padded outside the track.
#[derive(Debug)]
pub struct CalibrationWindow<'a> {
    /// Interleaved stereo input.
    pub audio: &'a [f32],
    /// Frames of pre-roll at the start of `audio`.
    pub preroll: usize,
    /// Frames of lookahead at the end of `audio`.
    pub lookahead: usize,
}

/// Finds the gain correction (dB) that lands `preset`'s output on its target loudness.
///
/// `windows` follow [`calibration_plan`]; their `lookahead` must be at least the chain's
/// `lookahead()` (see [`Chain::new`] with a correction of 0).
pub fn calibrate(
    preset: Preset,
    analysis: &TrackAnalysis,
    rate: u32,
    windows: &[CalibrationWindow<'_>],
) -> f32 {
    if analysis.integrated_lufs <= SILENCE_LUFS || windows.is_empty() {
        return 0.0;
    }
    let target = f64::from(preset.params(analysis).target_lufs);
    let Some(input_lufs) = measure(
        rate,
        windows.iter().map(|w| {
            let end = w.audio.len() - 2 * w.lookahead;
            &w.audio[2 * w.preroll..end]
        }),
    ) else {
        return 0.0;
    };
    let mut correction = 0.0f64;
    let mut out = Vec::new();
    for _ in 0..MAX_ITERATIONS {
        let mut chain = Chain::new(preset, analysis, correction as f32, rate);
        let outputs: Vec<Vec<f32>> = windows
            .iter()
            .map(|w| {
                out.clear();
                out.resize(w.audio.len() - 2 * (w.preroll + w.lookahead), 0.0);
                chain.render_with_preroll(w.audio, w.preroll, &mut out);
                out.clone()
            })
            .collect();
        let Some(output_lufs) = measure(rate, outputs.iter().map(Vec::as_slice)) else {
            break;
        };
        // Expected whole-track output = track input loudness + what the chain adds here.
        let expected = analysis.integrated_lufs + (output_lufs - input_lufs);
        let step = target - expected;
        correction += step;
        if step.abs() < CONVERGED_DB {
            break;
        }
    }
    correction as f32
}

/// Integrated loudness of several windows measured as one programme.
fn measure<'a>(rate: u32, windows: impl Iterator<Item = &'a [f32]>) -> Option<f64> {
    let meters: Vec<EbuR128> = windows
        .filter_map(|w| {
            let mut m = EbuR128::new(2, rate, Mode::I).ok()?;
            m.add_frames_f32(w).ok()?;
            Some(m)
        })
        .collect();
    EbuR128::loudness_global_multiple(meters.iter())
        .ok()
        .filter(|v| v.is_finite() && *v > SILENCE_LUFS)
}

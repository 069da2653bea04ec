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
    let mut c = Calibrator::new(preset, analysis, rate, windows.len());
    while let Some(i) = c.wanted() {
        if let Some(correction) = c.feed(&windows[i]) {
            return correction;
        }
    }
    c.result().unwrap_or(0.0)
}

/// A calibration window that owns its audio.
#[derive(Debug, Clone, Default)]
pub struct OwnedWindow {
    /// Interleaved stereo input over `[start − preroll, end + lookahead)`.
    pub audio: Vec<f32>,
    /// Frames of pre-roll at the start.
    pub preroll: usize,
    /// Frames of lookahead at the end.
    pub lookahead: usize,
}

impl OwnedWindow {
    /// The window as [`Calibrator::feed`] takes it.
    pub fn view(&self) -> CalibrationWindow<'_> {
        CalibrationWindow {
            audio: &self.audio,
            preroll: self.preroll,
            lookahead: self.lookahead,
        }
    }
}

/// [`calibrate`] a window at a time, holding none of them: the caller reads the window
/// [`Calibrator::wanted`] names and passes it to [`Calibrator::feed`], which runs the chain
/// over it and keeps only loudness meters. Each iteration asks for the windows again (reading
/// a window costs less than keeping six of them, or a whole short track, in memory while the
/// iterations run), so a filler can interleave other work between windows.
#[derive(Debug)]
pub struct Calibrator {
    preset: Preset,
    analysis: TrackAnalysis,
    rate: u32,
    target: f64,
    windows: usize,
    /// The input's meters, one per window, during the first iteration.
    input: Vec<EbuR128>,
    input_lufs: Option<f64>,
    correction: f64,
    iteration: usize,
    next_window: usize,
    /// The chain's output of each window so far, measured (the audio itself is not kept).
    outputs: Vec<EbuR128>,
    done: Option<f32>,
}

impl Calibrator {
    /// A calibration of `preset` for a track over a plan of `windows` windows (see
    /// [`calibration_plan`]).
    pub fn new(preset: Preset, analysis: &TrackAnalysis, rate: u32, windows: usize) -> Self {
        let silent = analysis.integrated_lufs <= SILENCE_LUFS || windows == 0;
        Calibrator {
            preset,
            target: f64::from(preset.params(analysis).target_lufs),
            analysis: analysis.clone(),
            rate,
            windows,
            input: Vec::new(),
            input_lufs: None,
            correction: 0.0,
            iteration: 0,
            next_window: 0,
            outputs: Vec::new(),
            done: silent.then_some(0.0),
        }
    }

    /// The plan's index of the window to feed next; `None` once finished.
    pub fn wanted(&self) -> Option<usize> {
        self.done.is_none().then_some(self.next_window)
    }

    /// The correction (dB), once finished.
    pub fn result(&self) -> Option<f32> {
        self.done
    }

    /// Runs the chain over `w`, the window [`Calibrator::wanted`] named; the correction (dB)
    /// once finished.
    pub fn feed(&mut self, w: &CalibrationWindow<'_>) -> Option<f32> {
        match self.feed_unless(w, || false) {
            Fed::Done(c) => Some(c),
            Fed::More | Fed::Stopped => None,
        }
    }

    /// Like [`Calibrator::feed`], asking `stop` between the chain's blocks: when it says so,
    /// nothing of the window is kept ([`Fed::Stopped`]) and the same window is wanted again.
    pub fn feed_unless(&mut self, w: &CalibrationWindow<'_>, stop: impl FnMut() -> bool) -> Fed {
        match self.feed_window(w, stop) {
            None => Fed::Stopped,
            Some(None) => Fed::More,
            Some(Some(c)) => Fed::Done(c),
        }
    }

    fn feed_window(
        &mut self,
        w: &CalibrationWindow<'_>,
        stop: impl FnMut() -> bool,
    ) -> Option<Option<f32>> {
        if let Some(c) = self.done {
            return Some(Some(c));
        }
        let measured = self.measure_unless(w, stop)?;
        Some(self.accept(measured))
    }

    /// Runs the chain over `w`, a window of the current iteration, on its own (a fresh chain,
    /// as [`Calibrator::feed`] does) and measures it — the part of feeding a window that can
    /// run on any thread, several windows at once; [`Calibrator::accept`] takes the results in
    /// plan order. `None` when `stop` said so (asked between the chain's blocks).
    pub fn measure_unless(
        &self,
        w: &CalibrationWindow<'_>,
        stop: impl FnMut() -> bool,
    ) -> Option<Measured> {
        let inner_len = w.audio.len().saturating_sub(2 * (w.preroll + w.lookahead));
        let Some(inner) = w.audio.get(2 * w.preroll..2 * w.preroll + inner_len) else {
            // A window shorter than its margins (not one of the plan's).
            return Some(Measured::default());
        };
        let correction = self.correction as f32;
        let mut chain = Chain::new(self.preset, &self.analysis, correction, self.rate);
        let mut out = vec![0.0; inner_len];
        if !chain.render_unless(w.audio, w.preroll, &mut out, stop) {
            return None;
        }
        Some(Measured {
            input: if self.iteration == 0 {
                meter(self.rate, inner)
            } else {
                None
            },
            output: meter(self.rate, &out),
            whole: true,
        })
    }

    /// Takes the measure of the next window wanted (see [`Calibrator::measure_unless`]); the
    /// correction (dB) once finished.
    pub fn accept(&mut self, measured: Measured) -> Option<f32> {
        if let Some(c) = self.done {
            return Some(c);
        }
        if !measured.whole {
            // A window shorter than its margins: stop where we are.
            self.done = Some(self.correction as f32);
            return self.done;
        }
        if let Some(m) = measured.input {
            self.input.push(m);
        }
        if let Some(m) = measured.output {
            self.outputs.push(m);
        }
        self.next_window += 1;
        if self.next_window < self.windows {
            return None;
        }
        // An iteration is complete: correct the gain.
        if self.iteration == 0 {
            match combined(&self.input) {
                Some(l) => self.input_lufs = Some(l),
                None => self.done = Some(0.0),
            }
            self.input = Vec::new();
            if self.done.is_some() {
                return self.done;
            }
        }
        let input_lufs = self.input_lufs?;
        let output_lufs = combined(&self.outputs);
        self.outputs.clear();
        self.next_window = 0;
        self.iteration += 1;
        let Some(output_lufs) = output_lufs else {
            self.done = Some(self.correction as f32);
            return self.done;
        };
        // Expected whole-track output = track input loudness + what the chain adds here.
        let expected = self.analysis.integrated_lufs + (output_lufs - input_lufs);
        let step = self.target - expected;
        self.correction += step;
        if step.abs() < CONVERGED_DB || self.iteration >= MAX_ITERATIONS {
            self.done = Some(self.correction as f32);
        }
        self.done
    }
}

/// One window's measures (see [`Calibrator::measure_unless`]).
#[derive(Debug, Default)]
pub struct Measured {
    /// The input's meter (first iteration only).
    input: Option<EbuR128>,
    /// The chain output's meter.
    output: Option<EbuR128>,
    /// False for a window shorter than its margins.
    whole: bool,
}

/// What feeding a window came to.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Fed {
    /// Stopped before the window was through the chain: feed it again.
    Stopped,
    /// Taken; more windows are wanted.
    More,
    /// Finished: the correction (dB).
    Done(f32),
}

/// One window's meter, measured and shrunk (see [`crate::analysis::shrink`]).
fn meter(rate: u32, window: &[f32]) -> Option<EbuR128> {
    let mut m = EbuR128::new(2, rate, Mode::I).ok()?;
    m.add_frames_f32(window).ok()?;
    crate::analysis::shrink(&mut m);
    Some(m)
}

/// Integrated loudness of windows measured as one programme.
fn combined(meters: &[EbuR128]) -> Option<f64> {
    EbuR128::loudness_global_multiple(meters.iter())
        .ok()
        .filter(|v| v.is_finite() && *v > SILENCE_LUFS)
}

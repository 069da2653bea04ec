//! The enhanced variant, made from a source: the track analysis and the per-preset calibration
//! read from the source along their fixed plans, and chunks rendered through the mastering
//! chain with the pre-roll and lookahead it needs.
//!
//! Runs on: the filler (and `hearth render`/`analyze`). Never on the audio thread.

use hearth_dsp::{
    Analyzer, Calibrator, Chain, OwnedWindow, Preset, TrackAnalysis, analysis_plan,
    calibration_plan,
};

use crate::chunk::ENGINE_CHANNELS;
use crate::error::SourceError;
use crate::source::Source;

const READ_BLOCK: usize = 32_768;

/// Analyses a source at its engine rate. `full` reads every frame (and measures true peak);
/// otherwise the fixed window plan of [`hearth_dsp::analysis_plan`] is read — the analysis the
/// chain uses, cheap enough to run before the first enhanced chunk of a new track.
pub fn analyse(source: &mut Source, full: bool) -> Result<TrackAnalysis, SourceError> {
    let mut walk = AnalysisWalk::new(source, full)?;
    while !walk.step(source, u64::MAX, || false)? {}
    Ok(walk.finish())
}

/// The analysis walk along its window plan, in steps of bounded work: the filler takes one
/// step at a time (so a seek never waits long behind an analysis), [`analyse`] all at once.
#[derive(Debug)]
pub struct AnalysisWalk {
    analyzer: Analyzer,
    plan: hearth_dsp::AnalysisPlan,
    next_window: usize,
    /// Where in the current window the next step continues (`None`: the window has not
    /// begun).
    window_pos: Option<u64>,
    buf: Vec<f32>,
}

fn meter_err(e: hearth_dsp::analysis::AnalysisError) -> SourceError {
    SourceError::Unsupported(e.to_string())
}

impl AnalysisWalk {
    /// A walk over `source` (see [`analyse`] for `full`).
    pub fn new(source: &Source, full: bool) -> Result<Self, SourceError> {
        let rate = source.engine_rate();
        let total = source.frames();
        let plan = if full {
            hearth_dsp::AnalysisPlan {
                windows: std::iter::once(0..total).collect(),
                seed: 0,
            }
        } else {
            analysis_plan(total, rate)
        };
        Ok(AnalysisWalk {
            analyzer: Analyzer::new(rate, total, full).map_err(meter_err)?,
            plan,
            next_window: 0,
            window_pos: None,
            buf: vec![0.0f32; READ_BLOCK * ENGINE_CHANNELS],
        })
    }

    /// Reads and measures up to `budget` frames along the plan, asking `stop` before every
    /// block read (up to 32 768 frames) and leaving off when it says so — the walk goes on
    /// from there at the next step; true once the walk is done.
    pub fn step(
        &mut self,
        source: &mut Source,
        budget: u64,
        mut stop: impl FnMut() -> bool,
    ) -> Result<bool, SourceError> {
        let mut budget = budget;
        while budget > 0 {
            if stop() {
                return Ok(false);
            }
            let Some(window) = self.plan.windows.get(self.next_window).cloned() else {
                break;
            };
            let mut pos = match self.window_pos {
                Some(p) => p,
                None => {
                    let seed = self.plan.seed_range(self.next_window);
                    let seed_len = (seed.end - seed.start) as usize;
                    if self.buf.len() < seed_len * ENGINE_CHANNELS {
                        self.buf.resize(seed_len * ENGINE_CHANNELS, 0.0);
                    }
                    let seed_buf = &mut self.buf[..seed_len * ENGINE_CHANNELS];
                    source.read(seed.start, seed_buf)?;
                    self.analyzer.begin_window(seed_buf).map_err(meter_err)?;
                    window.start
                }
            };
            while pos < window.end && budget > 0 {
                if pos > window.start && stop() {
                    self.window_pos = Some(pos);
                    return Ok(false);
                }
                let n = ((window.end - pos).min(budget) as usize).min(READ_BLOCK);
                let block = &mut self.buf[..n * ENGINE_CHANNELS];
                source.read(pos, block)?;
                self.analyzer.feed(block).map_err(meter_err)?;
                budget -= n as u64;
                pos += n as u64;
            }
            if pos >= window.end {
                self.next_window += 1;
                self.window_pos = None;
            } else {
                self.window_pos = Some(pos);
            }
        }
        Ok(self.next_window >= self.plan.windows.len())
    }

    /// The analysis (call once [`AnalysisWalk::step`] returned true).
    pub fn finish(self) -> TrackAnalysis {
        self.analyzer.finish()
    }
}

/// The calibration of `preset` for a track (see [`hearth_dsp::calibrate`]), reading its fixed
/// window plan from the source — a window at a time, as the calibration asks for it.
pub fn calibrate(
    source: &mut Source,
    preset: Preset,
    analysis: &TrackAnalysis,
) -> Result<f32, SourceError> {
    let rate = source.engine_rate();
    let plan = calibration_plan(source.frames(), rate);
    let margins = calibration_margins(preset, analysis, rate);
    let mut c = Calibrator::new(preset, analysis, rate, plan.len());
    while let Some(i) = c.wanted() {
        let Some(range) = plan.get(i) else { break };
        let window = calibration_window(source, range.clone(), margins)?;
        if let Some(correction) = c.feed(&window.view()) {
            return Ok(correction);
        }
    }
    Ok(c.result().unwrap_or(0.0))
}

/// [`calibrate`] with each iteration's windows shared out over `sources` — the same file
/// opened once per thread — one scoped thread each: the same result, bit for bit (each window
/// is measured on its own, and taken in plan order). Warming one track on several cores
/// calibrates this way instead of on one while the others wait.
pub fn calibrate_shared(
    sources: &mut [Source],
    preset: Preset,
    analysis: &TrackAnalysis,
) -> Result<f32, SourceError> {
    let Some(first) = sources.first() else {
        return Err(SourceError::Unsupported("no source to calibrate".into()));
    };
    let rate = first.engine_rate();
    let plan = calibration_plan(first.frames(), rate);
    let margins = calibration_margins(preset, analysis, rate);
    let threads = sources.len();
    let mut c = Calibrator::new(preset, analysis, rate, plan.len());
    while let Some(from) = c.wanted() {
        // The rest of this iteration's windows, dealt out round-robin.
        let calibrator = &c;
        let results: Vec<Result<Vec<(usize, hearth_dsp::Measured)>, SourceError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = sources
                    .iter_mut()
                    .enumerate()
                    .map(|(k, source)| {
                        let plan = &plan;
                        scope.spawn(move || {
                            let mut out = Vec::new();
                            for i in (from + k..plan.len()).step_by(threads) {
                                let window = calibration_window(source, plan[i].clone(), margins)?;
                                if let Some(m) = calibrator.measure_unless(&window.view(), || false)
                                {
                                    out.push((i, m));
                                }
                            }
                            Ok(out)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(SourceError::Unsupported(
                                "a calibration thread failed".into(),
                            ))
                        })
                    })
                    .collect()
            });
        let mut measured = Vec::new();
        for r in results {
            measured.extend(r?);
        }
        measured.sort_by_key(|(i, _)| *i);
        for (_, m) in measured {
            if let Some(correction) = c.accept(m) {
                return Ok(correction);
            }
        }
    }
    Ok(c.result().unwrap_or(0.0))
}

/// Pre-roll and lookahead (frames) of `preset`'s calibration windows at `rate`.
pub fn calibration_margins(preset: Preset, analysis: &TrackAnalysis, rate: u32) -> (usize, usize) {
    let lookahead = Chain::new(preset, analysis, 0.0, rate).lookahead();
    let preroll = (hearth_dsp::calibrate::PREROLL_MS * u64::from(rate) / 1000) as usize;
    (preroll, lookahead)
}

/// Reads one calibration window (`range` from the plan) with its margins.
pub fn calibration_window(
    source: &mut Source,
    range: std::ops::Range<u64>,
    margins: (usize, usize),
) -> Result<OwnedWindow, SourceError> {
    let window = calibration_window_unless(source, range, margins, || false)?;
    Ok(window.unwrap_or_default())
}

/// Like [`calibration_window`], asking `stop` between blocks: `None` when it said so.
pub fn calibration_window_unless(
    source: &mut Source,
    range: std::ops::Range<u64>,
    (preroll, lookahead): (usize, usize),
    stop: impl FnMut() -> bool,
) -> Result<Option<OwnedWindow>, SourceError> {
    let start = range.start as i64 - preroll as i64;
    let audio = read_span_unless(source, start, range.end + lookahead as u64, stop)?;
    Ok(audio.map(|audio| OwnedWindow {
        audio,
        preroll,
        lookahead,
    }))
}

/// Source frames `[start, end)` (`start` may be negative), zero outside the track.
pub fn read_span(source: &mut Source, start: i64, end: u64) -> Result<Vec<f32>, SourceError> {
    Ok(read_span_unless(source, start, end, || false)?.unwrap_or_default())
}

/// Like [`read_span`], read a block (up to 32 768 frames) at a time, asking `stop` between
/// blocks: `None` when it said so. (The blocks follow one another, so the source decodes on
/// without seeking: the samples are those of one read.)
pub fn read_span_unless(
    source: &mut Source,
    start: i64,
    end: u64,
    mut stop: impl FnMut() -> bool,
) -> Result<Option<Vec<f32>>, SourceError> {
    let mut out = vec![0.0f32; (end as i64 - start).max(0) as usize * ENGINE_CHANNELS];
    let skip = (-start).max(0) as usize;
    let mut at = start.max(0) as u64;
    let from = (skip * ENGINE_CHANNELS).min(out.len());
    for block in out[from..].chunks_mut(READ_BLOCK * ENGINE_CHANNELS) {
        if at > start.max(0) as u64 && stop() {
            return Ok(None);
        }
        source.read(at, block)?;
        at += (block.len() / ENGINE_CHANNELS) as u64;
    }
    Ok(Some(out))
}

/// Renders the enhanced variant of a track front to back, streaming: `sink` receives
/// consecutive blocks of `(original, enhanced)` frames, aligned, from frame 0 to the end, and
/// — once the source has ended early (a truncated file) — the engine frame where the decoded
/// audio ends. Equal, within −90 dBFS, to any chunk the cache renders on its own.
pub fn stream_enhanced(
    source: &mut Source,
    chain: &mut Chain,
    mut sink: impl FnMut(&[f32], &[f32], Option<u64>) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    let total = source.frames();
    let la = chain.lookahead() as u64;
    chain.reset();
    // The chain's output lags its input by `la`; keep the original delayed to match.
    let mut input = vec![0.0f32; READ_BLOCK * ENGINE_CHANNELS];
    let mut output = vec![0.0f32; READ_BLOCK * ENGINE_CHANNELS];
    let mut original: std::collections::VecDeque<f32> = std::collections::VecDeque::new();
    let mut orig_block = Vec::with_capacity(READ_BLOCK * ENGINE_CHANNELS);
    let mut fed = 0u64; // input frames fed
    let mut emitted = 0u64; // output frames delivered
    while emitted < total {
        let n = (READ_BLOCK as u64).min(total + la - fed) as usize;
        let inp = &mut input[..n * ENGINE_CHANNELS];
        source.read(fed, inp)?; // zeros past the end
        let out = &mut output[..n * ENGINE_CHANNELS];
        chain.process(inp, out);
        original.extend(inp.iter().copied());
        // Output frame i of this block is track frame fed + i − la.
        let first_valid = la.saturating_sub(fed).min(n as u64) as usize;
        let end_valid = ((total + la).saturating_sub(fed)).min(n as u64) as usize;
        if end_valid > first_valid {
            let count = end_valid - first_valid;
            orig_block.clear();
            orig_block.extend(original.drain(..count * ENGINE_CHANNELS));
            let decoded_end = source.decoded_end();
            sink(
                &orig_block,
                &out[first_valid * ENGINE_CHANNELS..end_valid * ENGINE_CHANNELS],
                decoded_end,
            )?;
            emitted += count as u64;
        }
        fed += n as u64;
    }
    Ok(())
}

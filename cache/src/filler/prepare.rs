//! The work enhanced chunks wait for: the track analysis (a step at a time along its fixed
//! window plan) and each preset's calibration (a window per step), both saved to the store so
//! the other filler and later sessions find them.
//!
//! Runs on: the filler threads.

use std::sync::Arc;

use hearth_dsp::{Calibrator, Fed, Preset};

use super::track::EntryState;
use super::urgency::Interrupt;
use super::{Filler, Priority, Step};
use crate::enhance::{self, AnalysisWalk};

/// Frames of audio one analysis step reads at most (about 2.7 s at 48 kHz): keeps every step
/// short, so a seek is never queued for long behind a whole-track analysis.
const ANALYSIS_STEP_FRAMES: u64 = 1 << 17;

/// A preset's calibration, done a window at a time: one step reads the window the
/// calibrator wants, the next runs the chain over it. At most one window is held (the
/// calibrator asks for them again on each iteration rather than keeping them all).
pub(super) struct CalibrationJob {
    preset: Preset,
    plan: Vec<std::ops::Range<u64>>,
    margins: (usize, usize),
    /// The window read for the calibrator's next step.
    window: Option<hearth_dsp::OwnedWindow>,
    calibrator: Calibrator,
}

impl Filler {
    /// While the renderer is fed: calibrate the playing track's other presets (a window per
    /// step), so switching presets later only costs a chunk.
    pub(super) fn precalibrate(&mut self) -> Option<Step> {
        let entry = self.demand.playing?.entry;
        if !self.ensure_open(entry) {
            return None;
        }
        let missing = match self.entries.get(&entry) {
            // The analysis may come from the other filler (through the store): then
            // `prepare_enhanced` picks it up as its first step.
            Some(EntryState::Open(t))
                if t.analysis.is_some() || self.store.analysis(t.track).is_some() =>
            {
                Preset::ALL
                    .into_iter()
                    .find(|p| !t.calibration.contains_key(p))?
            }
            _ => return None,
        };
        self.prepare_enhanced(entry, missing, Priority::P2)
    }

    /// True when enhanced chunks of `preset` can be produced for `entry` now.
    pub(super) fn enhanced_ready(&self, entry: u64, preset: Preset) -> bool {
        matches!(self.entries.get(&entry), Some(EntryState::Open(t)) if t.analysis.is_some() && t.calibration.contains_key(&preset))
    }

    /// Makes sure the analysis and `preset`'s calibration exist; if not, does one unit of that
    /// work and returns its step. A helper (see `Filler::set_share`) takes the analysis and
    /// calibrations from the store: it computes neither.
    pub(super) fn prepare_enhanced(
        &mut self,
        entry: u64,
        preset: Preset,
        priority: Priority,
    ) -> Option<Step> {
        let store = Arc::clone(&self.store);
        // Work for anything but P0 leaves off when something more urgent arrives (see
        // `Urgency`): the analysis goes on from there, a calibration window is read or fed
        // again.
        let (seen, in_a_row) = (self.urgency_seen, self.dropped_in_a_row);
        let interrupt = Interrupt::new(&self.urgency, seen, priority, in_a_row);
        let Some(EntryState::Open(t)) = self.entries.get_mut(&entry) else {
            return None;
        };
        let helper = self.share.is_some_and(|(k, _)| k > 0);
        let may = May {
            analyse: !helper,
            calibrate: !helper,
        };
        let step = prepare_step(t, &store, entry, preset, priority, may, || interrupt.now());
        let dropped = interrupt.fired();
        self.count_preemption(priority, dropped);
        step
    }
}

/// What a filler may compute rather than take from the store.
#[derive(Copy, Clone)]
struct May {
    analyse: bool,
    calibrate: bool,
}

/// One unit of the work `preset`'s enhanced chunks of `t` wait for (see
/// [`Filler::prepare_enhanced`]).
fn prepare_step(
    t: &mut super::track::TrackState,
    store: &crate::warm::WarmStore,
    entry: u64,
    preset: Preset,
    priority: Priority,
    may: May,
    stop: impl Fn() -> bool,
) -> Option<Step> {
    if t.analysis.is_none() {
        // The other filler may have made it meanwhile.
        if let Some(a) = store.analysis(t.track) {
            t.analysis = Some(a);
            t.analysis_job = None;
            return Some(Step::Analysed {
                priority,
                entry,
                complete: true,
            });
        }
        if !may.analyse {
            return None;
        }
        let complete = match analysis_step(t, stop) {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(entry, error = %e, "analysis failed");
                return None;
            }
        };
        if complete && let Some(a) = &t.analysis {
            store.set_analysis(t.track, a.clone());
        }
        return Some(Step::Analysed {
            priority,
            entry,
            complete,
        });
    }
    if !t.calibration.contains_key(&preset)
        && let Some(gain) = store.calibration(t.track, preset)
    {
        t.calibration.insert(preset, gain);
        return Some(Step::Calibrated {
            priority,
            entry,
            preset,
        });
    }
    if !t.calibration.contains_key(&preset) && may.calibrate {
        // In steps: one window read per step, then one window through the chain per step.
        let rate = t.source.engine_rate();
        let mut job = match t.calibration_job.take() {
            Some(job) if job.preset == preset => job,
            // A job for another preset is dropped (it starts again when needed).
            _ => {
                let analysis = t.analysis.as_ref()?;
                let plan = hearth_dsp::calibration_plan(t.source.frames(), rate);
                CalibrationJob {
                    preset,
                    margins: enhance::calibration_margins(preset, analysis, rate),
                    calibrator: Calibrator::new(preset, analysis, rate, plan.len()),
                    plan,
                    window: None,
                }
            }
        };
        let result = match (job.calibrator.wanted(), job.window.take()) {
            (None, _) => job.calibrator.result(),
            (Some(i), None) => {
                let range = job.plan.get(i)?.clone();
                job.window =
                    enhance::calibration_window_unless(&mut t.source, range, job.margins, stop)
                        .ok()?;
                None
            }
            (Some(_), Some(window)) => match job.calibrator.feed_unless(&window.view(), stop) {
                Fed::Done(gain) => Some(gain),
                Fed::More => None,
                Fed::Stopped => {
                    job.window = Some(window);
                    None
                }
            },
        };
        return match result {
            Some(gain) => {
                t.calibration.insert(preset, gain);
                store.set_calibration(t.track, preset, gain);
                Some(Step::Calibrated {
                    priority,
                    entry,
                    preset,
                })
            }
            None => {
                t.calibration_job = Some(job);
                Some(Step::Calibrating {
                    priority,
                    entry,
                    preset,
                })
            }
        };
    }
    None
}

/// One step of the track analysis; true when the analysis is complete.
fn analysis_step(
    t: &mut super::track::TrackState,
    stop: impl FnMut() -> bool,
) -> Result<bool, crate::error::SourceError> {
    if t.analysis_job.is_none() {
        t.analysis_job = Some(AnalysisWalk::new(&t.source, false)?);
    }
    let Some(walk) = t.analysis_job.as_mut() else {
        return Ok(false);
    };
    if !walk.step(&mut t.source, ANALYSIS_STEP_FRAMES, stop)? {
        return Ok(false);
    }
    if let Some(walk) = t.analysis_job.take() {
        t.analysis = Some(walk.finish());
    }
    Ok(true)
}

//! The filler's driver: turns what the control side and the renderer say into the filler's
//! [`Demand`], steps the filler, and forwards what it reports.
//!
//! A real-time engine runs it on the filler thread ([`spawn`]); an offline engine steps it
//! inline before each render call, which makes offline runs deterministic.
//!
//! A real-time engine runs a driver per filler, each on its own thread: `hearth-filler` with
//! the filler serving the hot tier, and at the lowest priority `hearth-warmer`,
//! `hearth-warmer-1`… with the background fillers, one per core but one (1–4), which share each
//! track's warming by stream segments. An offline engine runs one, with a filler doing
//! everything.
//!
//! Runs on: the filler threads (or the offline caller's thread).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use hearth_cache::filler::{Demand, Filler, FillerEvent, Interest, Role, Step};

use crate::audio::command::Jump;
use crate::audio::readings::Readings;
use crate::control::controls::Controls;
use crate::control::queue::next_playable;

/// What the control side tells the filler(s).
#[derive(Debug, Clone)]
pub(crate) enum FillerMsg {
    /// An entry and its file.
    Entry { entry: u64, path: PathBuf },
    /// An entry left the queue.
    Remove { entry: u64 },
    /// The plan changed: take the latest from the [`PlanSlot`]. (The plan itself is not sent:
    /// it holds the whole queue's order, and enqueueing 10 000 files would queue 10 000 plans
    /// of up to 10 000 entries each before the filler read them.)
    PlanChanged,
    /// Test hook: stop or resume producing.
    Stall(bool),
    /// Leave the thread.
    Shutdown,
}

/// The control side's view that the demand is computed from.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// Playable entries in queue order.
    pub order: Vec<u64>,
    /// The pending jump.
    pub jump: Option<Jump>,
    /// Warm the playing and next tracks whole.
    pub warm_ahead: bool,
    /// Entries to warm whole.
    pub warm: Vec<u64>,
}

/// The latest plan, shared by the control side (which replaces it) and the fillers' drivers
/// (which read it when told it changed): memory for one plan however fast the queue grows.
#[derive(Debug, Default)]
pub(crate) struct PlanSlot(parking_lot::Mutex<Arc<Plan>>);

impl PlanSlot {
    /// Makes `plan` the latest.
    pub fn publish(&self, plan: Plan) {
        *self.0.lock() = Arc::new(plan);
    }

    /// The latest plan.
    pub fn latest(&self) -> Arc<Plan> {
        Arc::clone(&self.0.lock())
    }
}

/// The filler and its inputs.
pub(crate) struct Driver {
    pub filler: Filler,
    rx: Receiver<FillerMsg>,
    controls: Arc<Controls>,
    readings: Arc<Readings>,
    plans: Arc<PlanSlot>,
    plan: Arc<Plan>,
    failed: HashSet<u64>,
    events: Sender<FillerEvent>,
    /// Test hook: pause after every unit of work.
    pub delay: Duration,
}

impl Driver {
    pub fn new(
        filler: Filler,
        rx: Receiver<FillerMsg>,
        controls: Arc<Controls>,
        readings: Arc<Readings>,
        plans: Arc<PlanSlot>,
        events: Sender<FillerEvent>,
    ) -> Self {
        Self {
            filler,
            rx,
            controls,
            readings,
            plans,
            plan: Arc::default(),
            failed: HashSet::new(),
            events,
            delay: Duration::ZERO,
        }
    }

    /// Applies waiting messages; false once told to shut down.
    pub fn poll(&mut self) -> bool {
        while let Ok(msg) = self.rx.try_recv() {
            if !self.apply(msg) {
                return false;
            }
        }
        true
    }

    fn apply(&mut self, msg: FillerMsg) -> bool {
        match msg {
            FillerMsg::Entry { entry, path } => self.filler.set_entry(entry, path),
            FillerMsg::Remove { entry } => self.filler.remove_entry(entry),
            FillerMsg::PlanChanged => self.plan = self.plans.latest(),
            FillerMsg::Stall(on) => self.filler.set_stalled(on),
            FillerMsg::Shutdown => return false,
        }
        true
    }

    /// Recomputes the demand from the plan and the renderer's telemetry.
    pub fn update_demand(&mut self) {
        let (entry, frame) = self.readings.position();
        let playing = (entry != 0).then_some(Interest { entry, frame });
        let done = self.readings.jump_done();
        let jump = self
            .plan
            .jump
            .filter(|j| j.generation > done)
            .map(|j| Interest {
                entry: j.entry,
                frame: j.frame,
            });
        // The playing entry may be ahead of the control side's (a gapless change it has not
        // heard of yet): the next entry follows the renderer.
        let anchor = playing.map(|p| p.entry).or(jump.map(|j| j.entry));
        let next =
            anchor.and_then(|a| next_playable(&self.plan.order, a, |e| self.failed.contains(&e)));
        let mut presets = vec![self.readings.active_preset()];
        let chosen = self.controls.preset();
        if chosen != presets[0] {
            presets.push(chosen);
        }
        let (fading_entry, fading_frame) = self.readings.fading();
        let fading = (fading_entry != 0).then_some(Interest {
            entry: fading_entry,
            frame: fading_frame,
        });
        let demand = Demand {
            jump,
            playing,
            fading,
            next,
            presets,
            enhanced_audible: self.controls.enhanced_audible(),
            warm_ahead: self.plan.warm_ahead,
            warm: self.plan.warm.clone(),
        };
        if &demand != self.filler.demand() {
            self.filler.set_demand(demand);
        }
    }

    /// One filler step, with its events forwarded.
    pub fn step(&mut self) -> Step {
        let started = std::time::Instant::now();
        let step = self.filler.step();
        if step != Step::Idle {
            tracing::trace!(
                role = ?self.filler.role(),
                ?step,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "step"
            );
        }
        for e in self.filler.take_events() {
            if let FillerEvent::TrackFailed { entry, error } = &e {
                self.failed.insert(*entry);
                // The background warmer's failure to open a track is not the track's: the hot
                // filler, which plays it, may well have it open (a file deleted while playing).
                if self.filler.role() == Role::Background {
                    tracing::debug!(entry, %error, "warmer cannot open a track; not warming it");
                    continue;
                }
            }
            let _ = self.events.send(e);
        }
        step
    }

    /// Steps until every chunk the renderer needs is in a hot slot, or nothing more can be done
    /// (offline mode: makes each render call see the filler as caught up).
    pub fn catch_up(&mut self, max_steps: usize) {
        for _ in 0..max_steps {
            self.update_demand();
            if self.filler.hot_satisfied() {
                break;
            }
            if self.step() == Step::Idle {
                break;
            }
        }
    }
}

/// Runs the driver on its own thread until shutdown.
/// (`k`: which background warmer, for its name.)
pub(crate) fn spawn(mut driver: Driver, k: usize) -> std::io::Result<JoinHandle<()>> {
    let background = driver.filler.role() == Role::Background;
    let name = match (background, k) {
        (false, _) => "hearth-filler".to_string(),
        (true, 0) => "hearth-warmer".to_string(),
        (true, k) => format!("hearth-warmer-{k}"),
    };
    std::thread::Builder::new().name(name).spawn(move || {
        if background {
            // Background work yields to the hot filler and the audio thread.
            super::run_at_lowest_priority();
        }
        loop {
            // Urgent news raised from here on arrives after this round's messages, so it
            // preempts the step below (see `Urgency`).
            driver.filler.note_urgency();
            if !driver.poll() {
                break;
            }
            driver.update_demand();
            let step = driver.step();
            if step != Step::Idle && !driver.delay.is_zero() {
                std::thread::sleep(driver.delay);
            }
            if step == Step::Idle {
                // Nothing to do: wait for news, or re-read the renderer's position soon (it
                // moves on its own, and the next chunk becomes needed).
                match driver.rx.recv_timeout(Duration::from_millis(4)) {
                    Ok(msg) => {
                        if !driver.apply(msg) {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        let _ = driver.filler.store().flush_index();
    })
}

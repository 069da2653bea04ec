//! The filler: produces the chunks the renderer needs, in priority order, and warms the rest.
//!
//! It is a state machine stepped by [`Filler::step`] — one unit of work per step (one chunk in
//! all the variants it is needed in, one analysis window, one calibration) — so tests can drive
//! it deterministically and a thread can run it as a thin loop. The engine tells it what the
//! renderer needs ([`Demand`], re-planned on every command) and which file each queue entry
//! plays ([`Filler::set_entry`]); the filler works out the rest:
//!
//! * **P0** — the chunk the renderer needs now and does not have: a seek or jump target, the
//!   current chunk in a variant just asked for (a preset change), the next track's first chunk
//!   when the current one is about to end;
//! * **P1** — the chunk after the playhead (and after a jump target), every variant;
//! * **P2** — the rest of the playing track into the warm tier, forward from the playhead, then
//!   from the start;
//! * **P3** — the next track: its first chunk into a hot slot, then the rest into the warm tier;
//! * **P4** — explicit warming requests.
//!
//! A hot slot is filled with a memcpy from the warm tier when the chunk is there; otherwise the
//! chunk is produced (decode → resample → mastering) and written to both tiers. Analysis and
//! calibration, which enhanced chunks need first, take the priority of the chunk waiting for
//! them. A cache that cannot be written degrades to decode-on-demand into the hot tier.
//!
//! Runs on: the filler thread (or a test's thread). Never the audio thread.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hearth_dsp::{Analyzer, Calibrator, Chain, Preset, TrackAnalysis, analysis_plan};

use crate::chunk::{ChunkGeometry, ENGINE_CHANNELS, TrackId, Variant};
use crate::enhance::{self, read_span};
use crate::error::SourceError;
use crate::fingerprint::Fingerprint;
use crate::hot::{HotKey, HotProducer, SlotBox};
use crate::source::Source;
use crate::source::SourceInfo;
use crate::store::WarmStore;
use crate::warm::WarmFile;

/// A place in a queue entry the renderer needs audio from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Interest {
    /// The queue entry.
    pub entry: u64,
    /// Engine frame within its track.
    pub frame: u64,
}

/// What the renderer needs, as the engine sees it. Re-planned on every command.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Demand {
    /// Bumped by the engine on every seek/jump; stamped on the slots filled for it.
    pub generation: u64,
    /// A pending seek or jump target.
    pub jump: Option<Interest>,
    /// Where the renderer is playing.
    pub playing: Option<Interest>,
    /// The previous track while a track crossfade plays it out.
    pub fading: Option<Interest>,
    /// The entry that follows the playing one (gapless).
    pub next: Option<u64>,
    /// Enhanced presets the renderer needs alongside the original: the active one and, while a
    /// change is in flight, the new one.
    pub presets: Vec<Preset>,
    /// Whether the enhanced variant is audible now (enhancement on, intensity above 0): then
    /// a chunk's variants are produced together; otherwise the original goes first.
    pub enhanced_audible: bool,
    /// Warm the playing and next tracks whole into the warm tier (P2, P3).
    pub warm_ahead: bool,
    /// Entries to warm whole, in order (P4).
    pub warm: Vec<u64>,
}

/// Work priorities, most urgent first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Needed now.
    P0,
    /// Needed next.
    P1,
    /// Warming the playing track.
    P2,
    /// The next track.
    P3,
    /// Explicit warming.
    P4,
}

impl Priority {
    /// One step less urgent (P4 stays P4).
    pub fn lower(self) -> Priority {
        match self {
            Priority::P0 => Priority::P1,
            Priority::P1 => Priority::P2,
            Priority::P2 => Priority::P3,
            Priority::P3 | Priority::P4 => Priority::P4,
        }
    }
}

/// What a filler works on (see [`Filler::set_roles`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Roles {
    /// Serve the hot tier.
    pub hot: bool,
    /// Warm ahead, warm on request, calibrate the other presets.
    pub background: bool,
}

/// Where a chunk came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Copied out of the warm tier.
    Warm,
    /// Decoded (and mastered) now.
    Produced,
}

/// What one step did.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Nothing to do.
    Idle,
    /// Slots for a chunk were sent to the renderer.
    Served {
        /// Why.
        priority: Priority,
        /// The entry.
        entry: u64,
        /// The chunk.
        index: u32,
        /// Variants sent, and where each came from.
        variants: Vec<(Variant, Origin)>,
    },
    /// A chunk was written to the warm tier only.
    Warmed {
        /// Why.
        priority: Priority,
        /// The entry.
        entry: u64,
        /// The chunk.
        index: u32,
        /// Variants written.
        variants: Vec<Variant>,
    },
    /// Part of a track analysis was done (one window), or all of it.
    Analysed {
        /// Why.
        priority: Priority,
        /// The entry.
        entry: u64,
        /// True when the analysis is complete.
        complete: bool,
    },
    /// Part of a preset's calibration was done (one window).
    Calibrating {
        /// Why.
        priority: Priority,
        /// The entry.
        entry: u64,
        /// The preset.
        preset: Preset,
    },
    /// A preset was calibrated for a track.
    Calibrated {
        /// Why.
        priority: Priority,
        /// The entry.
        entry: u64,
        /// The preset.
        preset: Preset,
    },
    /// An entry's file could not be opened or read.
    Failed {
        /// The entry.
        entry: u64,
    },
}

/// What the engine hears from the filler (drained with [`Filler::take_events`]).
#[derive(Clone, Debug)]
pub enum FillerEvent {
    /// An entry's file was opened: what it is and how long it plays.
    TrackReady {
        /// The entry.
        entry: u64,
        /// The track's content identity.
        track: TrackId,
        /// What the file says about itself.
        info: Box<SourceInfo>,
        /// Length in engine frames.
        frames: u64,
    },
    /// An entry's file cannot be played (reported once).
    TrackFailed {
        /// The entry.
        entry: u64,
        /// Why, for a person.
        error: String,
    },
    /// An entry's audio is damaged or ends early (reported once); it plays what decodes.
    TrackDamaged {
        /// The entry.
        entry: u64,
        /// Why, for a person.
        message: String,
    },
    /// Warm-tier progress of a track changed.
    CacheProgress {
        /// The entry.
        entry: u64,
        /// The track.
        track: TrackId,
        /// Which variant.
        variant: Variant,
        /// Chunks present.
        present: u32,
        /// Chunks in the track.
        total: u32,
    },
}

/// Sizing shared by the filler and the renderer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FillerConfig {
    /// The engine rate.
    pub engine_rate: u32,
    /// Frames per chunk.
    pub chunk_frames: u32,
}

/// Per-entry state: the open source and everything derived from it.
struct TrackState {
    track: TrackId,
    geometry: ChunkGeometry,
    source: Source,
    analysis: Option<TrackAnalysis>,
    analysis_job: Option<AnalysisJob>,
    calibration: HashMap<Preset, f32>,
    chains: HashMap<Preset, Chain>,
    warm: HashMap<Variant, Option<Arc<WarmFile>>>,
    /// Where P2 warming resumes: chunks from here on, then from 0.
    warm_cursor: u32,
    damaged_reported: bool,
    /// Sequential warming in progress (see `Stream`).
    stream: Option<Stream>,
    /// A calibration in progress.
    calibration_job: Option<CalibrationJob>,
}

/// A preset's calibration, done a window at a time.
struct CalibrationJob {
    preset: Preset,
    plan: Vec<std::ops::Range<u64>>,
    margins: (usize, usize),
    /// Windows read so far (moved into the calibrator once all are read).
    windows: Vec<hearth_dsp::OwnedWindow>,
    calibrator: Option<Calibrator>,
}

/// Front-to-back production for warming: the source is read once, sequentially, and every
/// preset's chain keeps streaming instead of re-reading its pre-roll for each chunk (which
/// would cost more than the chunk itself). Equal, within the chain's tolerance, to producing
/// each chunk on its own — the chain has finite memory.
///
/// Streams are anchored to segments of [`STREAM_SEGMENT`] chunks: a stream (re)starts only
/// at a segment's first chunk, from a fresh chain with its pre-roll, and warming a chunk
/// in the middle of a segment with no stream there first streams from the segment's start.
/// So a warmed chunk is the same bytes however warming went — front to back in one go, or
/// resumed after a crash, a seek or an eviction from any chunk — which is what lets a
/// cache interrupted at any moment finish bit-identical to one that never was. (The IIR
/// filters of the EQ converge only within rounding: without anchors, a stream started at
/// chunk 17 and one started at chunk 0 differ in the last bit of a sample now and then.)
struct Stream {
    /// The chunk this stream produces next.
    next_index: u32,
    /// Source frames read and not yet consumed, starting at engine frame `buf_start`.
    buf: Vec<f32>,
    buf_start: u64,
    /// Input frames each preset's chain has consumed (exclusive end, engine frames).
    fed: HashMap<Preset, u64>,
}

struct AnalysisJob {
    analyzer: Analyzer,
    plan: hearth_dsp::AnalysisPlan,
    next_window: usize,
    /// Where in the current window the next step continues (`None`: the window has not
    /// begun).
    window_pos: Option<u64>,
}

/// Frames of audio one analysis step reads at most (about 2.7 s at 48 kHz): keeps every step
/// short, so a seek is never queued for long behind a whole-track analysis.
const ANALYSIS_STEP_FRAMES: u64 = 1 << 17;

enum EntryState {
    /// Known path, not opened yet.
    Pending(PathBuf),
    /// Open and playable.
    Open(Box<TrackState>),
    /// Cannot be played.
    Failed,
}

/// Chunks per stream segment (see [`Stream`]): a fresh pre-roll every 16 chunks (about 11 s
/// at 48 kHz) costs about a tenth more chain work than one endless stream, and resuming in
/// the middle of a segment at most 15 chunks of chain work again.
const STREAM_SEGMENT: u32 = 16;

/// A chunk need: what to fill, and whether it goes to the renderer.
#[derive(Clone, Debug)]
struct Need {
    priority: Priority,
    entry: u64,
    index: u32,
    variants: Vec<Variant>,
    to_hot: bool,
}

/// The filler state machine. See the module docs.
pub struct Filler {
    hot: HotProducer,
    store: Arc<WarmStore>,
    config: FillerConfig,
    entries: HashMap<u64, EntryState>,
    outstanding: HashSet<HotKey>,
    demand: Demand,
    events: Vec<FillerEvent>,
    span: Vec<f32>,
    scratch: Vec<f32>,
    /// Test hook: while set, `step` does nothing (simulates a filler that has fallen behind).
    stalled: bool,
    roles: Roles,
}

impl std::fmt::Debug for Filler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filler")
            .field("config", &self.config)
            .field("entries", &self.entries.len())
            .field("outstanding", &self.outstanding.len())
            .finish_non_exhaustive()
    }
}

impl Filler {
    /// A filler feeding `hot`, caching through `store`.
    pub fn new(hot: HotProducer, store: Arc<WarmStore>, config: FillerConfig) -> Self {
        Self {
            hot,
            store,
            config,
            entries: HashMap::new(),
            outstanding: HashSet::new(),
            demand: Demand::default(),
            events: Vec::new(),
            span: Vec::new(),
            scratch: Vec::new(),
            stalled: false,
            roles: Roles {
                hot: true,
                background: true,
            },
        }
    }

    /// The store it caches through.
    pub fn store(&self) -> &Arc<WarmStore> {
        &self.store
    }

    /// Tells the filler which file a queue entry plays. Opening happens when it is needed.
    pub fn set_entry(&mut self, entry: u64, path: PathBuf) {
        self.entries
            .entry(entry)
            .or_insert(EntryState::Pending(path));
    }

    /// Forgets an entry (removed from the queue).
    pub fn remove_entry(&mut self, entry: u64) {
        self.entries.remove(&entry);
    }

    /// Replaces the demand (on every command and position update).
    pub fn set_demand(&mut self, demand: Demand) {
        self.demand = demand;
        self.pin_needed();
    }

    /// The current demand.
    pub fn demand(&self) -> &Demand {
        &self.demand
    }

    /// Which work this filler does. A real-time engine runs two: one serving the hot tier
    /// (P0, P1, the next track's first chunk), which therefore never waits behind long
    /// background work, and one in the background (P2–P4 warming, calibrating the other
    /// presets). Both default to on (one filler does everything, as offline).
    pub fn set_roles(&mut self, roles: Roles) {
        self.roles = roles;
    }

    /// Test hook: a stalled filler does no work (to force misses).
    pub fn set_stalled(&mut self, stalled: bool) {
        self.stalled = stalled;
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<FillerEvent> {
        std::mem::take(&mut self.events)
    }

    /// The warm-tier presence of every chunk of an entry's track, per variant (for a cache
    /// map); empty until the entry is open.
    pub fn presence(&self, entry: u64) -> Vec<(Variant, Vec<bool>)> {
        let Some(EntryState::Open(t)) = self.entries.get(&entry) else {
            return Vec::new();
        };
        let mut out: Vec<(Variant, Vec<bool>)> = t
            .warm
            .iter()
            .filter_map(|(v, f)| f.as_ref().map(|f| (*v, f.presence())))
            .collect();
        out.sort_by_key(|(v, _)| *v);
        out
    }

    /// Does one unit of work, the most urgent there is.
    pub fn step(&mut self) -> Step {
        self.hot.reclaim(|key| {
            self.outstanding.remove(key);
        });
        if self.stalled {
            return Step::Idle;
        }
        if self.roles.hot {
            // First every chunk the renderer needs in the variants that can be made now, most
            // urgent first; only then the analysis or calibration an enhanced variant waits for
            // (the renderer plays the original meanwhile, so it must never run dry for it).
            let needs = self.hot_needs();
            for need in &needs {
                if let Some(step) = self.serve(need.clone(), false) {
                    return step;
                }
            }
            for need in needs {
                if let Some(step) = self.serve(need, true) {
                    return step;
                }
            }
        }
        if !self.roles.background {
            return Step::Idle;
        }
        if let Some(step) = self.precalibrate() {
            return step;
        }
        for need in self.warm_needs() {
            if let Some(step) = self.serve(need, true) {
                return step;
            }
        }
        Step::Idle
    }

    /// Steps until there is nothing left to do (or `max_steps` were taken); returns the steps.
    pub fn run_until_idle(&mut self, max_steps: usize) -> Vec<Step> {
        let mut steps = Vec::new();
        for _ in 0..max_steps {
            match self.step() {
                Step::Idle => break,
                s => steps.push(s),
            }
        }
        steps
    }

    /// True when no chunk the renderer needs is missing (the warm tier may still be filling).
    pub fn hot_satisfied(&mut self) -> bool {
        self.hot.reclaim(|key| {
            self.outstanding.remove(key);
        });
        self.hot_needs().is_empty()
    }

    fn variants(&self) -> Vec<Variant> {
        let mut v = vec![Variant::Original];
        for &p in &self.demand.presets {
            if !v.contains(&Variant::Enhanced(p)) {
                v.push(Variant::Enhanced(p));
            }
        }
        v
    }

    fn chunk_of(&self, entry: u64, frame: u64) -> Option<(u32, u32)> {
        match self.entries.get(&entry) {
            Some(EntryState::Open(t)) => Some((t.geometry.chunk_of(frame), t.geometry.count())),
            // Not open yet: the chunk index follows from the chunk size alone; the count is
            // unknown until the file is open.
            Some(EntryState::Pending(_)) => Some((
                (frame / u64::from(self.config.chunk_frames)) as u32,
                u32::MAX,
            )),
            _ => None,
        }
    }

    /// Chunks the renderer needs that are not in a hot slot, most urgent first.
    fn hot_needs(&self) -> Vec<Need> {
        let variants = self.variants();
        let mut needs = Vec::new();
        let audible = self.demand.enhanced_audible;
        let push = |needs: &mut Vec<Need>, priority: Priority, entry, index, count: u32| {
            if index >= count {
                return;
            }
            let missing: Vec<Variant> = variants
                .iter()
                .copied()
                .filter(|&variant| {
                    !self.outstanding.contains(&HotKey {
                        entry,
                        index,
                        variant,
                    })
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            if audible {
                // Both go out together: the renderer waits a moment for the enhanced one.
                needs.push(Need {
                    priority,
                    entry,
                    index,
                    variants: missing,
                    to_hot: true,
                });
                return;
            }
            // Enhancement is not audible: the original (cheap) first; the enhanced variants,
            // kept hot for an instant toggle, one priority lower.
            let (orig, enhanced): (Vec<Variant>, Vec<Variant>) =
                missing.into_iter().partition(|v| *v == Variant::Original);
            if !orig.is_empty() {
                needs.push(Need {
                    priority,
                    entry,
                    index,
                    variants: orig,
                    to_hot: true,
                });
            }
            if !enhanced.is_empty() {
                needs.push(Need {
                    priority: priority.lower(),
                    entry,
                    index,
                    variants: enhanced,
                    to_hot: true,
                });
            }
        };
        let d = &self.demand;
        let mut last_chunk_playing = false;
        if let Some(j) = d.jump
            && let Some((k, n)) = self.chunk_of(j.entry, j.frame)
        {
            push(&mut needs, Priority::P0, j.entry, k, n);
        }
        if let Some(p) = d.playing
            && let Some((k, n)) = self.chunk_of(p.entry, p.frame)
        {
            push(&mut needs, Priority::P0, p.entry, k, n);
            push(&mut needs, Priority::P1, p.entry, k + 1, n);
            last_chunk_playing = n != u32::MAX && k + 1 >= n;
        }
        if let Some(j) = d.jump
            && let Some((k, n)) = self.chunk_of(j.entry, j.frame)
        {
            push(&mut needs, Priority::P1, j.entry, k + 1, n);
        }
        if let Some(f) = d.fading
            && let Some((k, n)) = self.chunk_of(f.entry, f.frame)
        {
            push(&mut needs, Priority::P1, f.entry, k, n);
            push(&mut needs, Priority::P1, f.entry, k + 1, n);
        }
        if let Some(next) = d.next {
            let priority = if last_chunk_playing {
                Priority::P0
            } else {
                Priority::P3
            };
            push(&mut needs, priority, next, 0, u32::MAX);
        }
        needs.sort_by_key(|n| n.priority);
        needs
    }

    /// Chunks to write to the warm tier only.
    fn warm_needs(&mut self) -> Vec<Need> {
        let mut needs = Vec::new();
        let variants = self.variants();
        let d = self.demand.clone();
        let mut candidates: Vec<(Priority, u64, u64)> = Vec::new();
        if d.warm_ahead {
            if let Some(p) = d.playing.or(d.jump) {
                candidates.push((Priority::P2, p.entry, p.frame));
            }
            if let Some(next) = d.next {
                candidates.push((Priority::P3, next, 0));
            }
        }
        for &e in &d.warm {
            candidates.push((Priority::P4, e, 0));
        }
        for (priority, entry, from) in candidates {
            if let Some(index) = self.next_cold_chunk(entry, from, &variants) {
                needs.push(Need {
                    priority,
                    entry,
                    index,
                    variants: variants.clone(),
                    to_hot: false,
                });
                break;
            }
        }
        needs
    }

    /// The first chunk of `entry` (forward from `from`, then from the start) missing from the
    /// warm tier in any of `variants`; opens the entry if needed. `None` when all are there,
    /// or the warm tier cannot take more.
    fn next_cold_chunk(&mut self, entry: u64, from: u64, variants: &[Variant]) -> Option<u32> {
        if self.store.status().is_degraded() {
            return None;
        }
        if !self.ensure_open(entry) {
            return None;
        }
        let EntryState::Open(t) = self.entries.get_mut(&entry)? else {
            return None;
        };
        let n = t.geometry.count();
        if n == 0 {
            return None;
        }
        let start = t.geometry.chunk_of(from).max(t.warm_cursor.min(n));
        let order = (start..n).chain(0..start);
        for k in order {
            let missing = variants.iter().any(|v| match t.warm.get(v) {
                Some(Some(f)) => !f.is_present(k),
                // Not opened yet: assume missing (the first serve opens it).
                None => true,
                // Could not be created (degraded or too big): nothing to do.
                Some(None) => false,
            });
            if missing {
                return Some(k);
            }
        }
        t.warm_cursor = n;
        None
    }

    /// Pins the tracks the renderer is using, so eviction leaves them alone.
    fn pin_needed(&mut self) {
        let d = &self.demand;
        let entries = [
            d.playing.map(|p| p.entry),
            d.jump.map(|j| j.entry),
            d.next,
            d.fading.map(|f| f.entry),
        ];
        let tracks: Vec<TrackId> = entries
            .iter()
            .flatten()
            .filter_map(|e| match self.entries.get(e) {
                Some(EntryState::Open(t)) => Some(t.track),
                _ => None,
            })
            .collect();
        self.store.set_pins(&tracks);
    }

    /// Opens an entry's file if it is not open yet; false if it cannot be played.
    fn ensure_open(&mut self, entry: u64) -> bool {
        match self.entries.get(&entry) {
            Some(EntryState::Open(_)) => return true,
            Some(EntryState::Failed) | None => return false,
            Some(EntryState::Pending(_)) => {}
        }
        let Some(EntryState::Pending(path)) = self.entries.remove(&entry) else {
            return false;
        };
        match self.open(entry, &path) {
            Ok(state) => {
                self.entries
                    .insert(entry, EntryState::Open(Box::new(state)));
                self.pin_needed();
                true
            }
            Err(e) => {
                // Reported once, by the filler serving the hot tier.
                if self.roles.hot {
                    self.events.push(FillerEvent::TrackFailed {
                        entry,
                        error: e.to_string(),
                    });
                }
                self.entries.insert(entry, EntryState::Failed);
                false
            }
        }
    }

    fn open(&mut self, entry: u64, path: &std::path::Path) -> Result<TrackState, SourceError> {
        let t0 = Instant::now();
        let source = Source::open(path, Some(self.config.engine_rate))?;
        let geometry = ChunkGeometry::new(source.frames(), self.config.chunk_frames);
        let t1 = Instant::now();
        let fp = Fingerprint::of(path).map_err(SourceError::Open)?;
        let t2 = Instant::now();
        let track = self
            .store
            .register_track(&fp, self.config.engine_rate, geometry);
        tracing::debug!(
            entry,
            source_ms = (t1 - t0).as_secs_f64() * 1e3,
            fingerprint_ms = (t2 - t1).as_secs_f64() * 1e3,
            register_ms = t2.elapsed().as_secs_f64() * 1e3,
            "opened"
        );
        let analysis = self.store.analysis(track);
        let calibration = Preset::ALL
            .iter()
            .filter_map(|&p| self.store.calibration(track, p).map(|c| (p, c)))
            .collect();
        if self.roles.hot {
            self.events.push(FillerEvent::TrackReady {
                entry,
                track,
                info: Box::new(source.info().clone()),
                frames: source.frames(),
            });
        }
        Ok(TrackState {
            track,
            geometry,
            source,
            analysis,
            analysis_job: None,
            calibration,
            chains: HashMap::new(),
            warm: HashMap::new(),
            warm_cursor: 0,
            damaged_reported: false,
            stream: None,
            calibration_job: None,
        })
    }

    /// Serves a need, or does the work it waits for. `None` when nothing could be done for it
    /// (no free slot, entry unplayable), so the caller tries the next need.
    fn serve(&mut self, need: Need, prepare: bool) -> Option<Step> {
        let entry = need.entry;
        if !self.ensure_open(entry) {
            return match self.entries.get(&entry) {
                Some(EntryState::Failed) if need.priority <= Priority::P1 => {
                    // Reported once through the event; a Failed step lets tests see it.
                    None
                }
                _ => None,
            };
        }
        // Enhanced variants need the analysis and the preset's calibration first. The variants
        // that are ready go out now (the original must not wait for an analysis); the work the
        // others wait for is the next step.
        let mut need = need;
        let blocked = need.variants.iter().find_map(|&v| match v {
            Variant::Enhanced(p) if !self.enhanced_ready(entry, p) => Some(p),
            _ => None,
        });
        if let Some(preset) = blocked {
            if need.to_hot {
                need.variants.retain(
                    |&v| !matches!(v, Variant::Enhanced(p) if !self.enhanced_ready(entry, p)),
                );
            }
            if !need.to_hot || need.variants.is_empty() {
                if !prepare {
                    return None;
                }
                return self.prepare_enhanced(entry, preset, need.priority);
            }
        }
        if need.to_hot && self.hot.free_count() < need.variants.len() {
            return None;
        }
        match self.fill(&need) {
            Ok(step) => Some(step),
            Err(e) => {
                tracing::warn!(entry, error = %e, "cannot produce a chunk");
                self.events.push(FillerEvent::TrackFailed {
                    entry,
                    error: e.to_string(),
                });
                self.entries.insert(entry, EntryState::Failed);
                Some(Step::Failed { entry })
            }
        }
    }

    /// While the renderer is fed: calibrate the playing track's other presets (a window per
    /// step), so switching presets later only costs a chunk.
    fn precalibrate(&mut self) -> Option<Step> {
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
    fn enhanced_ready(&self, entry: u64, preset: Preset) -> bool {
        matches!(self.entries.get(&entry), Some(EntryState::Open(t)) if t.analysis.is_some() && t.calibration.contains_key(&preset))
    }

    /// Makes sure the analysis and `preset`'s calibration exist; if not, does one unit of that
    /// work and returns its step.
    fn prepare_enhanced(&mut self, entry: u64, preset: Preset, priority: Priority) -> Option<Step> {
        let store = Arc::clone(&self.store);
        let Some(EntryState::Open(t)) = self.entries.get_mut(&entry) else {
            return None;
        };
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
            let complete = match analysis_step(t) {
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
        if !t.calibration.contains_key(&preset) {
            // In steps: one window read per step, then one window through the chain per step.
            let rate = t.source.engine_rate();
            let mut job = match t.calibration_job.take() {
                Some(job) if job.preset == preset => job,
                // A job for another preset is dropped (it starts again when needed).
                _ => {
                    let analysis = t.analysis.as_ref()?;
                    CalibrationJob {
                        preset,
                        plan: hearth_dsp::calibration_plan(t.source.frames(), rate),
                        margins: enhance::calibration_margins(preset, analysis, rate),
                        windows: Vec::new(),
                        calibrator: None,
                    }
                }
            };
            if job.windows.len() < job.plan.len() {
                let range = job.plan[job.windows.len()].clone();
                let window = enhance::calibration_window(&mut t.source, range, job.margins).ok()?;
                job.windows.push(window);
                t.calibration_job = Some(job);
                return Some(Step::Calibrating {
                    priority,
                    entry,
                    preset,
                });
            }
            let analysis = t.analysis.as_ref()?;
            let calibrator = job.calibrator.get_or_insert_with(|| {
                Calibrator::new(preset, analysis, rate, std::mem::take(&mut job.windows))
            });
            return match calibrator.step() {
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

    /// Fills every variant of a chunk: from the warm tier where present, else by producing.
    /// Warms chunk `need.index` front to back: continues the stream when it is the next chunk,
    /// else starts one there. Only variants missing from the warm tier are written.
    fn warm_streaming(&mut self, need: &Need) -> Result<Step, SourceError> {
        let segment_start = need.index - need.index % STREAM_SEGMENT;
        if segment_start != need.index && !self.stream_continues(need) {
            // Stream from the segment's start (writing whatever of it is missing on the way).
            for index in segment_start..need.index {
                self.warm_streaming(&Need {
                    index,
                    ..need.clone()
                })?;
            }
        }
        let store = Arc::clone(&self.store);
        let rate = self.config.engine_rate;
        let Some(EntryState::Open(t)) = self.entries.get_mut(&need.entry) else {
            return Ok(Step::Idle);
        };
        open_warm_files(t, &store, &need.variants, rate);
        let range = t.geometry.range(need.index);
        let frames = (range.end - range.start) as usize;
        let presets: Vec<Preset> = need
            .variants
            .iter()
            .filter_map(|v| match v {
                Variant::Enhanced(p) => Some(*p),
                Variant::Original => None,
            })
            .collect();
        let continuing = !need.index.is_multiple_of(STREAM_SEGMENT)
            && t.stream.as_ref().is_some_and(|s| {
                s.next_index == need.index && presets.iter().all(|p| s.fed.contains_key(p))
            });
        let started = Instant::now();
        let mut outputs: Vec<(Variant, Vec<f32>)> = Vec::new();
        let lookahead = presets
            .iter()
            .map(|&p| chain_for(t, p, rate).lookahead())
            .max()
            .unwrap_or(0) as u64;
        if continuing {
            let Some(stream) = t.stream.as_mut() else {
                return Ok(Step::Idle);
            };
            // Read what the chains need beyond what is buffered: up to end + lookahead.
            let have_end = stream.buf_start + (stream.buf.len() / ENGINE_CHANNELS) as u64;
            let want_end = range.end + lookahead;
            if want_end > have_end {
                let mut more = vec![0.0f32; (want_end - have_end) as usize * ENGINE_CHANNELS];
                t.source.read(have_end, &mut more)?;
                stream.buf.extend_from_slice(&more);
            }
            let at = |f: u64| (f - stream.buf_start) as usize * ENGINE_CHANNELS;
            outputs.push((
                Variant::Original,
                stream.buf[at(range.start)..at(range.end)].to_vec(),
            ));
            for &p in &presets {
                let fed = stream.fed.get(&p).copied().unwrap_or(0);
                let chain = t.chains.get_mut(&p);
                let Some(chain) = chain else { continue };
                let la = chain.lookahead() as u64;
                let input = &stream.buf[at(fed)..at(range.end + la)];
                let mut out = vec![0.0f32; input.len()];
                chain.process(input, &mut out);
                stream.fed.insert(p, range.end + la);
                outputs.push((Variant::Enhanced(p), out));
            }
            // Keep only what the chains have not consumed yet (and nothing before this chunk's end).
            let keep_from = range.end;
            let cut = at(keep_from);
            stream.buf.drain(..cut);
            stream.buf_start = keep_from;
            stream.next_index = need.index + 1;
        } else {
            let preroll = presets
                .iter()
                .map(|&p| chain_for(t, p, rate).preroll())
                .max()
                .unwrap_or(0);
            let span_start = range.start as i64 - preroll as i64;
            let span = read_span(&mut t.source, span_start, range.end + lookahead)?;
            let at = |f: u64| ((f as i64 - span_start) as usize) * ENGINE_CHANNELS;
            outputs.push((
                Variant::Original,
                span[at(range.start)..at(range.end)].to_vec(),
            ));
            let mut fed = HashMap::new();
            for &p in &presets {
                let chain = chain_for(t, p, rate);
                let (cp, cl) = (chain.preroll() as u64, chain.lookahead() as u64);
                let mut out = vec![0.0f32; frames * ENGINE_CHANNELS];
                let from =
                    ((range.start as i64 - cp as i64) - span_start) as usize * ENGINE_CHANNELS;
                chain.render(&span[from..at(range.end + cl)], &mut out);
                fed.insert(p, range.end + cl);
                outputs.push((Variant::Enhanced(p), out));
            }
            t.stream = Some(Stream {
                next_index: need.index + 1,
                buf: span[at(range.end)..].to_vec(),
                buf_start: range.end,
                fed,
            });
        }
        store.record_production(started.elapsed());
        let mut written = Vec::new();
        for (v, data) in &outputs {
            if !need.variants.contains(v) {
                continue;
            }
            if let Some(Some(file)) = t.warm.get(v) {
                if file.is_present(need.index) {
                    continue;
                }
                if let Err(e) = file.write_chunk(need.index, data) {
                    tracing::debug!(error = %e, "warm write failed");
                    continue;
                }
                written.push(*v);
                self.events.push(FillerEvent::CacheProgress {
                    entry: need.entry,
                    track: t.track,
                    variant: *v,
                    present: file.present_count(),
                    total: t.geometry.count(),
                });
            }
        }
        if need.priority == Priority::P2 {
            t.warm_cursor = need.index + 1;
        }
        Ok(Step::Warmed {
            priority: need.priority,
            entry: need.entry,
            index: need.index,
            variants: written,
        })
    }

    /// Whether the entry's stream is positioned at `need` with every preset it asks for.
    fn stream_continues(&self, need: &Need) -> bool {
        let Some(EntryState::Open(t)) = self.entries.get(&need.entry) else {
            return false;
        };
        t.stream.as_ref().is_some_and(|s| {
            s.next_index == need.index
                && need.variants.iter().all(|v| match v {
                    Variant::Enhanced(p) => s.fed.contains_key(p),
                    Variant::Original => true,
                })
        })
    }

    fn fill(&mut self, need: &Need) -> Result<Step, SourceError> {
        if !need.to_hot {
            return self.warm_streaming(need);
        }
        let fill_started = Instant::now();
        let store = Arc::clone(&self.store);
        let rate = self.config.engine_rate;
        let generation = self.demand.generation;
        let Some(EntryState::Open(t)) = self.entries.get_mut(&need.entry) else {
            return Ok(Step::Idle);
        };
        let range = t.geometry.range(need.index);
        let frames = (range.end - range.start) as usize;
        let samples = frames * ENGINE_CHANNELS;
        open_warm_files(t, &store, &need.variants, rate);
        // First the warm tier.
        let mut filled: Vec<(Variant, Origin, Option<SlotBox>)> = Vec::new();
        let mut to_produce = Vec::new();
        for &v in &need.variants {
            let warm = t.warm.get(&v).cloned().flatten();
            if let Some(file) = warm.as_ref().filter(|f| f.is_present(need.index)) {
                if need.to_hot {
                    let Some(mut slot) = self.hot.take_free() else {
                        break;
                    };
                    match file.read_chunk(need.index, &mut slot.buffer_mut()[..samples]) {
                        Ok(true) => {
                            store.record_warm_hit();
                            filled.push((v, Origin::Warm, Some(slot)));
                            continue;
                        }
                        // Missing after all (failed its checksum): produce it.
                        _ => self.hot.put_back(slot),
                    }
                } else {
                    continue;
                }
            }
            to_produce.push(v);
        }
        // Then produce what is missing, all variants from one read of the source.
        if !to_produce.is_empty() {
            let started = Instant::now();
            let (preroll, lookahead) =
                to_produce
                    .iter()
                    .fold((0usize, 0usize), |(p, l), v| match v {
                        Variant::Original => (p, l),
                        Variant::Enhanced(preset) => {
                            let c = chain_for(t, *preset, rate);
                            (p.max(c.preroll()), l.max(c.lookahead()))
                        }
                    });
            let span_start = range.start as i64 - preroll as i64;
            let span = read_span(&mut t.source, span_start, range.end + lookahead as u64)?;
            self.span = span;
            for &v in &to_produce {
                let out: &mut Vec<f32> = &mut self.scratch;
                out.clear();
                out.resize(samples, 0.0);
                match v {
                    Variant::Original => {
                        out.copy_from_slice(
                            &self.span
                                [preroll * ENGINE_CHANNELS..(preroll + frames) * ENGINE_CHANNELS],
                        );
                    }
                    Variant::Enhanced(p) => {
                        let chain = chain_for(t, p, rate);
                        let (cp, cl) = (chain.preroll(), chain.lookahead());
                        let from = (preroll - cp) * ENGINE_CHANNELS;
                        let to = (preroll + frames + cl) * ENGINE_CHANNELS;
                        chain.render(&self.span[from..to], out);
                    }
                }
                if let Some(Some(file)) = t.warm.get(&v)
                    && let Err(e) = file.write_chunk(need.index, out)
                {
                    tracing::debug!(error = %e, "warm write failed");
                }
                if need.to_hot {
                    if let Some(mut slot) = self.hot.take_free() {
                        slot.buffer_mut()[..samples].copy_from_slice(out);
                        filled.push((v, Origin::Produced, Some(slot)));
                    }
                } else {
                    filled.push((v, Origin::Produced, None));
                }
            }
            if need.to_hot {
                // Needed now and in neither tier: a miss. (Warming ahead is not.)
                store.record_miss();
            }
            store.record_production(started.elapsed());
            if !t.damaged_reported && !t.source.report().is_clean() {
                t.damaged_reported = true;
                let r = t.source.report();
                let message = match (r.ended_early_at, &r.first_corruption) {
                    (Some(end), _) => format!(
                        "audio ends at {:.3} s of {:.3} s",
                        end as f64 / f64::from(t.source.info().sample_rate),
                        t.source.info().duration().as_secs_f64()
                    ),
                    (None, Some((at, why))) => format!(
                        "corrupt audio at {:.3} s: {why}",
                        *at as f64 / f64::from(t.source.info().sample_rate)
                    ),
                    _ => String::from("damaged audio"),
                };
                self.events.push(FillerEvent::TrackDamaged {
                    entry: need.entry,
                    message,
                });
            }
        }
        // Progress for every variant written.
        for (v, origin, _) in &filled {
            if *origin == Origin::Produced
                && let Some(Some(file)) = t.warm.get(v)
            {
                self.events.push(FillerEvent::CacheProgress {
                    entry: need.entry,
                    track: t.track,
                    variant: *v,
                    present: file.present_count(),
                    total: t.geometry.count(),
                });
            }
        }
        if !need.to_hot {
            if need.priority == Priority::P2 {
                t.warm_cursor = need.index + 1;
            }
            return Ok(Step::Warmed {
                priority: need.priority,
                entry: need.entry,
                index: need.index,
                variants: filled.iter().map(|(v, _, _)| *v).collect(),
            });
        }
        let track_frames = t.geometry.total_frames;
        tracing::debug!(
            entry = need.entry,
            index = need.index,
            ms = fill_started.elapsed().as_secs_f64() * 1e3,
            "filled"
        );
        let mut sent = Vec::new();
        let companions = filled
            .iter()
            .filter(|f| f.2.is_some())
            .count()
            .saturating_sub(1) as u8;
        for (v, origin, slot) in filled {
            let Some(mut slot) = slot else { continue };
            let key = HotKey {
                entry: need.entry,
                index: need.index,
                variant: v,
            };
            slot.key = key;
            slot.generation = generation;
            slot.start = range.start;
            slot.frames = frames as u32;
            slot.track_frames = track_frames;
            slot.companions = companions;
            self.outstanding.insert(key);
            self.hot.send(slot);
            sent.push((v, origin));
        }
        Ok(Step::Served {
            priority: need.priority,
            entry: need.entry,
            index: need.index,
            variants: sent,
        })
    }
}

/// The chain for `preset` on an analysed track (made once, then reused).
/// Opens (or creates) the warm file of each of `variants` not opened yet, once per variant.
fn open_warm_files(t: &mut TrackState, store: &WarmStore, variants: &[Variant], rate: u32) {
    for &v in variants {
        if !t.warm.contains_key(&v) {
            let hash = match v {
                Variant::Original => 0,
                Variant::Enhanced(p) => chain_for(t, p, rate).params_hash(),
            };
            t.warm.insert(v, store.variant(t.track, v, hash));
        }
    }
}

fn chain_for(t: &mut TrackState, preset: Preset, rate: u32) -> &mut Chain {
    let analysis = t.analysis.clone().unwrap_or_else(|| silent_analysis(rate));
    let calibration = t.calibration.get(&preset).copied().unwrap_or(0.0);
    t.chains
        .entry(preset)
        .or_insert_with(|| Chain::new(preset, &analysis, calibration, rate))
}

fn silent_analysis(rate: u32) -> TrackAnalysis {
    TrackAnalysis {
        version: hearth_dsp::ANALYSIS_VERSION,
        rate,
        integrated_lufs: hearth_dsp::analysis::SILENCE_LUFS,
        loudness_range_lu: 0.0,
        true_peak_dbtp: -200.0,
        sample_peak_dbfs: -200.0,
        duration_seconds: 0.0,
        coverage: 1.0,
        band_levels_db: Vec::new(),
        side_to_mid_db: -100.0,
    }
}

/// One window of the track analysis; true when the analysis is complete.
fn analysis_step(t: &mut TrackState) -> Result<bool, SourceError> {
    let rate = t.source.engine_rate();
    let total = t.source.frames();
    let meter_err =
        |e: hearth_dsp::analysis::AnalysisError| SourceError::Unsupported(e.to_string());
    if t.analysis_job.is_none() {
        t.analysis_job = Some(AnalysisJob {
            analyzer: Analyzer::new(rate, total, false).map_err(meter_err)?,
            plan: analysis_plan(total, rate),
            next_window: 0,
            window_pos: None,
        });
    }
    let Some(job) = t.analysis_job.as_mut() else {
        return Ok(false);
    };
    let mut budget = ANALYSIS_STEP_FRAMES;
    while budget > 0 {
        let Some(window) = job.plan.windows.get(job.next_window).cloned() else {
            break;
        };
        let mut pos = match job.window_pos {
            Some(p) => p,
            None => {
                let seed = job.plan.seed_range(job.next_window);
                let seed_audio = read_span(&mut t.source, seed.start as i64, seed.end)?;
                job.analyzer.begin_window(&seed_audio).map_err(meter_err)?;
                window.start
            }
        };
        const PIECE: u64 = 1 << 16;
        while pos < window.end && budget > 0 {
            let end = (pos + PIECE.min(budget)).min(window.end);
            let audio = read_span(&mut t.source, pos as i64, end)?;
            job.analyzer.feed(&audio).map_err(meter_err)?;
            budget -= end - pos;
            pos = end;
        }
        if pos >= window.end {
            job.next_window += 1;
            job.window_pos = None;
        } else {
            job.window_pos = Some(pos);
        }
    }
    if job.next_window >= job.plan.windows.len() {
        if let Some(job) = t.analysis_job.take() {
            t.analysis = Some(job.analyzer.finish());
        }
        return Ok(true);
    }
    Ok(false)
}

/// Progress of [`warm_track`]: chunks cached so far over chunks to cache (all variants).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WarmProgress {
    /// Chunks present, summed over the variants.
    pub present: u64,
    /// Chunks in the track times the variants.
    pub total: u64,
}

/// Warms one whole track into the warm tier — the original and an enhanced variant per
/// preset — as `hearth cache warm` does: a filler of its own with warming as its only demand.
/// `progress` is called as chunks land. Returns the final progress, or why the track cannot be
/// warmed.
///
/// Runs on: the calling thread (one per track in parallel is fine: the store is shared).
pub fn warm_track(
    store: Arc<WarmStore>,
    path: PathBuf,
    config: FillerConfig,
    presets: &[Preset],
    mut progress: impl FnMut(WarmProgress),
) -> Result<WarmProgress, String> {
    let (producer, _consumer) = crate::hot::hot_tier(crate::hot::HotConfig {
        chunk_frames: config.chunk_frames,
        slots: crate::hot::MIN_SLOTS,
    });
    let mut filler = Filler::new(producer, store, config);
    filler.set_entry(1, path);
    filler.set_demand(Demand {
        presets: presets.to_vec(),
        warm: vec![1],
        ..Demand::default()
    });
    let variants = 1 + presets.len() as u64;
    let mut counts: HashMap<Variant, u32> = HashMap::new();
    let mut total = 0u64;
    let mut last = WarmProgress {
        present: 0,
        total: 0,
    };
    loop {
        let step = filler.step();
        for e in filler.take_events() {
            match e {
                FillerEvent::TrackFailed { error, .. } => return Err(error),
                FillerEvent::TrackReady { frames, .. } => {
                    total = frames.div_ceil(u64::from(config.chunk_frames)) * variants;
                }
                FillerEvent::CacheProgress {
                    variant, present, ..
                } => {
                    counts.insert(variant, present);
                }
                FillerEvent::TrackDamaged { message, .. } => {
                    tracing::warn!(%message, "damaged source")
                }
            }
        }
        let present = counts
            .values()
            .map(|&c| u64::from(c))
            .sum::<u64>()
            .min(total);
        let now = WarmProgress { present, total };
        if now != last {
            progress(now);
            last = now;
        }
        if step == Step::Idle {
            break;
        }
    }
    // Count what was already cached before this run.
    if let Some(EntryState::Open(t)) = filler.entries.get(&1) {
        let present: u64 = t
            .warm
            .values()
            .flatten()
            .map(|f| u64::from(f.present_count()))
            .sum();
        last = WarmProgress {
            present: present.min(total),
            total,
        };
        progress(last);
    }
    let _ = filler.store().flush_index();
    Ok(last)
}

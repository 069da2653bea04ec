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
//! The pieces, by what they decide:
//!
//! * here: the public vocabulary ([`Demand`], [`Priority`], [`Role`], [`Step`],
//!   [`FillerEvent`]) and [`Filler::step`], which picks the most urgent unit of work;
//! * [`plan`](self::plan): which chunks are needed, in which order (P0–P4);
//! * [`track`](self::track): the per-entry state, opened when needed and closed when not;
//! * [`produce`](self::produce): a chunk for the hot tier, copied from the warm tier or made;
//! * [`stream`](self::stream): warming front to back with streaming chains;
//! * [`prepare`](self::prepare): the analysis and calibrations enhanced chunks wait for;
//! * [`warm_track`](self::warm_track): a whole track into the warm tier (`hearth cache warm`);
//! * [`urgency`](self::urgency): dropping a less urgent chunk half-made when a seek arrives.
//!
//! Runs on: the filler threads (or a test's thread). Never the audio thread.

mod plan;
mod prepare;
mod produce;
mod stream;
mod track;
mod urgency;
mod warm_track;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use hearth_dsp::Preset;

use crate::chunk::{TrackId, Variant};
use crate::hot::{HotKey, HotProducer};
use crate::source::SourceInfo;
use crate::warm::WarmStore;

use track::EntryState;
pub use urgency::Urgency;
pub use warm_track::{WarmProgress, warm_track, warm_track_on};

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

/// Which work a filler does. A real-time engine runs two fillers: one serving the hot tier,
/// which therefore never waits behind long background work, and one in the background. An
/// offline engine (and a test) runs one that does everything, deterministically.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything, hot tier first.
    All,
    /// Only the hot tier: P0, P1 and the next track's first chunk.
    Hot,
    /// Only background work, with no hot tier: warming (P2–P4) and calibrating the other
    /// presets of the playing track.
    Background,
}

impl Role {
    pub(crate) fn serves_hot(self) -> bool {
        matches!(self, Role::All | Role::Hot)
    }

    pub(crate) fn works_in_background(self) -> bool {
        matches!(self, Role::All | Role::Background)
    }
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
    /// A chunk was dropped half-made: something more urgent arrived (see [`Urgency`]).
    Preempted {
        /// The dropped chunk's priority.
        priority: Priority,
        /// The entry.
        entry: u64,
        /// The chunk.
        index: u32,
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
    /// The hot tier's producer side (`None` for a background filler).
    hot: Option<HotProducer>,
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
    role: Role,
    /// The chunk the playhead was in at the last demand (for counting hot hits).
    last_playing_chunk: Option<(u64, u32)>,
    /// The entry of the warming list (P4) being warmed now: kept open while it lasts.
    warming: Option<u64>,
    /// Entries of the warming list found complete in every variant asked for (not opened
    /// again to check; forgotten when the presets change).
    warmed: HashSet<u64>,
    /// Chunks `[start, end)` the warming list is limited to (one worker's share of a track
    /// warmed on several threads, see `warm_track`); `None`: whole entries.
    warm_range: Option<(u32, u32)>,
    /// Raised by the control side when urgent work arrives.
    urgency: Urgency,
    /// Its count when the filler last read the control side's news.
    urgency_seen: u64,
    /// Units of work dropped or cut short for urgent news.
    preemptions: u64,
    /// Of those, how many in a row (reset when a droppable unit runs to its end).
    dropped_in_a_row: u32,
    /// `(k, n)`: this is background filler `k` of `n` sharing the warming — it warms the stream
    /// segments `s` with `s % n == k` (segments are independent: the bytes are the same
    /// whoever makes them); only filler 0 analyses and calibrates (the others take the results
    /// from the store: a helper works only when there is warming to do, so a player that is
    /// not warming keeps a core free for the hot filler). `None`: alone.
    share: Option<(u32, u32)>,
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
    /// A filler doing everything ([`Role::All`]): feeding `hot`, caching through `store`.
    pub fn new(hot: HotProducer, store: Arc<WarmStore>, config: FillerConfig) -> Self {
        Self::with_role(Some(hot), store, config, Role::All)
    }

    /// A filler serving only the hot tier ([`Role::Hot`]).
    pub fn hot_only(hot: HotProducer, store: Arc<WarmStore>, config: FillerConfig) -> Self {
        Self::with_role(Some(hot), store, config, Role::Hot)
    }

    /// A background filler ([`Role::Background`]): it has no hot tier.
    pub fn background(store: Arc<WarmStore>, config: FillerConfig) -> Self {
        Self::with_role(None, store, config, Role::Background)
    }

    fn with_role(
        hot: Option<HotProducer>,
        store: Arc<WarmStore>,
        config: FillerConfig,
        role: Role,
    ) -> Self {
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
            role,
            last_playing_chunk: None,
            warming: None,
            warmed: HashSet::new(),
            warm_range: None,
            urgency: Urgency::new(),
            urgency_seen: 0,
            preemptions: 0,
            dropped_in_a_row: 0,
            share: None,
        }
    }

    /// Shares the counter the control side raises on urgent news: from now on, chunks less
    /// urgent than P0 are dropped half-made when it moves (see [`Urgency`]).
    pub fn set_urgency(&mut self, urgency: Urgency) {
        self.urgency_seen = urgency.count();
        self.urgency = urgency;
    }

    /// Makes this filler `k` of `n` background fillers sharing the warming of every track (see
    /// the `share` field); `n` ≤ 1 is alone.
    pub fn set_share(&mut self, k: u32, n: u32) {
        self.share = (n > 1).then_some((k % n, n));
    }

    /// True for a background filler that leaves analysis and calibration to filler 0.
    pub(super) fn helper(&self) -> bool {
        self.share.is_some_and(|(k, _)| k > 0)
    }

    /// Says the filler is about to read the control side's news (its messages, the demand):
    /// urgency raised before now is in them and preempts nothing.
    pub fn note_urgency(&mut self) {
        self.urgency_seen = self.urgency.count();
    }

    /// Units of work (a chunk, an analysis step, a calibration window) dropped or cut short
    /// so far for urgent news.
    pub fn preemptions(&self) -> u64 {
        self.preemptions
    }

    /// Counts a unit of `priority` work that news did (`dropped`) or did not stop.
    fn count_preemption(&mut self, priority: Priority, dropped: bool) {
        if dropped {
            self.preemptions += 1;
            self.dropped_in_a_row += 1;
        } else if priority > Priority::P0 {
            self.dropped_in_a_row = 0;
        }
    }

    /// Which work it does.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The store it caches through.
    pub fn store(&self) -> &Arc<WarmStore> {
        &self.store
    }

    /// Tells the filler which file a queue entry plays. Opening happens when it is needed.
    pub fn set_entry(&mut self, entry: u64, path: PathBuf) {
        self.entries
            .entry(entry)
            .or_insert(EntryState::Closed(track::Closed::new(path)));
    }

    /// Forgets an entry (removed from the queue).
    pub fn remove_entry(&mut self, entry: u64) {
        self.entries.remove(&entry);
    }

    /// Limits warming-list (P4) work to chunks `[start, end)` of its entries, or lifts the
    /// limit; what was found complete is looked at again.
    pub(super) fn set_warm_range(&mut self, range: Option<(u32, u32)>) {
        self.warm_range = range;
        self.warmed.clear();
    }

    /// Replaces the demand (on every command and position update).
    pub fn set_demand(&mut self, demand: Demand) {
        if demand.presets != self.demand.presets {
            self.warmed.clear();
        }
        self.demand = demand;
        self.count_hot_hit();
        if self.warming.is_some_and(|e| !self.demand.warm.contains(&e)) {
            self.warming = None;
        }
        self.pin_needed();
        self.close_unneeded();
    }

    /// When the playhead enters a chunk, the lookup is a *hot hit* if the chunk was already
    /// in RAM (sent ahead); otherwise serving it counts a warm hit or a miss (`produce`).
    fn count_hot_hit(&mut self) {
        let Some(p) = self.demand.playing else {
            return;
        };
        let Some((index, _)) = self.chunk_of(p.entry, p.frame) else {
            return;
        };
        if self.last_playing_chunk == Some((p.entry, index)) {
            return;
        }
        self.last_playing_chunk = Some((p.entry, index));
        let key = HotKey {
            entry: p.entry,
            index,
            variant: Variant::Original,
        };
        if self.role.serves_hot() && self.outstanding.contains(&key) {
            self.store.record_hot_hit();
        }
    }

    /// Entries open now (each holds a decoder and its warm files).
    pub fn open_entries(&self) -> usize {
        self.entries
            .values()
            .filter(|s| matches!(s, EntryState::Open(_)))
            .count()
    }

    /// The current demand.
    pub fn demand(&self) -> &Demand {
        &self.demand
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
        self.reclaim();
        if self.stalled {
            return Step::Idle;
        }
        if self.role.serves_hot() {
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
        if !self.role.works_in_background() {
            return Step::Idle;
        }
        if !self.helper()
            && let Some(step) = self.precalibrate()
        {
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
        self.reclaim();
        self.hot_needs().is_empty()
    }

    /// Takes back the slots the renderer returned.
    fn reclaim(&mut self) {
        if let Some(hot) = &mut self.hot {
            let outstanding = &mut self.outstanding;
            hot.reclaim(|key| {
                outstanding.remove(key);
            });
        }
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
}

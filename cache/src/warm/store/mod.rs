//! The warm store: the persistent part of the cache, one directory of warm files plus the index.
//!
//! ```text
//! <dir>/index.json          the index (see `index`), saved atomically
//! <dir>/lock                advisory lock around index read-modify-write
//! <dir>/warm/<16 hex>.hwt   one warm file per (track, variant) (see `warm`, `header`)
//! ```
//!
//! [`WarmStore`] owns the index in memory, hands out shared [`WarmFile`]s, keeps the cache
//! within its limits ([`crate::warm::evict`]), and keeps statistics. It never fails to open and
//! never panics: if the directory is missing it is created; if it cannot be used (read-only,
//! full, deleted while playing) the store is *degraded*: it reports that once through
//! [`WarmStore::take_status_change`], refuses writes (files already open keep serving reads),
//! hands out no new files, and re-checks the directory at most every [`RETRY_INTERVAL`].
//!
//! The store's work is spread over this folder by concern: [`files`] (opening and creating
//! warm files, the budget check, the weak table of files handed out), [`tracks`] (what the
//! index knows of each track: geometry, analysis, calibrations, progress), [`health`] (degradation and
//! recovery when the directory cannot be used), [`persist`] (saving and merging the index,
//! reconciling it with the files on disk), [`maintenance`] (`verify` and `clean`), [`warming`]
//! (what a run warming many tracks needs: their sizes up front, and holds against eviction).
//!
//! Runs on: the control thread and the filler thread(s), concurrently (`Send + Sync`, shared as
//! `Arc<WarmStore>`). Never the audio thread: every method may take a lock and do file I/O.

mod files;
mod health;
mod maintenance;
mod persist;
mod tracks;
mod warming;

use files::OpenFiles;
use warming::is_kept;
pub use warming::{WarmFootprint, WarmHold};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hearth_dsp::{ANALYSIS_VERSION, Preset, TrackAnalysis};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::chunk::{ChunkGeometry, ENGINE_CHANNELS, TrackId, Variant};
use crate::clock::{Clock, SystemClock};
use crate::error::CacheError;
use crate::warm::evict::{self, Candidate, Limits};
use crate::warm::file::{self as warm, ChunkCheck, Shared, WarmFile};
use crate::warm::fingerprint::{Fingerprint, track_id};
use crate::warm::header::WarmHeader;
use crate::warm::index::{self, INDEX_FILE, IndexFile, Loaded, TrackEntry, VariantEntry};
use crate::warm::mmap::{self, DirLock};
use crate::warm::stats::{CacheStats, CounterSnapshot};

/// How often a degraded store re-checks its directory, at most.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// How often mutations are saved to the index, at most (plus on [`WarmStore::flush_index`] and
/// on drop). A crash loses at most this much access bookkeeping; never cached audio, which the
/// warm files' headers describe on their own.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// The warm files' subdirectory.
pub const WARM_DIR: &str = "warm";

/// The lock file's name.
const LOCK_FILE: &str = "lock";

/// Warm file extension.
const WARM_EXT: &str = "hwt";

/// How long to wait for another process's index lock before going ahead without it.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Temporary files older than this were left by a crash (a live one exists for milliseconds).
const STALE_TEMP: Duration = Duration::from_secs(60);

/// Where and how much to cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    /// The cache directory (created if missing).
    pub dir: PathBuf,
    /// Byte budget for the warm files.
    pub budget_bytes: u64,
    /// Track cap.
    pub max_tracks: usize,
    /// Tracks not accessed for this long are removed.
    pub ttl: Duration,
}

impl CacheConfig {
    /// Default byte budget: 2 GiB (about 1.5 h of 48 kHz stereo in two variants).
    pub const DEFAULT_BUDGET_BYTES: u64 = 2 << 30;
    /// Default track cap.
    pub const DEFAULT_MAX_TRACKS: usize = 500;
    /// Default time-to-live: 30 days.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

    /// The defaults, in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> CacheConfig {
        CacheConfig {
            dir: dir.into(),
            budget_bytes: Self::DEFAULT_BUDGET_BYTES,
            max_tracks: Self::DEFAULT_MAX_TRACKS,
            ttl: Self::DEFAULT_TTL,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            budget_bytes: self.budget_bytes,
            max_tracks: self.max_tracks,
            ttl: self.ttl,
        }
    }
}

/// Whether the cache directory is usable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreStatus {
    /// Everything works.
    Healthy,
    /// The directory cannot be used; playback goes on decoding on demand.
    Degraded {
        /// What failed, for a person.
        reason: String,
    },
}

impl StoreStatus {
    /// True when degraded.
    pub fn is_degraded(&self) -> bool {
        matches!(self, StoreStatus::Degraded { .. })
    }
}

/// How much of one variant of a track is cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantProgress {
    /// Which variant.
    pub variant: Variant,
    /// Chunks present.
    pub present: u32,
    /// Chunks in the track.
    pub total: u32,
}

/// The name of the warm file for `(track, variant)`: a hash, never anything from a user path.
pub fn warm_file_name(track: TrackId, variant: Variant) -> String {
    let mut key = [0u8; 9];
    key[..8].copy_from_slice(&track.0.to_le_bytes());
    key[8] = variant.code();
    format!("{:016x}.{WARM_EXT}", xxh3_64(&key))
}

fn is_warm_name(name: &str) -> bool {
    name.strip_suffix(".hwt")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub use maintenance::{BadChunk, BadFile, CleanReport, VerifyReport};

/// The persistent warm tier. See the module docs.
#[derive(Debug)]
pub struct WarmStore {
    config: CacheConfig,
    warm_dir: PathBuf,
    index_path: PathBuf,
    lock_path: PathBuf,
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
    #[cfg(any(test, feature = "fault-injection"))]
    fail_writes: std::sync::atomic::AtomicBool,
    background_flush: std::sync::atomic::AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    tracks: BTreeMap<TrackId, TrackEntry>,
    open: OpenFiles,
    pins: BTreeSet<TrackId>,
    /// Tracks held by warm runs ([`WarmStore::hold`]), with how many guards hold each.
    held: BTreeMap<TrackId, usize>,
    next_seq: u64,
    status: StoreStatus,
    /// Whether the last status handed out by `take_status_change` was degraded.
    reported_degraded: bool,
    /// Set while a file needed by a pinned track could not be made because the budget cannot
    /// hold it beside the other pinned tracks (what it says, for a person).
    budget_short: Option<String>,
    last_probe_ms: u64,
    /// Size of the last file that could not be allocated: a retry checks that much fits.
    need_bytes: u64,
    dirty: bool,
    last_flush_ms: u64,
    /// Tracks removed since the last save (so a merge does not bring them back).
    removed: BTreeSet<TrackId>,
    /// All-time counters as last saved.
    saved_counters: CounterSnapshot,
    /// This session's counters at that save (already included in `saved_counters`).
    session_at_save: CounterSnapshot,
}

impl WarmStore {
    /// Opens (creating if needed) the cache in `config.dir` on the system clock. Never fails:
    /// an unusable directory gives a degraded store. Reconciles the index with the files on
    /// disk and runs eviction.
    ///
    /// Runs on: the control thread, at start-up (file I/O: scans the warm directory).
    pub fn open(config: CacheConfig) -> WarmStore {
        WarmStore::open_with_clock(config, Arc::new(SystemClock))
    }

    /// [`WarmStore::open`] with an injected clock (tests age the cache with a
    /// [`crate::ManualClock`]).
    pub fn open_with_clock(config: CacheConfig, clock: Arc<dyn Clock>) -> WarmStore {
        let store = WarmStore {
            warm_dir: config.dir.join(WARM_DIR),
            index_path: config.dir.join(INDEX_FILE),
            lock_path: config.dir.join(LOCK_FILE),
            config,
            clock,
            shared: Arc::default(),
            #[cfg(any(test, feature = "fault-injection"))]
            fail_writes: std::sync::atomic::AtomicBool::new(false),
            background_flush: std::sync::atomic::AtomicBool::new(false),
            inner: Mutex::new(Inner {
                tracks: BTreeMap::new(),
                open: OpenFiles::default(),
                pins: BTreeSet::new(),
                held: BTreeMap::new(),
                next_seq: 0,
                status: StoreStatus::Healthy,
                reported_degraded: false,
                budget_short: None,
                last_probe_ms: 0,
                need_bytes: 0,
                dirty: false,
                last_flush_ms: 0,
                removed: BTreeSet::new(),
                saved_counters: CounterSnapshot::default(),
                session_at_save: CounterSnapshot::default(),
            }),
        };
        {
            let mut inner = store.inner.lock();
            inner.last_flush_ms = store.clock.now_ms();
            match store.probe(0) {
                Ok(()) => {
                    store.reconcile(&mut inner);
                    store.evict_locked(&mut inner, None);
                    if inner.dirty {
                        let _ = store.persist(&mut inner);
                    }
                }
                Err(e) => {
                    store.degrade(&mut inner, format!("cache directory unusable: {e}"));
                    // Still learn what the index knows (analyses, calibration): reading is
                    // harmless, and the files are adopted once the directory recovers.
                    if let Loaded::Index { index, .. } = index::load(&store.index_path) {
                        store.adopt_loaded(&mut inner, index);
                    }
                }
            }
        }
        store
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Healthy or degraded (with the reason). Runs on: any thread.
    pub fn status(&self) -> StoreStatus {
        self.inner.lock().status.clone()
    }

    /// The status, only if it changed between healthy and degraded since the last call (the
    /// first call reports a store that opened degraded). The engine turns each into one event,
    /// so a degraded cache is reported once, not on every failed write.
    ///
    /// Runs on: the control thread.
    ///
    /// A budget too small for the tracks in use (the playing and the next one) is reported the
    /// same way, as degraded with the reason: what does not fit plays from decode-on-demand.
    pub fn take_status_change(&self) -> Option<StoreStatus> {
        let mut inner = self.inner.lock();
        let status = match (&inner.status, &inner.budget_short) {
            (StoreStatus::Healthy, Some(reason)) => StoreStatus::Degraded {
                reason: reason.clone(),
            },
            (status, _) => status.clone(),
        };
        let degraded = status.is_degraded();
        if degraded == inner.reported_degraded {
            return None;
        }
        inner.reported_degraded = degraded;
        Some(status)
    }

    /// Registers a track about to be played or warmed and counts an access. Returns its id
    /// (the [`TrackId`] that names its warm files). If the index holds an entry for the same path with a
    /// different fingerprint, the source changed: that entry and its files are removed.
    ///
    /// Works when degraded (the index is kept in memory). Runs on: control or filler thread.
    pub fn register_track(
        &self,
        fp: &Fingerprint,
        engine_rate: u32,
        geometry: ChunkGeometry,
    ) -> TrackId {
        let id = track_id(fp, engine_rate, ENGINE_CHANNELS as u16);
        let mut inner = self.inner.lock();
        let stale: Vec<TrackId> = inner
            .tracks
            .values()
            .filter(|e| {
                e.id != id
                    && e.fingerprint
                        .as_ref()
                        .is_some_and(|f| f.canonical_path == fp.canonical_path && f != fp)
            })
            .map(|e| e.id)
            .collect();
        for t in stale {
            tracing::info!(path = %fp.canonical_path, track = %t, "source changed; dropping its cache");
            self.remove_track(&mut inner, t);
        }
        let now = self.clock.now_ms();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.dirty = true;
        let new = match inner.tracks.get_mut(&id) {
            Some(e) => {
                e.last_access_ms = now;
                e.last_access_seq = seq;
                e.access_count += 1;
                if e.fingerprint.is_none() {
                    e.fingerprint = Some(fp.clone());
                }
                // Same content and rate: a different length can only come from a new decoder
                // version. Files of the old geometry are recreated when next asked for.
                e.geometry = geometry;
                false
            }
            None => {
                inner.tracks.insert(
                    id,
                    TrackEntry {
                        id,
                        fingerprint: Some(fp.clone()),
                        source_hash: fp.hash(),
                        engine_rate,
                        channels: ENGINE_CHANNELS as u16,
                        geometry,
                        created_ms: now,
                        last_access_ms: now,
                        last_access_seq: seq,
                        access_count: 1,
                        analysis: None,
                        calibration: BTreeMap::new(),
                        variants: Vec::new(),
                    },
                );
                true
            }
        };
        if new {
            self.evict_locked(&mut inner, Some(id));
        }
        self.maybe_flush(&mut inner);
        id
    }

    /// Replaces the set of tracks that are never evicted: the one playing and the next one
    /// queued. Runs on: the control thread, on every track change.
    pub fn set_pins(&self, tracks: &[TrackId]) {
        self.inner.lock().pins = tracks.iter().copied().collect();
    }

    /// Runs eviction now (TTL, then LRU to the byte budget and track cap; pins and holds
    /// spared).
    /// Returns the number of tracks removed. Also runs on open and after a file is created.
    pub fn evict(&self) -> usize {
        let mut inner = self.inner.lock();
        let n = self.evict_locked(&mut inner, None);
        self.maybe_flush(&mut inner);
        n
    }

    fn evict_locked(&self, inner: &mut Inner, protect: Option<TrackId>) -> usize {
        let now = self.clock.now_ms();
        let victims = evict::plan(&candidates(inner, protect), now, &self.config.limits());
        let n = victims.len();
        for t in victims {
            tracing::debug!(track = %t, "evicting");
            self.remove_track(inner, t);
        }
        n
    }

    /// Removes a track's files and entry. Files that cannot be removed (read-only directory)
    /// stay listed, so the byte accounting stays exact; the store degrades.
    fn remove_track(&self, inner: &mut Inner, track: TrackId) -> (usize, u64) {
        let Some(mut e) = inner.tracks.remove(&track) else {
            return (0, 0);
        };
        let (mut files, mut bytes) = (0, 0);
        let mut kept = Vec::new();
        for v in std::mem::take(&mut e.variants) {
            match self.remove_file(&self.warm_dir.join(&v.file)) {
                Ok(()) => {
                    files += 1;
                    bytes += v.bytes;
                    if let Some(f) = inner.open.remove(&(track, v.variant)) {
                        f.retire();
                    }
                }
                Err(err) => {
                    self.degrade(inner, format!("cannot remove a warm file: {err}"));
                    kept.push(v);
                }
            }
        }
        inner.dirty = true;
        if kept.is_empty() {
            inner.open.retain(|k, f| {
                let keep = k.0 != track;
                if !keep {
                    f.retire();
                }
                keep
            });
            inner.removed.insert(track);
        } else {
            e.variants = kept;
            inner.tracks.insert(track, e);
        }
        (files, bytes)
    }

    /// The statistics. Runs on: any thread (takes the store lock briefly).
    pub fn stats(&self) -> CacheStats {
        let inner = self.inner.lock();
        let session = self.shared.counters.snapshot();
        let all_time = inner
            .saved_counters
            .plus(&session.minus(&inner.session_at_save));
        CacheStats {
            session,
            all_time,
            session_time_saved_secs: session.time_saved().as_secs_f64(),
            all_time_time_saved_secs: all_time.time_saved().as_secs_f64(),
            bytes_on_disk: inner.tracks.values().map(TrackEntry::bytes).sum(),
            budget_bytes: self.config.budget_bytes,
            tracks: inner.tracks.len(),
            max_tracks: self.config.max_tracks,
            files: inner.tracks.values().map(|e| e.variants.len()).sum(),
            degraded: match &inner.status {
                StoreStatus::Healthy => None,
                StoreStatus::Degraded { reason } => Some(reason.clone()),
            },
            unlinked_open: crate::warm::unlinked::held_by_processes(&self.warm_dir),
        }
    }

    /// Counts a chunk the renderer found in a hot slot. Lock-free; any non-audio thread.
    pub fn record_hot_hit(&self) {
        self.shared.counters.hot_hit();
    }

    /// Counts a chunk copied out of the warm tier instead of produced. Lock-free.
    pub fn record_warm_hit(&self) {
        self.shared.counters.warm_hit();
    }

    /// Counts a chunk needed while in neither tier (a cold production). Lock-free.
    pub fn record_miss(&self) {
        self.shared.counters.miss();
    }

    /// Counts a chunk produced and the time it took. Lock-free.
    pub fn record_production(&self, took: Duration) {
        self.shared.counters.production(took);
    }
}

/// Every track as an eviction candidate; pinned and held ones (and `protect`) are spared.
fn candidates(inner: &Inner, protect: Option<TrackId>) -> Vec<Candidate> {
    inner
        .tracks
        .values()
        .map(|e| Candidate {
            track: e.id,
            bytes: e.bytes(),
            last_access_ms: e.last_access_ms,
            last_access_seq: e.last_access_seq,
            pinned: is_kept(inner, e.id) || protect == Some(e.id),
        })
        .collect()
}

fn is_older_than(meta: &fs::Metadata, age: Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|e| e > age)
}

impl Drop for WarmStore {
    /// Saves unsaved changes; errors are ignored (the next run reconciles).
    fn drop(&mut self) {
        let mut inner = self.inner.lock();
        if inner.dirty || self.shared.counters.snapshot() != inner.session_at_save {
            let _ = self.persist(&mut inner);
        }
    }
}

//! The warm store: the persistent part of the cache, one directory of warm files plus the index.
//!
//! ```text
//! <dir>/index.json          the index (see `index`), saved atomically
//! <dir>/lock                advisory lock around index read-modify-write
//! <dir>/warm/<16 hex>.hwt   one warm file per (track, variant) (see `warm`, `header`)
//! ```
//!
//! [`WarmStore`] owns the index in memory, hands out shared [`WarmFile`]s, keeps the cache
//! within its limits ([`crate::evict`]), and keeps statistics. It never fails to open and
//! never panics: if the directory is missing it is created; if it cannot be used (read-only,
//! full, deleted while playing) the store is *degraded*: it reports that once through
//! [`WarmStore::take_status_change`], refuses writes (files already open keep serving reads),
//! hands out no new files, and re-checks the directory at most every [`RETRY_INTERVAL`].
//!
//! Runs on: the control thread and the filler thread(s), concurrently (`Send + Sync`, shared as
//! `Arc<WarmStore>`). Never the audio thread: every method may take a lock and do file I/O.

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
use crate::evict::{self, Candidate, Limits};
use crate::fingerprint::{Fingerprint, track_id};
use crate::header::WarmHeader;
use crate::index::{self, INDEX_FILE, IndexFile, Loaded, TrackEntry, VariantEntry};
use crate::mmap::{self, DirLock};
use crate::stats::{CacheStats, CounterSnapshot};
use crate::warm::{self, ChunkCheck, Shared, WarmFile};

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

/// What [`WarmStore::clean`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanReport {
    /// Tracks removed from the index (with their files).
    pub tracks_removed: usize,
    /// Files removed (warm files, stale temporaries, unreferenced warm files).
    pub files_removed: usize,
    /// Bytes those files occupied.
    pub bytes_freed: u64,
    /// Pinned tracks that were spared.
    pub pinned_kept: usize,
    /// Set when the cache directory could not be used (nothing was removed).
    pub degraded: Option<String>,
}

/// A warm file that failed verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadFile {
    /// Its name in `<dir>/warm/`.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

/// A chunk that failed verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadChunk {
    /// The file's name in `<dir>/warm/`.
    pub file: String,
    /// Its track.
    pub track: TrackId,
    /// Its variant.
    pub variant: Variant,
    /// The chunk.
    pub index: u32,
    /// What is wrong.
    pub reason: String,
}

/// What [`WarmStore::verify`] found (and, with repair, fixed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Warm files whose header was read.
    pub files_checked: usize,
    /// Chunks marked present that were checked.
    pub chunks_checked: u64,
    /// Of those, chunks whose checksum matched.
    pub chunks_good: u64,
    /// Files with a damaged or foreign header (removed with repair).
    pub bad_files: Vec<BadFile>,
    /// Chunks whose checksum or mark is wrong (marked absent with repair).
    pub bad_chunks: Vec<BadChunk>,
    /// Valid warm files the index did not list (adopted with repair).
    pub unindexed_files: usize,
    /// Index entries whose file is gone (dropped with repair).
    pub missing_files: usize,
    /// Other files in the warm directory (removed with repair).
    pub stray_files: Vec<String>,
    /// Files removed by repair.
    pub files_removed: usize,
    /// Chunks marked absent by repair.
    pub chunks_cleared: u64,
    /// Set when the cache directory could not be used.
    pub degraded: Option<String>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.bad_files.is_empty()
            && self.bad_chunks.is_empty()
            && self.unindexed_files == 0
            && self.missing_files == 0
            && self.stray_files.is_empty()
            && self.degraded.is_none()
    }
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
    open: HashMap<(TrackId, Variant), Arc<WarmFile>>,
    pins: BTreeSet<TrackId>,
    next_seq: u64,
    status: StoreStatus,
    /// Whether the last status handed out by `take_status_change` was degraded.
    reported_degraded: bool,
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
                open: HashMap::new(),
                pins: BTreeSet::new(),
                next_seq: 0,
                status: StoreStatus::Healthy,
                reported_degraded: false,
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
    pub fn take_status_change(&self) -> Option<StoreStatus> {
        let mut inner = self.inner.lock();
        let degraded = inner.status.is_degraded();
        if degraded == inner.reported_degraded {
            return None;
        }
        inner.reported_degraded = degraded;
        Some(inner.status.clone())
    }

    /// Registers a track about to be played or warmed and counts an access. Returns its id
    /// (use it as `ChunkKey::track`). If the index holds an entry for the same path with a
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

    /// Counts an access to a registered track (false if unknown). Runs on: control thread.
    pub fn touch(&self, track: TrackId) -> bool {
        let mut inner = self.inner.lock();
        let now = self.clock.now_ms();
        let seq = inner.next_seq;
        let Some(e) = inner.tracks.get_mut(&track) else {
            return false;
        };
        e.last_access_ms = now;
        e.last_access_seq = seq;
        e.access_count += 1;
        inner.next_seq += 1;
        inner.dirty = true;
        self.maybe_flush(&mut inner);
        true
    }

    /// The track's length and chunk size as registered (lets a cached track play without
    /// opening its source).
    pub fn geometry(&self, track: TrackId) -> Option<ChunkGeometry> {
        self.inner.lock().tracks.get(&track).map(|e| e.geometry)
    }

    /// The warm file for `(track, variant)` rendered with DSP parameters `params_hash`
    /// (0 for the original): opened if it exists, else created (preallocated in full). A file
    /// with another header (parameters, geometry, fingerprint, format version) is deleted and
    /// recreated. `None` if the track is not registered, the store is degraded, or the file
    /// cannot be made. Cheap when already open (an `Arc` clone under a lock). Runs eviction
    /// after creating a file (never evicting `track` itself).
    ///
    /// Runs on: the filler (and control thread).
    pub fn variant(
        &self,
        track: TrackId,
        variant: Variant,
        params_hash: u64,
    ) -> Option<Arc<WarmFile>> {
        self.get_variant(track, variant, params_hash, true)
    }

    /// Like [`WarmStore::variant`] but never creates a file: `None` if none is cached.
    pub fn existing_variant(
        &self,
        track: TrackId,
        variant: Variant,
        params_hash: u64,
    ) -> Option<Arc<WarmFile>> {
        self.get_variant(track, variant, params_hash, false)
    }

    fn get_variant(
        &self,
        track: TrackId,
        variant: Variant,
        params_hash: u64,
        create: bool,
    ) -> Option<Arc<WarmFile>> {
        let key = (track, variant);
        let mut inner = self.inner.lock();
        if inner.status.is_degraded() {
            // Recovery (at most every RETRY_INTERVAL) retires files that were deleted meanwhile.
            self.available(&mut inner);
        }
        let entry = inner.tracks.get(&track)?;
        let expected = WarmHeader {
            track,
            variant,
            engine_rate: entry.engine_rate,
            channels: entry.channels,
            geometry: entry.geometry,
            source_hash: entry.source_hash,
            params_hash,
        };
        let now = self.clock.now_ms();
        if let Some(f) = inner.open.get(&key) {
            // Files already mapped keep serving even when degraded: the mapping stays valid
            // whatever happens to the directory. Now and then check the file is still there
            // (a deleted cache directory must not be filled in vain).
            if *f.header() == expected
                && !f.is_retired()
                && (inner.status.is_degraded() || f.still_linked_every(now, RETRY_INTERVAL))
            {
                return Some(Arc::clone(f));
            }
        }
        if !self.available(&mut inner) {
            return None;
        }
        if let Some(old) = inner.open.remove(&key) {
            old.retire();
        }
        let name = warm_file_name(track, variant);
        let path = self.warm_dir.join(&name);
        let file = match WarmFile::open(&path, Some(&expected), Arc::clone(&self.shared)) {
            Ok(f) => Some(f),
            Err(CacheError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => None,
            Err(CacheError::BadHeader(why)) => {
                tracing::debug!(file = %name, %why, "replacing warm file");
                if let Err(e) = self.remove_file(&path) {
                    self.degrade(&mut inner, format!("cannot remove a stale warm file: {e}"));
                    return None;
                }
                self.drop_variant_record(&mut inner, track, variant);
                None
            }
            Err(e) => {
                self.degrade(&mut inner, format!("cannot open a warm file: {e}"));
                return None;
            }
        };
        let file = match file {
            Some(f) => f,
            None if !create => {
                self.drop_variant_record(&mut inner, track, variant);
                return None;
            }
            None => match self.create_file(&path, &expected) {
                Ok(f) => f,
                Err(CacheError::Io {
                    op: "link", source, ..
                }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    // Another process made it a moment ago.
                    WarmFile::open(&path, Some(&expected), Arc::clone(&self.shared)).ok()?
                }
                Err(CacheError::Io { source, .. }) => {
                    inner.need_bytes = expected.layout().map(|l| l.file_len).unwrap_or(0);
                    self.degrade(&mut inner, format!("cannot create a warm file: {source}"));
                    return None;
                }
                Err(e) => {
                    tracing::warn!(track = %track, %variant, "cannot cache this track: {e}");
                    return None;
                }
            },
        };
        let file = Arc::new(file);
        let record = VariantEntry {
            variant,
            file: name,
            params_hash,
            bytes: file.file_len(),
            chunks_present: file.present_count(),
            chunks_total: file.chunk_count(),
        };
        if let Some(e) = inner.tracks.get_mut(&track) {
            e.variants.retain(|v| v.variant != variant);
            e.variants.push(record);
        }
        inner.open.insert(key, Arc::clone(&file));
        inner.dirty = true;
        self.evict_locked(&mut inner, Some(track));
        self.maybe_flush(&mut inner);
        Some(file)
    }

    fn create_file(&self, path: &Path, header: &WarmHeader) -> Result<WarmFile, CacheError> {
        self.check_writes()
            .map_err(|e| CacheError::io("create", path, e))?;
        WarmFile::create(path, header, Arc::clone(&self.shared))
    }

    fn drop_variant_record(&self, inner: &mut Inner, track: TrackId, variant: Variant) {
        if let Some(e) = inner.tracks.get_mut(&track) {
            let before = e.variants.len();
            e.variants.retain(|v| v.variant != variant);
            inner.dirty |= e.variants.len() != before;
        }
    }

    /// Replaces the set of tracks that are never evicted: the one playing and the next one
    /// queued. Runs on: the control thread, on every track change.
    pub fn set_pins(&self, tracks: &[TrackId]) {
        self.inner.lock().pins = tracks.iter().copied().collect();
    }

    /// The track's analysis, if one of the current [`ANALYSIS_VERSION`] is cached.
    pub fn analysis(&self, track: TrackId) -> Option<TrackAnalysis> {
        let inner = self.inner.lock();
        let a = inner.tracks.get(&track)?.analysis.as_ref()?;
        (a.version == ANALYSIS_VERSION).then(|| a.clone())
    }

    /// Caches the track's analysis (false if the track is not registered).
    pub fn set_analysis(&self, track: TrackId, analysis: TrackAnalysis) -> bool {
        let mut inner = self.inner.lock();
        let Some(e) = inner.tracks.get_mut(&track) else {
            return false;
        };
        e.analysis = Some(analysis);
        inner.dirty = true;
        self.maybe_flush(&mut inner);
        true
    }

    /// The track's calibration gain for `preset`, dB.
    pub fn calibration(&self, track: TrackId, preset: Preset) -> Option<f32> {
        let inner = self.inner.lock();
        inner.tracks.get(&track)?.calibration.get(&preset).copied()
    }

    /// Caches a calibration gain (false if the track is unknown or the gain not finite).
    pub fn set_calibration(&self, track: TrackId, preset: Preset, gain_db: f32) -> bool {
        if !gain_db.is_finite() {
            return false;
        }
        let mut inner = self.inner.lock();
        let Some(e) = inner.tracks.get_mut(&track) else {
            return false;
        };
        e.calibration.insert(preset, gain_db);
        inner.dirty = true;
        self.maybe_flush(&mut inner);
        true
    }

    /// How much of each cached variant of `track` is present (cache-progress events, the TUI
    /// cache map). Exact for files open in this process; the last saved count otherwise.
    pub fn progress(&self, track: TrackId) -> Vec<VariantProgress> {
        let inner = self.inner.lock();
        let Some(e) = inner.tracks.get(&track) else {
            return Vec::new();
        };
        e.variants
            .iter()
            .map(|v| match inner.open.get(&(track, v.variant)) {
                Some(f) if !f.is_retired() => VariantProgress {
                    variant: v.variant,
                    present: f.present_count(),
                    total: f.chunk_count(),
                },
                _ => VariantProgress {
                    variant: v.variant,
                    present: v.chunks_present,
                    total: v.chunks_total,
                },
            })
            .collect()
    }

    /// Which chunks of one variant of a track are cached, when its file is open in this
    /// process (a cache map for display). Runs on: the control thread.
    pub fn presence(&self, track: TrackId, variant: Variant) -> Option<Vec<bool>> {
        let inner = self.inner.lock();
        inner
            .open
            .get(&(track, variant))
            .filter(|f| !f.is_retired())
            .map(|f| f.presence())
    }

    /// Tracks in the index, most recently used first.
    pub fn tracks(&self) -> Vec<TrackId> {
        let inner = self.inner.lock();
        let mut v: Vec<&TrackEntry> = inner.tracks.values().collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.last_access_ms, e.last_access_seq)));
        v.into_iter().map(|e| e.id).collect()
    }

    /// A copy of the index entry for `track` (for `hearth cache` listings).
    pub fn entry(&self, track: TrackId) -> Option<TrackEntry> {
        self.inner.lock().tracks.get(&track).cloned()
    }

    /// Runs eviction now (TTL, then LRU to the byte budget and track cap; pins spared).
    /// Returns the number of tracks removed. Also runs on open and after a file is created.
    pub fn evict(&self) -> usize {
        let mut inner = self.inner.lock();
        let n = self.evict_locked(&mut inner, None);
        self.maybe_flush(&mut inner);
        n
    }

    fn evict_locked(&self, inner: &mut Inner, protect: Option<TrackId>) -> usize {
        let now = self.clock.now_ms();
        let candidates: Vec<Candidate> = inner
            .tracks
            .values()
            .map(|e| Candidate {
                track: e.id,
                bytes: e.bytes(),
                last_access_ms: e.last_access_ms,
                last_access_seq: e.last_access_seq,
                pinned: inner.pins.contains(&e.id) || protect == Some(e.id),
            })
            .collect();
        let victims = evict::plan(&candidates, now, &self.config.limits());
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

    /// Saves the index now (merging with the one on disk). Also happens at most every
    /// [`FLUSH_INTERVAL`] after a change, and on drop. Runs on: control thread.
    pub fn flush_index(&self) -> io::Result<()> {
        let mut inner = self.inner.lock();
        self.persist(&mut inner)
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

    /// Removes cached tracks: all of them (`all`), those not accessed for `older_than`, or
    /// (neither) whatever eviction would. Pinned tracks are spared. Also removes stale
    /// temporaries and, with `all`, any warm file the index does not list.
    ///
    /// Runs on: the control thread (`hearth cache clean`).
    pub fn clean(&self, older_than: Option<Duration>, all: bool) -> CleanReport {
        let mut inner = self.inner.lock();
        let mut report = CleanReport::default();
        inner.last_probe_ms = 0; // an explicit request: re-check a degraded directory now
        if !self.available(&mut inner) {
            report.degraded = self.reason(&inner);
            return report;
        }
        let now = self.clock.now_ms();
        let victims: Vec<TrackId> = if all || older_than.is_some() {
            let cutoff = older_than.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            inner
                .tracks
                .values()
                .filter(|e| all || cutoff.is_some_and(|c| now.saturating_sub(e.last_access_ms) > c))
                .filter(|e| {
                    let pinned = inner.pins.contains(&e.id);
                    report.pinned_kept += usize::from(pinned);
                    !pinned
                })
                .map(|e| e.id)
                .collect()
        } else {
            let candidates: Vec<Candidate> = inner
                .tracks
                .values()
                .map(|e| Candidate {
                    track: e.id,
                    bytes: e.bytes(),
                    last_access_ms: e.last_access_ms,
                    last_access_seq: e.last_access_seq,
                    pinned: inner.pins.contains(&e.id),
                })
                .collect();
            evict::plan(&candidates, now, &self.config.limits())
        };
        for t in victims {
            let before = inner.tracks.len();
            let (files, bytes) = self.remove_track(&mut inner, t);
            report.tracks_removed += before - inner.tracks.len();
            report.files_removed += files;
            report.bytes_freed += bytes;
        }
        let referenced: BTreeSet<String> = inner
            .tracks
            .values()
            .flat_map(|e| e.variants.iter().map(|v| v.file.clone()))
            .collect();
        for (name, path, meta) in self.list_warm_dir() {
            let stale_temp = name.ends_with(".tmp") && is_older_than(&meta, STALE_TEMP);
            let unreferenced = all && is_warm_name(&name) && !referenced.contains(&name);
            if (stale_temp || unreferenced) && self.remove_file(&path).is_ok() {
                report.files_removed += 1;
                report.bytes_freed += meta.len();
            }
        }
        if let Err(e) = self.persist(&mut inner) {
            tracing::warn!("cannot save the cache index after cleaning: {e}");
        }
        report
    }

    /// Checks every warm file's header and every present chunk's checksum. With `repair`,
    /// removes files with bad headers and stray files, marks bad chunks absent, adopts
    /// unindexed files and drops entries whose files are gone.
    ///
    /// Runs on: the control thread (`hearth cache verify`). Reads every cached byte.
    pub fn verify(&self, repair: bool) -> VerifyReport {
        let mut inner = self.inner.lock();
        let mut report = VerifyReport::default();
        inner.last_probe_ms = 0;
        if !self.available(&mut inner) {
            report.degraded = self.reason(&inner);
            return report;
        }
        let referenced: BTreeMap<String, (TrackId, Variant)> = inner
            .tracks
            .values()
            .flat_map(|e| {
                e.variants
                    .iter()
                    .map(|v| (v.file.clone(), (e.id, v.variant)))
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut scratch = Vec::new();
        for (name, path, _) in self.list_warm_dir() {
            if name.ends_with(".tmp") {
                continue;
            }
            if !is_warm_name(&name) {
                if repair && self.remove_file(&path).is_ok() {
                    report.files_removed += 1;
                }
                report.stray_files.push(name);
                continue;
            }
            // The header is always re-read from disk, even for a file open here: the copy
            // in memory says nothing about what is on disk now.
            let on_disk = fs::File::open(&path)
                .map_err(|e| CacheError::io("open", &path, e))
                .and_then(|f| warm::read_header(&f, &path));
            let open = referenced
                .get(&name)
                .and_then(|k| inner.open.get(k))
                .filter(|f| !f.is_retired())
                .cloned();
            let file = match (on_disk, open) {
                (Err(e), _) => Err(e),
                (Ok((h, _)), Some(f)) if h == *f.header() => Ok(f),
                (Ok(_), _) => WarmFile::open(&path, None, Arc::clone(&self.shared)).map(Arc::new),
            };
            let file = match file {
                Ok(f) if warm_file_name(f.header().track, f.header().variant) == name => f,
                Ok(_) => {
                    let bad = BadFile {
                        file: name.clone(),
                        reason: "file name does not match its header".into(),
                    };
                    self.bad_file(&mut inner, &mut report, &path, bad, repair);
                    continue;
                }
                Err(e) => {
                    let bad = BadFile {
                        file: name.clone(),
                        reason: e.to_string(),
                    };
                    if matches!(e, CacheError::BadHeader(_)) {
                        self.bad_file(&mut inner, &mut report, &path, bad, repair);
                    } else {
                        // Unreadable for another reason (permissions, I/O): report, keep.
                        report.bad_files.push(bad);
                    }
                    continue;
                }
            };
            report.files_checked += 1;
            seen.insert(name.clone());
            if !referenced.contains_key(&name) {
                report.unindexed_files += 1;
            }
            let h = *file.header();
            for i in 0..file.chunk_count() {
                let reason = match file.check_chunk(i, &mut scratch) {
                    ChunkCheck::Absent | ChunkCheck::Busy => continue,
                    ChunkCheck::Good => {
                        report.chunks_checked += 1;
                        report.chunks_good += 1;
                        continue;
                    }
                    ChunkCheck::BadChecksum => "checksum mismatch".to_string(),
                    ChunkCheck::BadMark(m) => format!("presence byte {m}"),
                };
                report.chunks_checked += 1;
                if repair {
                    file.clear_chunk(i);
                    report.chunks_cleared += 1;
                }
                report.bad_chunks.push(BadChunk {
                    file: name.clone(),
                    track: h.track,
                    variant: h.variant,
                    index: i,
                    reason,
                });
            }
        }
        for (name, (track, variant)) in &referenced {
            if !seen.contains(name) && !report.bad_files.iter().any(|b| &b.file == name) {
                report.missing_files += 1;
                if repair {
                    if let Some(f) = inner.open.remove(&(*track, *variant)) {
                        f.retire();
                    }
                    self.drop_variant_record(&mut inner, *track, *variant);
                }
            }
        }
        if repair {
            self.reconcile(&mut inner);
        }
        report
    }

    /// Records a bad file; with repair removes it and the records and open files that refer
    /// to it.
    fn bad_file(
        &self,
        inner: &mut Inner,
        report: &mut VerifyReport,
        path: &Path,
        bad: BadFile,
        repair: bool,
    ) {
        if repair && self.remove_file(path).is_ok() {
            report.files_removed += 1;
            let name = bad.file.clone();
            let keys: Vec<(TrackId, Variant)> = inner
                .tracks
                .values()
                .flat_map(|e| {
                    e.variants
                        .iter()
                        .filter(|v| v.file == name)
                        .map(move |v| (e.id, v.variant))
                })
                .collect();
            for (t, v) in keys {
                if let Some(f) = inner.open.remove(&(t, v)) {
                    f.retire();
                }
                self.drop_variant_record(inner, t, v);
            }
        }
        report.bad_files.push(bad);
    }

    /// Leaves index saves to [`WarmStore::flush_if_due`], called by a thread of the caller's
    /// choosing, instead of whichever thread happens to change the index (so that the
    /// engine's filler never waits for a file system sync).
    pub fn set_background_flush(&self, on: bool) {
        self.background_flush.store(on, Ordering::Relaxed);
    }

    /// Saves the index if it changed and the last save is at least [`FLUSH_INTERVAL`] old.
    /// Runs on: the caller's housekeeping thread (the engine's event pump).
    pub fn flush_if_due(&self) {
        let mut inner = self.inner.lock();
        self.flush_if_due_locked(&mut inner);
    }

    /// Makes every disk write fail as if the directory were read-only (test hook for the
    /// degradation paths when tests run as root, where `chmod` does not stop writes).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn set_fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::Relaxed);
    }

    fn check_writes(&self) -> io::Result<()> {
        #[cfg(any(test, feature = "fault-injection"))]
        if self.fail_writes.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::ReadOnlyFilesystem,
                "read-only file system (injected)",
            ));
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check_writes()?;
        match fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn reason(&self, inner: &Inner) -> Option<String> {
        match &inner.status {
            StoreStatus::Healthy => None,
            StoreStatus::Degraded { reason } => Some(reason.clone()),
        }
    }

    fn degrade(&self, inner: &mut Inner, reason: String) {
        if !inner.status.is_degraded() {
            tracing::warn!("warm cache degraded, decoding on demand: {reason}");
        }
        inner.status = StoreStatus::Degraded { reason };
        inner.last_probe_ms = self.clock.now_ms();
        self.shared.degraded.store(true, Ordering::Relaxed);
    }

    /// True when the directory is usable; a degraded store re-probes it at most every
    /// [`RETRY_INTERVAL`] and, when it works again, reconciles and becomes healthy.
    fn available(&self, inner: &mut Inner) -> bool {
        if !inner.status.is_degraded() {
            return true;
        }
        let now = self.clock.now_ms();
        let retry = RETRY_INTERVAL.as_millis() as u64;
        // `abs_diff`: a clock that jumped backwards also allows a retry.
        if inner.last_probe_ms != 0 && now.abs_diff(inner.last_probe_ms) < retry {
            return false;
        }
        inner.last_probe_ms = now.max(1);
        if let Err(e) = self.probe(inner.need_bytes) {
            inner.status = StoreStatus::Degraded {
                reason: format!("cache directory unusable: {e}"),
            };
            return false;
        }
        tracing::info!("warm cache usable again");
        inner.status = StoreStatus::Healthy;
        inner.need_bytes = 0;
        self.shared.degraded.store(false, Ordering::Relaxed);
        self.reconcile(inner);
        !inner.status.is_degraded()
    }

    /// Checks the directory can hold files: creates it if missing, then allocates a probe
    /// file of `need` bytes (at least a page, at most 1 GiB) and removes it.
    fn probe(&self, need: u64) -> io::Result<()> {
        self.check_writes()?;
        fs::create_dir_all(&self.warm_dir)?;
        let path = self
            .config
            .dir
            .join(format!(".probe.{}", std::process::id()));
        let result = (|| {
            let f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            mmap::preallocate(&f, need.clamp(4096, 1 << 30))
        })();
        let _ = fs::remove_file(&path);
        result
    }

    /// The inter-process index lock, or `None` (going ahead unlocked) if the lock file cannot
    /// be opened or another process holds it for longer than [`LOCK_WAIT`]: a stuck process
    /// must not stop this one.
    fn lock_dir(&self) -> Option<DirLock> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .ok()?;
        match DirLock::lock(file, LOCK_WAIT) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                tracing::warn!("cache index lock held by another process; going ahead");
                None
            }
            Err(e) => {
                tracing::debug!("cannot lock the cache index: {e}");
                None
            }
        }
    }

    fn maybe_flush(&self, inner: &mut Inner) {
        if self.background_flush.load(Ordering::Relaxed) {
            return;
        }
        self.flush_if_due_locked(inner);
    }

    fn flush_if_due_locked(&self, inner: &mut Inner) {
        let now = self.clock.now_ms();
        let interval = FLUSH_INTERVAL.as_millis() as u64;
        if inner.dirty && now.abs_diff(inner.last_flush_ms) >= interval {
            let _ = self.persist(inner);
        }
    }

    /// Saves the index: under the directory lock, re-read the one on disk, merge, write
    /// atomically. A failure degrades the store.
    fn persist(&self, inner: &mut Inner) -> io::Result<()> {
        if !self.available(inner) {
            return Err(io::Error::other(
                self.reason(inner)
                    .unwrap_or_else(|| "cache degraded".into()),
            ));
        }
        let _lock = self.lock_dir();
        let base = self.merge_from_disk(inner);
        // Files another process removed: drop their records and stop writing into them.
        let warm_dir = &self.warm_dir;
        for e in inner.tracks.values_mut() {
            e.variants.retain(|v| warm_dir.join(&v.file).exists());
        }
        inner.open.retain(|(t, v), f| {
            let keep =
                f.still_linked() && inner.tracks.get(t).is_some_and(|e| e.variant(*v).is_some());
            if !keep {
                f.retire();
            }
            keep
        });
        self.write_index(inner, base)
    }

    /// Merges the index on disk into memory; returns the all-time counters it holds (ours as
    /// last saved if it cannot be read).
    fn merge_from_disk(&self, inner: &mut Inner) -> CounterSnapshot {
        match index::load(&self.index_path) {
            Loaded::Index { index, dropped } => {
                if dropped > 0 {
                    tracing::warn!("{dropped} damaged cache index entries ignored");
                }
                let warm_dir = &self.warm_dir;
                index::merge(&mut inner.tracks, index.tracks, &inner.removed, |f| {
                    is_warm_name(f) && warm_dir.join(f).exists()
                });
                inner.next_seq = inner.next_seq.max(index.next_seq);
                index.counters
            }
            Loaded::Missing => inner.saved_counters,
            Loaded::Damaged(why) => {
                tracing::warn!("cache index unusable ({why}); rebuilding it from the warm files");
                inner.saved_counters
            }
        }
    }

    fn write_index(&self, inner: &mut Inner, base: CounterSnapshot) -> io::Result<()> {
        let session = self.shared.counters.snapshot();
        let total = base.plus(&session.minus(&inner.session_at_save));
        for e in inner.tracks.values_mut() {
            for v in &mut e.variants {
                if let Some(f) = inner.open.get(&(e.id, v.variant)) {
                    v.chunks_present = f.present_count();
                }
            }
        }
        let idx = IndexFile {
            version: index::INDEX_VERSION,
            next_seq: inner.next_seq,
            counters: total,
            tracks: inner.tracks.values().cloned().collect(),
        };
        let saved = self
            .check_writes()
            .and_then(|()| index::save(&self.index_path, &idx));
        match saved {
            Ok(()) => {
                inner.saved_counters = total;
                inner.session_at_save = session;
                inner.removed.clear();
                inner.dirty = false;
                inner.last_flush_ms = self.clock.now_ms();
                Ok(())
            }
            Err(e) => {
                self.degrade(inner, format!("cannot save the cache index: {e}"));
                Err(e)
            }
        }
    }

    /// Takes an index read while degraded (no files checked yet).
    fn adopt_loaded(&self, inner: &mut Inner, index: IndexFile) {
        inner.next_seq = index.next_seq;
        inner.saved_counters = index.counters;
        inner.tracks = index.tracks.into_iter().map(|e| (e.id, e)).collect();
    }

    /// Brings the index in memory, the index on disk and the warm files into agreement:
    /// merge with the index on disk; remove files with bad headers, misnamed files and stale
    /// temporaries; drop records of files that are gone or describe something else; adopt
    /// valid files the index does not list (it may have been lost: the headers are the
    /// authority); retire open files that were deleted or replaced; save.
    fn reconcile(&self, inner: &mut Inner) {
        let _lock = self.lock_dir();
        let base = self.merge_from_disk(inner);
        let mut found: BTreeMap<String, (WarmHeader, u64)> = BTreeMap::new();
        for (name, path, meta) in self.list_warm_dir() {
            if name.ends_with(".tmp") {
                if is_older_than(&meta, STALE_TEMP) {
                    let _ = self.remove_file(&path);
                }
                continue;
            }
            if !is_warm_name(&name) {
                continue;
            }
            let header = fs::File::open(&path)
                .map_err(|e| CacheError::io("open", &path, e))
                .and_then(|f| warm::read_header(&f, &path));
            match header {
                Ok((h, l)) if warm_file_name(h.track, h.variant) == name => {
                    found.insert(name, (h, l.file_len));
                }
                Ok(_) | Err(CacheError::BadHeader(_)) => {
                    tracing::info!(file = %name, "removing a damaged or foreign warm file");
                    let _ = self.remove_file(&path);
                }
                Err(e) => tracing::warn!("cannot read a warm file header: {e}"),
            }
        }
        // Records must match a file describing exactly them.
        let mut claimed = BTreeSet::new();
        for e in inner.tracks.values_mut() {
            e.variants.retain_mut(|v| match found.get(&v.file) {
                Some((h, len))
                    if h.track == e.id
                        && h.variant == v.variant
                        && h.geometry == e.geometry
                        && h.engine_rate == e.engine_rate
                        && h.channels == e.channels =>
                {
                    v.params_hash = h.params_hash;
                    v.bytes = *len;
                    v.chunks_total = h.geometry.count();
                    claimed.insert(v.file.clone());
                    true
                }
                _ => false,
            });
        }
        // Valid files nobody lists: attach to their track, or adopt as a new entry.
        let now = self.clock.now_ms();
        for (name, (h, len)) in found {
            if claimed.contains(&name) {
                continue;
            }
            let record = VariantEntry {
                variant: h.variant,
                file: name.clone(),
                params_hash: h.params_hash,
                bytes: len,
                chunks_present: 0,
                chunks_total: h.geometry.count(),
            };
            match inner.tracks.get_mut(&h.track) {
                Some(e)
                    if e.geometry == h.geometry
                        && e.engine_rate == h.engine_rate
                        && e.channels == h.channels =>
                {
                    e.variants.retain(|v| v.variant != h.variant);
                    e.variants.push(record);
                }
                Some(_) => {
                    let _ = self.remove_file(&self.warm_dir.join(&name));
                }
                None => {
                    // When it was last used is unknown (the index that knew is lost): count
                    // it as used now, so a lost index does not expire the whole cache at once.
                    let at = now;
                    inner.tracks.insert(
                        h.track,
                        TrackEntry {
                            id: h.track,
                            fingerprint: None,
                            source_hash: h.source_hash,
                            engine_rate: h.engine_rate,
                            channels: h.channels,
                            geometry: h.geometry,
                            created_ms: at,
                            last_access_ms: at,
                            last_access_seq: 0,
                            access_count: 0,
                            analysis: None,
                            calibration: BTreeMap::new(),
                            variants: vec![record],
                        },
                    );
                    inner.removed.remove(&h.track);
                }
            }
        }
        // Entries that hold nothing worth keeping.
        inner.tracks.retain(|_, e| {
            e.fingerprint.is_some()
                || !e.variants.is_empty()
                || e.analysis.is_some()
                || !e.calibration.is_empty()
        });
        inner.open.retain(|(t, v), f| {
            let keep =
                f.still_linked() && inner.tracks.get(t).is_some_and(|e| e.variant(*v).is_some());
            if !keep {
                f.retire();
            }
            keep
        });
        inner.dirty = true;
        let _ = self.write_index(inner, base);
    }

    /// Entries of the warm directory: (name, path, metadata), regular files only.
    fn list_warm_dir(&self) -> Vec<(String, PathBuf, fs::Metadata)> {
        let Ok(rd) = fs::read_dir(&self.warm_dir) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter_map(|d| {
                let meta = d.metadata().ok()?;
                if !meta.is_file() {
                    return None;
                }
                let name = d.file_name().to_str()?.to_string();
                Some((name, d.path(), meta))
            })
            .collect()
    }
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

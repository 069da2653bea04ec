//! The persisted index of cached tracks: what it holds, how it is loaded, saved and merged.
//!
//! The index (`<dir>/index.json`) is a cache of facts about the warm files plus what only it
//! knows: fingerprints, access times and counts, track analyses, calibration gains, and the
//! cumulative statistics. The warm files' headers are the authority on what the files hold:
//! an index that is lost or damaged is rebuilt from them (see the store's reconcile).
//!
//! Saving is crash-safe: write a temporary file, fsync it, rename it over the index, fsync the
//! directory. A crash at any moment leaves either the old or the new index, never a mix.
//! Loading is tolerant: a missing, empty, truncated or garbage file gives an empty index (and
//! a reason to log); a damaged entry or analysis drops only itself.
//!
//! Two processes may share a cache directory. Each re-reads the index under an advisory lock
//! before saving and [`merge`]s it with its own view (union of tracks, newest access, highest
//! counts), so neither loses the other's updates.
//!
//! Runs on: the control and filler threads, inside the store's lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hearth_dsp::{Preset, TrackAnalysis};
use serde::{Deserialize, Serialize};

use crate::chunk::{ChunkGeometry, TrackId, Variant};
use crate::warm::fingerprint::Fingerprint;
use crate::warm::stats::CounterSnapshot;

/// Version of the index's JSON layout. An index of another version is ignored (rebuilt from
/// the warm files' headers).
pub const INDEX_VERSION: u32 = 1;

/// The index file's name inside the cache directory.
pub const INDEX_FILE: &str = "index.json";

/// The whole index.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexFile {
    /// [`INDEX_VERSION`].
    pub version: u32,
    /// The next access sequence number (orders accesses within one millisecond).
    pub next_seq: u64,
    /// Cumulative statistics over every run.
    pub counters: CounterSnapshot,
    /// Cached tracks.
    pub tracks: Vec<TrackEntry>,
}

/// One cached track.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackEntry {
    /// Its identity (hash of fingerprint, engine rate, channels).
    pub id: TrackId,
    /// The source's fingerprint; `None` for entries rebuilt from warm file headers until the
    /// track is registered again.
    pub fingerprint: Option<Fingerprint>,
    /// [`Fingerprint::hash`] of the source (kept when the fingerprint itself is unknown; it is
    /// what warm file headers record).
    pub source_hash: u64,
    /// Engine rate, Hz.
    pub engine_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Length and chunk size.
    pub geometry: ChunkGeometry,
    /// When it was first cached, ms since the Unix epoch.
    pub created_ms: u64,
    /// Last access, ms since the Unix epoch.
    pub last_access_ms: u64,
    /// Sequence number of the last access (LRU order among equal times).
    pub last_access_seq: u64,
    /// Number of accesses.
    pub access_count: u64,
    /// The track analysis, once made.
    pub analysis: Option<TrackAnalysis>,
    /// Per-preset calibration gains, dB.
    pub calibration: BTreeMap<Preset, f32>,
    /// Its warm files.
    pub variants: Vec<VariantEntry>,
}

impl TrackEntry {
    /// Bytes of its warm files.
    pub fn bytes(&self) -> u64 {
        self.variants.iter().map(|v| v.bytes).sum()
    }

    /// The entry for `variant`, if it has a file.
    pub fn variant(&self, variant: Variant) -> Option<&VariantEntry> {
        self.variants.iter().find(|v| v.variant == variant)
    }
}

/// One warm file of a track.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantEntry {
    /// Which variant.
    pub variant: Variant,
    /// The file's name inside `<dir>/warm/`.
    pub file: String,
    /// The DSP parameter hash it was rendered with.
    pub params_hash: u64,
    /// Its length (= bytes on disk: preallocated).
    pub bytes: u64,
    /// Chunks present when the index was last saved.
    pub chunks_present: u32,
    /// Chunks in the track.
    pub chunks_total: u32,
}

/// What loading found.
#[derive(Debug)]
pub enum Loaded {
    /// A valid index (possibly with some entries dropped: see `dropped`).
    Index {
        /// The index.
        index: IndexFile,
        /// Entries that could not be read and were left out.
        dropped: usize,
    },
    /// No index file.
    Missing,
    /// The file exists but cannot be used; the reason is for a log line.
    Damaged(String),
}

/// The tolerant shape of the file: each entry is parsed on its own.
#[derive(Deserialize)]
struct RawIndex {
    version: u32,
    #[serde(default)]
    next_seq: u64,
    #[serde(default)]
    counters: serde_json::Value,
    #[serde(default)]
    tracks: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawEntry {
    id: TrackId,
    #[serde(default)]
    fingerprint: serde_json::Value,
    #[serde(default)]
    source_hash: u64,
    engine_rate: u32,
    channels: u16,
    geometry: ChunkGeometry,
    #[serde(default)]
    created_ms: u64,
    #[serde(default)]
    last_access_ms: u64,
    #[serde(default)]
    last_access_seq: u64,
    #[serde(default)]
    access_count: u64,
    #[serde(default)]
    analysis: serde_json::Value,
    #[serde(default)]
    calibration: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    variants: Vec<serde_json::Value>,
}

impl RawEntry {
    /// Keeps what parses: a damaged analysis or variant record drops only itself (a
    /// non-finite number, for one, is written by serde_json as `null`).
    fn into_entry(self) -> TrackEntry {
        let calibration = self
            .calibration
            .into_iter()
            .filter_map(|(k, v)| {
                let preset = k.parse::<Preset>().ok()?;
                let gain = v.as_f64().filter(|g| g.is_finite())? as f32;
                Some((preset, gain))
            })
            .collect();
        TrackEntry {
            id: self.id,
            fingerprint: serde_json::from_value(self.fingerprint).ok(),
            source_hash: self.source_hash,
            engine_rate: self.engine_rate,
            channels: self.channels,
            geometry: self.geometry,
            created_ms: self.created_ms,
            last_access_ms: self.last_access_ms,
            last_access_seq: self.last_access_seq,
            access_count: self.access_count,
            analysis: serde_json::from_value(self.analysis).ok(),
            calibration,
            variants: self
                .variants
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect(),
        }
    }
}

/// Parses index bytes; never panics.
pub fn parse(bytes: &[u8]) -> Loaded {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Loaded::Damaged("empty index file".into());
    }
    let raw: RawIndex = match serde_json::from_slice(bytes) {
        Ok(r) => r,
        Err(e) => return Loaded::Damaged(format!("unreadable index: {e}")),
    };
    if raw.version != INDEX_VERSION {
        return Loaded::Damaged(format!("index version {}", raw.version));
    }
    let mut dropped = 0;
    let mut seen = BTreeSet::new();
    let mut tracks = Vec::new();
    for v in raw.tracks {
        match serde_json::from_value::<RawEntry>(v) {
            Ok(e) if seen.insert(e.id) => tracks.push(e.into_entry()),
            _ => dropped += 1,
        }
    }
    Loaded::Index {
        index: IndexFile {
            version: INDEX_VERSION,
            next_seq: raw.next_seq,
            counters: serde_json::from_value(raw.counters).unwrap_or_default(),
            tracks,
        },
        dropped,
    }
}

/// Loads the index at `path`.
pub fn load(path: &Path) -> Loaded {
    match fs::read(path) {
        Ok(b) => parse(&b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Loaded::Missing,
        Err(e) => Loaded::Damaged(format!("cannot read index: {e}")),
    }
}

/// Saves `index` to `path` atomically: [`write_temp`] then [`commit`].
pub fn save(path: &Path, index: &IndexFile) -> io::Result<()> {
    let tmp = write_temp(path, index)?;
    commit(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// First half of a save: the whole index in a fresh temporary file next to `path`, fsynced.
/// A crash after this leaves the old index in place (and a stale temporary the store removes).
pub fn write_temp(path: &Path, index: &IndexFile) -> io::Result<PathBuf> {
    let bytes = serde_json::to_vec_pretty(index).map_err(io::Error::other)?;
    let tmp = super::temp_name(path);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Second half of a save: rename the temporary over the index (atomic), then fsync the
/// directory so the rename itself survives a crash.
pub fn commit(tmp: &Path, path: &Path) -> io::Result<()> {
    fs::rename(tmp, path)?;
    if let Some(dir) = path.parent() {
        // Directories can be fsynced on Unix; elsewhere opening one fails, and the rename is
        // as durable as the platform makes it.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Merges `theirs` (the index on disk, possibly saved by another process) into `ours` (this
/// process's view):
///
/// - tracks only in `theirs` are added, unless this process removed them (`removed`);
/// - tracks in both keep the newest access time and sequence, the highest access count, the
///   earliest creation, our fingerprint/analysis when we have one (else theirs), the union of
///   calibration gains (ours win), and the union of variants (ours win; theirs only when
///   `file_exists` says their file is still there).
///
/// Counters are not merged here: the store adds its unsaved delta to the counters on disk.
pub fn merge(
    ours: &mut BTreeMap<TrackId, TrackEntry>,
    theirs: Vec<TrackEntry>,
    removed: &BTreeSet<TrackId>,
    file_exists: impl Fn(&str) -> bool,
) {
    for mut t in theirs {
        if removed.contains(&t.id) {
            continue;
        }
        match ours.get_mut(&t.id) {
            None => {
                t.variants.retain(|v| file_exists(&v.file));
                ours.insert(t.id, t);
            }
            Some(o) => {
                if (t.last_access_ms, t.last_access_seq) > (o.last_access_ms, o.last_access_seq) {
                    o.last_access_ms = t.last_access_ms;
                    o.last_access_seq = t.last_access_seq;
                }
                o.access_count = o.access_count.max(t.access_count);
                o.created_ms = o.created_ms.min(t.created_ms);
                if o.fingerprint.is_none() {
                    o.fingerprint = t.fingerprint;
                }
                if o.analysis.is_none() {
                    o.analysis = t.analysis;
                }
                for (p, g) in t.calibration {
                    o.calibration.entry(p).or_insert(g);
                }
                for v in t.variants {
                    if o.variant(v.variant).is_none() && file_exists(&v.file) {
                        o.variants.push(v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, access: u64) -> TrackEntry {
        TrackEntry {
            id: TrackId(id),
            fingerprint: None,
            source_hash: id,
            engine_rate: 48_000,
            channels: 2,
            geometry: ChunkGeometry::new(1000, 100),
            created_ms: access,
            last_access_ms: access,
            last_access_seq: 0,
            access_count: 1,
            analysis: None,
            calibration: BTreeMap::new(),
            variants: vec![VariantEntry {
                variant: Variant::Original,
                file: format!("{id:016x}.hwt"),
                params_hash: 0,
                bytes: 8192,
                chunks_present: 0,
                chunks_total: 10,
            }],
        }
    }

    fn index(tracks: Vec<TrackEntry>) -> IndexFile {
        IndexFile {
            version: INDEX_VERSION,
            next_seq: 5,
            counters: CounterSnapshot {
                warm_hits: 3,
                ..Default::default()
            },
            tracks,
        }
    }

    fn loaded(l: Loaded) -> IndexFile {
        match l {
            Loaded::Index { index, .. } => index,
            other => panic!("expected an index, got {other:?}"),
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INDEX_FILE);
        let mut e = entry(1, 10);
        e.calibration.insert(Preset::Warm, -1.5);
        let idx = index(vec![e, entry(2, 20)]);
        save(&path, &idx).unwrap();
        assert_eq!(loaded(load(&path)), idx);
        assert!(matches!(load(&dir.path().join("nope")), Loaded::Missing));
    }

    /// A crash between writing the temporary and renaming it leaves the old index; after the
    /// rename, the new one. At no point is there a partial index under the real name.
    #[test]
    fn a_save_interrupted_before_the_rename_leaves_the_old_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INDEX_FILE);
        let old = index(vec![entry(1, 10)]);
        let new = index(vec![entry(1, 10), entry(2, 20)]);
        save(&path, &old).unwrap();
        let tmp = write_temp(&path, &new).unwrap();
        assert_eq!(
            loaded(load(&path)),
            old,
            "crash before the rename: old index"
        );
        // A crash part-way through writing the temporary: still the old index.
        fs::write(&tmp, b"{\"version\":1,\"tra").unwrap();
        assert_eq!(loaded(load(&path)), old);
        let tmp = write_temp(&path, &new).unwrap();
        commit(&tmp, &path).unwrap();
        assert_eq!(loaded(load(&path)), new, "after the rename: new index");
        assert!(!tmp.exists());
    }

    #[test]
    fn truncated_garbage_and_empty_indexes_load_as_damaged_without_panicking() {
        let good = serde_json::to_vec(&index(vec![entry(1, 10), entry(2, 20)])).unwrap();
        for cut in 0..good.len() {
            match parse(&good[..cut]) {
                Loaded::Damaged(_) => {}
                Loaded::Index { .. } => panic!("a truncated index parsed ({cut} bytes)"),
                Loaded::Missing => panic!("missing?"),
            }
        }
        for junk in [
            &b""[..],
            b"   \n",
            b"\0\0\0",
            b"null",
            b"[]",
            b"{}",
            b"\xff\xfe{",
        ] {
            assert!(matches!(parse(junk), Loaded::Damaged(_)), "{junk:?}");
        }
        assert!(matches!(
            parse(br#"{"version": 99, "tracks": []}"#),
            Loaded::Damaged(_)
        ));
    }

    #[test]
    fn a_damaged_entry_or_analysis_drops_only_itself() {
        let text = r#"{"version":1,"next_seq":3,"counters":{"misses":4},"tracks":[
            {"id":1,"engine_rate":48000,"channels":2,"geometry":{"total_frames":10,"chunk_frames":5},
             "analysis":{"version":1,"integrated_lufs":null},
             "calibration":{"warm":-2.0,"bogus":1.0,"live":null},
             "variants":[{"variant":"Original","file":"a.hwt","params_hash":0,"bytes":4096,
                          "chunks_present":1,"chunks_total":2},{"variant":"Nope"}]},
            {"id":"not a number"},
            {"id":1,"engine_rate":1,"channels":1,"geometry":{"total_frames":1,"chunk_frames":1}}
        ]}"#;
        let Loaded::Index { index, dropped } = parse(text.as_bytes()) else {
            panic!("should load");
        };
        assert_eq!(dropped, 2, "the malformed and the duplicate entry");
        assert_eq!(index.counters.misses, 4);
        let t = &index.tracks[0];
        assert!(t.analysis.is_none());
        assert_eq!(t.calibration.len(), 1);
        assert_eq!(t.calibration.get(&Preset::Warm), Some(&-2.0));
        assert_eq!(t.variants.len(), 1);
    }

    #[test]
    fn merge_keeps_both_sides_and_respects_removals() {
        let mut ours: BTreeMap<_, _> = [entry(1, 10), entry(2, 20)]
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut t1 = entry(1, 50);
        t1.access_count = 7;
        t1.calibration.insert(Preset::Live, 1.0);
        t1.variants.push(VariantEntry {
            variant: Variant::Enhanced(Preset::Live),
            file: "gone.hwt".into(),
            ..t1.variants[0].clone()
        });
        let theirs = vec![t1, entry(3, 30), entry(4, 40)];
        let removed = [TrackId(4)].into_iter().collect();
        merge(&mut ours, theirs, &removed, |f| f != "gone.hwt");
        assert_eq!(
            ours.keys().copied().collect::<Vec<_>>(),
            vec![TrackId(1), TrackId(2), TrackId(3)]
        );
        let t = &ours[&TrackId(1)];
        assert_eq!(
            (t.last_access_ms, t.access_count, t.created_ms),
            (50, 7, 10)
        );
        assert_eq!(t.calibration.get(&Preset::Live), Some(&1.0));
        assert_eq!(
            t.variants.len(),
            1,
            "a variant whose file is gone is not merged in"
        );
    }
}

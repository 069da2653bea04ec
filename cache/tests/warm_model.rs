//! Model-based test of the warm store: random sequences of fill / read / evict / restart /
//! advance-the-clock / pin on several tracks behave like a small in-memory model (which chunks
//! of which variant of which track are present), and the limits hold whenever eviction has
//! settled: the byte budget and track cap are kept (unless only pinned tracks remain), pinned
//! tracks are never evicted, a file that cannot fit the budget beside the pinned tracks' is
//! not made, and tracks idle for longer than the time-to-live are gone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hearth_cache::{
    CacheConfig, ChunkGeometry, Clock, Fingerprint, ManualClock, TrackId, Variant, WarmFile,
    WarmStore, track_id,
};
use hearth_dsp::Preset;
use proptest::prelude::*;

const TRACKS: usize = 5;
const VARIANTS: [Variant; 2] = [Variant::Original, Variant::Enhanced(Preset::Warm)];
const CHUNK: u32 = 256;
const HOUR_MS: u64 = 3_600_000;
/// Not a whole number of hours, so clock steps (whole hours) never land on the boundary.
const TTL: Duration = Duration::from_millis(30 * 24 * HOUR_MS + HOUR_MS / 2);

#[derive(Clone, Debug)]
enum Op {
    Fill { t: usize, v: usize, c: u32 },
    Read { t: usize, v: usize, c: u32 },
    Evict,
    Restart,
    Advance { hours: u64 },
    Pin { mask: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..TRACKS, 0..2usize, 0..16u32).prop_map(|(t, v, c)| Op::Fill { t, v, c }),
        4 => (0..TRACKS, 0..2usize, 0..16u32).prop_map(|(t, v, c)| Op::Read { t, v, c }),
        1 => Just(Op::Evict),
        1 => Just(Op::Restart),
        2 => prop::sample::select(vec![1u64, 25, 7 * 24 + 1, 31 * 24])
            .prop_map(|hours| Op::Advance { hours }),
        1 => (0u8..32).prop_map(|mask| Op::Pin { mask }),
    ]
}

fn geometry(t: usize) -> ChunkGeometry {
    // 3 to 11 chunks, the last one short.
    ChunkGeometry::new((t as u64 + 1) * 2 * u64::from(CHUNK) + 100, CHUNK)
}

fn size(t: usize) -> u64 {
    WarmFile::file_len_for(geometry(t), 2).unwrap_or_else(|| panic!("size"))
}

fn data(t: usize, v: usize, c: u32) -> Vec<f32> {
    let n = geometry(t).len(c) as usize * 2;
    (0..n)
        .map(|k| (t * 1000 + v * 100 + c as usize) as f32 + k as f32 / 4096.0)
        .collect()
}

/// One track in the model: (last access, access sequence, variant → present chunks).
type ModelTrack = (u64, u64, BTreeMap<usize, BTreeSet<u32>>);

/// What the store should hold.
#[derive(Debug, Default)]
struct Model {
    now_ms: u64,
    seq: u64,
    pins: BTreeSet<usize>,
    tracks: BTreeMap<usize, ModelTrack>,
}

impl Model {
    fn bytes(&self) -> u64 {
        self.tracks
            .iter()
            .map(|(&t, (_, _, files))| files.len() as u64 * size(t))
            .sum()
    }

    /// `register_track`: counts an access; a new track may evict others (never itself).
    fn touch(&mut self, t: usize, ids: &[TrackId], limits: &CacheConfig) {
        self.seq += 1;
        let (now, seq) = (self.now_ms, self.seq);
        match self.tracks.get_mut(&t) {
            Some(e) => {
                e.0 = now;
                e.1 = seq;
            }
            None => {
                self.tracks.insert(t, (now, seq, BTreeMap::new()));
                self.evict(Some(t), ids, limits);
            }
        }
    }

    /// Whether a new file of track `t` fits the budget beside the files that cannot be
    /// evicted (the pinned tracks' and `t`'s own); the store makes no file that does not.
    fn fits(&self, t: usize, budget: u64) -> bool {
        let kept: u64 = self
            .tracks
            .iter()
            .filter(|&(&u, _)| u == t || self.pins.contains(&u))
            .map(|(&u, (_, _, files))| files.len() as u64 * size(u))
            .sum();
        kept + size(t) <= budget
    }

    /// The policy, stated plainly: expired unpinned tracks go; then least recently used
    /// unpinned tracks go while over the budget or the cap.
    fn evict(&mut self, protect: Option<usize>, ids: &[TrackId], c: &CacheConfig) {
        let ttl = TTL.as_millis() as u64;
        let pinned = |t: usize| self.pins.contains(&t) || protect == Some(t);
        let expired: Vec<usize> = self
            .tracks
            .iter()
            .filter(|&(&t, e)| !pinned(t) && self.now_ms.saturating_sub(e.0) > ttl)
            .map(|(&t, _)| t)
            .collect();
        let mut lru: Vec<usize> = self
            .tracks
            .keys()
            .copied()
            .filter(|t| !pinned(*t))
            .collect();
        lru.retain(|t| !expired.contains(t));
        lru.sort_by_key(|&t| (self.tracks[&t].0, self.tracks[&t].1, ids[t]));
        for t in expired {
            self.tracks.remove(&t);
        }
        for t in lru {
            if self.bytes() <= c.budget_bytes && self.tracks.len() <= c.max_tracks {
                break;
            }
            self.tracks.remove(&t);
        }
    }
}

/// Fields drop in order: the store before its directory.
struct Harness {
    store: Option<WarmStore>,
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    config: CacheConfig,
    fps: Vec<Fingerprint>,
    ids: Vec<TrackId>,
    model: Model,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let clock = Arc::new(ManualClock::new(start));
        let mut config = CacheConfig::new(dir.path().join("cache"));
        // Room for about five files of the average track, and three tracks.
        config.budget_bytes = (0..TRACKS).map(size).sum::<u64>() * 5 / TRACKS as u64;
        config.max_tracks = 3;
        config.ttl = TTL;
        let fps: Vec<Fingerprint> = (0..TRACKS)
            .map(|t| {
                let p = dir.path().join(format!("source{t}"));
                std::fs::write(&p, vec![t as u8; 1000 + t]).unwrap();
                Fingerprint::of(&p).unwrap()
            })
            .collect();
        let ids = fps.iter().map(|fp| track_id(fp, 48_000, 2)).collect();
        let store = WarmStore::open_with_clock(config.clone(), clock.clone());
        let model = Model {
            now_ms: hearth_cache::clock::millis(start),
            ..Model::default()
        };
        Harness {
            store: Some(store),
            _dir: dir,
            clock,
            config,
            fps,
            ids,
            model,
        }
    }

    fn store(&self) -> &WarmStore {
        self.store
            .as_ref()
            .unwrap_or_else(|| panic!("store is open"))
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Fill { t, v, c } => {
                let c = c % geometry(t).count();
                let id = self
                    .store()
                    .register_track(&self.fps[t], 48_000, geometry(t));
                prop_assert_eq!(id, self.ids[t]);
                self.model.touch(t, &self.ids, &self.config);
                let exists = self
                    .model
                    .tracks
                    .get(&t)
                    .is_some_and(|e| e.2.contains_key(&v));
                let f = self.store().variant(id, VARIANTS[v], 0);
                if !exists && !self.model.fits(t, self.config.budget_bytes) {
                    // Too big for the budget beside what is in use: decode-on-demand instead.
                    prop_assert!(f.is_none(), "a file the budget cannot hold was made");
                    return Ok(());
                }
                let f = f.ok_or_else(|| TestCaseError::fail("a healthy store makes files"))?;
                f.write_chunk(c, &data(t, v, c))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let ids = self.ids.clone();
                let e = self.model.tracks.get_mut(&t);
                let e = e.ok_or_else(|| TestCaseError::fail("a touched track is kept"))?;
                let created = !e.2.contains_key(&v);
                e.2.entry(v).or_default().insert(c);
                if created {
                    self.model.evict(Some(t), &ids, &self.config);
                }
            }
            Op::Read { t, v, c } => {
                let c = c % geometry(t).count();
                let id = self
                    .store()
                    .register_track(&self.fps[t], 48_000, geometry(t));
                self.model.touch(t, &self.ids, &self.config);
                let f = self.store().existing_variant(id, VARIANTS[v], 0);
                let want = self.model.tracks.get(&t).and_then(|e| e.2.get(&v));
                prop_assert_eq!(f.is_some(), want.is_some(), "file of {:?}", op);
                if let (Some(f), Some(want)) = (f, want) {
                    let mut out = vec![f32::NAN; geometry(t).len(c) as usize * 2];
                    let got = f
                        .read_chunk(c, &mut out)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(got, want.contains(&c), "chunk of {:?}", op);
                    if got {
                        prop_assert_eq!(out, data(t, v, c));
                    }
                }
            }
            Op::Evict => {
                self.store().evict();
                self.model.evict(None, &self.ids, &self.config);
            }
            Op::Restart => {
                self.store = None;
                self.store = Some(WarmStore::open_with_clock(
                    self.config.clone(),
                    self.clock.clone(),
                ));
                // Pins belong to a run; opening evicts.
                self.model.pins.clear();
                self.model.evict(None, &self.ids, &self.config);
            }
            Op::Advance { hours } => {
                self.clock.advance(Duration::from_millis(hours * HOUR_MS));
                self.model.now_ms += hours * HOUR_MS;
            }
            Op::Pin { mask } => {
                let pins: Vec<usize> = (0..TRACKS).filter(|t| mask & (1 << t) != 0).collect();
                let ids: Vec<TrackId> = pins.iter().map(|&t| self.ids[t]).collect();
                self.store().set_pins(&ids);
                self.model.pins = pins.into_iter().collect();
            }
        }
        Ok(())
    }

    /// The store agrees with the model, chunk by chunk and byte by byte.
    fn check_model(&self) -> Result<(), TestCaseError> {
        let store = self.store();
        for t in 0..TRACKS {
            let id = self.ids[t];
            let m = self.model.tracks.get(&t);
            prop_assert_eq!(store.geometry(id).is_some(), m.is_some(), "track {}", t);
            for (v, &variant) in VARIANTS.iter().enumerate() {
                let f = store.existing_variant(id, variant, 0);
                let want = m.and_then(|e| e.2.get(&v));
                prop_assert_eq!(f.is_some(), want.is_some(), "file {} {}", t, v);
                if let (Some(f), Some(want)) = (f, want) {
                    let have: BTreeSet<u32> = f
                        .presence()
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| **p)
                        .map(|(i, _)| i as u32)
                        .collect();
                    prop_assert_eq!(&have, want, "chunks of {} {}", t, v);
                }
            }
        }
        let stats = store.stats();
        prop_assert_eq!(stats.bytes_on_disk, self.model.bytes());
        prop_assert_eq!(stats.bytes_on_disk, files_on_disk(&self.config.dir));
        prop_assert_eq!(stats.tracks, self.model.tracks.len());
        Ok(())
    }

    /// After eviction settled: limits kept unless only pins remain, no expired unpinned track.
    fn check_limits(&self, pinned_before: &BTreeSet<usize>) -> Result<(), TestCaseError> {
        let store = self.store();
        let stats = store.stats();
        let pins = &self.model.pins;
        let unpinned_left = self
            .ids
            .iter()
            .enumerate()
            .any(|(t, &id)| !pins.contains(&t) && store.geometry(id).is_some());
        prop_assert!(
            stats.bytes_on_disk <= self.config.budget_bytes || !unpinned_left,
            "over budget with evictable tracks: {} > {}",
            stats.bytes_on_disk,
            self.config.budget_bytes
        );
        prop_assert!(stats.tracks <= self.config.max_tracks || !unpinned_left);
        for &t in pinned_before {
            prop_assert!(
                store.geometry(self.ids[t]).is_some(),
                "pinned {} evicted",
                t
            );
        }
        let now = self.clock.now_ms();
        for (t, &id) in self.ids.iter().enumerate() {
            if let Some(e) = store.entry(id) {
                prop_assert!(
                    pins.contains(&t)
                        || now.saturating_sub(e.last_access_ms) <= TTL.as_millis() as u64,
                    "track {} outlived its time-to-live",
                    t
                );
            }
        }
        Ok(())
    }
}

fn files_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("warm"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_warm_store_behaves_like_its_model(ops in prop::collection::vec(op(), 1..40)) {
        let mut h = Harness::new();
        for op in &ops {
            // Tracks pinned (and present) before an eviction must survive it.
            let pinned_before: BTreeSet<usize> = h
                .model
                .pins
                .iter()
                .copied()
                .filter(|t| h.model.tracks.contains_key(t))
                .collect();
            h.apply(op)?;
            h.check_model()?;
            match op {
                Op::Evict => h.check_limits(&pinned_before)?,
                Op::Restart => h.check_limits(&BTreeSet::new())?,
                _ => {}
            }
        }
        drop(h);
    }
}

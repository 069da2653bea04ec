//! The warm store end to end, on real files: restart without decoding, corruption, a replaced
//! source, a directory that turns read-only or disappears mid-fill, exact byte accounting,
//! statistics across runs, a damaged index, two stores sharing a directory, clean and verify.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hearth_cache::{
    CacheConfig, CacheError, ChunkGeometry, Fingerprint, ManualClock, Source, StoreStatus, Variant,
    WarmFile, WarmStore, track_id,
};
use hearth_dsp::{ANALYSIS_VERSION, Preset, TrackAnalysis};

use common::fixture;

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.unwrap()
}

fn some<T>(o: Option<T>, what: &str) -> T {
    o.unwrap_or_else(|| panic!("expected {what}"))
}

/// A clock at a fixed, realistic date.
fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

fn open(dir: &Path, clock: &Arc<ManualClock>) -> WarmStore {
    WarmStore::open_with_clock(CacheConfig::new(dir), clock.clone())
}

/// A synthetic source file (its bytes only feed the fingerprint).
fn source_file(dir: &Path, name: &str, seed: u8) -> (PathBuf, Fingerprint) {
    let p = dir.join(name);
    let bytes: Vec<u8> = (0..10_000u32)
        .map(|i| (i as u8).wrapping_mul(seed))
        .collect();
    ok(fs::write(&p, bytes));
    let fp = ok(Fingerprint::of(&p));
    (p, fp)
}

/// Deterministic chunk content for synthetic tracks.
fn samples(g: ChunkGeometry, i: u32, salt: f32) -> Vec<f32> {
    (0..g.len(i) as usize * 2)
        .map(|k| ((k as f32 * 0.01 + i as f32 + salt).sin()) * 0.5)
        .collect()
}

fn fill(f: &Arc<WarmFile>, salt: f32, chunks: impl IntoIterator<Item = u32>) {
    for i in chunks {
        ok(f.write_chunk(i, &samples(f.geometry(), i, salt)));
    }
}

fn warm_dir_bytes(dir: &Path) -> (u64, usize) {
    let mut total = 0;
    let mut n = 0;
    for e in ok(fs::read_dir(dir.join("warm"))) {
        let e = ok(e);
        total += ok(e.metadata()).len();
        n += 1;
    }
    (total, n)
}

fn analysis() -> TrackAnalysis {
    TrackAnalysis {
        version: ANALYSIS_VERSION,
        rate: 48_000,
        integrated_lufs: -14.2,
        loudness_range_lu: 6.5,
        true_peak_dbtp: -0.8,
        sample_peak_dbfs: -1.1,
        duration_seconds: 2.0,
        coverage: 1.0,
        band_levels_db: vec![-3.0; 10],
        side_to_mid_db: -12.0,
    }
}

/// Write real decoded audio, drop everything, reopen: every chunk comes back bit-identical
/// from the warm tier alone. The second pass opens a `Source` only to prove it is never read.
#[test]
fn a_restarted_store_serves_bit_identical_chunks_without_decoding() {
    let dir = ok(tempfile::tempdir());
    let path = fixture("flac16_44k.flac");
    let clock = clock();
    let chunk_frames = 4096;
    let mut first: Vec<Vec<f32>> = Vec::new();
    let geometry;
    {
        let store = open(dir.path(), &clock);
        let mut src = ok(Source::open(&path, Some(48_000)));
        geometry = ChunkGeometry::new(src.frames(), chunk_frames);
        assert!(geometry.count() > 10, "a multi-chunk track");
        let id = store.register_track(&ok(Fingerprint::of(&path)), 48_000, geometry);
        let orig = some(store.variant(id, Variant::Original, 0), "original file");
        let enh = some(
            store.variant(id, Variant::Enhanced(Preset::Warm), 0xfeed),
            "enhanced file",
        );
        let mut buf = Vec::new();
        // Out of order, as the filler would after a seek.
        let order: Vec<u32> = (geometry.count() / 2..geometry.count())
            .chain(0..geometry.count() / 2)
            .collect();
        first.resize(geometry.count() as usize, Vec::new());
        for i in order {
            ok(src.produce_chunk(i, chunk_frames, &mut buf));
            ok(orig.write_chunk(i, &buf));
            let half: Vec<f32> = buf.iter().map(|s| s * 0.5).collect();
            ok(enh.write_chunk(i, &half));
            first[i as usize] = buf.clone();
        }
        assert!(src.packets_decoded() > 0);
        assert_eq!(
            store.progress(id).iter().map(|p| p.present).sum::<u32>(),
            2 * geometry.count()
        );
    }

    let store = open(dir.path(), &clock);
    let fp = ok(Fingerprint::of(&path));
    let id = track_id(&fp, 48_000, 2);
    // The index knows the geometry: no need to probe the source.
    assert_eq!(store.geometry(id), Some(geometry));
    assert_eq!(store.register_track(&fp, 48_000, geometry), id);
    let idle_source = ok(Source::open(&path, Some(48_000)));
    let orig = some(
        store.existing_variant(id, Variant::Original, 0),
        "cached original",
    );
    let enh = some(
        store.existing_variant(id, Variant::Enhanced(Preset::Warm), 0xfeed),
        "cached enhanced",
    );
    let mut out = Vec::new();
    for (i, want) in first.iter().enumerate() {
        out.resize(want.len(), f32::NAN);
        assert!(ok(orig.read_chunk(i as u32, &mut out)), "chunk {i} cached");
        assert!(
            out.iter()
                .zip(want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "chunk {i} bit-identical"
        );
        assert!(ok(enh.read_chunk(i as u32, &mut out)));
        assert!(
            out.iter()
                .zip(want)
                .all(|(a, b)| a.to_bits() == (b * 0.5).to_bits())
        );
        store.record_warm_hit();
    }
    assert_eq!(
        idle_source.packets_decoded(),
        0,
        "nothing was decoded on the second pass"
    );
    assert_eq!(store.stats().session.warm_hits, u64::from(geometry.count()));
}

/// Other DSP parameters mean another rendering: the old file is replaced, never served.
#[test]
fn changed_dsp_parameters_replace_the_enhanced_file() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let store = open(dir.path(), &clock);
    let (_, fp) = source_file(dir.path(), "a.bin", 3);
    let g = ChunkGeometry::new(10_000, 1000);
    let id = store.register_track(&fp, 48_000, g);
    let v = Variant::Enhanced(Preset::Bright);
    let old = some(store.variant(id, v, 1), "file");
    fill(&old, 1.0, 0..10);
    assert!(
        store.existing_variant(id, v, 2).is_none(),
        "params 2 not cached"
    );
    let new = some(store.variant(id, v, 2), "file");
    assert!(old.is_retired());
    assert_eq!(
        new.present_count(),
        0,
        "nothing of the old rendering carries over"
    );
    assert_eq!(warm_dir_bytes(dir.path()).1, 1);
}

/// Flip bytes of cached PCM through the file (not the map): `read_chunk` reports the chunk
/// absent, zeroes the buffer instead of returning the damage, counts it, and the chunk is
/// produced again; `verify` finds damage `read_chunk` has not met yet, and repairs it.
#[test]
fn corrupt_chunks_are_detected_never_returned_and_repaired() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let (_, fp) = source_file(dir.path(), "a.bin", 5);
    let g = ChunkGeometry::new(20_000, 2048);
    let (path, layout) = {
        let store = open(dir.path(), &clock);
        let id = store.register_track(&fp, 48_000, g);
        let f = some(store.variant(id, Variant::Original, 0), "file");
        fill(&f, 0.0, 0..g.count());
        (
            some(f.path(), "path").to_path_buf(),
            ok(f.header().layout()),
        )
    };
    let flip = |chunk: u32, at: u64| {
        let mut file = ok(OpenOptions::new().write(true).read(true).open(&path));
        let off = layout.pcm + u64::from(chunk) * layout.chunk_bytes + at;
        ok(file.seek(SeekFrom::Start(off)));
        ok(file.write_all(&[0x5a, 0xa5, 0x5a, 0xa5]));
        ok(file.sync_all());
    };
    // Damaged while no process had it open.
    flip(3, 100);
    let store = open(dir.path(), &clock);
    let id = store.register_track(&fp, 48_000, g);
    let f = some(store.existing_variant(id, Variant::Original, 0), "file");
    let want = samples(g, 3, 0.0);
    let mut out = vec![0.0; want.len()];
    assert!(f.is_present(3));
    assert!(
        !ok(f.read_chunk(3, &mut out)),
        "corrupt chunk reads as absent"
    );
    assert!(
        out.iter().all(|&s| s == 0.0),
        "and its samples are not handed out"
    );
    assert!(
        !f.is_present(3),
        "marked absent: the filler will produce it again"
    );
    assert_eq!(f.corrupt_chunks(), 1);
    assert_eq!(store.stats().session.corrupt_chunks, 1);
    ok(f.write_chunk(3, &want));
    assert!(ok(f.read_chunk(3, &mut out)));
    assert_eq!(out, want);

    // Damaged while mapped (the page cache is shared): verify finds it before any read.
    flip(7, 0);
    let report = store.verify(false);
    assert_eq!(report.bad_chunks.len(), 1, "{report:?}");
    assert_eq!(report.bad_chunks[0].index, 7);
    assert_eq!(report.chunks_checked, u64::from(g.count()));
    assert!(f.is_present(7), "verify without repair changes nothing");
    let report = store.verify(true);
    assert_eq!((report.bad_chunks.len(), report.chunks_cleared), (1, 1));
    assert!(!f.is_present(7));
    assert!(store.verify(false).is_clean());

    // A damaged header: reported, and removed by repair (with its index record).
    flip_header(&path);
    drop(f);
    drop(store);
    let store = open(dir.path(), &clock);
    assert_eq!(
        warm_dir_bytes(dir.path()).1,
        0,
        "reconcile removed the damaged file"
    );
    assert_eq!(store.stats().bytes_on_disk, 0);
    let id = store.register_track(&fp, 48_000, g);
    let f = some(store.variant(id, Variant::Original, 0), "file");
    fill(&f, 0.0, 0..2);
    flip_header(some(f.path(), "path"));
    let report = store.verify(true);
    assert_eq!(report.bad_files.len(), 1, "{report:?}");
    assert_eq!(report.files_removed, 1);
    assert!(f.is_retired());
    assert_eq!(store.stats().bytes_on_disk, 0);
}

fn flip_header(path: &Path) {
    let mut file = ok(OpenOptions::new().write(true).open(path));
    ok(file.seek(SeekFrom::Start(30)));
    ok(file.write_all(&[0xff]));
}

/// The same path with new content is a new track; the old cache is removed, not served.
#[test]
fn a_replaced_source_is_never_served_from_the_old_cache() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let song = dir.path().join("song.flac");
    ok(fs::copy(fixture("flac16_44k.flac"), &song));
    let store = open(dir.path(), &clock);
    let fp_old = ok(Fingerprint::of(&song));
    let mut src = ok(Source::open(&song, Some(48_000)));
    let g_old = ChunkGeometry::new(src.frames(), 4096);
    let old = store.register_track(&fp_old, 48_000, g_old);
    let f_old = some(store.variant(old, Variant::Original, 0), "file");
    let mut buf = Vec::new();
    for i in 0..3 {
        ok(src.produce_chunk(i, 4096, &mut buf));
        ok(f_old.write_chunk(i, &buf));
    }
    let old_path = some(f_old.path(), "path").to_path_buf();
    store.set_analysis(old, analysis());

    // Another recording under the same name.
    ok(fs::copy(fixture("wav16.wav"), &song));
    let fp_new = ok(Fingerprint::of(&song));
    assert_ne!(fp_new, fp_old);
    let src = ok(Source::open(&song, Some(48_000)));
    let new = store.register_track(&fp_new, 48_000, ChunkGeometry::new(src.frames(), 4096));
    assert_ne!(new, old, "new content, new identity");
    assert!(!old_path.exists(), "the old cache file is gone");
    assert!(f_old.is_retired());
    assert!(matches!(
        f_old.write_chunk(0, &buf),
        Err(CacheError::Retired)
    ));
    assert!(store.geometry(old).is_none());
    assert!(store.analysis(old).is_none());
    assert!(store.existing_variant(old, Variant::Original, 0).is_none());
    assert!(store.existing_variant(new, Variant::Original, 0).is_none());

    // Same size, same mtime, one byte changed at the end: still a different fingerprint.
    let before = ok(fs::metadata(&song));
    let mut bytes = ok(fs::read(&song));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    ok(fs::write(&song, &bytes));
    ok(ok(OpenOptions::new().write(true).open(&song)).set_modified(ok(before.modified())));
    let fp_same_meta = ok(Fingerprint::of(&song));
    assert_eq!(
        (fp_same_meta.size, fp_same_meta.mtime_ns),
        (fp_new.size, fp_new.mtime_ns)
    );
    assert_ne!(track_id(&fp_same_meta, 48_000, 2), new);
}

/// Byte accounting is exact: the sum of the warm files' lengths, across creation, eviction
/// and restart. Files are preallocated, so length = space used.
#[test]
fn bytes_on_disk_equal_the_warm_files_on_disk() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let g = ChunkGeometry::new(30_000, 1000);
    let one = some(WarmFile::file_len_for(g, 2), "size");
    let mut config = CacheConfig::new(dir.path());
    config.budget_bytes = one * 5;
    let store = WarmStore::open_with_clock(config.clone(), clock.clone());
    for t in 0..6u8 {
        let (_, fp) = source_file(dir.path(), &format!("t{t}"), t + 1);
        let id = store.register_track(&fp, 48_000, g);
        for v in [Variant::Original, Variant::Enhanced(Preset::Live)] {
            let f = some(store.variant(id, v, 0), "file");
            fill(&f, f32::from(t), 0..4);
        }
        clock.advance(Duration::from_secs(1));
        let (bytes, files) = warm_dir_bytes(dir.path());
        let stats = store.stats();
        assert_eq!(stats.bytes_on_disk, bytes);
        assert_eq!(stats.files, files);
        assert!(stats.bytes_on_disk <= config.budget_bytes);
    }
    // Two variants per track at 5 files' budget: the two newest tracks.
    assert_eq!(store.stats().tracks, 2);
    drop(store);
    let store = WarmStore::open_with_clock(config, clock.clone());
    assert_eq!(store.stats().bytes_on_disk, warm_dir_bytes(dir.path()).0);
    assert_eq!(warm_dir_bytes(dir.path()).0, 4 * one);
}

/// A warm run's holds: a footprint is the exact bytes the track's files take once warm; held
/// tracks are never evicted while new files push the cache over its budget (the least
/// recently used unheld ones go instead), a file that only fits by evicting held tracks is not
/// made, `clean` spares them, and dropping the guard releases them.
#[test]
fn held_tracks_survive_eviction_until_released_and_footprints_are_exact() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let g = ChunkGeometry::new(30_000, 1000);
    let one = some(WarmFile::file_len_for(g, 2), "size");
    let mut config = CacheConfig::new(dir.path());
    config.budget_bytes = one * 4;
    let store = WarmStore::open_with_clock(config, clock.clone());
    let both = [Variant::Original, Variant::Enhanced(Preset::Live)];
    let fps: Vec<Fingerprint> = (0..4u8)
        .map(|t| source_file(dir.path(), &format!("t{t}"), t + 41).1)
        .collect();
    let warm = |fp: &Fingerprint| {
        let id = store.register_track(fp, 48_000, g);
        for v in both {
            if let Some(f) = store.variant(id, v, 0) {
                fill(&f, 1.0, 0..g.count());
            }
        }
        clock.advance(Duration::from_secs(1));
        id
    };
    let fresh = some(store.footprint(&fps[0], 48_000, g, &both), "footprint");
    assert_eq!(
        (fresh.bytes, fresh.cached, fresh.last_used),
        (2 * one, false, None)
    );
    let a = warm(&fps[0]);
    let b = warm(&fps[1]);
    let fa = some(store.footprint(&fps[0], 48_000, g, &both), "footprint");
    assert_eq!(fa.track, a);
    assert_eq!(fa.bytes, store.entry(a).map(|e| e.bytes()).unwrap_or(0));
    assert!(fa.cached && fa.last_used.is_some(), "{fa:?}");
    let fb = some(store.footprint(&fps[1], 48_000, g, &both), "footprint");
    assert!(fb.last_used > fa.last_used, "{fb:?} {fa:?}");
    // Only the original asked for: the enhanced file it already has stays with it.
    let orig = some(
        store.footprint(&fps[0], 48_000, g, &[Variant::Original]),
        "fp",
    );
    assert_eq!(orig.bytes, 2 * one);

    // Hold the older track: a third track evicts the newer, unheld one instead.
    let hold = store.hold(&[a]);
    assert_eq!(store.kept(&[]), (1, 2 * one));
    assert_eq!(store.kept(&[a]), (0, 0));
    let c = warm(&fps[2]);
    assert!(store.geometry(a).is_some(), "held: never evicted");
    assert!(
        store.geometry(b).is_none(),
        "the least recently used unheld track goes"
    );
    assert!(store.geometry(c).is_some());
    // Holds nest, and a track can be held before it is registered.
    let d_id = track_id(&fps[3], 48_000, 2);
    let more = store.hold(&[a, c, d_id]);
    drop(hold);
    // a, c held, 4 files' budget: d cannot get a file without evicting one of them.
    let d = warm(&fps[3]);
    assert_eq!(d, d_id);
    assert!(store.geometry(a).is_some() && store.geometry(c).is_some());
    assert_eq!(
        store.entry(d).map(|e| e.variants.len()),
        Some(0),
        "no room made"
    );
    assert_eq!(store.clean(None, true).pinned_kept, 3);
    assert!(store.stats().bytes_on_disk <= 4 * one);
    drop(more);
    assert_eq!(store.kept(&[]), (0, 0));
    assert_eq!(store.clean(None, true).pinned_kept, 0);
    assert!(store.tracks().is_empty());
}

/// Shared checks for a cache that becomes unusable mid-fill.
fn degrade_mid_fill(
    dir: &Path,
    make_unusable: &dyn Fn(&WarmStore),
    make_usable: &dyn Fn(&WarmStore),
) {
    let clock = clock();
    let sources = ok(tempfile::tempdir());
    let store = open(dir, &clock);
    assert_eq!(store.take_status_change(), None, "healthy from the start");
    let (_, fp) = source_file(sources.path(), "a.bin", 7);
    let g = ChunkGeometry::new(16_000, 1000);
    let id = store.register_track(&fp, 48_000, g);
    let f = some(store.variant(id, Variant::Original, 0), "file");
    fill(&f, 0.0, 0..8);

    make_unusable(&store);
    // A new file cannot be made: no file, degraded, reported once.
    assert!(
        store
            .variant(id, Variant::Enhanced(Preset::Punchy), 0)
            .is_none()
    );
    assert!(store.status().is_degraded());
    match store.take_status_change() {
        Some(StoreStatus::Degraded { reason }) => assert!(!reason.is_empty()),
        other => panic!("expected one degraded report, got {other:?}"),
    }
    // Puts fail gracefully, saving fails, nothing panics, and it is not reported again.
    assert!(matches!(
        f.write_chunk(8, &samples(g, 8, 0.0)),
        Err(CacheError::Degraded)
    ));
    assert!(store.flush_index().is_err());
    assert!(
        store
            .variant(id, Variant::Enhanced(Preset::Gentle), 0)
            .is_none()
    );
    let (_, fp2) = source_file(sources.path(), "b.bin", 9);
    let id2 = store.register_track(&fp2, 48_000, g);
    assert!(store.variant(id2, Variant::Original, 0).is_none());
    store.evict();
    assert_eq!(
        store.take_status_change(),
        None,
        "degradation is reported once"
    );
    // Chunks already cached still play.
    let mut out = vec![0.0; g.len(2) as usize * 2];
    assert!(ok(f.read_chunk(2, &mut out)));
    assert_eq!(out, samples(g, 2, 0.0));
    assert!(!ok(f.read_chunk(8, &mut out)));
    assert!(store.stats().degraded.is_some());

    // Usable again: no retry before the interval, then recovery, reported once.
    make_usable(&store);
    clock.advance(Duration::from_secs(1));
    assert!(
        store
            .variant(id, Variant::Enhanced(Preset::Punchy), 0)
            .is_none()
    );
    clock.advance(Duration::from_secs(5));
    let g2 = some(
        store.variant(id, Variant::Enhanced(Preset::Punchy), 0),
        "file after recovery",
    );
    assert_eq!(store.take_status_change(), Some(StoreStatus::Healthy));
    assert_eq!(store.take_status_change(), None);
    fill(&g2, 1.0, 0..1);
    ok(f.write_chunk(8, &samples(g, 8, 0.0)));
    assert_eq!(f.present_count(), 9);
    ok(store.flush_index());
    assert_eq!(store.stats().bytes_on_disk, warm_dir_bytes(dir).0);
}

/// Read-only mid-fill through the fault-injection switch (tests run as root, where a 0o555
/// directory does not stop writes).
#[test]
fn a_cache_that_turns_read_only_mid_fill_degrades_once_and_recovers() {
    let dir = ok(tempfile::tempdir());
    degrade_mid_fill(dir.path(), &|s| s.set_fail_writes(true), &|s| {
        s.set_fail_writes(false)
    });
}

/// Read-only mid-fill for real: the immutable attribute (`chattr +i`) stops even root from
/// creating, renaming or removing files in a directory. Skipped where the file system or the
/// tool does not support it.
#[test]
fn a_really_immutable_cache_directory_degrades_once_and_recovers() {
    let dir = ok(tempfile::tempdir());
    let root = dir.path().to_path_buf();
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&root)
            .arg(root.join("warm"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    // Probe support on a scratch directory first.
    ok(fs::create_dir_all(root.join("warm")));
    if !chattr("+i") {
        eprintln!("chattr +i unsupported here; covered by the fault-injection test");
        return;
    }
    let works = fs::write(root.join("x"), b"x").is_err();
    chattr("-i");
    if !works {
        eprintln!("immutable attribute does not stop writes here; skipping");
        return;
    }
    struct Unfreeze<'a>(&'a dyn Fn(&str) -> bool);
    impl Drop for Unfreeze<'_> {
        fn drop(&mut self) {
            (self.0)("-i");
        }
    }
    let _guard = Unfreeze(&chattr);
    degrade_mid_fill(&root, &|_| assert!(chattr("+i")), &|_| {
        assert!(chattr("-i"))
    });
}

/// The cache directory deleted while playing: cached chunks already mapped keep playing, new
/// files are refused, and after the retry interval the directory is recreated and used.
#[test]
fn a_cache_directory_deleted_while_playing_is_survived_and_recreated() {
    let parent = ok(tempfile::tempdir());
    let dir = parent.path().join("cache");
    let clock = clock();
    let store = open(&dir, &clock);
    assert!(dir.join("warm").is_dir(), "a missing directory is created");
    let (_, fp) = source_file(parent.path(), "a.bin", 11);
    let g = ChunkGeometry::new(8_000, 1000);
    let id = store.register_track(&fp, 48_000, g);
    let f = some(store.variant(id, Variant::Original, 0), "file");
    fill(&f, 0.0, 0..8);

    ok(fs::remove_dir_all(&dir));
    let mut out = vec![0.0; 2000];
    assert!(
        ok(f.read_chunk(5, &mut out)),
        "the mapping outlives the file"
    );
    assert_eq!(out, samples(g, 5, 0.0));
    assert!(
        store
            .variant(id, Variant::Enhanced(Preset::Live), 0)
            .is_none()
    );
    assert!(matches!(
        store.take_status_change(),
        Some(StoreStatus::Degraded { .. })
    ));

    clock.advance(Duration::from_secs(6));
    let again = some(store.variant(id, Variant::Original, 0), "recreated file");
    assert!(f.is_retired(), "the deleted file is not written any more");
    assert_eq!(again.present_count(), 0);
    assert_eq!(store.take_status_change(), Some(StoreStatus::Healthy));
    assert_eq!(store.stats().bytes_on_disk, warm_dir_bytes(&dir).0);
}

/// Hit and miss counters survive restarts (they are saved in the index), the analysis and
/// calibration too.
#[test]
fn statistics_analysis_and_calibration_persist_across_runs() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let (_, fp) = source_file(dir.path(), "a.bin", 13);
    let g = ChunkGeometry::new(1000, 100);
    let id;
    {
        let store = open(dir.path(), &clock);
        id = store.register_track(&fp, 48_000, g);
        assert!(store.set_analysis(id, analysis()));
        assert!(store.set_calibration(id, Preset::Warm, -1.25));
        assert!(!store.set_calibration(id, Preset::Live, f32::NAN));
        for _ in 0..3 {
            store.record_warm_hit();
        }
        store.record_hot_hit();
        store.record_miss();
        store.record_production(Duration::from_millis(4));
    }
    let store = open(dir.path(), &clock);
    let s = store.stats();
    assert_eq!(s.session.warm_hits, 0);
    assert_eq!(
        (s.all_time.warm_hits, s.all_time.hot_hits, s.all_time.misses),
        (3, 1, 1)
    );
    assert_eq!(s.all_time.chunks_produced, 1);
    assert!((s.all_time_time_saved_secs - 0.012).abs() < 1e-9);
    store.record_warm_hit();
    assert_eq!(store.stats().all_time.warm_hits, 4);
    assert_eq!(store.analysis(id), Some(analysis()));
    assert_eq!(store.calibration(id, Preset::Warm), Some(-1.25));
    assert_eq!(store.calibration(id, Preset::Live), None);
    let json = ok(serde_json::to_string(&store.stats()));
    assert!(json.contains("\"warm_hits\":4"), "{json}");
}

/// A damaged index (garbage, truncated, empty) is never fatal: the store rebuilds it from the
/// warm files' headers, and the cached chunks are still served.
#[test]
fn a_damaged_index_is_rebuilt_from_the_warm_files() {
    for damage in [
        &b"\x00garbage{{"[..],
        b"",
        b"{\"version\":1,\"tracks\":[{\"id\":",
    ] {
        let dir = ok(tempfile::tempdir());
        let clock = clock();
        let (_, fp) = source_file(dir.path(), "a.bin", 17);
        let g = ChunkGeometry::new(5000, 1000);
        {
            let store = open(dir.path(), &clock);
            let id = store.register_track(&fp, 48_000, g);
            fill(
                &some(store.variant(id, Variant::Original, 0), "file"),
                0.0,
                0..5,
            );
        }
        ok(fs::write(dir.path().join("index.json"), damage));
        let store = open(dir.path(), &clock);
        let id = track_id(&fp, 48_000, 2);
        assert_eq!(store.geometry(id), Some(g), "adopted from its header");
        assert_eq!(store.stats().bytes_on_disk, warm_dir_bytes(dir.path()).0);
        assert_eq!(store.register_track(&fp, 48_000, g), id);
        let f = some(store.existing_variant(id, Variant::Original, 0), "file");
        let mut out = vec![0.0; 2000];
        assert!(ok(f.read_chunk(4, &mut out)));
        assert_eq!(out, samples(g, 4, 0.0));
        // And the rebuilt index is saved whole.
        drop(store);
        let text = ok(fs::read_to_string(dir.path().join("index.json")));
        assert!(ok(serde_json::from_str::<serde_json::Value>(&text)).is_object());
    }
}

/// Two stores on one directory (as two processes: a player and `hearth cache warm`) merge
/// their updates instead of overwriting each other's.
#[test]
fn two_stores_sharing_a_directory_keep_each_others_updates() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let g = ChunkGeometry::new(3000, 1000);
    let (_, fa) = source_file(dir.path(), "a.bin", 19);
    let (_, fb) = source_file(dir.path(), "b.bin", 23);
    let a = open(dir.path(), &clock);
    let b = open(dir.path(), &clock);
    let ta = a.register_track(&fa, 48_000, g);
    fill(&some(a.variant(ta, Variant::Original, 0), "a"), 0.0, 0..3);
    a.set_analysis(ta, analysis());
    a.record_warm_hit();
    let tb = b.register_track(&fb, 48_000, g);
    fill(&some(b.variant(tb, Variant::Original, 0), "b"), 1.0, 0..3);
    b.record_warm_hit();
    ok(a.flush_index());
    ok(b.flush_index());
    ok(a.flush_index());
    drop((a, b));
    let c = open(dir.path(), &clock);
    assert!(c.geometry(ta).is_some() && c.geometry(tb).is_some());
    assert_eq!(c.analysis(ta), Some(analysis()));
    assert_eq!(
        c.stats().all_time.warm_hits,
        2,
        "both processes' hits counted once each"
    );
    assert_eq!(c.stats().bytes_on_disk, warm_dir_bytes(dir.path()).0);
}

/// `clean` removes by age or everything, sparing pinned tracks; TTL applies on open.
#[test]
fn clean_by_age_and_all_spares_pins_and_ttl_expires_on_open() {
    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let g = ChunkGeometry::new(3000, 1000);
    let store = open(dir.path(), &clock);
    let mut ids = Vec::new();
    for t in 0..4u8 {
        let (_, fp) = source_file(dir.path(), &format!("t{t}"), t + 29);
        let id = store.register_track(&fp, 48_000, g);
        fill(
            &some(store.variant(id, Variant::Original, 0), "file"),
            0.0,
            0..3,
        );
        ids.push(id);
        clock.advance(Duration::from_secs(24 * 3600));
    }
    // Ages now: 4, 3, 2, 1 days.
    store.set_pins(&[ids[0]]);
    let r = store.clean(Some(Duration::from_secs(2 * 24 * 3600 + 60)), false);
    assert_eq!(
        (r.tracks_removed, r.files_removed, r.pinned_kept),
        (1, 1, 1),
        "{r:?}"
    );
    assert!(store.geometry(ids[1]).is_none());
    assert!(store.geometry(ids[0]).is_some(), "pinned");
    let r = store.clean(None, true);
    assert_eq!(r.tracks_removed, 2);
    assert_eq!(store.tracks(), vec![ids[0]]);
    assert_eq!(store.stats().bytes_on_disk, warm_dir_bytes(dir.path()).0);
    drop(store);
    clock.advance(Duration::from_secs(31 * 24 * 3600));
    let store = open(dir.path(), &clock);
    assert!(
        store.tracks().is_empty(),
        "expired on open (pins are per run)"
    );
    assert_eq!(warm_dir_bytes(dir.path()), (0, 0));
}

/// Filler threads writing and reading the same warm files at once (the same chunks too),
/// while the control thread asks for progress, statistics and saves: a read returns either
/// "absent" or exactly the chunk that was written, never a torn mix.
#[test]
fn concurrent_writers_and_readers_never_see_torn_chunks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<WarmStore>();
    send_sync::<WarmFile>();

    let dir = ok(tempfile::tempdir());
    let clock = clock();
    let store = Arc::new(open(dir.path(), &clock));
    let (_, fp) = source_file(dir.path(), "a.bin", 31);
    let g = ChunkGeometry::new(64 * 512 + 77, 512);
    let id = store.register_track(&fp, 48_000, g);
    let variants = [Variant::Original, Variant::Enhanced(Preset::Adaptive)];
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut reads = 0u32;
                for k in 0..400u32 {
                    let v = variants[((k + t) % 2) as usize];
                    let f = some(store.variant(id, v, 0), "file");
                    let i = (k * 7 + t * 13) % g.count();
                    let salt = if v == Variant::Original { 0.0 } else { 1.0 };
                    if t < 2 {
                        ok(f.write_chunk(i, &samples(g, i, salt)));
                    }
                    out.resize(g.len(i) as usize * 2, f32::NAN);
                    if ok(f.read_chunk(i, &mut out)) {
                        assert_eq!(out, samples(g, i, salt), "chunk {i} of {v}");
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();
    for _ in 0..20 {
        let _ = store.progress(id);
        let _ = store.stats();
        ok(store.flush_index());
    }
    let reads: u32 = threads
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| panic!("thread panicked")))
        .sum();
    assert!(reads > 0);
    let f = some(store.existing_variant(id, Variant::Original, 0), "file");
    assert_eq!(store.stats().session.corrupt_chunks, 0);
    assert!(f.present_count() > 0);
    assert!(store.verify(false).is_clean());
}

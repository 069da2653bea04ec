//! Warm tier → RAM: copying one 32768-frame stereo chunk (256 KiB) out of a warm file into a
//! buffer, checksum verified, as the filler does to fill a hot slot. The page cache is warm
//! (the file was just written); DESIGN.md has the cold-fault figures.
//!
//! `cargo bench -p hearth --bench warm` runs criterion, then prints the median of
//! single copies in µs next to the chunk's duration, the budget it has to fit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails may panic

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hearth_cache::{
    CacheConfig, ChunkGeometry, Fingerprint, TrackId, Variant, WarmFile, WarmHeader, WarmStore,
};

const FRAMES: u32 = 32_768;
const CHUNKS: u32 = 8;

fn chunk(i: u32) -> Vec<f32> {
    (0..FRAMES as usize * 2)
        .map(|k| ((k as f32 * 0.001 + i as f32).sin()) * 0.5)
        .collect()
}

/// A store in a temporary directory holding one track of `CHUNKS` full chunks.
fn warm_file(dir: &std::path::Path) -> (WarmStore, Arc<WarmFile>) {
    let src = dir.join("source.bin");
    std::fs::write(&src, b"bench source").unwrap();
    let fp = Fingerprint::of(&src).unwrap();
    let store = WarmStore::open(CacheConfig::new(dir.join("cache")));
    let g = ChunkGeometry::new(u64::from(FRAMES * CHUNKS), FRAMES);
    let id = store.register_track(&fp, 48_000, g);
    let f = store
        .variant(id, Variant::Original, 0)
        .unwrap_or_else(|| panic!("no warm file: {:?}", store.status()));
    for i in 0..CHUNKS {
        f.write_chunk(i, &chunk(i)).unwrap();
    }
    (store, f)
}

fn anonymous() -> WarmFile {
    WarmFile::anonymous(WarmHeader {
        track: TrackId(1),
        variant: Variant::Original,
        engine_rate: 48_000,
        channels: 2,
        geometry: ChunkGeometry::new(u64::from(FRAMES * CHUNKS), FRAMES),
        source_hash: 0,
        params_hash: 0,
    })
    .unwrap()
}

fn read(f: &WarmFile, i: &mut u32, out: &mut [f32]) {
    *i = (*i + 1) % CHUNKS;
    let hit = f.read_chunk(*i, out).unwrap();
    assert!(hit);
    black_box(out);
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (_store, file) = warm_file(dir.path());
    let anon = anonymous();
    for i in 0..CHUNKS {
        anon.write_chunk(i, &chunk(i)).unwrap();
    }
    let mut out = vec![0.0f32; FRAMES as usize * 2];
    let src = chunk(0);

    let mut group = c.benchmark_group("warm");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(u64::from(FRAMES) * 8));
    let mut i = 0;
    group.bench_function("read_chunk_32768_stereo_file", |b| {
        b.iter(|| read(&file, &mut i, &mut out))
    });
    group.bench_function("read_chunk_32768_stereo_anonymous_map", |b| {
        b.iter(|| read(&anon, &mut i, &mut out))
    });
    group.bench_function("write_chunk_32768_stereo_anonymous_map", |b| {
        b.iter(|| {
            anon.clear_chunk(0);
            anon.write_chunk(0, black_box(&src)).unwrap();
        })
    });
    group.bench_function("plain_memcpy_32768_stereo", |b| {
        b.iter(|| out.copy_from_slice(black_box(&src)))
    });
    group.finish();

    // Median of single copies, in the unit that matters.
    let mut times: Vec<Duration> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            read(&file, &mut i, &mut out);
            t.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "\nwarm → RAM, one {FRAMES}-frame stereo chunk (256 KiB), checksum verified: \
         median {:.1} µs, p99 {:.1} µs; the chunk plays for {:.0} ms at 48 kHz",
        median.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        f64::from(FRAMES) / 48.0,
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}

//! Cold production, the filler's work when nothing is cached:
//!
//! * one chunk (32 768 frames at 48 kHz) produced on a fresh decoder, per format: open, seek,
//!   pre-roll, decode, map channels and resample — what a seek into never-played audio costs
//!   before any mastering (the `dsp` bench has the enhanced chunk);
//! * a whole-track warm of a 4-minute FLAC (original + `adaptive`: decode, resample, analysis,
//!   calibration, the chain, both warm files written), in × real time.
//!
//! The 4-minute FLAC is made at start from the demo (six times over, 44.1 kHz 16-bit) with the
//! `flacenc` encoder, so the bench needs no tool or file beyond the repository.
//!
//! `cargo bench -p hearth --bench production`

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails may panic

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::asset;
use criterion::{BenchmarkId, Criterion};
use hearth::cache::{CacheConfig, FillerConfig, WarmStore, warm_track};
use hearth::{DEFAULT_CHUNK_FRAMES, Preset, Source};

const RATE: u32 = 48_000;

fn formats() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("flac16_44k", asset("demo.flac")),
        ("flac24_96k", asset("fixtures/flac24_96k.flac")),
        ("mp3_cbr", asset("demo.mp3")),
        ("mp3_vbr", asset("fixtures/mp3_vbr.mp3")),
        ("vorbis", asset("fixtures/vorbis.ogg")),
        ("opus", asset("fixtures/opus.ogg")),
        ("aac", asset("fixtures/aac.m4a")),
        ("alac", asset("fixtures/alac.m4a")),
        ("wav16", asset("fixtures/wav16.wav")),
    ]
}

/// Opens a fresh source and produces the chunk a third of the way in (clipped to the end).
fn cold_chunk(path: &Path, out: &mut [f32]) {
    let mut src = Source::open(path, Some(RATE)).unwrap();
    let frames = src.frames();
    let chunk = (out.len() / 2) as u64;
    let start = (frames / 3).min(frames.saturating_sub(chunk));
    let n = chunk.min(frames - start) as usize;
    src.read(start, &mut out[..n * 2]).unwrap();
    std::hint::black_box(out);
}

/// The demo six times over as a 16-bit FLAC at its own rate (44.1 kHz): four minutes.
fn four_minute_flac(dir: &Path) -> (PathBuf, f64) {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let demo = asset("demo.flac");
    let mut src = Source::open(&demo, None).unwrap();
    let rate = src.info().sample_rate;
    let frames = src.frames();
    let mut pcm = vec![0.0f32; frames as usize * 2];
    src.read(0, &mut pcm).unwrap();
    let one: Vec<i32> = pcm
        .iter()
        .map(|&x| (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i32)
        .collect();
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .unwrap_or_else(|e| panic!("{e:?}"));
    // A whole number of blocks: flacenc writes a short last block into STREAMINFO's minimum
    // block size, which makes the stream look variable-blocksize to symphonia.
    let block = config.block_size;
    let total = (frames as usize * 6) / block * block;
    let samples: Vec<i32> = one.iter().copied().cycle().take(total * 2).collect();
    let source = flacenc::source::MemSource::from_samples(&samples, 2, 16, rate as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).unwrap_or_else(|e| panic!("{e:?}"));
    let path = dir.join("four_minutes.flac");
    std::fs::write(&path, sink.as_slice()).unwrap();
    (path, total as f64 / f64::from(rate))
}

/// Warms `path` whole into a fresh cache; returns the time it took.
fn warm_once(path: &Path) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(WarmStore::open(CacheConfig::new(dir.path().join("cache"))));
    let config = FillerConfig {
        engine_rate: RATE,
        chunk_frames: DEFAULT_CHUNK_FRAMES,
    };
    let t = Instant::now();
    warm_track(
        store,
        path.to_path_buf(),
        config,
        &[Preset::Adaptive],
        |_| {},
    )
    .unwrap();
    t.elapsed()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut out = vec![0.0f32; DEFAULT_CHUNK_FRAMES as usize * 2];
    {
        let mut group = c.benchmark_group("cold_chunk");
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(3));
        for (label, path) in formats() {
            group.bench_with_input(BenchmarkId::from_parameter(label), &path, |b, p| {
                b.iter(|| cold_chunk(p, &mut out))
            });
        }
        group.finish();
    }
    let dir = tempfile::tempdir().unwrap();
    let (long, seconds) = four_minute_flac(dir.path());
    {
        let mut group = c.benchmark_group("full_track_warm");
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(15));
        group.bench_function("flac_4min_original_and_adaptive", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| warm_once(&long)).sum())
        });
        group.finish();
    }
    c.final_summary();

    // The figures in the units the issues ask for, from single runs outside criterion.
    println!(
        "\ncold production of one {DEFAULT_CHUNK_FRAMES}-frame chunk at {RATE} Hz (median of 15):"
    );
    for (label, path) in formats() {
        let mut times: Vec<Duration> = (0..15)
            .map(|_| {
                let t = Instant::now();
                cold_chunk(&path, &mut out);
                t.elapsed()
            })
            .collect();
        times.sort();
        println!("  {label:<12} {:>7.2} ms", times[7].as_secs_f64() * 1e3);
    }
    let mut warms: Vec<Duration> = (0..5).map(|_| warm_once(&long)).collect();
    warms.sort();
    println!(
        "full-track warm, {seconds:.0} s FLAC, original + adaptive: median {:.2} s = {:.0}x real time",
        warms[2].as_secs_f64(),
        seconds / warms[2].as_secs_f64()
    );
}

//! Decode + stereo mapping + resampling throughput, in × real time, per format, on one thread.
//!
//! `cargo bench --bench pipeline` runs criterion and then prints a × real time table computed
//! from criterion's median estimates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails may panic

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::asset;
use criterion::{BenchmarkId, Criterion, Throughput};
use hearth::Source;

/// (label, file, engine rate): each format through the full pipeline to 48 kHz, plus the
/// source-rate path for the demo.
fn cases() -> Vec<(&'static str, PathBuf, u32)> {
    vec![
        ("demo_flac16_44k_to_48k", asset("demo.flac"), 48_000),
        ("demo_flac16_44k_native", asset("demo.flac"), 44_100),
        (
            "flac24_96k_to_48k",
            asset("fixtures/flac24_96k.flac"),
            48_000,
        ),
        ("mp3_cbr_to_48k", asset("fixtures/mp3_cbr.mp3"), 48_000),
        ("mp3_vbr_to_48k", asset("fixtures/mp3_vbr.mp3"), 48_000),
        ("vorbis_to_48k", asset("fixtures/vorbis.ogg"), 48_000),
        ("opus_48k_native", asset("fixtures/opus.ogg"), 48_000),
        ("aac_to_48k", asset("fixtures/aac.m4a"), 48_000),
        ("alac_to_48k", asset("fixtures/alac.m4a"), 48_000),
        ("wav16_to_48k", asset("fixtures/wav16.wav"), 48_000),
        ("aiff16_to_48k", asset("fixtures/aiff16.aiff"), 48_000),
    ]
}

fn decode_all(path: &Path, rate: u32, buf: &mut [f32]) -> u64 {
    let mut src =
        Source::open(path, Some(rate)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let frames = src.frames();
    let mut pos = 0;
    while pos < frames {
        src.read(pos, buf).unwrap();
        pos += (buf.len() / 2) as u64;
    }
    frames
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    let mut buf = vec![0.0f32; 32_768 * 2];
    for (label, path, rate) in cases() {
        let frames = decode_all(&path, rate, &mut buf);
        group.throughput(Throughput::Elements(frames));
        group.bench_with_input(
            BenchmarkId::from_parameter(label),
            &(path, rate),
            |b, (p, r)| b.iter(|| decode_all(p, *r, &mut buf)),
        );
    }
    group.finish();
}

/// Prints × real time from criterion's saved median estimates.
fn report() {
    println!(
        "\n{:<28} {:>12} {:>14}",
        "pipeline case", "median ms", "x real time"
    );
    for (label, path, rate) in cases() {
        let Some(ns) = common::criterion_median_ns("pipeline", label) else {
            continue;
        };
        let seconds = Source::open(&path, Some(rate))
            .map(|s| s.frames() as f64 / f64::from(rate))
            .unwrap_or(0.0);
        println!(
            "{label:<28} {:>12.3} {:>14.0}",
            ns / 1e6,
            seconds / (ns / 1e9)
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    report();
}

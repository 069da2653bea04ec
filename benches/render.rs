//! The audio callback's own cost: `Renderer::render` for 64-, 256- and 1024-frame buffers while
//! the demo plays from the cache — original only, enhanced only, and a 50 % blend (both
//! variants read and mixed every sample: the steady worst case) — as a share of the buffer's
//! duration, the budget a device gives the callback.
//!
//! `cargo bench -p hearth --bench render` runs criterion, then prints the median cost of one
//! callback in µs and in % of the buffer duration. The filler catches up between callbacks,
//! outside the measured time (on a device it runs on its own thread).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails may panic

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use hearth::{Engine, OfflineRenderer, Preset};

const RATE: u32 = 48_000;
const BUFFERS: [usize; 3] = [64, 256, 1024];
const MODES: [(&str, bool, f32); 3] = [
    ("original", false, 1.0),
    ("enhanced", true, 1.0),
    ("blend_50", true, 0.5),
];

fn engine(cache: &std::path::Path, enhanced: bool, intensity: f32) -> (Engine, OfflineRenderer) {
    let (engine, mut offline) = Engine::builder()
        .rate(RATE)
        .cache_dir(cache)
        .enhancement(enhanced, Preset::Adaptive, intensity)
        .build_offline()
        .unwrap_or_else(|e| panic!("engine: {e}"));
    engine
        .load(common::asset("demo.flac"))
        .unwrap_or_else(|e| panic!("load: {e}"));
    engine.play().unwrap_or_else(|e| panic!("play: {e}"));
    // Past the first callbacks' arrival fade.
    let mut warm = vec![0.0f32; 4096 * 2];
    for _ in 0..8 {
        offline.render(&mut warm);
    }
    (engine, offline)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("render");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(3));
    for (mode, enhanced, intensity) in MODES {
        let (engine, mut offline) = engine(dir.path(), enhanced, intensity);
        for frames in BUFFERS {
            let mut out = vec![0.0f32; frames * 2];
            group.bench_function(BenchmarkId::new(mode, frames), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        // Between callbacks: the filler's work, not measured.
                        offline.prepare();
                        if engine
                            .position()
                            .is_none_or(|(_, p)| p > Duration::from_secs(38))
                        {
                            let _ = engine.seek(Duration::ZERO);
                            let _ = engine.play();
                            offline.prepare();
                        }
                        let t = Instant::now();
                        offline.render_only(black_box(&mut out));
                        spent += t.elapsed();
                        offline.finish();
                    }
                    spent
                });
            });
        }
    }
    group.finish();
}

fn report() {
    println!(
        "\n{:<10} {:>7} {:>12} {:>12} {:>14}",
        "render", "frames", "budget µs", "median µs", "% of buffer"
    );
    for (mode, ..) in MODES {
        for frames in BUFFERS {
            let Some(ns) = common::criterion_median_ns("render", &format!("{mode}/{frames}"))
            else {
                continue;
            };
            let budget_ns = frames as f64 / f64::from(RATE) * 1e9;
            println!(
                "{mode:<10} {frames:>7} {:>12.0} {:>12.2} {:>13.3}%",
                budget_ns / 1e3,
                ns / 1e3,
                ns / budget_ns * 100.0
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    report();
}

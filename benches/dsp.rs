//! The mastering chain's cost: front-to-back throughput per preset (× real time, one core) and
//! the cost of rendering one 32768-frame chunk cold, pre-roll included.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hearth_dsp::{Chain, Preset, TrackAnalysis};

const RATE: u32 = 48_000;

/// Ten seconds of something music-like: a chord, a bass, noise hats and a kick envelope.
fn programme(frames: usize) -> Vec<f32> {
    let mut seed = 0x1234_5678u32;
    let mut out = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        let t = i as f32 / RATE as f32;
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / 8_388_608.0 - 1.0;
        let beat = (t * 2.0).fract();
        let kick = (-beat * 30.0).exp()
            * (2.0 * std::f32::consts::PI * (50.0 + 80.0 * (-beat * 40.0).exp()) * t).sin();
        let chord: f32 = [220.0f32, 277.2, 329.6]
            .iter()
            .map(|f| (2.0 * std::f32::consts::PI * f * t).sin())
            .sum();
        let bass = (2.0 * std::f32::consts::PI * 55.0 * t).sin();
        let hats = noise * (-(t * 8.0).fract() * 60.0).exp();
        let l = 0.12 * chord + 0.25 * bass + 0.4 * kick + 0.08 * hats;
        let r = 0.12 * chord * 0.8 + 0.25 * bass + 0.4 * kick - 0.06 * hats;
        out.push(l);
        out.push(r);
    }
    out
}

fn analysis() -> TrackAnalysis {
    TrackAnalysis {
        version: hearth_dsp::ANALYSIS_VERSION,
        rate: RATE,
        integrated_lufs: -20.0,
        loudness_range_lu: 9.0,
        true_peak_dbtp: -2.0,
        sample_peak_dbfs: -2.0,
        duration_seconds: 10.0,
        coverage: 1.0,
        band_levels_db: vec![
            -12.0, -7.0, -6.0, -7.0, -8.0, -11.0, -15.0, -18.0, -23.0, -30.0,
        ],
        side_to_mid_db: -15.0,
    }
}

fn bench(c: &mut Criterion) {
    let input = programme(RATE as usize * 10);
    let mut output = vec![0.0f32; input.len()];
    let a = analysis();

    let mut group = c.benchmark_group("chain_front_to_back_10s");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(RATE as u64 * 10));
    for preset in Preset::ALL {
        let mut chain = Chain::new(preset, &a, 0.0, RATE);
        group.bench_with_input(BenchmarkId::from_parameter(preset), &preset, |b, _| {
            b.iter(|| chain.process(&input, &mut output))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("chain_cold_chunk_32768");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for preset in Preset::ALL {
        let mut chain = Chain::new(preset, &a, 0.0, RATE);
        let span = 32_768 + chain.preroll() + chain.lookahead();
        let chunk_in = &input[..span * 2];
        let mut chunk_out = vec![0.0f32; 32_768 * 2];
        group.bench_with_input(BenchmarkId::from_parameter(preset), &preset, |b, _| {
            b.iter(|| chain.render(chunk_in, &mut chunk_out))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The mastering presets, measured on real and synthetic programme through the whole pipeline
//! (decode → analysis → calibration → chain): every preset lands within ±0.5 LU of its target
//! (integrated, BS.1770 via `ebur128`) with true peak ≤ −1.0 dBTP — unless the source is too
//! dynamic to reach the target under the ceiling, in which case it is as loud as the ceiling
//! allows. The full analysis and the chain's estimate agree within 0.5 LU.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::path::{Path, PathBuf};

use ebur128::{EbuR128, Mode};
use hearth::{Chain, Preset, Source, enhance};

fn asset(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(rel)
}

fn write_wav(path: &Path, rate: u32, frames: usize, mut f: impl FnMut(usize) -> (f32, f32)) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        let (l, r) = f(i);
        w.write_sample(l).unwrap();
        w.write_sample(r).unwrap();
    }
    w.finalize().unwrap();
}

struct Measured {
    integrated: f64,
    true_peak_dbtp: f64,
}

/// Renders `path` through `preset` (as `hearth render --preset` does) and measures the output.
fn master(path: &Path, preset: Preset, rate: u32) -> Measured {
    let mut source =
        Source::open(path, Some(rate)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let analysis = enhance::analyse(&mut source, false).unwrap();
    let calibration = enhance::calibrate(&mut source, preset, &analysis).unwrap();
    let mut chain = Chain::new(preset, &analysis, calibration, rate);
    let mut meter = EbuR128::new(2, rate, Mode::I | Mode::TRUE_PEAK).unwrap();
    enhance::stream_enhanced(&mut source, &mut chain, |_, enhanced, _| {
        meter.add_frames_f32(enhanced).unwrap();
        Ok(())
    })
    .unwrap();
    let tp = (0..2)
        .map(|c| meter.true_peak(c).unwrap_or(0.0))
        .fold(0.0f64, f64::max);
    Measured {
        integrated: meter.loudness_global().unwrap_or(f64::NEG_INFINITY),
        true_peak_dbtp: 20.0 * tp.log10(),
    }
}

fn target(preset: Preset) -> f64 {
    let a = hearth::TrackAnalysis {
        version: 1,
        rate: 48_000,
        integrated_lufs: -20.0,
        loudness_range_lu: 8.0,
        true_peak_dbtp: -1.0,
        sample_peak_dbfs: -1.0,
        duration_seconds: 1.0,
        coverage: 1.0,
        band_levels_db: Vec::new(),
        side_to_mid_db: -10.0,
    };
    f64::from(preset.params(&a).target_lufs)
}

fn assert_on_target(name: &str, path: &Path, rate: u32) {
    for preset in Preset::ALL {
        let m = master(path, preset, rate);
        let t = target(preset);
        assert!(
            (m.integrated - t).abs() <= 0.5,
            "{name}/{preset}: {:.2} LUFS, target {t}",
            m.integrated
        );
        assert!(
            m.true_peak_dbtp <= -1.0,
            "{name}/{preset}: true peak {:.2} dBTP",
            m.true_peak_dbtp
        );
    }
}

#[test]
fn the_demo_lands_on_every_target_under_the_ceiling() {
    assert_on_target("demo", &asset("demo.flac"), 44_100);
}

#[test]
fn test_signals_land_on_every_target_under_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let rate = 48_000;
    // Quiet noise (about -30 LUFS): needs +12..+18 dB of gain.
    let quiet = dir.path().join("quiet_noise.wav");
    let mut seed = 1u32;
    write_wav(&quiet, rate, rate as usize * 12, |_| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n = ((seed >> 8) as f32 / 8_388_608.0 - 1.0) * 0.05;
        (n, -n * 0.8)
    });
    assert_on_target("quiet noise", &quiet, rate);
    // A hot, clipped master (about -7 LUFS, full-scale peaks): needs to come down.
    let hot = dir.path().join("hot.wav");
    write_wav(&hot, rate, rate as usize * 12, |i| {
        let t = i as f32 / rate as f32;
        let s = (3.0 * (std::f32::consts::TAU * 80.0 * t).sin()
            + (std::f32::consts::TAU * 1200.0 * t).sin())
        .clamp(-1.0, 1.0);
        (s, s * 0.9)
    });
    assert_on_target("hot master", &hot, rate);
    // A steady 1 kHz tone at -20 dBFS, resampled from 44.1 kHz on the way.
    let tone = dir.path().join("tone.wav");
    write_wav(&tone, 44_100, 44_100 * 8, |i| {
        let s = 0.1 * (std::f32::consts::TAU * 1000.0 * i as f32 / 44_100.0).sin();
        (s, s)
    });
    assert_on_target("tone", &tone, rate);
}

#[test]
fn too_dynamic_sources_are_as_loud_as_the_ceiling_allows() {
    // Isolated clicks in silence: reaching -14 LUFS would need peaks far above the ceiling.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clicks.wav");
    let rate = 48_000;
    write_wav(&path, rate, rate as usize * 10, |i| {
        let s = if i % 24_000 < 48 {
            0.5 * (i as f32 * 0.3).sin()
        } else {
            0.0
        };
        (s, s)
    });
    for preset in Preset::ALL {
        let m = master(&path, preset, rate);
        // Below the target: the source cannot get there under the ceiling ...
        assert!(
            m.integrated < target(preset) - 0.5,
            "{preset}: {:.2} LUFS",
            m.integrated
        );
        // ... so it is as loud as the ceiling allows: its peaks sit at the ceiling.
        assert!(
            m.true_peak_dbtp <= -1.0 && m.true_peak_dbtp > -1.6,
            "{preset}: true peak {:.2}",
            m.true_peak_dbtp
        );
    }
}

#[test]
fn the_chains_estimate_agrees_with_the_full_analysis() {
    let dir = tempfile::tempdir().unwrap();
    // A long (3 minute) track whose loudness changes section by section, so the estimate really
    // is an estimate (16 windows).
    let path = dir.path().join("long.wav");
    let rate = 22_050;
    let mut seed = 5u32;
    write_wav(&path, rate, rate as usize * 180, |i| {
        let t = i as f32 / rate as f32;
        let section = (t / 20.0) as usize;
        let level = [0.05f32, 0.3, 0.1, 0.6, 0.2, 0.4, 0.08, 0.5, 0.25][section % 9];
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n = (seed >> 8) as f32 / 8_388_608.0 - 1.0;
        let s = level * (0.6 * (std::f32::consts::TAU * 220.0 * t).sin() + 0.3 * n);
        (s, s * 0.9)
    });
    for (name, file) in [
        ("long", path.as_path()),
        ("demo", asset("demo.flac").as_path()),
    ] {
        let mut source = Source::open(file, None).unwrap();
        let full = enhance::analyse(&mut source, true).unwrap();
        let estimate = enhance::analyse(&mut source, false).unwrap();
        assert!(
            (full.integrated_lufs - estimate.integrated_lufs).abs() <= 0.5,
            "{name}: full {:.2} vs estimate {:.2} LUFS",
            full.integrated_lufs,
            estimate.integrated_lufs
        );
        if name == "long" {
            assert!(
                estimate.coverage < 0.3,
                "the long track must be estimated from windows"
            );
        }
    }
}

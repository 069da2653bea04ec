//! `hearth bench` measures what it claims: the numbers follow the input, and an artificially
//! slowed filler (a test-only hook) shows up in the cold-seek latency.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::path::Path;
use std::process::Command;

fn bench(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--cache-dir")
        .arg(dir.path())
        .args(["bench", "--json", "--runs", "4", "--buffer", "256"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn p50(v: &serde_json::Value, key: &str) -> f64 {
    v[key]["p50"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {key}.p50 in {v}"))
}

#[test]
fn bench_reports_every_key_follows_the_input_and_sees_a_slow_filler() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo.flac");
    let demo = demo.to_str().unwrap_or_default();
    let fast = bench(&[demo]);
    for key in [
        "seek_cached_ms",
        "seek_cold_ms",
        "seek_cold_enhanced_ms",
        "toggle_ms",
        "preset_ms",
        "first_audio_cold_ms",
        "first_audio_cached_ms",
        "render_load_pct",
    ] {
        for q in ["p50", "p99", "max"] {
            assert!(
                fast[key][q].as_f64().is_some_and(|x| x >= 0.0),
                "{key}.{q} in {fast}"
            );
        }
    }
    for key in [
        "fill_x_realtime",
        "underruns",
        "rss_start_mb",
        "rss_peak_mb",
        "rate",
        "buffer",
        "runs",
    ] {
        assert!(fast[key].is_number(), "{key} in {fast}");
    }
    assert_eq!(fast["file"], demo);
    assert_eq!(fast["runs"], 4);
    // Another input, other numbers: 20 s of 96 kHz noise (resampled, denser) fills at another
    // rate than the demo.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("noise.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 96_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&other, spec).unwrap();
    let mut seed = 1u32;
    for _ in 0..96_000 * 20 * 2 {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        w.write_sample((seed >> 8) as f32 / 16_777_216.0 - 0.5)
            .unwrap();
    }
    w.finalize().unwrap();
    let noise = bench(&["--rate", "44100", other.to_str().unwrap_or_default()]);
    assert_eq!(noise["rate"], 44_100);
    assert_ne!(noise["fill_x_realtime"], fast["fill_x_realtime"]);
    assert_ne!(noise["seek_cold_ms"], fast["seek_cold_ms"]);
    // A filler that pauses 60 ms after each unit of work makes cold seeks wait for it (30 ms
    // on average, since a seek lands anywhere in a pause).
    let slow = bench(&["--slow-filler-ms", "60", demo]);
    assert!(
        p50(&slow, "seek_cold_ms") > p50(&fast, "seek_cold_ms") + 15.0,
        "slow filler {} ms vs normal {} ms",
        p50(&slow, "seek_cold_ms"),
        p50(&fast, "seek_cold_ms")
    );
}

//! The whole engine through the real cpal path: the demo plays into the default ALSA device
//! (the PulseAudio null sink of `shared/alsa`), is seeked and toggled while the sink's monitor is
//! recorded, and the recording shows the audio reached the device — with no underrun.
//!
//! Skipped unless `HEARTH_ALSA_TEST=1` (`.ci/run` starts the sink and sets it):
//!
//! ```text
//! eval "$(../shared/alsa/null-sink.sh start)"
//! HEARTH_ALSA_TEST=1 cargo test -p hearth-engine --test device_engine -- --nocapture
//! ../shared/alsa/null-sink.sh stop
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;
mod sink;

use std::time::{Duration, Instant};

use hearth_engine::output::{OutputKind, OutputSpec};
use hearth_engine::{EngineBuilder, Event};

#[test]
fn the_demo_plays_seeks_and_toggles_on_a_real_device_without_underruns() {
    if std::env::var("HEARTH_ALSA_TEST").as_deref() != Ok("1") {
        eprintln!(
            "note: skipped; set HEARTH_ALSA_TEST=1 after starting ../shared/alsa/null-sink.sh"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let engine = EngineBuilder::new()
        .cache_dir(dir.path().join("cache"))
        .buffer_frames(512)
        .build(OutputSpec::Device { name: None })
        .unwrap();
    let info = engine
        .output_info()
        .unwrap_or_else(|| panic!("no output info"));
    assert_eq!(info.kind, OutputKind::Device, "fell back to {info:?}");
    let events = engine.events();
    engine.enqueue(common::asset("demo.flac")).unwrap();
    engine.play().unwrap();
    // Wait until the audio is flowing (PulseAudio takes up to ~2 s to start pacing).
    let start = Instant::now();
    while engine
        .position()
        .is_none_or(|(_, t)| t < Duration::from_millis(500))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "playback did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let stats = engine.output_stats().unwrap_or_else(|| panic!("no stats"));
    let underruns_before = stats.underruns();
    // Record what reaches the device while we seek and toggle.
    let capture = dir.path().join("capture.wav");
    let mut recorder = sink::record(&capture, 5);
    std::thread::sleep(Duration::from_millis(800));
    engine.seek(Duration::from_secs(20)).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    engine.set_enhancement(false);
    std::thread::sleep(Duration::from_millis(800));
    engine.set_enhancement(true);
    std::thread::sleep(Duration::from_millis(800));
    engine.seek(Duration::from_secs(5)).unwrap();
    let _ = recorder.wait();
    let position = engine
        .position()
        .map(|(_, t)| t.as_secs_f64())
        .unwrap_or(0.0);
    assert!(
        (5.0..8.0).contains(&position),
        "position {position} s after seeking to 5 s"
    );
    // The device got the music: a continuous, non-silent recording at the right level.
    let mut r =
        hound::WavReader::open(&capture).unwrap_or_else(|e| panic!("{}: {e}", capture.display()));
    let samples: Vec<f32> = r.samples::<f32>().map(|s| s.unwrap_or(0.0)).collect();
    let frames = samples.len() / 2;
    assert!(frames > 48_000 * 3, "only {frames} frames captured");
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
    assert!(rms > 0.02, "capture is silent (rms {rms})");
    // No stretch of silence longer than 20 ms (a stalled or starved stream would leave one).
    let mut run = 0usize;
    let mut longest = (0usize, 0usize);
    for (i, f) in samples.chunks_exact(2).enumerate() {
        if f[0].abs() < 1e-6 && f[1].abs() < 1e-6 {
            run += 1;
            if run > longest.0 {
                longest = (run, i + 1 - run);
            }
        } else {
            run = 0;
        }
    }
    assert!(
        longest.0 < 960,
        "a gap of {} silent frames at frame {} of {frames} in the capture",
        longest.0,
        longest.1
    );
    assert_eq!(
        stats.underruns(),
        underruns_before,
        "underruns while playing: {:?}",
        stats.snapshot()
    );
    let ev: Vec<Event> = events.try_iter().collect();
    assert!(
        ev.iter()
            .filter(|e| matches!(e, Event::Seeked { .. }))
            .count()
            >= 3
    );
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Underrun { .. })),
        "underrun events: {ev:?}"
    );
}

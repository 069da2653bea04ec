//! The renderer never allocates or frees: a counting allocator is installed for this test
//! binary, and every `render` call of a session covering play, cached and uncached seeks, an
//! enhancement toggle, an intensity sweep, a preset change, a track change, a forced miss and
//! pause/resume runs inside `assert_no_alloc`. (The filler's work between calls is outside.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use std::time::Duration;

use assert_no_alloc::{AllocDisabler, assert_no_alloc, reset_violation_count, violation_count};
use common::*;
use hearth_dsp::Preset;
use hearth_engine::{Event, OfflineRenderer};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

fn rt(r: &mut OfflineRenderer, frames: usize, buffer: usize) {
    let mut out = vec![0.0f32; buffer * 2];
    for _ in 0..frames.div_ceil(buffer) {
        r.prepare();
        assert_no_alloc(|| r.render_only(&mut out));
        r.finish();
    }
}

#[test]
fn render_never_allocates_or_frees() {
    // The checker works: an allocation inside is counted.
    reset_violation_count();
    assert_no_alloc(|| std::hint::black_box(vec![1u8; 16]).len());
    assert_eq!(
        violation_count(),
        2,
        "allocation and free must both be counted"
    );
    reset_violation_count();

    let dir = tempfile::tempdir().unwrap();
    let (engine, mut r) = offline(dir.path(), true);
    let events = engine.events();
    engine.enqueue(asset("demo.flac")).unwrap();
    engine.enqueue(fixture("mp3_cbr.mp3")).unwrap();
    engine.play().unwrap();
    rt(&mut r, 48_000, 256);
    // Cached seek (back to audio already produced) and uncached seek (never produced).
    engine.seek(Duration::from_millis(200)).unwrap();
    rt(&mut r, 4_800, 256);
    engine.seek(Duration::from_secs(30)).unwrap();
    rt(&mut r, 4_800, 256);
    engine.set_enhancement(false);
    rt(&mut r, 2_400, 128);
    engine.set_enhancement(true);
    for i in 0..=10 {
        engine.set_intensity(i as f32 / 10.0);
        rt(&mut r, 512, 64);
    }
    engine.set_preset(Preset::Bright);
    rt(&mut r, 9_600, 1024);
    engine.next().unwrap();
    rt(&mut r, 9_600, 256);
    // A forced miss: the filler stops, playback runs into a chunk that never comes.
    engine.stall_filler(true);
    rt(&mut r, 3 * CHUNK as usize, 256);
    engine.stall_filler(false);
    rt(&mut r, 4_800, 256);
    engine.pause().unwrap();
    rt(&mut r, 4_800, 256);
    engine.play().unwrap();
    rt(&mut r, 4_800, 256);
    assert_eq!(violation_count(), 0, "render allocated or freed");
    // The session really did all of that.
    let ev = drain(&events);
    let seeks = ev
        .iter()
        .filter(|e| matches!(e, Event::Seeked { .. }))
        .count();
    assert!(seeks >= 4, "{seeks} jumps");
    assert!(
        ev.iter().any(|e| matches!(e, Event::Buffering { .. })),
        "no miss happened"
    );
    assert!(ev.iter().any(|e| matches!(e, Event::Recovered { .. })));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Enhancement {
            preset: Preset::Bright,
            ..
        }
    )));
    let (miss, _, _) = engine.render_counters();
    assert!(miss > 0);
}

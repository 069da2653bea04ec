//! The engine rendered offline, measured sample by sample: playback equals the source, a seek
//! lands on its exact target after the crossfade, a toggle starts crossfading in the next
//! call, gapless joins have no gap and no overlap, and a busy session adds no clicks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use std::time::Duration;

use common::*;

use hearth_dsp::Preset;
use hearth_engine::Event;

#[test]
fn playback_is_the_source_sample_for_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, mut r) = offline(dir.path(), false);
    let path = fixture("flac16_44k.flac");
    let want = source(&path);
    engine.enqueue(&path).unwrap();
    engine.play().unwrap();
    let got = render(&mut r, want.len() / 2 + 1000, 256);
    // After the 10 ms fade-in, bit-exact; then silence after the end.
    assert_eq!(&got[RAMP * 2..want.len()], &want[RAMP * 2..]);
    assert!(got[want.len()..].iter().all(|&s| s == 0.0));
    // The fade-in itself never overshoots the source.
    assert!(
        got[..RAMP * 2]
            .iter()
            .zip(&want)
            .all(|(g, w)| g.abs() <= w.abs() + 1e-7)
    );
}

#[test]
fn a_seek_lands_on_its_exact_target_in_the_next_render_call() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, mut r) = offline(dir.path(), false);
    let path = fixture("wav16.wav");
    let want = source(&path);
    engine.enqueue(&path).unwrap();
    engine.play().unwrap();
    render(&mut r, 4096, 256);
    for target in [60_000u64, 3_333, 41_234, 90_000] {
        engine
            .seek(Duration::from_secs_f64(target as f64 / f64::from(RATE)))
            .unwrap();
        let out = render(&mut r, 1024, 1024);
        // Frame t: the source at exactly `target + t` once the crossfade is over.
        let from = (target as usize + XFADE) * 2;
        assert_eq!(
            &out[XFADE * 2..],
            &want[from..from + (1024 - XFADE) * 2],
            "seek to {target}"
        );
        // And the crossfade itself already contains the target's audio.
        assert!(
            out[..XFADE * 2] != want[from - XFADE * 2..from],
            "no crossfade?"
        );
    }
}

#[test]
fn an_enhancement_toggle_starts_crossfading_in_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, mut r) = offline(dir.path(), false);
    let path = fixture("wav16.wav");
    let want = source(&path);
    engine.enqueue(&path).unwrap();
    engine.play().unwrap();
    let before = render(&mut r, 8192, 512);
    assert_eq!(&before[RAMP * 2..], &want[RAMP * 2..8192 * 2]);
    engine.set_enhancement(true);
    let after = render(&mut r, 512, 512);
    // The very first frame after the toggle already moves towards the enhanced variant ...
    let first_diff = after
        .chunks_exact(2)
        .zip(want[8192 * 2..].chunks_exact(2))
        .position(|(a, b)| a != b);
    assert!(
        first_diff.is_some_and(|i| i < 2),
        "crossfade started at {first_diff:?}"
    );
    // ... and after the crossfade it is fully enhanced: no longer the original.
    let late = &after[XFADE * 2..];
    let orig = &want[(8192 + XFADE) * 2..(8192 + 512) * 2];
    let diff: f32 = late
        .iter()
        .zip(orig)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / late.len() as f32;
    assert!(
        diff > 1e-3,
        "enhanced output too close to the original ({diff})"
    );
}

#[test]
fn gapless_join_has_no_gap_and_no_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, mut r) = offline(dir.path(), false);
    let events = engine.events();
    let a = fixture("flac16_44k.flac"); // 44.1 kHz FLAC, resampled
    let b = fixture("wav24_48k.wav"); // 48 kHz 24-bit WAV
    let (wa, wb) = (source(&a), source(&b));
    engine.enqueue(&a).unwrap();
    engine.enqueue(&b).unwrap();
    engine.play().unwrap();
    let total = (wa.len() + wb.len()) / 2;
    let got = render(&mut r, total + 4096, 256);
    let mut want = wa.clone();
    want.extend_from_slice(&wb);
    assert_eq!(
        &got[RAMP * 2..total * 2],
        &want[RAMP * 2..],
        "the join is not sample-exact"
    );
    assert!(
        got[total * 2..].iter().all(|&s| s == 0.0),
        "audio after the queue ended"
    );
    let ev = drain(&events);
    assert!(ev.iter().any(|e| matches!(e, Event::TrackEnded { .. })));
    assert!(ev.iter().any(|e| matches!(e, Event::QueueEnded)));
    let (miss, _, _) = engine.render_counters();
    assert_eq!(miss, 0);
}

#[test]
fn a_busy_session_adds_no_clicks() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, mut r) = offline(dir.path(), true);
    let a = asset("demo.flac");
    let b = fixture("vorbis.ogg");
    engine.enqueue(&a).unwrap();
    engine.enqueue(&b).unwrap();
    engine.play().unwrap();
    // The largest step the material itself contains, in any variant the session can play.
    let mut material = 0.0f32;
    for p in [&a, &b] {
        material = material.max(max_step(&source(p)));
        for preset in [hearth_dsp::Preset::Warm, hearth_dsp::Preset::Punchy] {
            material = material.max(max_step(&enhanced(p, preset)));
        }
    }
    let mut out = Vec::new();
    let mut push =
        |r: &mut hearth_engine::OfflineRenderer, frames: usize| out.extend(render(r, frames, 256));
    push(&mut r, 24_000);
    engine.seek(Duration::from_secs(20)).unwrap();
    push(&mut r, 12_000);
    engine.set_enhancement(false);
    push(&mut r, 6_000);
    engine.set_enhancement(true);
    for i in 0..10 {
        engine.set_intensity(i as f32 / 10.0);
        push(&mut r, 1_000);
    }
    engine.set_preset(hearth_dsp::Preset::Punchy);
    push(&mut r, 12_000);
    engine.pause().unwrap();
    push(&mut r, 4_800);
    engine.play().unwrap();
    push(&mut r, 9_600);
    engine.seek(Duration::from_secs(5)).unwrap();
    push(&mut r, 9_600);
    engine.next().unwrap();
    push(&mut r, 24_000);
    let worst = max_step(&out);
    eprintln!("largest step {worst}, material {material}");
    assert!(
        worst <= material + 0.02,
        "largest step {worst} vs material {material}"
    );
    assert!(out.iter().all(|s| s.is_finite() && s.abs() <= 1.0));
}

/// The same session on smooth material (low sines), where any discontinuity the engine made
/// would stand out by orders of magnitude: the largest step stays within the material's own
/// (any variant) plus 0.01.
#[test]
fn seeks_toggles_sweeps_pauses_and_skips_are_click_free() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    write_sine(&a, RATE, 6.0, 100.0, -1.0);
    write_sine(&b, 44_100, 4.0, 150.0, -1.0);
    let mut material = 0.0f32;
    for p in [&a, &b] {
        material = material.max(max_step(&source(p)));
        for preset in [Preset::Warm, Preset::Punchy] {
            material = material.max(max_step(&enhanced(p, preset)));
        }
    }
    let (engine, mut r) = offline(&dir.path().join("cache"), true);
    engine.enqueue(&a).unwrap();
    engine.enqueue(&b).unwrap();
    engine.play().unwrap();
    let mut out = Vec::new();
    let mut run =
        |r: &mut hearth_engine::OfflineRenderer, frames: usize| out.extend(render(r, frames, 256));
    run(&mut r, 48_000);
    for (i, t) in [3.7f64, 1.2, 4.9, 2.2].iter().enumerate() {
        engine.seek(Duration::from_secs_f64(*t)).unwrap();
        run(&mut r, 2_000 + i * 777);
    }
    engine.set_enhancement(false);
    run(&mut r, 3_000);
    engine.set_enhancement(true);
    for i in 0..=10 {
        engine.set_intensity(1.0 - i as f32 / 10.0);
        run(&mut r, 700);
    }
    engine.set_intensity(1.0);
    engine.set_preset(Preset::Punchy);
    run(&mut r, 6_000);
    engine.pause().unwrap();
    run(&mut r, 3_000);
    engine.play().unwrap();
    run(&mut r, 6_000);
    engine.set_volume(0.5);
    run(&mut r, 3_000);
    engine.next().unwrap();
    run(&mut r, 20_000);
    engine.seek(Duration::from_secs(1)).unwrap();
    run(&mut r, 10_000);
    let worst = max_step(&out);
    eprintln!("largest step {worst}, material {material}");
    assert!(
        worst <= material + 0.01,
        "largest step {worst} vs material {material}"
    );
    assert!(
        out.iter().map(|s| s.abs()).fold(0.0, f32::max) > 0.2,
        "the session was silent"
    );
}

/// The renderer's run fast path is an optimisation only: a busy session (seeks, toggles, an
/// intensity sweep, a preset change, pause, volume, the join to the next track, a track end)
/// renders bit-identically with it and without it, gapless and with a track crossfade.
#[test]
fn steady_runs_render_exactly_what_frame_by_frame_rendering_does() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixture("flac16_44k.flac");
    let b = fixture("vorbis.ogg");
    let session = |steady: bool, crossfade: u64| {
        let (engine, mut r) = hearth_engine::EngineBuilder::new()
            .rate(RATE)
            .chunk_frames(CHUNK)
            .cache_dir(dir.path().join(format!("cache-{steady}-{crossfade}")))
            .enhancement(true, Preset::Gentle, 1.0)
            .track_crossfade(Duration::from_millis(crossfade))
            .build_offline()
            .unwrap();
        r.set_steady_runs(steady);
        engine.enqueue(&a).unwrap();
        engine.enqueue(&b).unwrap();
        engine.play().unwrap();
        let mut out = Vec::new();
        let mut run = |r: &mut hearth_engine::OfflineRenderer, frames: usize, buffer: usize| {
            out.extend(render(r, frames, buffer))
        };
        run(&mut r, 30_000, 256);
        engine.seek(Duration::from_secs_f64(1.3)).unwrap();
        run(&mut r, 5_000, 333);
        engine.set_enhancement(false);
        run(&mut r, 5_000, 64);
        engine.set_enhancement(true);
        for i in 0..=4 {
            engine.set_intensity(1.0 - i as f32 / 8.0);
            run(&mut r, 1_500, 1024);
        }
        engine.set_preset(Preset::Warm);
        run(&mut r, 4_000, 256);
        engine.pause().unwrap();
        run(&mut r, 2_000, 256);
        engine.play().unwrap();
        engine.set_volume(0.7);
        run(&mut r, 3_000, 500);
        engine.seek(Duration::from_secs_f64(0.2)).unwrap();
        // Through the end of `a` into `b` (gapless) and `b` to its end.
        run(&mut r, 200_000, 512);
        out
    };
    // Gapless, and with a track crossfade (the constant-power fade between tracks).
    for crossfade in [0, 300] {
        let fast = session(true, crossfade);
        let slow = session(false, crossfade);
        assert_eq!(fast.len(), slow.len());
        let first_diff = fast
            .iter()
            .zip(&slow)
            .position(|(x, y)| x.to_bits() != y.to_bits());
        assert_eq!(
            first_diff, None,
            "runs changed the output ({crossfade} ms crossfade)"
        );
        assert!(
            fast.iter().any(|&s| s.abs() > 0.1),
            "the session was silent"
        );
    }
}

/// With a track crossfade, the next track starts under the end of the previous one (equal
/// power), and the queue is that much shorter; without one, the join is gapless (see above).
#[test]
fn a_track_crossfade_overlaps_the_tracks_by_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, mut r) = hearth_engine::EngineBuilder::new()
        .rate(RATE)
        .chunk_frames(CHUNK)
        .cache_dir(dir.path())
        .enhancement(false, Preset::Warm, 1.0)
        .track_crossfade(Duration::from_millis(500))
        .build_offline()
        .unwrap();
    let events = engine.events();
    let a = fixture("flac16_44k.flac");
    let b = fixture("wav16.wav");
    let (wa, wb) = (source(&a), source(&b));
    engine.enqueue(&a).unwrap();
    engine.enqueue(&b).unwrap();
    engine.play().unwrap();
    let xf = 24_000usize;
    let (na, nb) = (wa.len() / 2, wb.len() / 2);
    let got = render(&mut r, na + nb, 64);
    // Before the crossfade: A alone. After it: B alone, shifted by the overlap.
    assert_eq!(&got[RAMP * 2..(na - xf) * 2], &wa[RAMP * 2..(na - xf) * 2]);
    let b_only = na; // A has ended: from here B plays alone, `xf` frames into itself
    assert_eq!(&got[b_only * 2..(na + nb - xf) * 2], &wb[xf * 2..]);
    // In the middle of the crossfade: cos/sin gains of ½π·½.
    let mid = na - xf / 2;
    let g = std::f32::consts::FRAC_1_SQRT_2;
    let want = wa[mid * 2] * g + wb[(xf / 2) * 2] * g;
    assert!(
        (got[mid * 2] - want).abs() < 2e-3,
        "{} vs {want}",
        got[mid * 2]
    );
    // The queue ended `xf` frames early, and said so.
    assert!(got[(na + nb - xf + 64) * 2..].iter().all(|&s| s == 0.0));
    let ev = drain(&events);
    assert!(ev.iter().any(|e| matches!(e, Event::QueueEnded)));
}

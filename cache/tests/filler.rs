//! The filler, stepped by hand: priority order after a seek, decode-on-demand when the cache
//! cannot be written, a warm restart that decodes nothing, and enhanced chunks that equal a
//! front-to-back pass; urgent news preempting less urgent work without losing any.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use std::sync::Arc;

use hearth_cache::filler::{
    Demand, Filler, FillerConfig, FillerEvent, Interest, Origin, Priority, Role, Step, Urgency,
};
use hearth_cache::hot::{HotConfig, HotConsumer, hot_tier};
use hearth_cache::{CacheConfig, Source, Variant, WarmStore, enhance};
use hearth_dsp::{Chain, Preset};

const RATE: u32 = 48_000;
const CHUNK: u32 = 8192;

fn setup(dir: &std::path::Path) -> (Filler, HotConsumer, Arc<WarmStore>) {
    let store = Arc::new(WarmStore::open(CacheConfig::new(dir)));
    let (producer, consumer) = hot_tier(HotConfig {
        chunk_frames: CHUNK,
        slots: 16,
    });
    let mut filler = Filler::new(
        producer,
        Arc::clone(&store),
        FillerConfig {
            engine_rate: RATE,
            chunk_frames: CHUNK,
        },
    );
    filler.set_entry(1, common::fixture("flac16_44k.flac"));
    (filler, consumer, store)
}

/// Plays the renderer's part: takes every slot and hands it straight back.
fn drain(consumer: &mut HotConsumer) -> Vec<(u32, Variant, Vec<f32>)> {
    let mut got = Vec::new();
    while let Some(slot) = consumer.receive() {
        got.push((slot.key.index, slot.key.variant, slot.samples().to_vec()));
        consumer
            .give_back(slot)
            .unwrap_or_else(|_| panic!("return queue full"));
    }
    got
}

#[test]
fn after_a_seek_the_next_steps_serve_p0_then_p1_before_any_warming() {
    let dir = tempfile::tempdir().unwrap();
    let (mut filler, mut consumer, _store) = setup(dir.path());
    filler.set_demand(Demand {
        playing: Some(Interest { entry: 1, frame: 0 }),
        warm_ahead: true,
        ..Demand::default()
    });
    // Playback starts: the current and next chunks first, then warming.
    assert!(matches!(
        filler.step(),
        Step::Served {
            priority: Priority::P0,
            index: 0,
            ..
        }
    ));
    assert!(matches!(
        filler.step(),
        Step::Served {
            priority: Priority::P1,
            index: 1,
            ..
        }
    ));
    assert!(matches!(
        filler.step(),
        Step::Warmed {
            priority: Priority::P2,
            ..
        }
    ));
    // (The renderer holds chunks 0 and 1: nothing is handed back.)
    // A seek to 1.5 s (chunk 8), mid-warm.
    filler.set_demand(Demand {
        jump: Some(Interest {
            entry: 1,
            frame: 72_000,
        }),
        playing: Some(Interest {
            entry: 1,
            frame: 5000,
        }),
        warm_ahead: true,
        ..Demand::default()
    });
    match filler.step() {
        Step::Served {
            priority: Priority::P0,
            index: 8,
            variants,
            ..
        } => {
            assert_eq!(variants, vec![(Variant::Original, Origin::Produced)]);
        }
        other => panic!("expected P0 for chunk 8, got {other:?}"),
    }
    assert!(matches!(
        filler.step(),
        Step::Served {
            priority: Priority::P1,
            index: 9,
            ..
        }
    ));
    assert!(matches!(
        filler.step(),
        Step::Warmed {
            priority: Priority::P2,
            ..
        }
    ));
    let slots = drain(&mut consumer);
    assert_eq!(
        slots.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![0, 1, 8, 9]
    );
}

#[test]
fn chunks_still_arrive_when_the_cache_cannot_be_written_and_it_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut filler, mut consumer, store) = setup(dir.path());
    filler.set_demand(Demand {
        playing: Some(Interest { entry: 1, frame: 0 }),
        warm_ahead: true,
        ..Demand::default()
    });
    filler.run_until_idle(3);
    drain(&mut consumer);
    // The directory turns read-only mid-fill; the next new file (a preset's variant) fails.
    store.set_fail_writes(true);
    let mut statuses = 0;
    let mut served = 0;
    for chunk in 2..8u64 {
        filler.set_demand(Demand {
            playing: Some(Interest {
                entry: 1,
                frame: chunk * u64::from(CHUNK),
            }),
            presets: vec![Preset::Gentle],
            warm_ahead: true,
            ..Demand::default()
        });
        for step in filler.run_until_idle(20) {
            if let Step::Served { variants, .. } = step {
                served += variants.len();
            }
        }
        let got = drain(&mut consumer);
        for variant in [Variant::Original, Variant::Enhanced(Preset::Gentle)] {
            assert!(
                got.iter()
                    .any(|s| u64::from(s.0) == chunk && s.1 == variant),
                "chunk {chunk} {variant} did not arrive"
            );
        }
        assert!(
            got.iter().all(|s| s.2.iter().any(|&x| x != 0.0)),
            "silent slot"
        );
        if store.take_status_change().is_some() {
            statuses += 1;
        }
    }
    assert!(served >= 12);
    assert_eq!(
        statuses, 1,
        "the degraded cache must be reported exactly once"
    );
    assert!(store.status().is_degraded());
}

#[test]
fn a_warmed_track_plays_after_a_restart_without_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let (mut filler, mut consumer, store) = setup(dir.path());
        filler.set_demand(Demand {
            presets: vec![Preset::Warm],
            warm: vec![1],
            ..Demand::default()
        });
        let steps = filler.run_until_idle(200);
        assert!(steps.iter().any(|s| matches!(
            s,
            Step::Warmed {
                priority: Priority::P4,
                ..
            }
        )));
        assert!(filler.take_events().iter().any(
            |e| matches!(e, FillerEvent::CacheProgress { present, total, .. } if present == total)
        ));
        drain(&mut consumer);
        store.flush_index().unwrap();
        // Serve chunk 3 in both variants from this session for comparison.
        filler.set_demand(Demand {
            presets: vec![Preset::Warm],
            jump: Some(Interest {
                entry: 1,
                frame: 3 * u64::from(CHUNK),
            }),
            ..Demand::default()
        });
        filler.run_until_idle(10);
        drain(&mut consumer)
    };
    // A new process: everything comes from the warm tier.
    let (mut filler, mut consumer, store) = setup(dir.path());
    filler.set_demand(Demand {
        presets: vec![Preset::Warm],
        jump: Some(Interest {
            entry: 1,
            frame: 3 * u64::from(CHUNK),
        }),
        ..Demand::default()
    });
    let steps = filler.run_until_idle(10);
    for s in &steps {
        match s {
            Step::Served { variants, .. } => {
                assert!(variants.iter().all(|(_, o)| *o == Origin::Warm), "{s:?}")
            }
            other => panic!("a warmed track needed work: {other:?}"),
        }
    }
    let second = drain(&mut consumer);
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((a.0, a.1), (b.0, b.1));
        assert_eq!(a.2, b.2, "chunk {} {} differs after the restart", a.0, a.1);
    }
    assert!(store.stats().session.warm_hits >= 4);
}

#[test]
fn enhanced_chunks_served_at_random_equal_a_front_to_back_pass() {
    let dir = tempfile::tempdir().unwrap();
    let (mut filler, mut consumer, _store) = setup(dir.path());
    let preset = Preset::Punchy;
    // Reference: the whole track streamed through the chain with the same analysis.
    let mut source = Source::open(&common::fixture("flac16_44k.flac"), Some(RATE)).unwrap();
    let analysis = enhance::analyse(&mut source, false).unwrap();
    let calibration = enhance::calibrate(&mut source, preset, &analysis).unwrap();
    let mut chain = Chain::new(preset, &analysis, calibration, RATE);
    let mut reference = Vec::new();
    enhance::stream_enhanced(&mut source, &mut chain, |_, e, _| {
        reference.extend_from_slice(e);
        Ok(())
    })
    .unwrap();
    for chunk in [7u64, 2, 10, 0, 5].into_iter() {
        filler.set_demand(Demand {
            presets: vec![preset],
            jump: Some(Interest {
                entry: 1,
                frame: chunk * u64::from(CHUNK) + 17,
            }),
            ..Demand::default()
        });
        filler.run_until_idle(50);
        for (index, variant, samples) in drain(&mut consumer) {
            if variant != Variant::Enhanced(preset) {
                continue;
            }
            let start = index as usize * CHUNK as usize * 2;
            let want = &reference[start..start + samples.len()];
            let worst = samples
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= common::TOLERANCE, "chunk {index}: {worst:e}");
        }
    }
}

/// Warming streams front to back (one read of the source, chains carried from chunk to chunk);
/// every chunk it caches equals the same chunk produced on its own, cold.
#[test]
fn streamed_warming_equals_chunks_produced_on_their_own() {
    let warmed_dir = tempfile::tempdir().unwrap();
    let cold_dir = tempfile::tempdir().unwrap();
    let presets = vec![Preset::Bright, Preset::Loudness];
    let (mut warmed, mut warmed_rx, _s1) = setup(warmed_dir.path());
    warmed.set_demand(Demand {
        presets: presets.clone(),
        warm: vec![1],
        ..Demand::default()
    });
    let steps = warmed.run_until_idle(500);
    assert!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Warmed { .. }))
            .count()
            >= 10
    );
    let (mut cold, mut cold_rx, _s2) = setup(cold_dir.path());
    for chunk in [9u64, 0, 4, 1, 10, 6].into_iter() {
        let demand = Demand {
            presets: presets.clone(),
            jump: Some(Interest {
                entry: 1,
                frame: chunk * u64::from(CHUNK),
            }),
            ..Demand::default()
        };
        warmed.set_demand(demand.clone());
        cold.set_demand(demand);
        for s in warmed.run_until_idle(20) {
            if let Step::Served { variants, .. } = s {
                assert!(
                    variants.iter().all(|(_, o)| *o == Origin::Warm),
                    "not from the warm tier: {variants:?}"
                );
            }
        }
        cold.run_until_idle(20);
        let (mut a, mut b) = (drain(&mut warmed_rx), drain(&mut cold_rx));
        a.sort_by_key(|x| (x.0, x.1));
        b.sort_by_key(|x| (x.0, x.1));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.0, x.1), (y.0, y.1));
            let worst =
                x.2.iter()
                    .zip(&y.2)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0f32, f32::max);
            assert!(
                worst <= common::TOLERANCE,
                "chunk {} {}: streamed vs own differ by {worst:e}",
                x.0,
                x.1
            );
        }
    }
}

/// With two fillers (the hot one serving the renderer, the background one warming): once the
/// hot filler has analysed the playing track, the background filler calibrates every other
/// preset on its own, so a later preset switch only costs a chunk. (It once waited for an
/// analysis of its own that never came.)
#[test]
fn the_background_filler_precalibrates_every_preset_from_the_hot_fillers_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(WarmStore::open(CacheConfig::new(dir.path())));
    let (producer, mut consumer) = hot_tier(HotConfig {
        chunk_frames: CHUNK,
        slots: 16,
    });
    let config = FillerConfig {
        engine_rate: RATE,
        chunk_frames: CHUNK,
    };
    let mut hot = Filler::hot_only(producer, Arc::clone(&store), config);
    hot.set_entry(1, common::fixture("flac16_44k.flac"));
    assert_eq!(hot.role(), Role::Hot);
    let mut background = Filler::background(Arc::clone(&store), config);
    assert_eq!(background.role(), Role::Background);
    background.set_entry(1, common::fixture("flac16_44k.flac"));
    let demand = Demand {
        playing: Some(Interest { entry: 1, frame: 0 }),
        presets: vec![Preset::Gentle],
        enhanced_audible: true,
        ..Demand::default()
    };
    hot.set_demand(demand.clone());
    background.set_demand(demand);
    // The hot filler serves the playing preset (analysing and calibrating it on the way).
    hot.run_until_idle(10_000);
    drain(&mut consumer);
    let track = store
        .tracks()
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no track in the store"));
    assert!(
        store.analysis(track).is_some(),
        "the hot filler analysed the track"
    );
    // The background filler calibrates the other six from that analysis.
    let steps = background.run_until_idle(100_000);
    assert!(
        steps
            .iter()
            .all(|s| !matches!(s, Step::Analysed { complete: true, .. })),
        "the background filler analysed the track again"
    );
    for preset in Preset::ALL {
        assert!(
            store.calibration(track, preset).is_some(),
            "{preset:?} not calibrated"
        );
    }
}

/// Urgent news (a seek, a preset change: see `Urgency`) that arrived after the filler last read
/// the control side's messages drops work less urgent than P0 — never P0 work, and never more
/// than two units in a row.
#[test]
fn urgent_news_drops_the_less_urgent_chunk_and_never_p0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut filler, mut consumer, _store) = setup(dir.path());
    let urgency = Urgency::new();
    filler.set_urgency(urgency.clone());
    filler.set_demand(Demand {
        playing: Some(Interest { entry: 1, frame: 0 }),
        ..Demand::default()
    });
    urgency.raise();
    assert!(
        matches!(
            filler.step(),
            Step::Served {
                priority: Priority::P0,
                index: 0,
                ..
            }
        ),
        "P0 work is never dropped"
    );
    // The chunk after the playhead is dropped while the news is unread — twice in a row at
    // most: then it runs to its end (news arriving faster than chunks are made must not
    // starve playback).
    for _ in 0..2 {
        assert_eq!(
            filler.step(),
            Step::Preempted {
                priority: Priority::P1,
                entry: 1,
                index: 1,
            }
        );
    }
    assert!(matches!(
        filler.step(),
        Step::Served {
            priority: Priority::P1,
            index: 1,
            ..
        }
    ));
    // News the filler has read (a seek to chunk 8) drops nothing.
    filler.set_demand(Demand {
        jump: Some(Interest {
            entry: 1,
            frame: 8 * u64::from(CHUNK),
        }),
        playing: Some(Interest { entry: 1, frame: 0 }),
        ..Demand::default()
    });
    urgency.raise();
    filler.note_urgency();
    for index in [8, 9] {
        match filler.step() {
            Step::Served { index: i, .. } => assert_eq!(i, index),
            other => panic!("expected chunk {index}, got {other:?}"),
        }
    }
    assert_eq!(filler.preemptions(), 2);
    let served: Vec<u32> = drain(&mut consumer).iter().map(|s| s.0).collect();
    assert_eq!(served, vec![0, 1, 8, 9]);
}

/// A hot filler preparing and making enhanced chunks while news keeps arriving (a thread
/// raising the urgency every millisecond) ends with the same analysis, calibration and chunks
/// as one left alone: work dropped half-way (a chain's blocks, a calibration window, an
/// analysis read) is done again or continued, and no hot slot is lost on the way.
#[test]
fn work_dropped_for_urgent_news_ends_as_work_left_alone() {
    let preset = Preset::Punchy;
    let config = FillerConfig {
        engine_rate: RATE,
        chunk_frames: CHUNK,
    };
    // The demo (40 s): a calibration over its six-window plan, an analysis in several steps.
    let demo = common::fixture("../demo.flac");
    let run = |urgency: Option<Urgency>| {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(WarmStore::open(CacheConfig::new(dir.path())));
        let (producer, mut consumer) = hot_tier(HotConfig {
            chunk_frames: CHUNK,
            slots: 16,
        });
        let mut filler = Filler::hot_only(producer, Arc::clone(&store), config);
        filler.set_entry(1, demo.clone());
        if let Some(u) = &urgency {
            filler.set_urgency(u.clone());
        }
        let mut chunks = Vec::new();
        // The original is heard: it goes first (P0), the enhanced variant and what it waits
        // for (analysis, calibration) follow at P1 — work that news may drop.
        for (at, chunk) in [0u64, 30, 9, 50].into_iter().enumerate() {
            filler.set_demand(Demand {
                jump: (at > 0).then_some(Interest {
                    entry: 1,
                    frame: chunk * u64::from(CHUNK),
                }),
                playing: Some(Interest { entry: 1, frame: 0 }),
                presets: vec![preset],
                ..Demand::default()
            });
            let raiser = urgency.clone().map(|u| {
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let flag = Arc::clone(&stop);
                let handle = std::thread::spawn(move || {
                    while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                        u.raise();
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                });
                (stop, handle)
            });
            for _ in 0..100_000 {
                filler.note_urgency();
                if filler.step() == Step::Idle {
                    break;
                }
            }
            if let Some((stop, handle)) = raiser {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                handle.join().unwrap();
            }
            assert!(filler.hot_satisfied(), "chunk {chunk} not served");
            let mut got = drain(&mut consumer);
            got.sort_by_key(|(index, variant, _)| (*index, *variant));
            chunks.extend(got);
        }
        let track = store.tracks()[0];
        (
            store.analysis(track).unwrap(),
            store.calibration(track, preset).unwrap(),
            chunks,
            filler.preemptions(),
        )
    };
    let (analysis, calibration, chunks, _) = run(None);
    let urgency = Urgency::new();
    let (analysis_news, calibration_news, chunks_news, preempted) = run(Some(urgency));
    eprintln!("{preempted} units of work dropped or cut short for news");
    assert!(
        preempted > 0,
        "the news never stopped any work: the test shows nothing"
    );
    assert_eq!(
        format!("{analysis_news:?}"),
        format!("{analysis:?}"),
        "the analysis"
    );
    assert!(
        (calibration_news - calibration).abs() < 1e-4,
        "calibration {calibration_news} vs {calibration} dB"
    );
    let keys =
        |c: &[(u32, Variant, Vec<f32>)]| c.iter().map(|(i, v, _)| (*i, *v)).collect::<Vec<_>>();
    assert_eq!(keys(&chunks_news), keys(&chunks), "the chunks served");
    assert!(
        chunks
            .iter()
            .any(|(_, v, _)| *v == Variant::Enhanced(preset)),
        "enhanced chunks were made"
    );
    for ((index, variant, got), (_, _, want)) in chunks_news.iter().zip(&chunks) {
        let worst = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= common::TOLERANCE,
            "chunk {index} {variant:?}: {worst:e}"
        );
    }
}

/// A calibration whose windows are shared over two threads (as warming one track on two cores
/// does) gives the same correction, bit for bit, as one made a window at a time on one.
#[test]
fn a_calibration_shared_over_threads_equals_one_on_a_thread() {
    let demo = common::fixture("../demo.flac");
    let mut source = Source::open(&demo, Some(RATE)).unwrap();
    let analysis = enhance::analyse(&mut source, false).unwrap();
    for preset in [Preset::Punchy, Preset::Gentle] {
        let alone = enhance::calibrate(&mut source, preset, &analysis).unwrap();
        let mut sources: Vec<Source> = (0..2)
            .map(|_| Source::open(&demo, Some(RATE)).unwrap())
            .collect();
        let shared = enhance::calibrate_shared(&mut sources, preset, &analysis).unwrap();
        assert_eq!(
            shared.to_bits(),
            alone.to_bits(),
            "{preset:?}: {shared} vs {alone} dB"
        );
        assert!(
            alone != 0.0,
            "{preset:?}: a calibration that moved nothing shows nothing"
        );
    }
}

//! `hearth cache warm DIR` when the folder does not fit the cache budget, through the real
//! binary: it warms what fits (the most recently played track first, then the folder's
//! order), says what did not fit, never evicts what it warmed or found warm in the same run
//! (not even for a track that was played more recently), and keeps the disk within the budget
//! — checked against `hearth cache stats --json`, the index and the warm files. And one
//! track warmed on every core — by `hearth cache warm` and by the player's background warming
//! — is the very same bytes as on one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::{Session, asset, ffmpeg, hearth};

/// Budget for the folder: the played track and the first two of the folder (about 307 MB of
/// warm files at 48 kHz, original + adaptive: 768 kB a second), not a fourth.
const BUDGET: &str = "320MB";
const BUDGET_BYTES: u64 = 320_000_000;

/// A larger budget for the last run: room for t3 besides the three (415 MB) but not for t5
/// (538 MB), nor for t3 at 48 kHz besides its files at 44.1 kHz (at least 464 MB).
const LARGER: &str = "440MB";
const LARGER_BYTES: u64 = 440_000_000;

/// Five distinct tracks of 2–2:40 (the demo looped from a different start, each 10 s longer
/// than the one before): `t1.flac` … `t5.flac`.
fn folder(dir: &Path) -> Vec<PathBuf> {
    let music = dir.join("music");
    std::fs::create_dir_all(&music).unwrap();
    let demo = asset("demo.flac");
    (1..=5u32)
        .map(|k| {
            let out = music.join(format!("t{k}.flac"));
            ffmpeg(&[
                "-stream_loop",
                "-1",
                "-i",
                demo.to_str().unwrap(),
                "-ss",
                &(k * 7).to_string(),
                "-t",
                &(110 + 10 * k).to_string(),
                "-c:a",
                "flac",
                out.to_str().unwrap(),
            ]);
            out
        })
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| {
            Path::new(e["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn stats(cache: &Path, budget: &str) -> Value {
    let o = hearth(cache)
        .args(["--cache-budget", budget, "cache", "stats", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The tracks the index lists as wholly cached (every variant's chunks present), by source
/// file name, with their chunk counts, after checking each listed file exists with the bytes
/// the index says.
fn cached_in_index(cache: &Path) -> BTreeMap<String, u64> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(cache.join("index.json")).unwrap()).unwrap();
    let mut whole = BTreeMap::new();
    for t in index["tracks"].as_array().unwrap() {
        let variants = t["variants"].as_array().unwrap();
        for v in variants {
            let file = cache.join("warm").join(v["file"].as_str().unwrap());
            assert_eq!(
                std::fs::metadata(&file).map(|m| m.len()).ok(),
                v["bytes"].as_u64(),
                "{}",
                file.display()
            );
        }
        let complete = variants.len() == 2
            && variants
                .iter()
                .all(|v| v["chunks_present"] == v["chunks_total"]);
        if complete {
            let path = t["fingerprint"]["canonical_path"].as_str().unwrap();
            whole.insert(
                Path::new(path)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                variants[0]["chunks_total"].as_u64().unwrap(),
            );
        }
    }
    whole
}

/// Bytes and number of the warm files in the cache directory.
fn warm_files(cache: &Path) -> (u64, usize) {
    std::fs::read_dir(cache.join("warm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hwt"))
        .fold((0, 0), |(b, n), p| {
            (b + std::fs::metadata(p).unwrap().len(), n + 1)
        })
}

/// Plays `track` at `rate` with the null output until a second of it has played (its
/// warm files exist by then), then quits: the track becomes the most recently played.
fn play_a_moment(cache: &Path, track: &Path, rate: &str) {
    let mut s = Session::start(
        cache,
        &["--output", "null", "--rate", rate, track.to_str().unwrap()],
    );
    s.wait("the track", |v| v["event"] == "track");
    s.wait("a second of it", |v| {
        v["event"] == "position" && v["seconds"].as_f64().is_some_and(|x| x >= 1.0)
    });
    assert!(s.quit(), "the player did not quit cleanly");
}

fn produced(st: &Value) -> u64 {
    st["all_time"]["chunks_produced"].as_u64().unwrap()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn warming_a_folder_over_budget_keeps_what_fits_played_first_and_evicts_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let tracks = folder(dir.path());
    let music = dir.path().join("music");
    let warm = |budget: &str, json: bool| {
        let mut c = hearth(&cache);
        c.args(["--cache-budget", budget, "cache", "warm", "--rate", "48000"]);
        c.args(["--jobs", "1"]); // deterministic order; the choice does not depend on it
        if json {
            c.arg("--json");
        }
        c.arg(&music).output().unwrap()
    };
    let sum = |list: &Value| -> u64 {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| e["bytes"].as_u64().unwrap())
            .sum()
    };
    // Every track said to be warmed is cached whole, nothing else is, and the disk is what
    // the command reported, within the budget.
    let check = |what: &str, budget: &str, limit: u64, warmed: &[&str], bytes: u64| {
        let st = stats(&cache, budget);
        assert_eq!(st["tracks"], warmed.len(), "{what}: {st}");
        assert_eq!(st["files"], 2 * warmed.len(), "{what}: {st}");
        assert_eq!(st["bytes"].as_u64(), Some(bytes), "{what}: {st}");
        assert!(bytes <= limit, "{what}: {st}");
        assert_eq!(warm_files(&cache), (bytes, 2 * warmed.len()), "{what}");
        let whole: BTreeSet<String> = cached_in_index(&cache).into_keys().collect();
        assert_eq!(whole, set(warmed), "{what}");
        st
    };

    // 1. t4 was played a moment ago: partly cached, the most recently played.
    play_a_moment(&cache, &tracks[3], "48000");
    let o = warm(BUDGET, true);
    assert!(
        o.status.success(),
        "did not fit is no failure: {}",
        stderr(&o)
    );
    let report: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("warm --json ({e}): {}", stderr(&o)));
    assert_eq!(report["tracks"], 5, "{report}");
    assert_eq!(report["budget_bytes"], BUDGET_BYTES, "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    // The played track first, then the folder's order while it fits.
    assert_eq!(
        names(&report["warmed"]),
        ["t4.flac", "t1.flac", "t2.flac"],
        "{report}"
    );
    assert_eq!(
        names(&report["did_not_fit"]),
        ["t3.flac", "t5.flac"],
        "{report}"
    );
    assert_eq!(sum(&report["warmed"]), report["warmed_bytes"]);
    assert_eq!(sum(&report["did_not_fit"]), report["did_not_fit_bytes"]);
    let warmed_bytes = report["warmed_bytes"].as_u64().unwrap();
    // Each left-out track would indeed have overflowed the budget.
    for e in report["did_not_fit"].as_array().unwrap() {
        assert!(
            warmed_bytes + e["bytes"].as_u64().unwrap() > BUDGET_BYTES,
            "{e}"
        );
        assert_eq!(e["partly_cached"], false, "{e}");
    }
    let three = ["t1.flac", "t2.flac", "t4.flac"];
    let st = check(
        "after the first run",
        BUDGET,
        BUDGET_BYTES,
        &three,
        warmed_bytes,
    );

    // 2. Again, in plain text: the same choice, nothing produced, nothing evicted.
    let o = warm(BUDGET, false);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stderr(&o);
    assert!(
        text.contains("warmed 3 of 5 tracks") && text.contains("3 already cached"),
        "{text}"
    );
    let last = text
        .lines()
        .find(|l| l.contains("did not fit the"))
        .unwrap_or_default();
    assert!(
        last.starts_with("2 tracks (") && last.ends_with(": t3.flac, t5.flac"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no bars when stderr is a pipe: {text}"
    );
    let again = check(
        "after the second run",
        BUDGET,
        BUDGET_BYTES,
        &three,
        warmed_bytes,
    );
    // Nothing warmed again. (The filler produces one chunk of a track before it finds the
    // track's warm files complete: at most one per track confirmed.)
    let made = produced(&again) - produced(&st);
    assert!(made <= 3, "{made} chunks produced again");

    // 3. t3 played a moment at 44.1 kHz: the most recently played, with files of its own that
    // the cache must now evict for t3 at 48 kHz — and it must not take one of the three
    // confirmed in the same run instead, although they were used longer ago.
    play_a_moment(&cache, &tracks[2], "44100");
    let before = stats(&cache, LARGER);
    assert_eq!(before["tracks"], 4, "{before}");
    assert!(before["bytes"].as_u64().unwrap() > warmed_bytes, "{before}");
    let o = warm(LARGER, true);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(names(&report["warmed"])[0], "t3.flac", "{report}");
    assert_eq!(names(&report["did_not_fit"]), ["t5.flac"], "{report}");
    let four = ["t1.flac", "t2.flac", "t3.flac", "t4.flac"];
    let bytes = report["warmed_bytes"].as_u64().unwrap();
    let after = check("after the larger run", LARGER, LARGER_BYTES, &four, bytes);
    // Only t3 was produced (and a chunk of each of the three confirmed): none of the three
    // was evicted and warmed again.
    let t3_chunks = cached_in_index(&cache)["t3.flac"];
    let made = produced(&after) - produced(&before);
    assert!(
        (t3_chunks..=t3_chunks + 3).contains(&made),
        "{made} chunks produced for t3's {t3_chunks}"
    );
}

/// The warm files of `cache`, name → bytes.
fn warm_bytes(cache: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(cache.join(hearth::cache::WARM_DIR))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// One track warmed on two threads (its segments shared out) is the very same bytes as on
/// one: a 3-minute MP3 (MP3: each segment's decoder restarts with its pre-roll), both
/// variants, byte for byte.
#[test]
fn one_track_warmed_on_two_threads_is_bit_identical_to_one_thread() {
    let work = tempfile::tempdir().unwrap();
    let mp3 = work.path().join("long.mp3");
    let demo = asset("demo.flac");
    ffmpeg(&[
        "-stream_loop",
        "4",
        "-i",
        demo.to_str().unwrap(),
        "-t",
        "180",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "192k",
        mp3.to_str().unwrap(),
    ]);
    let mut warmed = Vec::new();
    for jobs in ["1", "2"] {
        let cache = work.path().join(format!("cache-{jobs}"));
        let out = hearth(&cache)
            .args(["cache", "warm", "--json", "--rate", "48000", "--jobs", jobs])
            .arg(&mp3)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["threads"], jobs.parse::<u64>().unwrap(), "{report}");
        eprintln!(
            "{jobs} thread(s): {} x real time",
            report["fill_x_realtime"]
        );
        warmed.push(warm_bytes(&cache));
    }
    assert_eq!(warmed[0].len(), 2, "original + enhanced");
    assert_eq!(
        warmed[0].keys().collect::<Vec<_>>(),
        warmed[1].keys().collect::<Vec<_>>()
    );
    for (name, one) in &warmed[0] {
        let two = &warmed[1][name];
        assert_eq!(one.len(), two.len(), "{name}");
        if let Some(at) = one.iter().zip(two.iter()).position(|(a, b)| a != b) {
            panic!("{name} differs at byte {at} of {}", one.len());
        }
    }
}

/// Plays `track` on a real-time engine (null output) with `warmers` background warmers until
/// the warm tier holds all of it in both variants; the time that took, and the names of the
/// engine's warmer threads seen meanwhile.
fn warm_by_playing(cache: &Path, track: &Path, warmers: usize) -> (f64, BTreeSet<String>) {
    use hearth::output::OutputSpec;
    use hearth::{Engine, EngineConfig, Event, Variant};
    let engine = Engine::builder()
        .config(EngineConfig {
            rate: Some(48_000),
            cache: hearth::cache::CacheConfig::new(cache),
            warmers: Some(warmers),
            ..EngineConfig::default()
        })
        .build(OutputSpec::Null)
        .unwrap();
    let events = engine.events();
    engine.load(track).unwrap();
    let started = std::time::Instant::now();
    engine.play().unwrap();
    let (mut original, mut enhanced) = (false, false);
    let mut threads = BTreeSet::new();
    while !(original && enhanced) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "not warmed in 2 minutes"
        );
        for name in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(comm) = std::fs::read_to_string(name.path().join("comm"))
                && comm.starts_with("hearth-warmer")
            {
                threads.insert(comm.trim().to_string());
            }
        }
        if let Ok(Event::CacheProgress {
            variant,
            present,
            total,
            ..
        }) = events.recv_timeout(std::time::Duration::from_millis(50))
            && present == total
        {
            match variant {
                Variant::Original => original = true,
                Variant::Enhanced(_) => enhanced = true,
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(engine);
    (seconds, threads)
}

/// The player's background warming of the track it plays shares the track's segments over
/// the warmers (one per core): a 3-minute MP3 warmed by two is the very same bytes as by one,
/// and both warmer threads ran.
#[test]
fn the_players_background_warm_on_two_cores_is_bit_identical_to_one() {
    let work = tempfile::tempdir().unwrap();
    let mp3 = work.path().join("long.mp3");
    let demo = asset("demo.flac");
    ffmpeg(&[
        "-stream_loop",
        "4",
        "-i",
        demo.to_str().unwrap(),
        "-t",
        "180",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "192k",
        mp3.to_str().unwrap(),
    ]);
    let mut warmed = Vec::new();
    for warmers in [1usize, 2] {
        let cache = work.path().join(format!("cache-{warmers}"));
        let (seconds, threads) = warm_by_playing(&cache, &mp3, warmers);
        eprintln!("{warmers} warmer(s): warmed while playing in {seconds:.2} s ({threads:?})");
        assert_eq!(threads.len(), warmers, "{threads:?}");
        warmed.push(warm_bytes(&cache));
    }
    assert_eq!(warmed[0].len(), 2, "original + enhanced");
    assert_eq!(
        warmed[0].keys().collect::<Vec<_>>(),
        warmed[1].keys().collect::<Vec<_>>()
    );
    for (name, one) in &warmed[0] {
        let two = &warmed[1][name];
        assert_eq!(one.len(), two.len(), "{name}");
        if let Some(at) = one.iter().zip(two.iter()).position(|(a, b)| a != b) {
            panic!("{name} differs at byte {at} of {}", one.len());
        }
    }
}

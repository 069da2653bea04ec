//! A long session through the real player: `hearth play --json --output null` on a folder of
//! 30 distinct tracks (3-minute MP3s and 1-minute Oggs made by ffmpeg at test time), a seek and
//! `next` every second, a 600 MB cache budget — sampled from `/proc` every 200 ms:
//!
//! * the player's memory (VmRSS, what `top` shows, mapped warm pages included) stays under
//!   64 MiB, and its anonymous memory after the 28th track is within 8 MiB of after the 5th;
//! * disk held — the cache directory plus any removed warm file still mapped or open — stays
//!   within 1.05 × the budget at every sample, and at the end no removed file is held;
//! * threads do not accumulate.
//!
//! Linux only (it reads `/proc`); needs ffmpeg (the README's prerequisites).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use support::ffmpeg;

use std::path::Path;
use std::time::{Duration, Instant};

const BUDGET: u64 = 600_000_000;

/// (VmRSS, RssAnon, threads) of `pid`, KiB.
fn status(pid: u32) -> Option<(u64, u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("RssAnon:")?, field("Threads:")?))
}

/// Bytes of the files under `dir` as allocated on disk.
fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.blocks() * 512,
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(target_os = "linux")]
#[test]
fn thirty_tracks_with_seeks_and_skips_stay_within_memory_and_the_cache_budget() {
    let work = tempfile::tempdir().unwrap();
    let lib = work.path().join("library");
    std::fs::create_dir(&lib).unwrap();
    let demo = support::asset("demo.flac");
    let mp3 = work.path().join("long.mp3");
    let ogg = work.path().join("short.ogg");
    let demo = demo.to_str().unwrap();
    ffmpeg(&[
        "-stream_loop",
        "4",
        "-i",
        demo,
        "-t",
        "180",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "192k",
        mp3.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        demo,
        "-t",
        "60",
        "-c:a",
        "libvorbis",
        "-q:a",
        "4",
        ogg.to_str().unwrap(),
    ]);
    // Distinct tracks: every path is a new track to the cache (hard links cost no space).
    for i in 0..30 {
        let (src, ext) = if i % 3 == 2 {
            (&ogg, "ogg")
        } else {
            (&mp3, "mp3")
        };
        std::fs::hard_link(src, lib.join(format!("track {i:02}.{ext}"))).unwrap();
    }
    let cache = work.path().join("cache");
    let mut c = support::hearth(&cache);
    c.args([
        "--cache-budget",
        "600MB",
        "play",
        "--json",
        "--output",
        "null",
    ])
    .arg(&lib);
    let mut s = support::Session::spawn(c);
    let pid = s.child.id();
    s.wait("the first track", |v| v["event"] == "track");
    let warm_dir = cache.join(hearth::cache::WARM_DIR);
    let mut peak_rss = 0;
    let mut worst_disk = 0;
    let mut anon = Vec::new();
    let mut threads = Vec::new();
    let sample = |peak_rss: &mut u64, worst_disk: &mut u64| {
        let (rss, anon_kb, th) = status(pid).expect("the player is running");
        *peak_rss = (*peak_rss).max(rss);
        let held = hearth::cache::held_by_processes(&warm_dir).unwrap_or_default();
        *worst_disk = (*worst_disk).max(du(&cache) + held.bytes);
        (anon_kb, th)
    };
    for track in 1..=30 {
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            sample(&mut peak_rss, &mut worst_disk);
            std::thread::sleep(Duration::from_millis(200));
        }
        let (anon_kb, th) = sample(&mut peak_rss, &mut worst_disk);
        anon.push(anon_kb);
        threads.push(th);
        s.send(r#"{"cmd":"seek","seconds":30}"#);
        std::thread::sleep(Duration::from_millis(200));
        if track < 30 {
            s.send(r#"{"cmd":"next"}"#);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = hearth::cache::held_by_processes(&warm_dir).unwrap_or_default();
    let stats = s.ack(r#"{"cmd":"stats"}"#);
    assert!(s.quit(), "the player did not quit cleanly");
    let mib = |kb: u64| kb as f64 / 1024.0;
    let growth = mib(anon[27]) - mib(anon[4]);
    eprintln!(
        "long session: peak VmRSS {:.1} MiB; RssAnon after the 5th track {:.1} MiB, after the \
         28th {:.1} MiB ({growth:+.1}); worst disk held {:.1} MB of a {:.0} MB budget; \
         threads {:?}; hot hits {}",
        mib(peak_rss),
        mib(anon[4]),
        mib(anon[27]),
        worst_disk as f64 / 1e6,
        BUDGET as f64 / 1e6,
        threads,
        stats["stats"]["session"]["hot_hits"],
    );
    assert!(mib(peak_rss) <= 64.0, "peak VmRSS {:.1} MiB", mib(peak_rss));
    assert!(
        growth <= 8.0,
        "anonymous memory grew by {growth:.1} MiB over 23 tracks"
    );
    assert!(
        worst_disk as f64 <= 1.05 * BUDGET as f64,
        "disk held reached {worst_disk} bytes"
    );
    assert_eq!(
        held.files, 0,
        "removed warm files still held at the end: {held:?}"
    );
    assert!(
        threads.iter().max() == threads.iter().min(),
        "threads changed over the session: {threads:?}"
    );
    assert!(
        stats["stats"]["session"]["hot_hits"].as_u64().unwrap_or(0) > 0,
        "no hot hit counted: {stats}"
    );
}

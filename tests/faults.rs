//! Fault injection against the real player (`hearth play --json`): a full cache disk, the
//! cache directory deleted while playing, a source file deleted or overwritten while playing,
//! and the output failing mid-stream. In every case playback continues (or moves on) with an
//! event, nothing panics, the player quits cleanly, and the condition is reported once.
//!
//! The cache tier's own fault tests (read-only directory, simulated write errors, an
//! immutable directory, a damaged index, corrupt chunks) are in `cache/tests/warm_store.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{Session, asset, hearth};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn copy(from: &Path, to: &Path) -> PathBuf {
    std::fs::copy(from, to).unwrap();
    to.to_path_buf()
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 path"))
}

/// Messages of the `error` events seen.
fn errors(s: &Session) -> Vec<String> {
    s.log
        .iter()
        .filter(|v| v["event"] == "error")
        .map(|v| v["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn cache_reports(s: &Session) -> Vec<Value> {
    s.log
        .iter()
        .filter(|v| v["event"] == "cache_status")
        .cloned()
        .collect()
}

/// Waits (up to 20 s) until the player says the queue has ended.
fn wait_queue_end(s: &mut Session) {
    s.wait_for("the end of the queue", Duration::from_secs(20), |v| {
        v["event"] == "queue_end"
    });
}

/// A size-limited tmpfs mounted for the test's lifetime.
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(at: &Path, size: &str) -> Option<TinyFs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyFs(at.to_path_buf()))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A cache on a 256 KiB file system: no warm file fits (they are preallocated whole, so the
/// disk fills at creation, never mid-write). The player plays from decode-on-demand and says
/// so once.
#[test]
fn a_full_cache_disk_is_reported_once_and_playback_continues() {
    let dir = tmp();
    let Some(fs) = TinyFs::mount(&dir.path().join("cache"), "256k") else {
        eprintln!("cannot mount a tmpfs here (not root?); the write-error hook covers this");
        return;
    };
    let track = asset("fixtures/flac16_44k.flac");
    let second = asset("fixtures/mp3_cbr.mp3");
    let mut s = Session::start(
        &fs.0,
        &[
            "--output",
            "null",
            "--rate",
            "48000",
            arg(&track),
            arg(&second),
        ],
    );
    wait_queue_end(&mut s);
    let reports = cache_reports(&s);
    assert_eq!(
        reports.iter().filter(|v| v["healthy"] == false).count(),
        1,
        "the full disk is reported once: {reports:?}"
    );
    assert!(
        reports[0]["reason"].as_str().unwrap_or_default().len() > 5,
        "with a reason: {reports:?}"
    );
    assert_eq!(s.count("track"), 2, "both tracks played: {:?}", s.log);
    assert!(errors(&s).is_empty(), "{:?}", errors(&s));
    assert!(s.quit(), "the player exits cleanly");
}

/// A cache budget smaller than the tracks in use need (20 MB; each 40 s variant of the demo
/// at 48 kHz is 15.4 MB, so a track's original fits and its enhanced variant does not), with
/// a short track between two long ones (whose files all fit): the player says so once — not
/// again when a file fits, nor when the next long one does not — plays what does not fit
/// from decode-on-demand, keeps the disk within the budget and never removes the playing
/// track's file.
#[test]
fn a_budget_smaller_than_the_tracks_in_use_is_reported_once_and_played_through() {
    let dir = tmp();
    let cache = dir.path().join("cache");
    let demo = asset("demo.flac");
    let first = copy(&demo, &dir.path().join("first.flac"));
    let short = asset("fixtures/flac16_44k.flac");
    let third = copy(&demo, &dir.path().join("third.flac"));
    let mut s = Session::start(
        &cache,
        &[
            "--output",
            "null",
            "--rate",
            "48000",
            "--cache-budget",
            "20MB",
            arg(&first),
            arg(&short),
            arg(&third),
        ],
    );
    let warm_bytes = |cache: &Path| -> u64 {
        std::fs::read_dir(cache.join("warm"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    s.wait("the first track", |v| v["event"] == "track");
    let short_budget = s.wait_for("the short budget", Duration::from_secs(10), |v| {
        v["event"] == "cache_status"
    });
    assert_eq!(short_budget["healthy"], false, "{short_budget}");
    assert!(
        short_budget["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("budget"),
        "the reason names the budget: {short_budget}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let held = warm_bytes(&cache);
    assert!(
        (10_000_000..=20_000_000).contains(&held),
        "the playing track's original is kept, within the budget: {held} bytes"
    );
    // Into the first track's last seconds, through the short one, into the third.
    s.send(r#"{"cmd":"seek","seconds":36}"#);
    s.wait_for("the third track", Duration::from_secs(15), |v| {
        v["event"] == "track" && v["entry"] == 3
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        warm_bytes(&cache) <= 20_000_000,
        "{} bytes",
        warm_bytes(&cache)
    );
    s.send(r#"{"cmd":"seek","seconds":37}"#);
    wait_queue_end(&mut s);
    let reports = cache_reports(&s);
    assert_eq!(reports.len(), 1, "said once: {reports:?}");
    assert_eq!(s.count("track"), 3, "every track played: {:?}", s.log);
    assert!(errors(&s).is_empty(), "{:?}", errors(&s));
    let positions: Vec<f64> = s
        .log
        .iter()
        .filter(|v| v["event"] == "position" && v["entry"] == 3)
        .filter_map(|v| v["seconds"].as_f64())
        .collect();
    assert!(
        positions.iter().any(|&p| p > 39.0),
        "the third track played to its end: {positions:?}"
    );
    assert!(s.quit());
}

/// The cache directory removed while a track plays: the mapped chunks keep playing, the next
/// track plays from decode-on-demand, and the player tells once (and once more when the
/// cache is back).
#[test]
fn the_cache_directory_deleted_while_playing_is_survived() {
    let dir = tmp();
    let cache = dir.path().join("cache");
    let first = asset("fixtures/flac16_44k.flac");
    let second = asset("fixtures/vorbis.ogg");
    let third = asset("fixtures/alac.m4a");
    let mut s = Session::start(
        &cache,
        &[
            "--output",
            "null",
            "--rate",
            "48000",
            arg(&first),
            arg(&second),
            arg(&third),
        ],
    );
    s.wait("the first track", |v| v["event"] == "track");
    std::fs::remove_dir_all(&cache).unwrap();
    wait_queue_end(&mut s);
    assert_eq!(s.count("track"), 3, "every track played: {:?}", s.log);
    let reports = cache_reports(&s);
    let down = reports.iter().filter(|v| v["healthy"] == false).count();
    let up = reports.iter().filter(|v| v["healthy"] == true).count();
    assert!(down <= 1 && up <= down, "reported once: {reports:?}");
    assert!(errors(&s).is_empty(), "{:?}", errors(&s));
    assert!(s.quit());
}

/// A source deleted while it plays: the open file keeps its data (as on any Unix), so the
/// track plays to its end and the next one follows.
#[test]
fn a_source_deleted_while_playing_plays_to_its_end() {
    let dir = tmp();
    let track = copy(
        &asset("fixtures/flac16_44k.flac"),
        &dir.path().join("a.flac"),
    );
    let next = asset("fixtures/vorbis.ogg");
    let mut s = Session::start(
        &dir.path().join("cache"),
        &[
            "--output",
            "null",
            "--rate",
            "48000",
            arg(&track),
            arg(&next),
        ],
    );
    s.wait("the first track", |v| v["event"] == "track");
    std::fs::remove_file(&track).unwrap();
    wait_queue_end(&mut s);
    let ends: Vec<&Value> = s.log.iter().filter(|v| v["event"] == "track_end").collect();
    assert_eq!(ends.len(), 2, "both tracks ended normally: {:?}", s.log);
    assert!(errors(&s).is_empty(), "{:?}", errors(&s));
    assert!(s.quit());
}

/// A source overwritten in place with garbage while it plays (the worst case: the decoder
/// reads the new bytes for everything not yet produced). Playback of what was produced goes
/// on, the damage is reported once, a seek into the garbage neither panics nor hangs, and
/// the player moves on to the next track; the cache holds no bad chunk. (That a changed file
/// is never served from the old cache is `cache/tests/warm_store.rs`'s
/// `a_replaced_source_is_never_served_from_the_old_cache`.)
#[test]
fn a_source_overwritten_while_playing_is_reported_once_and_skipped() {
    let dir = tmp();
    let cache = dir.path().join("cache");
    let track = copy(&asset("demo.flac"), &dir.path().join("demo.flac"));
    let next = asset("fixtures/vorbis.ogg");
    let mut s = Session::start(
        &cache,
        &[
            "--output",
            "null",
            "--rate",
            "48000",
            arg(&track),
            arg(&next),
        ],
    );
    s.wait("the first track", |v| v["event"] == "track");
    s.wait("a position", |v| v["event"] == "position");
    // Same inode, same length, new content: garbage from 64 KiB on.
    let mut bytes = std::fs::read(&track).unwrap();
    let mut x = 0x9E37_79B9u32;
    for b in bytes.iter_mut().skip(64 << 10) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(&track, &bytes).unwrap();
    s.send(r#"{"cmd":"seek","seconds":30}"#);
    s.wait_for("the next track", Duration::from_secs(60), |v| {
        v["event"] == "track" && v["entry"] == 2
    });
    wait_queue_end(&mut s);
    let errs = errors(&s);
    let about_it: Vec<&String> = errs.iter().filter(|m| m.contains("demo.flac")).collect();
    assert!(
        about_it.len() <= 1,
        "the damage is reported at most once: {errs:?}"
    );
    assert!(s.quit());

    let stats = hearth(&cache)
        .args(["cache", "verify", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(report["bad_chunks"], serde_json::json!([]), "{report}");
}

/// The output failing mid-stream: a WAV recording whose writes start failing (the file-size
/// limit, `RLIMIT_FSIZE`, makes the kernel refuse them with EFBIG after 1 MiB, about 2.7 s at
/// 48 kHz). The engine loses the sink, says so once, falls back to the null sink, and plays
/// the queue to its end; the unfinished recording is removed, not left half-written.
#[test]
fn an_output_failing_mid_stream_falls_back_once_and_playback_continues() {
    use std::os::unix::process::CommandExt;
    let dir = tmp();
    let out = dir.path().join("out.wav");
    let track = asset("fixtures/flac16_44k.flac");
    let mut c = hearth(&dir.path().join("cache"));
    c.args(["play", "--json", "--rate", "48000", "--output"])
        .arg(format!("wav:{}", out.display()))
        .args([arg(&track), arg(&track), arg(&track)]);
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit) run.
    unsafe {
        c.pre_exec(|| {
            // Ignored signals stay ignored across exec: EFBIG instead of death by SIGXFSZ.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut s = Session::spawn(c);
    wait_queue_end(&mut s);
    let errs = errors(&s);
    let lost: Vec<&String> = errs.iter().filter(|m| m.contains("lost")).collect();
    assert_eq!(lost.len(), 1, "the loss is reported once: {errs:?}");
    assert!(lost[0].contains("null sink"), "{lost:?}");
    let devices: Vec<&Value> = s.log.iter().filter(|v| v["event"] == "device").collect();
    assert!(
        devices
            .last()
            .is_some_and(|d| d["name"].as_str().unwrap_or_default().contains("null")),
        "now on the null sink: {devices:?}"
    );
    assert_eq!(s.count("track"), 3, "the queue played on: {:?}", s.log);
    assert!(s.quit());
    assert!(!out.exists(), "no half-written recording at the target");
}

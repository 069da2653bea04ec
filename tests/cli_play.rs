//! The player without a terminal: the JSON protocol driven over stdin (with the WAV recorder
//! capturing what a listener would have heard), the headless player, and the cache commands
//! (a warmed track plays with no cold production).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Session, asset, hearth};

#[test]
fn a_scripted_json_session_controls_playback_and_the_recording_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let out = format!("wav:{}", wav.display());
    let demo = asset("demo.flac");
    let second = asset("fixtures/vorbis.ogg");
    let started = Instant::now();
    let mut s = Session::start(
        &dir.path().join("cache"),
        &[
            "--output",
            &out,
            "--preset",
            "gentle",
            demo.to_str().unwrap_or_default(),
            second.to_str().unwrap_or_default(),
        ],
    );
    s.wait("the device", |v| {
        v["event"] == "device" && v["rate"].is_number()
    });
    let track = s.wait("the first track", |v| v["event"] == "track");
    assert!(
        track["title"]
            .as_str()
            .is_some_and(|t| t.contains("Hearth Demo")),
        "{track}"
    );
    assert!(s.position() < 5.0);
    // Seek: acknowledged, then position near the target.
    let ack = s.ack(r#"{"cmd":"seek","seconds":30,"id":7}"#);
    assert_eq!(ack["event"], "ack");
    assert_eq!(ack["id"], 7);
    s.wait("the seek", |v| {
        v["event"] == "seeked"
            && v["seconds"]
                .as_f64()
                .is_some_and(|x| (x - 30.0).abs() < 0.01)
    });
    let p = s.position();
    assert!(
        (30.0..32.0).contains(&p),
        "position {p} after seeking to 30 s"
    );
    // Enhancement, preset, intensity.
    assert_eq!(s.ack(r#"{"cmd":"enhance","on":false}"#)["on"], false);
    s.wait("enhancement off", |v| {
        v["event"] == "enhancement" && v["on"] == false
    });
    assert_eq!(s.ack(r#"{"cmd":"enhance","on":true}"#)["event"], "ack");
    assert_eq!(s.ack(r#"{"cmd":"preset","name":"warm"}"#)["name"], "warm");
    s.wait("the warm preset playing", |v| {
        v["event"] == "enhancement" && v["preset"] == "warm"
    });
    assert_eq!(s.ack(r#"{"cmd":"intensity","value":0.5}"#)["value"], 0.5);
    // Bad input: an error line, and the player keeps going.
    s.seen.clear();
    s.send("this is not json");
    let e = s.wait("an error for a malformed line", |v| v["event"] == "error");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("malformed")),
        "{e}"
    );
    let e = s.ack(r#"{"cmd":"preset","name":"loudest"}"#);
    assert_eq!(e["event"], "error");
    let e = s.ack(r#"{"cmd":"fly"}"#);
    assert_eq!(e["event"], "error");
    let status = s.ack(r#"{"cmd":"status"}"#);
    assert_eq!(status["state"], "playing");
    assert_eq!(status["preset"], "warm");
    assert_eq!(status["intensity"], 0.5);
    // Next track.
    assert_eq!(s.ack(r#"{"cmd":"next"}"#)["event"], "ack");
    let t = s.wait("the second track", |v| {
        v["event"] == "track"
            && v["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("vorbis.ogg"))
    });
    assert_eq!(t["entry"], 2);
    // Let the second track play for a second, so the recording spans both tracks.
    s.wait("a second into the second track", |v| {
        v["event"] == "position"
            && v["entry"] == 2
            && v["seconds"].as_f64().is_some_and(|x| x >= 1.0)
    });
    let q = s.ack(r#"{"cmd":"queue"}"#);
    assert_eq!(q["queue"].as_array().map(Vec::len), Some(2));
    assert_eq!(q["queue"][1]["current"], true);
    let session = started.elapsed().as_secs_f64();
    let quit = s.ack(r#"{"cmd":"quit"}"#);
    assert_eq!(quit["event"], "ack");
    let status = s.child.wait().unwrap();
    assert!(status.success(), "exit {status}");
    // The recording: what a listener heard, in real time, with audio in it.
    let mut r = hound::WavReader::open(&wav).unwrap_or_else(|e| panic!("{}: {e}", wav.display()));
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_format),
        (2, hound::SampleFormat::Float)
    );
    let samples: Vec<f32> = r.samples::<f32>().map(|x| x.unwrap_or(0.0)).collect();
    let seconds = samples.len() as f64 / 2.0 / f64::from(spec.sample_rate);
    // Paced in real time: no more audio than the session lasted, and at least the second
    // of track two plus the stretch before the seek.
    assert!(
        seconds > 1.0 && seconds < session + 0.5,
        "{seconds} s recorded in a {session} s session"
    );
    let rms = (samples.iter().map(|x| x * x).sum::<f32>() / samples.len() as f32).sqrt();
    assert!(rms > 0.01, "the recording is silent");
    assert!(samples.iter().all(|x| x.abs() <= 1.0));
}

#[test]
fn the_headless_player_plays_to_the_end_and_skips_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.flac");
    std::fs::write(&bad, b"not audio at all").unwrap();
    let started = Instant::now();
    let out = hearth(&dir.path().join("cache"))
        .args(["play", "--output", "null"])
        .arg(&bad)
        .arg(asset("fixtures/vorbis.ogg"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("Hearth fixture vorbis"), "{stdout}");
    assert!(
        stderr.contains("broken.flac")
            && stderr.lines().filter(|l| l.contains("broken.flac")).count() == 1,
        "{stderr}"
    );
    // Played in real time: the 2 s track took about 2 s.
    assert!(
        started.elapsed() > Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_warmed_track_plays_with_no_cold_production() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let track = asset("fixtures/flac16_44k.flac");
    let warm = hearth(&cache)
        .args(["cache", "warm", "--rate", "48000", "--preset", "gentle"])
        .arg(&track)
        .output()
        .unwrap();
    assert!(
        warm.status.success(),
        "{}",
        String::from_utf8_lossy(&warm.stderr)
    );
    let stats = |cache: &Path| -> Value {
        let o = hearth(cache)
            .args(["cache", "stats", "--json"])
            .output()
            .unwrap();
        assert!(o.status.success());
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let before = stats(&cache);
    assert_eq!(before["tracks"], 1);
    assert!(
        before["bytes"].as_u64().unwrap_or(0) > 1_000_000,
        "{before}"
    );
    assert_eq!(before["files"], 2, "original and gentle: {before}");
    // Play it to the end at the same rate and preset.
    let mut s = Session::start(
        &cache,
        &[
            "--output",
            "null",
            "--rate",
            "48000",
            "--preset",
            "gentle",
            track.to_str().unwrap_or_default(),
        ],
    );
    s.wait("the end of the queue", |v| v["event"] == "queue_end");
    let st = s.ack(r#"{"cmd":"stats"}"#);
    let session = &st["stats"]["session"];
    assert_eq!(
        session["misses"], 0,
        "cold productions while playing a warmed track: {st}"
    );
    assert!(session["warm_hits"].as_u64().unwrap_or(0) > 0, "{st}");
    s.ack(r#"{"cmd":"quit"}"#);
    let _ = s.child.wait();
    let after = stats(&cache);
    assert_eq!(after["all_time"]["misses"], 0, "{after}");
    // Clean and verify.
    let v = hearth(&cache)
        .args(["cache", "verify", "--json"])
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let c = hearth(&cache)
        .args(["cache", "clean", "--all"])
        .output()
        .unwrap();
    assert!(c.status.success());
    assert_eq!(stats(&cache)["tracks"], 0);
}

//! Loudness normalisation through the real player, measured with an independent meter
//! (ffmpeg's EBU R128 `ebur128` filter): the same 2-minute music at two levels 14 dB apart, in
//! one folder, analysed by `hearth cache warm`, then played with enhancement off into a `wav:`
//! recording.
//!
//! * `--normalize track`: the two play within 1 LU of each other (towards −18 LUFS, as far as
//!   the −1 dBTP ceiling lets this music go);
//! * `--normalize album`: they keep their 14 dB difference (±1 LU);
//! * `--normalize off`: they play as recorded (14 dB apart).
//!
//! Needs ffmpeg (the README's prerequisites).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{Session, ffmpeg};

/// Seconds of each track recorded.
const PLAY_SECONDS: f64 = 8.0;

/// Integrated loudness of `wav`, LUFS, by ffmpeg's EBU R128 meter.
fn lufs(wav: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(wav)
        .args(["-af", "ebur128", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    // The summary's "I:   -18.0 LUFS" is the last one printed.
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("I:"))
        .filter_map(|v| v.trim().trim_end_matches("LUFS").trim().parse::<f64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no loudness in ffmpeg's output:\n{text}"))
}

/// Plays `first` (then `second` is queued after it, unplayed) for [`PLAY_SECONDS`] with
/// `mode`, into a WAV; returns its loudness.
fn played(work: &Path, cache: &Path, mode: &str, first: &Path, second: &Path) -> f64 {
    let name = format!(
        "{mode}-{}.wav",
        first.file_stem().unwrap().to_string_lossy()
    );
    let wav = work.join(name);
    let out = format!("wav:{}", wav.display());
    let mut s = Session::start(
        cache,
        &[
            "--output",
            &out,
            "--enhance",
            "off",
            "--normalize",
            mode,
            first.to_str().unwrap(),
            second.to_str().unwrap(),
        ],
    );
    s.wait_for("the recording", Duration::from_secs(30), |v| {
        v["event"] == "position" && v["seconds"].as_f64().unwrap_or(0.0) >= PLAY_SECONDS
    });
    let status = s.ack(r#"{"cmd":"status"}"#);
    assert_eq!(status["normalize"], mode, "{status}");
    assert!(s.quit(), "the player did not exit 0");
    lufs(&wav)
}

fn tracks(dir: &Path) -> (PathBuf, PathBuf) {
    let demo = support::asset("demo.flac");
    let demo = demo.to_str().unwrap();
    let make = |name: &str, gain_db: f64| {
        let out = dir.join(name);
        ffmpeg(&[
            "-stream_loop",
            "3",
            "-i",
            demo,
            "-t",
            "120",
            "-af",
            &format!("volume={gain_db}dB"),
            out.to_str().unwrap(),
        ]);
        out
    };
    (make("loud.flac", -2.0), make("quiet.flac", -16.0))
}

#[test]
fn track_mode_levels_two_tracks_and_album_mode_keeps_their_difference() {
    let work = tempfile::tempdir().unwrap();
    let album = work.path().join("album");
    std::fs::create_dir(&album).unwrap();
    let (loud, quiet) = tracks(&album);
    let cache = work.path().join("cache");
    // Analyse both (the files carry no ReplayGain tags: the gains come from the analysis).
    let warmed = support::hearth(&cache)
        .args(["cache", "warm"])
        .arg(&album)
        .output()
        .unwrap();
    assert!(
        warmed.status.success(),
        "{}",
        String::from_utf8_lossy(&warmed.stderr)
    );

    let off = (
        played(work.path(), &cache, "off", &loud, &quiet),
        played(work.path(), &cache, "off", &quiet, &loud),
    );
    let track = (
        played(work.path(), &cache, "track", &loud, &quiet),
        played(work.path(), &cache, "track", &quiet, &loud),
    );
    let by_album = (
        played(work.path(), &cache, "album", &loud, &quiet),
        played(work.path(), &cache, "album", &quiet, &loud),
    );
    eprintln!(
        "LUFS (loud, quiet): off {off:.2?}, track {track:.2?}, album {by_album:.2?} \
         (ffmpeg ebur128)"
    );
    assert!(
        (off.0 - off.1 - 14.0).abs() <= 0.5,
        "as recorded the two are not 14 dB apart: {off:?}"
    );
    assert!(
        (track.0 - track.1).abs() <= 1.0,
        "track mode leaves {:.2} LU between them: {track:?}",
        track.0 - track.1
    );
    // Towards −18 LUFS as far as the −1 dBTP ceiling allows: this music's crest factor stops
    // both short of it (the demo peaks near full scale), at the same level.
    assert!(
        track.0 <= -18.0 + 0.5 && track.1 - off.1 >= 13.0,
        "the quiet track was not raised to the loud one's level: off {off:?}, track {track:?}"
    );
    assert!(
        (by_album.0 - by_album.1 - 14.0).abs() <= 1.0,
        "album mode changed their difference: {by_album:?}"
    );
}

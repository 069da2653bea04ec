//! The session kept across runs, through the real player (`hearth play --json`): the queue,
//! the current track, the position, paused or playing and the enhancement settings come back
//! with `--resume` (and with `resume = true` in the config file); a player killed without a
//! `quit` comes back within the ten seconds between writes; a damaged or missing session file
//! is one line on stderr and a normal start.
//!
//! Every player runs with a private `HOME`, `XDG_STATE_HOME` and `XDG_CONFIG_HOME`, so the
//! session file is the test's own. The two tracks (2.5 and 2.3 minutes) are made from the
//! demo by ffmpeg at test time (the README's prerequisites).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::{Session, ffmpeg};

/// A private home for the players of one test.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Where the player keeps its session (`$XDG_STATE_HOME/hearth/session.json`).
    fn session_file(&self) -> PathBuf {
        self.path("state/hearth/session.json")
    }

    fn session(&self) -> Value {
        let f = self.session_file();
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", f.display()))
    }

    /// `hearth play --json ARGS...` with this home.
    fn player(&self, args: &[&str]) -> Session {
        let mut c = support::hearth(&self.path("cache"));
        c.env("HOME", self.dir.path())
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env_remove("HEARTH_CONFIG")
            .args(["play", "--json"])
            .args(args);
        Session::spawn(c)
    }

    /// Two multi-minute tracks (the demo looped; the second 6 dB quieter).
    fn tracks(&self) -> (PathBuf, PathBuf) {
        let demo = support::asset("demo.flac");
        let demo = demo.to_str().unwrap();
        let one = self.path("one.flac");
        let two = self.path("two.flac");
        ffmpeg(&[
            "-stream_loop",
            "3",
            "-i",
            demo,
            "-t",
            "150",
            one.to_str().unwrap(),
        ]);
        ffmpeg(&[
            "-stream_loop",
            "3",
            "-i",
            demo,
            "-t",
            "140",
            "-af",
            "volume=-6dB",
            two.to_str().unwrap(),
        ]);
        (one, two)
    }
}

fn status(s: &mut Session) -> Value {
    let v = s.ack(r#"{"cmd":"status","id":"st"}"#);
    assert_eq!(v["event"], "ack", "{v}");
    v
}

fn seconds(v: &Value) -> f64 {
    v["seconds"].as_f64().unwrap_or(-1.0)
}

fn near(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-3)
}

/// Quits `s` and returns what it wrote on stderr (once its pipe has closed).
fn quit(s: Session) -> String {
    let stderr = Arc::clone(&s.stderr);
    assert!(s.quit(), "the player did not exit cleanly after quit");
    read_stderr(&stderr)
}

fn read_stderr(stderr: &Arc<Mutex<String>>) -> String {
    // The reader thread takes the last lines after the process has gone.
    std::thread::sleep(Duration::from_millis(200));
    stderr.lock().map(|s| s.clone()).unwrap_or_default()
}

/// The stderr lines that mention the session.
fn session_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("session") || l.contains("--resume"))
        .collect()
}

#[test]
fn quit_in_the_second_track_resumes_there_paused_with_the_same_settings() {
    let home = Home::new();
    let (one, two) = home.tracks();
    let mut s = home.player(&[
        "--output",
        "null",
        one.to_str().unwrap(),
        two.to_str().unwrap(),
    ]);
    s.wait("the first track", |v| {
        v["event"] == "track" && v["entry"] == 1
    });
    s.ack(r#"{"cmd":"play_entry","entry":2}"#);
    s.wait("the second track", |v| {
        v["event"] == "track" && v["entry"] == 2
    });
    s.ack(r#"{"cmd":"seek","seconds":75}"#);
    s.wait("the seek", |v| v["event"] == "seeked" && v["entry"] == 2);
    for cmd in [
        r#"{"cmd":"preset","name":"warm"}"#,
        r#"{"cmd":"intensity","value":0.4}"#,
        r#"{"cmd":"volume","value":0.7}"#,
        r#"{"cmd":"enhance","on":false}"#,
    ] {
        assert_eq!(s.ack(cmd)["event"], "ack", "{cmd}");
    }
    s.ack(r#"{"cmd":"pause"}"#);
    s.wait("paused", |v| {
        v["event"] == "state" && v["state"] == "paused"
    });
    std::thread::sleep(Duration::from_millis(300));
    let before = status(&mut s);
    assert_eq!(before["state"], "paused", "{before}");
    let at = seconds(&before);
    assert!((75.0..77.0).contains(&at), "{before}");
    let err = quit(s);

    // The file: what was playing, where, and how.
    let saved = home.session();
    assert_eq!(saved["version"], 1, "{saved}");
    let queue: Vec<&str> = saved["queue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(queue, [one.to_str().unwrap(), two.to_str().unwrap()]);
    assert_eq!(saved["current"], 1, "{saved}");
    let pos = saved["position_seconds"].as_f64().unwrap();
    assert!((pos - at).abs() < 0.05, "saved {pos}, reported {at}");
    assert_eq!(saved["paused"], true);
    assert_eq!(saved["enhance"], false);
    assert_eq!(saved["preset"], "warm");
    assert!(
        near(&saved["intensity"], 0.4) && near(&saved["volume"], 0.7),
        "{saved}"
    );
    let dir: Vec<String> = std::fs::read_dir(home.path("state/hearth"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dir, ["session.json"], "a temporary file was left behind");
    assert!(session_lines(&err).is_empty(), "{err}");

    // `--resume`: the same track, paused where it was, the same settings — and silent: the
    // recording of a paused resume holds not one sample of sound.
    let wav = home.path("heard.wav");
    let out = format!("wav:{}", wav.display());
    let mut r = home.player(&["--output", &out, "--resume"]);
    let track = r.wait("the resumed track", |v| v["event"] == "track");
    assert_eq!(track["path"], two.to_str().unwrap(), "{track}");
    let entry = track["entry"].clone();
    let now = status(&mut r);
    assert_eq!(now["state"], "paused", "{now}");
    assert_eq!(now["entry"], entry, "{now}");
    assert!(
        (seconds(&now) - at).abs() <= 1.0,
        "resumed at {now}, was {at}"
    );
    assert_eq!(now["enhance"], false, "{now}");
    assert_eq!(now["preset"], "warm", "{now}");
    assert!(
        near(&now["intensity"], 0.4) && near(&now["volume"], 0.7),
        "{now}"
    );
    let q = r.ack(r#"{"cmd":"queue"}"#);
    let q = q["queue"].as_array().unwrap().clone();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0]["path"], one.to_str().unwrap());
    assert_eq!(q[1]["current"], true);
    std::thread::sleep(Duration::from_millis(1500));
    let later = status(&mut r);
    assert_eq!(later["state"], "paused", "{later}");
    assert!(
        (seconds(&later) - seconds(&now)).abs() < 0.01,
        "moved while paused: {later}"
    );
    let err = quit(r);
    assert!(session_lines(&err).is_empty(), "{err}");
    let mut reader = hound::WavReader::open(&wav).unwrap();
    let samples: Vec<f32> = reader.samples::<f32>().map(|x| x.unwrap_or(1.0)).collect();
    assert!(samples.len() > 48_000, "{} samples recorded", samples.len());
    let loudest = samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert_eq!(loudest, 0.0, "a paused resume made a sound");

    // `resume = true` in the config file restores it too (bare `hearth play`), and `play`
    // carries on from there.
    std::fs::create_dir_all(home.path("config/hearth")).unwrap();
    std::fs::write(home.path("config/hearth/config.toml"), "resume = true\n").unwrap();
    let mut r = home.player(&["--output", "null"]);
    let track = r.wait("the resumed track", |v| v["event"] == "track");
    assert_eq!(track["path"], two.to_str().unwrap(), "{track}");
    let entry = track["entry"].clone();
    assert_eq!(status(&mut r)["state"], "paused");
    r.ack(r#"{"cmd":"play"}"#);
    let moving = r.wait("playing on from there", |v| {
        v["event"] == "position" && v["entry"] == entry && seconds(v) > at + 0.5
    });
    assert!(seconds(&moving) < at + 5.0, "{moving}");
    let err = quit(r);
    assert!(session_lines(&err).is_empty(), "{err}");
    let saved = home.session();
    assert_eq!(
        (&saved["current"], &saved["paused"]),
        (&Value::from(1), &Value::from(false))
    );
}

#[test]
fn a_killed_player_resumes_within_ten_seconds_of_where_it_was() {
    let home = Home::new();
    let (one, two) = home.tracks();
    let mut s = home.player(&[
        "--output",
        "null",
        one.to_str().unwrap(),
        two.to_str().unwrap(),
    ]);
    s.wait("the first track", |v| {
        v["event"] == "track" && v["entry"] == 1
    });
    s.ack(r#"{"cmd":"seek","seconds":30}"#);
    s.wait("the seek", |v| {
        v["event"] == "seeked" && v["seconds"].as_f64() >= Some(29.9)
    });
    // More than ten seconds of playing: at least one periodic write after the seek.
    s.wait_for("12 s of playing", Duration::from_secs(40), |v| {
        v["event"] == "position" && seconds(v) >= 42.0
    });
    let before = status(&mut s);
    let at = seconds(&before);
    s.child.kill().unwrap(); // SIGKILL: no quit, no last write
    s.child.wait().unwrap();

    let saved = home.session();
    let pos = saved["position_seconds"].as_f64().unwrap();
    assert!(
        pos >= 30.0 && pos <= at + 0.1 && at - pos <= 10.5,
        "saved {pos}, was at {at}"
    );
    assert_eq!(
        (&saved["current"], &saved["paused"]),
        (&Value::from(0), &Value::from(false))
    );

    let mut r = home.player(&["--output", "null", "--resume"]);
    let seeked = r.wait("the resumed position", |v| v["event"] == "seeked");
    let back = seconds(&seeked);
    assert!((back - pos).abs() < 0.05, "resumed at {back}, saved {pos}");
    assert!(
        back >= at - 11.0 && back <= at + 1.0,
        "resumed at {back}, was at {at}"
    );
    let track = r.wait("the resumed track", |v| v["event"] == "track");
    assert_eq!(track["path"], one.to_str().unwrap(), "{track}");
    assert_eq!(status(&mut r)["state"], "playing");
    let err = quit(r);
    assert!(session_lines(&err).is_empty(), "{err}");
}

#[test]
fn a_damaged_or_missing_session_is_one_line_and_a_normal_start() {
    let home = Home::new();
    let demo = support::asset("demo.flac");
    let good = serde_json::json!({
        "version": 1, "queue": [demo.to_str().unwrap()], "current": 0,
        "position_seconds": 12.5, "paused": false, "enhance": true, "preset": "adaptive",
        "intensity": 1.0, "volume": 1.0,
    });
    let mut wrong_version = good.clone();
    wrong_version["version"] = 99.into();
    let mut wrong_type = good.clone();
    wrong_type["paused"] = "yes".into();
    let cases: [(&str, Option<String>, &str); 4] = [
        ("missing", None, "no saved session"),
        (
            "not JSON",
            Some("{\"version\": 1, \"queue\": [".into()),
            "is damaged",
        ),
        (
            "wrong version",
            Some(wrong_version.to_string()),
            "is damaged",
        ),
        ("wrong type", Some(wrong_type.to_string()), "is damaged"),
    ];
    let file = home.session_file();
    for (what, content, says) in cases {
        let _ = std::fs::remove_file(&file);
        if let Some(c) = content {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, c).unwrap();
        }
        let mut s = home.player(&["--output", "null", "--resume"]);
        // A normal start: the demo plays from its start.
        let track = s.wait("the demo", |v| v["event"] == "track");
        assert!(
            track["path"].as_str().unwrap().ends_with("demo.flac"),
            "{what}: {track}"
        );
        assert_eq!(status(&mut s)["state"], "playing", "{what}");
        let err = quit(s);
        let lines = session_lines(&err);
        assert_eq!(lines.len(), 1, "{what}: {err}");
        assert!(
            lines[0].starts_with("hearth: ") && lines[0].contains(says),
            "{what}: {err}"
        );
        assert!(lines[0].contains(file.to_str().unwrap()), "{what}: {err}");
    }

    // A good session, but paths on the command line: they play, and `--resume` says so once.
    std::fs::write(&file, good.to_string()).unwrap();
    let other = home.path("other.flac");
    std::fs::copy(&demo, &other).unwrap();
    let mut s = home.player(&["--output", "null", "--resume", other.to_str().unwrap()]);
    let track = s.wait("the given file", |v| v["event"] == "track");
    assert_eq!(track["path"], other.to_str().unwrap());
    let now = status(&mut s);
    assert!(seconds(&now) < 5.0, "{now}");
    let err = quit(s);
    assert_eq!(session_lines(&err).len(), 1, "{err}");

    // A saved file that has gone since: reported once, skipped; the session still resumes.
    let gone = home.path("gone.flac");
    let mut two = good.clone();
    two["queue"] = serde_json::json!([gone.to_str().unwrap(), demo.to_str().unwrap()]);
    std::fs::write(&file, two.to_string()).unwrap();
    let mut s = home.player(&["--output", "null", "--resume"]);
    let track = s.wait("the remaining file", |v| v["event"] == "track");
    assert!(
        track["path"].as_str().unwrap().ends_with("demo.flac"),
        "{track}"
    );
    // The current entry was the gone one: the next one, from its start.
    let now = status(&mut s);
    assert!(seconds(&now) < 5.0, "{now}");
    let err = quit(s);
    let about_gone: Vec<&str> = err.lines().filter(|l| l.contains("gone.flac")).collect();
    assert_eq!(about_gone.len(), 1, "{err}");
}

//! MPRIS through a real client: a private D-Bus session (`dbus-run-session`), the real
//! player (`hearth play --json --output null`) on two 2½-minute tracks made at test time with
//! tags and an embedded cover, driven and read by `playerctl` — names, metadata (art included),
//! status, play/pause, absolute and relative seeks, volume, next, OpenUri, the
//! `PropertiesChanged` signal (`playerctl --follow`), a second instance's name, and a player
//! that carries on without any session bus.
//!
//! Linux only; needs `dbus-run-session`, `playerctl` and `ffmpeg` (the README's prerequisites).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Session, ffmpeg};

/// A private session bus under `dbus-run-session` (as a desktop session has one); ended on
/// drop.
struct Bus {
    session: Child,
    /// The shell `dbus-run-session` runs; when it ends, the session's daemon ends too.
    shell_pid: i32,
    address: String,
}

impl Bus {
    fn start() -> Bus {
        let mut session = Command::new("dbus-run-session")
            .args([
                "--",
                "sh",
                "-c",
                "echo \"$DBUS_SESSION_BUS_ADDRESS\"; echo $$; exec sleep 3600",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-run-session is needed for this test (see the README's prerequisites)");
        let mut out = BufReader::new(session.stdout.take().unwrap());
        let (mut address, mut pid) = (String::new(), String::new());
        out.read_line(&mut address).unwrap();
        out.read_line(&mut pid).unwrap();
        Bus {
            session,
            shell_pid: pid.trim().parse().unwrap(),
            address: address.trim().to_owned(),
        }
    }

    fn playerctl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("playerctl")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .args(args)
            .output()
            .expect("playerctl is needed for this test (see the README's prerequisites)");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    }

    /// `playerctl -p hearth ARGS`, which must succeed.
    fn ctl(&self, args: &[&str]) -> String {
        let mut all = vec!["-p", "hearth"];
        all.extend_from_slice(args);
        let (ok, out) = self.playerctl(&all);
        assert!(ok, "playerctl {all:?} failed: {out}");
        out
    }

    /// Waits up to 10 s for `playerctl -p hearth ARGS` to print what `pred` accepts.
    fn until(&self, args: &[&str], pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let mut all = vec!["-p", "hearth"];
            all.extend_from_slice(args);
            let (ok, out) = self.playerctl(&all);
            if ok && pred(&out) {
                return out;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "playerctl {all:?} still says {out:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of the shell this test started; no memory is involved.
        unsafe { libc::kill(self.shell_pid, libc::SIGTERM) };
        let _ = self.session.wait();
    }
}

/// Two tagged 150 s FLACs, the first with an embedded PNG cover.
fn tracks(dir: &Path) -> (PathBuf, PathBuf) {
    let demo = support::asset("demo.flac");
    let demo = demo.to_str().unwrap();
    let cover = dir.join("cover.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=orange:s=64x64",
        "-frames:v",
        "1",
        cover.to_str().unwrap(),
    ]);
    let a = dir.join("first track.flac");
    ffmpeg(&[
        "-stream_loop",
        "3",
        "-i",
        demo,
        "-i",
        cover.to_str().unwrap(),
        "-map",
        "0:a",
        "-map",
        "1",
        "-disposition:v",
        "attached_pic",
        "-c:v",
        "png",
        "-t",
        "150",
        "-metadata",
        "title=Ember Song",
        "-metadata",
        "artist=The Coals",
        "-metadata",
        "album=Night Fire",
        a.to_str().unwrap(),
    ]);
    let b = dir.join("second.flac");
    ffmpeg(&[
        "-stream_loop",
        "3",
        "-i",
        demo,
        "-t",
        "140",
        "-metadata",
        "title=Second Song",
        b.to_str().unwrap(),
    ]);
    (a, b)
}

fn player(bus: Option<&Bus>, cache: &Path, files: &[&Path]) -> Session {
    let mut c = support::hearth(cache);
    c.env(
        "DBUS_SESSION_BUS_ADDRESS",
        bus.map_or("unix:path=/nonexistent/bus", |b| b.address.as_str()),
    );
    c.args(["play", "--json", "--output", "null"]);
    c.args(files);
    Session::spawn(c)
}

fn seconds(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

#[test]
fn playerctl_sees_and_drives_the_player() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = tracks(work.path());
    let bus = Bus::start();
    let cache = work.path().join("cache");
    let mut s = player(Some(&bus), &cache, &[&a, &b]);
    s.wait("the first track", |v| v["event"] == "track");
    let names = {
        let t0 = Instant::now();
        loop {
            let (_, l) = bus.playerctl(&["-l"]);
            if l.lines().any(|n| n == "hearth") || t0.elapsed() > Duration::from_secs(10) {
                break l;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(
        names.lines().any(|n| n == "hearth"),
        "playerctl -l: {names:?}"
    );

    // Signals: `--follow` prints only when the player emits PropertiesChanged.
    let followed = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut follow = Command::new("playerctl")
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .args(["-p", "hearth", "--follow", "status"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let out = follow.stdout.take().unwrap();
        let sink = Arc::clone(&followed);
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
    }

    // Metadata, art included.
    let md = |key: &str| bus.ctl(&["metadata", key]);
    assert_eq!(md("xesam:title"), "Ember Song");
    assert_eq!(md("xesam:artist"), "The Coals");
    assert_eq!(md("xesam:album"), "Night Fire");
    assert_eq!(md("mpris:trackid"), "'/org/hearth/track/1'");
    assert!(
        md("xesam:url").ends_with("/first%20track.flac"),
        "{}",
        md("xesam:url")
    );
    let length = seconds(&md("mpris:length")) / 1e6;
    assert!((length - 150.0).abs() < 0.05, "mpris:length {length} s");
    let art = md("mpris:artUrl");
    let art = PathBuf::from(
        art.strip_prefix("file://")
            .unwrap_or_else(|| panic!("{art}")),
    );
    assert!(
        art.starts_with(&cache),
        "art written outside the cache: {}",
        art.display()
    );
    let bytes = std::fs::read(&art).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "art is not the PNG cover");
    assert_eq!(bus.ctl(&["status"]), "Playing");

    // Pause and play, through the player's own events.
    bus.ctl(&["pause"]);
    s.wait("paused", |v| {
        v["event"] == "state" && v["state"] == "paused"
    });
    assert_eq!(bus.ctl(&["status"]), "Paused");
    bus.ctl(&["play-pause"]);
    s.wait("playing", |v| {
        v["event"] == "state" && v["state"] == "playing"
    });
    bus.until(&["status"], |o| o == "Playing");

    // Absolute (SetPosition) and relative (Seek) seeks.
    s.seen.clear();
    bus.ctl(&["position", "60"]);
    let seeked = s.wait("seeked to 60 s", |v| v["event"] == "seeked");
    assert!(
        (seeked["seconds"].as_f64().unwrap() - 60.0).abs() < 0.01,
        "{seeked}"
    );
    let p = seconds(&bus.ctl(&["position"]));
    assert!(
        (60.0..61.5).contains(&p),
        "position {p} after seeking to 60 s"
    );
    s.seen.clear();
    bus.ctl(&["position", "15+"]);
    let seeked = s.wait("seeked 15 s on", |v| v["event"] == "seeked");
    let to = seeked["seconds"].as_f64().unwrap();
    assert!(
        (75.0..77.0).contains(&to),
        "a 15 s seek from ~60 s landed at {to}"
    );

    // Volume, read and written.
    bus.ctl(&["volume", "0.5"]);
    let status = s.ack(r#"{"cmd":"status"}"#);
    assert!(
        (status["volume"].as_f64().unwrap() - 0.5).abs() < 1e-6,
        "{status}"
    );
    assert!((seconds(&bus.ctl(&["volume"])) - 0.5).abs() < 1e-6);

    // Next: the second track, and its metadata (no art: the key is absent).
    s.seen.clear();
    bus.ctl(&["next"]);
    s.wait("the second track", |v| {
        v["event"] == "track" && v["entry"] == 2
    });
    bus.until(&["metadata", "xesam:title"], |t| t == "Second Song");
    assert_eq!(md("mpris:trackid"), "'/org/hearth/track/2'");
    let (_, no_art) = bus.playerctl(&["-p", "hearth", "metadata", "mpris:artUrl"]);
    assert!(no_art.is_empty(), "art for a file without: {no_art}");

    // OpenUri: a file:// URI is queued and played; a stream is refused.
    s.seen.clear();
    let uri = format!("file://{}", a.to_str().unwrap().replace(' ', "%20"));
    bus.ctl(&["open", &uri]);
    s.wait("the opened file", |v| {
        v["event"] == "track" && v["path"] == a.to_str().unwrap() && v["entry"] == 3
    });
    let (ok, _) = bus.playerctl(&["-p", "hearth", "open", "https://example.com/x.mp3"]);
    assert!(!ok, "a stream URI was accepted");

    // The status changes above were signalled.
    std::thread::sleep(Duration::from_millis(300));
    let _ = follow.kill();
    let _ = follow.wait();
    let seen = followed.lock().unwrap().clone();
    assert!(
        seen.windows(2)
            .any(|w| w[0] == "Paused" && w[1] == "Playing"),
        "PropertiesChanged not seen by playerctl --follow: {seen:?}"
    );

    // A second player takes the per-instance name.
    let mut second = player(Some(&bus), &work.path().join("cache2"), &[&b]);
    second.wait("the second player's track", |v| v["event"] == "track");
    let t0 = Instant::now();
    let names = loop {
        let (_, l) = bus.playerctl(&["-l"]);
        if l.lines().any(|n| n.starts_with("hearth.instance")) || t0.elapsed().as_secs() > 10 {
            break l;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let pid = second.child.id();
    assert!(
        names.lines().any(|n| n == format!("hearth.instance{pid}")),
        "playerctl -l with two players: {names:?}"
    );
    assert!(second.quit(), "the second player did not exit 0");
    assert!(s.quit(), "the player did not exit 0");
}

#[test]
fn without_a_session_bus_the_player_carries_on() {
    let work = tempfile::tempdir().unwrap();
    let demo = support::asset("demo.flac");
    let mut s = player(None, &work.path().join("cache"), &[&demo]);
    s.wait_for("5 s of playback", Duration::from_secs(20), |v| {
        v["event"] == "position" && v["seconds"].as_f64().unwrap_or(0.0) >= 5.0
    });
    let stderr = s.stderr.lock().unwrap().clone();
    assert!(stderr.trim().is_empty(), "the player complained: {stderr}");
    assert!(s.quit());
}

//! Playlists through the real player: `hearth play --json --output null list.m3u8 other.pls`
//! from another working directory, on three tracks made by ffmpeg at test time (2½–3 minutes
//! of the demo looped, distinct lengths and tags, one with spaces and non-ASCII in its name).
//!
//! Proves: the queue holds exactly the playlists' files, in order (relative entries resolved
//! against each playlist's folder, an absolute one, a PLS entry); the missing entry and the
//! stream URL are each one warning line on stderr and nothing else; `save` writes M3U8 with
//! `#EXTINF` and paths relative to the saved playlist's folder; that file plays back to the
//! same queue; a playlist that cannot be read is one line naming it and a non-zero exit when
//! nothing else was given; and the terminal UI's `w` saves the queue into
//! `$XDG_DATA_HOME/hearth/playlists` and says where.
//!
//! Needs ffmpeg (the README's prerequisites).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Session, ffmpeg};

/// `seconds` of the demo looped into FLAC at `out`, with these tags (none: no tags at all).
fn track(out: &Path, seconds: u32, tags: &[(&str, &str)]) {
    let demo = support::asset("demo.flac");
    let secs = seconds.to_string();
    let mut args: Vec<String> = [
        "-stream_loop",
        "5",
        "-i",
        demo.to_str().unwrap(),
        "-t",
        &secs,
        "-map_metadata",
        "-1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in tags {
        args.push("-metadata".into());
        args.push(format!("{k}={v}"));
    }
    args.push(out.to_str().unwrap().into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&refs);
}

/// The three tracks of these tests under `work`: (music/Été à Paris 01.flac, music/b two.flac,
/// other/c.flac).
fn library(work: &Path) -> [PathBuf; 3] {
    std::fs::create_dir_all(work.join("music")).unwrap();
    std::fs::create_dir_all(work.join("other")).unwrap();
    let a = work.join("music/Été à Paris 01.flac");
    let b = work.join("music/b two.flac");
    let c = work.join("other/c.flac");
    track(&a, 150, &[("title", "Alpha"), ("artist", "Test Band")]);
    track(&b, 165, &[("title", "Beta")]);
    track(&c, 180, &[]);
    [a, b, c]
}

fn real(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn real_str(v: &Value) -> PathBuf {
    real(Path::new(v.as_str().unwrap_or_default()))
}

/// The queue's paths, as the player reports them (real paths, to compare).
fn queue_paths(s: &mut Session) -> Vec<PathBuf> {
    let ack = s.ack(r#"{"cmd":"queue"}"#);
    ack["queue"]
        .as_array()
        .unwrap_or_else(|| panic!("no queue in {ack}"))
        .iter()
        .map(|e| real_str(&e["path"]))
        .collect()
}

/// `play --json --output null ARGS` started in `cwd`.
fn start_in(cwd: &Path, cache: &Path, args: &[&str]) -> Session {
    let mut c = support::hearth(cache);
    c.args(["play", "--json", "--output", "null"])
        .args(args)
        .current_dir(cwd);
    Session::spawn(c)
}

/// The stderr lines so far, waiting up to 2 s for at least `n` of them.
fn stderr_lines(s: &Session, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let lines: Vec<String> = s
            .stderr
            .lock()
            .map(|t| t.lines().map(String::from).collect())
            .unwrap_or_default();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn playlists_queue_their_files_in_order_and_a_saved_queue_plays_back_the_same() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let [a, b, c] = library(w);
    let expected = vec![real(&a), real(&b), real(&c)];
    std::fs::create_dir_all(w.join("lists")).unwrap();
    std::fs::create_dir_all(w.join("elsewhere")).unwrap();
    std::fs::create_dir_all(w.join("saved")).unwrap();
    // M3U8 with a BOM: a relative entry (spaces, non-ASCII), a missing one, a stream URL, an
    // absolute one.
    let m3u8 = format!(
        "\u{feff}#EXTM3U\n#EXTINF:150,Test Band - Alpha\n../music/Été à Paris 01.flac\n\
         #EXTINF:-1,Gone\n../music/gone.flac\n\n# a comment\n\
         #EXTINF:-1,Radio\nhttp://radio.example/stream.mp3\n{}\n",
        b.display()
    );
    std::fs::write(w.join("lists/list.m3u8"), m3u8).unwrap();
    // PLS with CRLF line ends, beside its file.
    std::fs::write(
        w.join("other/other.pls"),
        "[playlist]\r\nNumberOfEntries=1\r\nFile1=c.flac\r\nTitle1=Gamma\r\nVersion=2\r\n",
    )
    .unwrap();

    let cache = w.join("cache");
    let pls = w.join("other/other.pls");
    let mut s = start_in(
        &w.join("elsewhere"),
        &cache,
        &["../lists/list.m3u8", pls.to_str().unwrap()],
    );
    let first = s.wait("the first track", |v| v["event"] == "track");
    assert_eq!(real_str(&first["path"]), expected[0], "{first}");
    assert_eq!(queue_paths(&mut s), expected);

    // The missing entry and the URL: one line each on stderr, and no error events.
    let lines = stderr_lines(&s, 2);
    let gone: Vec<&String> = lines.iter().filter(|l| l.contains("gone.flac")).collect();
    assert_eq!(gone.len(), 1, "{lines:?}");
    assert!(
        gone[0].contains("list.m3u8:5") && gone[0].contains("No such file or directory"),
        "{lines:?}"
    );
    let streams: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("streams are not supported"))
        .collect();
    assert_eq!(streams.len(), 1, "{lines:?}");
    assert!(
        streams[0].contains("http://radio.example/stream.mp3"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");

    // Through the queue: each track starts in order, and each is opened (`ready`) once.
    for (i, want) in expected.iter().enumerate().skip(1) {
        assert_eq!(s.ack(r#"{"cmd":"next"}"#)["event"], "ack");
        let entry = i as u64 + 1;
        let t = s.wait(&format!("track {entry}"), |v| {
            v["event"] == "track" && v["entry"] == entry
        });
        assert_eq!(&real_str(&t["path"]), want, "{t}");
    }
    let ready: Vec<PathBuf> = s
        .log
        .iter()
        .filter(|v| v["event"] == "ready")
        .map(|v| real_str(&v["path"]))
        .collect();
    assert_eq!(ready, expected);
    assert_eq!(s.count("error"), 0, "{:?}", s.log);

    // Save into another folder: relative paths (they share the work folder), titles, lengths.
    let saved = w.join("saved/queue.m3u8");
    let cmd = format!(
        r#"{{"cmd":"save","path":{}}}"#,
        Value::from(saved.to_str().unwrap())
    );
    let ack = s.ack(&cmd);
    assert_eq!(ack["event"], "ack", "{ack}");
    assert_eq!(ack["entries"], 3, "{ack}");
    assert_eq!(ack["path"], saved.to_str().unwrap(), "{ack}");
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "#EXTM3U\n\
         #EXTINF:150,Test Band - Alpha\n../music/Été à Paris 01.flac\n\
         #EXTINF:165,Beta\n../music/b two.flac\n\
         #EXTINF:180,c\n../other/c.flac\n"
    );
    // Nothing else was left in the folder (the temporary file was renamed into place).
    assert_eq!(std::fs::read_dir(w.join("saved")).unwrap().count(), 1);
    // Failures are error events with a readable message; the player goes on.
    let bad = s.ack(r#"{"cmd":"save","path":"/nonexistent-hearth-dir/q.m3u8"}"#);
    assert_eq!(bad["event"], "error", "{bad}");
    assert!(
        bad["message"]
            .as_str()
            .is_some_and(|m| m.contains("/nonexistent-hearth-dir")
                && m.contains("No such file or directory")),
        "{bad}"
    );
    let bad = s.ack(r#"{"cmd":"save"}"#);
    assert_eq!(bad["event"], "error", "{bad}");
    assert!(s.quit(), "the player did not exit cleanly");

    // The saved playlist plays back to the same queue, from anywhere, without a warning.
    let mut s = start_in(&w.join("elsewhere"), &cache, &["../saved/queue.m3u8"]);
    s.wait("the first track", |v| v["event"] == "track");
    assert_eq!(queue_paths(&mut s), expected);
    // (Waits up to 2 s for a line that should never come.)
    let lines = stderr_lines(&s, 1);
    assert!(lines.is_empty(), "{lines:?}");
    assert!(s.quit(), "the player did not exit cleanly");
}

#[test]
fn a_playlist_that_cannot_be_read_alone_is_one_line_and_a_failure() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("missing list.m3u8");
    let out = support::hearth(&work.path().join("cache"))
        .args(["play", "--output", "null"])
        .arg(&missing)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("missing list.m3u8") && lines[0].contains("No such file or directory"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn the_terminal_ui_saves_the_queue_with_w() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::{Read, Write};

    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let demo = support::asset("demo.flac");
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 30,
            cols: 160,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_hearth"));
    cmd.arg("--cache-dir");
    cmd.arg(w.join("cache"));
    cmd.args(["play", "--output", "null"]);
    cmd.arg(&demo);
    cmd.cwd(w);
    cmd.env("TERM", "xterm-256color");
    cmd.env("XDG_CONFIG_HOME", w.join("config"));
    cmd.env("XDG_DATA_HOME", w.join("data"));
    cmd.env("XDG_STATE_HOME", w.join("state"));
    cmd.env_remove("HEARTH_CONFIG");
    cmd.env_remove("HEARTH_CACHE_DIR");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let mut writer = pty.master.take_writer().unwrap();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(vt100::Parser::new(
        std::num::NonZero::new(30).unwrap(),
        std::num::NonZero::new(160).unwrap(),
        0,
    )));
    let shared = std::sync::Arc::clone(&screen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut p) = shared.lock() {
                p.process(&buf[..n]);
            }
        }
    });
    let contents = || {
        screen
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    };
    let wait_for = |what: &str, check: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = contents();
            if check(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    };
    wait_for("the help with w", &|t| {
        t.contains("w save queue") && t.contains("Embers at Dusk")
    });
    writer.write_all(b"w").unwrap();
    writer.flush().unwrap();
    let text = wait_for("the saved path", &|t| t.contains("saved 1 entry to"));
    let folder = w.join("data/hearth/playlists");
    let files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("queue-") && name.ends_with(".m3u8"),
        "{name}"
    );
    assert!(text.contains(&name), "{text}");
    let saved = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<&str> = saved.lines().collect();
    assert_eq!(lines.len(), 3, "{saved}");
    assert_eq!(lines[0], "#EXTM3U");
    assert!(lines[1].starts_with("#EXTINF:40,"), "{saved}");
    // The data folder and the demo share no folder below the root here, or they do: either
    // way the line leads to the demo.
    let entry = files[0].parent().unwrap().join(lines[2]);
    assert_eq!(real(&entry), real(&demo), "{saved}");
    writer.write_all(b"q").unwrap();
    writer.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(status.success(), "{status:?}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the player did not quit on q");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

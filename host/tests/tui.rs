//! The terminal UI, end to end: the real `hearth` binary in a pseudo-terminal, its screen parsed
//! with vt100, driven by key presses.
//!
//! Proves: the title is shown; → seeks about 5 s ahead each time (read off the displayed
//! position) and playback goes on from there; `e` flips the enhancement label; a resize redraws
//! at the new size; `q` exits with status 0 within a few seconds; a bad file in the queue is
//! flagged and its error shown while the next one plays; the player leaves by itself when the
//! queue has played out; and the terminal is given back (alternate screen left, cursor shown,
//! raw mode off) on quit, at the end of the queue and on a panic (whose message is then
//! readable). Every wait polls the screen with a deadline; nothing sleeps blindly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const ROWS: u16 = 30;
const COLS: u16 = 100;
/// The longest wait for any expected screen.
const WAIT: Duration = Duration::from_secs(10);

/// What the reader thread has seen.
struct Screen {
    parser: vt100::Parser,
    /// The alternate screen was entered at some point.
    saw_alternate: bool,
}

struct Player {
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Mutex<Screen>>,
    reader: Option<JoinHandle<()>>,
    _dirs: tempfile::TempDir,
}

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/demo.flac")
}

impl Player {
    /// `hearth play --output null FILES` in a fresh pty, with `env` set.
    fn start(files: &[PathBuf], env: &[(&str, &str)]) -> Player {
        let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        Player::start_in(dirs, files, env)
    }

    fn start_in(dirs: tempfile::TempDir, files: &[PathBuf], env: &[(&str, &str)]) -> Player {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap_or_else(|e| panic!("openpty: {e}"));
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_hearth"));
        cmd.arg("--cache-dir");
        cmd.arg(dirs.path().join("cache"));
        cmd.args(["play", "--output", "null"]);
        for f in files {
            cmd.arg(f);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.cwd(dirs.path());
        cmd.env("TERM", "xterm-256color");
        // No config file from the machine's user.
        cmd.env("XDG_CONFIG_HOME", dirs.path().join("config"));
        cmd.env_remove("HEARTH_CONFIG");
        cmd.env_remove("HEARTH_CACHE_DIR");
        let child = pty
            .slave
            .spawn_command(cmd)
            .unwrap_or_else(|e| panic!("spawn hearth: {e}"));
        drop(pty.slave);
        let mut reader = pty
            .master
            .try_clone_reader()
            .unwrap_or_else(|e| panic!("pty reader: {e}"));
        let writer = pty
            .master
            .take_writer()
            .unwrap_or_else(|e| panic!("pty writer: {e}"));
        let screen = Arc::new(Mutex::new(Screen {
            parser: vt100::Parser::new(nonzero(ROWS), nonzero(COLS), 0),
            saw_alternate: false,
        }));
        let shared = Arc::clone(&screen);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Ends when the child has exited and the pty is closed (EIO on Linux) or at EOF.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                s.parser.process(&buf[..n]);
                if s.parser.screen().alternate_screen() {
                    s.saw_alternate = true;
                }
            }
        });
        Player {
            child,
            master: pty.master,
            writer,
            screen,
            reader: Some(reader),
            _dirs: dirs,
        }
    }

    fn contents(&self) -> String {
        self.screen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .parser
            .screen()
            .contents()
    }

    /// Polls the screen until `check` finds what it wants in it.
    fn wait_for<T>(&mut self, what: &str, mut check: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.contents();
            if let Some(t) = check(&text) {
                return t;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("hearth exited ({status:?}) while waiting for {what}; screen:\n{text}");
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn press(&mut self, keys: &[u8]) {
        self.writer
            .write_all(keys)
            .and_then(|()| self.writer.flush())
            .unwrap_or_else(|e| panic!("write keys: {e}"));
    }

    /// Resizes the terminal (the player gets SIGWINCH).
    fn resize(&mut self, rows: u16, cols: u16) {
        self.screen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .parser
            .screen_mut()
            .set_size(nonzero(rows), nonzero(cols));
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap_or_else(|e| panic!("resize: {e}"));
    }

    /// Waits up to `limit` for the player to exit.
    fn wait_exit(&mut self, limit: Duration) -> portable_pty::ExitStatus {
        let since = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("wait: {e}"))
            {
                return status;
            }
            assert!(
                since.elapsed() < limit,
                "hearth still running after {limit:?}; screen:\n{}",
                self.contents()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// After exit: the alternate screen was used and left, the cursor is shown, and the line
    /// discipline is back to `cooked` (raw mode off). Returns the final screen.
    fn assert_restored(&mut self, cooked: libc::tcflag_t) -> String {
        // Everything the player wrote has been parsed once the reader sees the pty close.
        if let Some(reader) = self.reader.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let text = {
            let s = self.screen.lock().unwrap_or_else(|e| e.into_inner());
            assert!(s.saw_alternate, "the UI used the alternate screen");
            assert!(
                !s.parser.screen().alternate_screen(),
                "the alternate screen was left"
            );
            assert!(
                !s.parser.screen().hide_cursor(),
                "the cursor is shown again"
            );
            s.parser.screen().contents()
        };
        let mask = libc::ICANON | libc::ECHO | libc::ISIG;
        assert_eq!(
            self.local_flags() & mask,
            cooked & mask,
            "raw mode was turned off"
        );
        text
    }

    /// The line-discipline local flags of the terminal (ICANON, ECHO, ...).
    fn local_flags(&self) -> libc::tcflag_t {
        let termios = self
            .master
            .get_termios()
            .unwrap_or_else(|| panic!("no termios for the pty"));
        libc::termios::from(termios).c_lflag
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        // Only if the test failed part-way: never leave the player running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).unwrap_or_else(|| panic!("a terminal size is not zero"))
}

/// The displayed position "m:ss / m:ss", in seconds.
fn position(screen: &str) -> Option<u64> {
    screen.lines().find_map(|line| {
        let slash = line.find(" / ")?;
        let before: String = line[..slash]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let (m, s) = before.split_once(':')?;
        let (m, s): (u64, u64) = (m.trim().parse().ok()?, s.parse().ok()?);
        Some(m * 60 + s)
    })
}

/// The enhancement state shown in the sound panel: Some(true) for on.
fn enhancement(screen: &str) -> Option<bool> {
    let line = screen.lines().find(|l| l.contains("Enhancement"))?;
    if line.contains("● on") {
        Some(true)
    } else if line.contains("○ off") {
        Some(false)
    } else {
        None
    }
}

#[test]
fn plays_seeks_toggles_and_quits_in_a_real_terminal() {
    let started = Instant::now();
    let mut player = Player::start(&[demo()], &[]);
    let cooked = player.local_flags();
    assert!(
        cooked & libc::ICANON != 0,
        "the pty starts in canonical mode"
    );

    // The UI is up, with the title from the tags.
    player.wait_for("the title", |s| s.contains("Hearth Demo").then_some(()));
    assert_eq!(
        player.local_flags() & (libc::ICANON | libc::ECHO),
        0,
        "raw mode while the UI is up"
    );
    // Playback starts: the position moves.
    let mut at = player.wait_for("the position to move", |s| position(s).filter(|&p| p >= 1));

    // Each → jumps about 5 s ahead.
    for press in 1..=3 {
        player.press(b"\x1b[C");
        let now = player.wait_for(&format!("→ #{press} to seek"), |s| {
            position(s).filter(|&p| p >= at + 4)
        });
        assert!(
            now <= at + 7,
            "→ #{press}: position went from {at} s to {now} s, expected about +5 s"
        );
        at = now;
    }
    assert!(
        at >= 15,
        "three → presses from ≥1 s end at ≥15 s, not {at} s"
    );
    // The engine really is there: the display shows a seek's target only until the engine
    // confirms it (1.5 s at most), so a position past the target means the audio got there.
    player.wait_for("playback to go on after the seeks", |s| {
        position(s).filter(|&p| p >= at + 2)
    });

    // e flips the enhancement label (on by default).
    let before = player.wait_for("the enhancement label", enhancement);
    assert!(before, "enhancement starts on");
    player.press(b"e");
    player.wait_for("enhancement off", |s| {
        (enhancement(s) == Some(false)).then_some(())
    });

    // A smaller terminal: the UI is drawn again at the new size.
    player.resize(24, 80);
    player.wait_for("a redraw at 80×24", |s| {
        let lines: Vec<&str> = s.lines().collect();
        let top = lines.first().copied().unwrap_or_default();
        (top.contains("playing")
            && top.trim_end().ends_with('╮')
            && top.trim_end().chars().count() == 80
            && lines.iter().rev().take(3).any(|l| l.contains("q quit")))
        .then_some(())
    });

    // q quits with status 0 within a few seconds, and the terminal is given back.
    player.press(b"q");
    let status = player.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "exit status {status:?}");
    player.assert_restored(cooked);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the test took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_bad_file_is_reported_and_skipped_and_the_player_leaves_when_the_queue_ends() {
    let dirs = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let bad = dirs.path().join("broken.flac");
    std::fs::write(&bad, b"this is not audio at all").unwrap();
    let mut player = Player::start_in(dirs, &[bad, demo()], &[]);
    let cooked = player.local_flags();

    // The demo plays; the broken file is flagged in the queue and its error shown.
    player.wait_for("the demo to play", |s| {
        (s.contains("Hearth Demo") && position(s).is_some_and(|p| p >= 1)).then_some(())
    });
    let screen = player.contents();
    let row = screen
        .lines()
        .find(|l| l.contains("broken.flac"))
        .unwrap_or_else(|| panic!("the bad file is not in the queue:\n{screen}"));
    assert!(row.contains('✗'), "the bad file is not flagged: {row}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("✗") && l.contains("failed")),
        "{screen}"
    );

    // 9 jumps to 90 % of the 40 s track; at its end the queue is over and the player leaves.
    player.press(b"9");
    player.wait_for("the jump to 90 %", |s| position(s).filter(|&p| p >= 35));
    let status = player.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    player.assert_restored(cooked);
}

#[test]
fn a_panic_gives_the_terminal_back_before_its_message() {
    let mut player = Player::start(&[demo()], &[("HEARTH_TUI_TEST_PANIC", "1")]);
    let cooked = player.local_flags();
    let status = player.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "a panic is a failure: {status:?}");
    let screen = player.assert_restored(cooked);
    // The message is on the normal screen, readable.
    assert!(
        screen.contains("HEARTH_TUI_TEST_PANIC is set"),
        "no panic message on the restored screen:\n{screen}"
    );
}

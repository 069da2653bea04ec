//! Helpers shared by the tests that drive the `hearth` binary: paths to the assets, the
//! command with a private cache, and a `hearth play --json` session.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn asset(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(rel)
}

/// `hearth --cache-dir CACHE`, with the player's session file kept beside the cache (not in
/// the real `~/.local/state`: tests run in parallel and must not resume each other).
pub fn hearth(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hearth"));
    c.arg("--cache-dir").arg(cache);
    c.env("XDG_STATE_HOME", cache.with_extension("state"));
    c
}

/// Runs ffmpeg quietly with `args` (after `-v error -nostdin -y`); panics with its message if
/// it fails. The tests make their material with it at test time.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is needed for this test (see the README's prerequisites)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `hearth play --json`: send commands, wait for events.
pub struct Session {
    pub child: std::process::Child,
    lines: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
    /// Every line received, in order (never cleared).
    pub log: Vec<Value>,
    /// What the player wrote on stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Session {
    /// `hearth --cache-dir CACHE play --json ARGS...`
    pub fn start(cache: &Path, args: &[&str]) -> Session {
        let mut c = hearth(cache);
        c.args(["play", "--json"]).args(args);
        Session::spawn(c)
    }

    /// Starts `command` (a `play --json` command line) with piped stdio.
    pub fn spawn(mut command: Command) -> Session {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            lines,
            seen: Vec::new(),
            log: Vec::new(),
            stderr,
        }
    }

    pub fn send(&mut self, cmd: &str) {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("no stdin"));
        writeln!(stdin, "{cmd}").unwrap();
    }

    /// Waits (up to 15 s) for a line matching `pred`; returns it.
    pub fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(what, Duration::from_secs(15), pred)
    }

    /// [`Session::wait`] with a deadline of one's own.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.log.push(v.clone());
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} within {limit:?}; saw {:?}", self.log),
            }
        }
    }

    pub fn ack(&mut self, cmd: &str) -> Value {
        let name = serde_json::from_str::<Value>(cmd)
            .ok()
            .and_then(|v| v["cmd"].as_str().map(String::from))
            .unwrap_or_default();
        self.seen.clear();
        self.send(cmd);
        self.wait(&format!("ack of {cmd}"), |v| {
            v["cmd"] == name.as_str() && (v["event"] == "ack" || v["event"] == "error")
        })
    }

    pub fn position(&mut self) -> f64 {
        self.seen.clear();
        self.wait("a position", |v| v["event"] == "position")["seconds"]
            .as_f64()
            .unwrap_or(-1.0)
    }
}

impl Session {
    /// Events of kind `event` received so far.
    pub fn count(&self, event: &str) -> usize {
        self.log.iter().filter(|v| v["event"] == event).count()
    }

    /// Sends `quit` and waits for the process to exit; returns whether it exited cleanly.
    pub fn quit(mut self) -> bool {
        self.send(r#"{"cmd":"quit"}"#);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        false
    }
}

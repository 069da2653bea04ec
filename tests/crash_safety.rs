//! Crash safety: `hearth cache warm` killed with SIGKILL at random moments, again and again.
//!
//! After every kill the cache must verify clean (no chunk marked present that fails its
//! checksum, no broken file, an index that loads), and once a final warm completes, every warm
//! file must be byte-for-byte the file a clean, uninterrupted run produces.
//!
//! Kills: at least `HEARTH_CRASH_KILLS` (default 20) that land while the child is working, at
//! delays drawn from a seeded generator (`HEARTH_CRASH_SEED`, default 1). Each run warms the
//! demo with one of the presets in turn, so there is always new work to interrupt: the
//! analysis, a calibration, chunks of both variants, the index being saved.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PRESETS: [&str; 7] = [
    "adaptive", "gentle", "warm", "bright", "punchy", "live", "loudness",
];

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo.flac")
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn warm_command(cache: &Path, preset: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hearth"));
    c.arg("--cache-dir")
        .arg(cache)
        .args([
            "cache", "warm", "--rate", "48000", "--jobs", "1", "--preset",
        ])
        .arg(preset)
        .arg(demo())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Warms to completion; returns how long it took.
fn warm(cache: &Path, preset: &str) -> Duration {
    let t = Instant::now();
    let status = warm_command(cache, preset).status().unwrap();
    assert!(status.success(), "cache warm --preset {preset}: {status}");
    t.elapsed()
}

/// `hearth cache verify --json`, without repairing anything.
fn verify(cache: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--cache-dir")
        .arg(cache)
        .args(["cache", "verify", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("verify output: {e}"))
}

/// Every warm file, by name, with its bytes.
fn warm_files(cache: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(cache.join("warm")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "hwt") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.insert(name, std::fs::read(&path).unwrap());
        }
    }
    files
}

/// xorshift64*: a seeded, dependency-free source of kill delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn sigkilled_warms_never_leave_a_bad_chunk_and_finish_bit_identical_to_a_clean_run() {
    let root = tempfile::tempdir().unwrap();
    let clean = root.path().join("clean");
    let crashed = root.path().join("crashed");

    // The reference: every preset warmed without interruption. Its durations set the range
    // the kill delays are drawn from.
    let durations: Vec<Duration> = PRESETS.iter().map(|p| warm(&clean, p)).collect();
    let reference = warm_files(&clean);
    assert_eq!(
        reference.len(),
        1 + PRESETS.len(),
        "original + one file per preset"
    );

    let wanted = env_u64("HEARTH_CRASH_KILLS", 20);
    let mut rng = Rng(env_u64("HEARTH_CRASH_SEED", 1)
        .max(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut kills = 0;
    let mut attempts = 0;
    while kills < wanted {
        attempts += 1;
        assert!(
            attempts < wanted * 10,
            "only {kills} kills landed in {attempts} runs"
        );
        let i = (attempts as usize) % PRESETS.len();
        let delay = durations[i].mul_f64(rng.unit() * 1.1);
        let mut child = warm_command(&crashed, PRESETS[i]).spawn().unwrap();
        std::thread::sleep(delay);
        if child.try_wait().ok().flatten().is_none() {
            // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no index save.
            child.kill().unwrap();
            kills += 1;
        }
        let _ = child.wait();

        let report = verify(&crashed);
        assert_eq!(
            report["degraded"],
            Value::Null,
            "after kill {kills}: {report}"
        );
        assert_eq!(
            report["bad_chunks"],
            serde_json::json!([]),
            "after kill {kills}: {report}"
        );
        assert_eq!(
            report["bad_files"],
            serde_json::json!([]),
            "after kill {kills}: {report}"
        );
    }

    // Finish the job; the result must be exactly the clean run's.
    for p in PRESETS {
        warm(&crashed, p);
    }
    let report = verify(&crashed);
    assert_eq!(report["bad_chunks"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["chunks_good"], report["chunks_checked"],
        "every chunk present and good: {report}"
    );
    let finished = warm_files(&crashed);
    assert_eq!(
        finished.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>(),
        "the same warm files"
    );
    for (name, bytes) in &reference {
        assert!(
            finished[name] == *bytes,
            "{name} differs from the clean run's after {kills} kills"
        );
    }
}

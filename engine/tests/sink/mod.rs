//! Recording what reaches the ALSA null sink of `../shared/alsa/null-sink.sh` (its PulseAudio
//! monitor), for the tests that play through a real device. Shared by the engine's device
//! tests and, through `#[path]`, the player's.
//!
//! `parec` is run here rather than through `null-sink.sh record` because that records without
//! asking for a latency, so the server hands the monitor over in fragments of up to ~2 s: a
//! 3-second recording held 0.34 s of audio in most tries here, and none at all in a CI run.
//! Asking for 20 ms fragments makes the file cover the recording window (less the client's
//! start-up, up to ~1 s; callers record longer than the audio they need).

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};

/// The null sink's name in `null-sink.sh` (`module-null-sink sink_name=hearth_null`).
const MONITOR: &str = "hearth_null.monitor";

/// Starts recording the sink to `out` (a 48 kHz stereo float WAV) for `secs` seconds; wait on
/// the child for the file to be complete. Uses the server `XDG_RUNTIME_DIR`/`PULSE_SERVER`
/// point to (exported by `null-sink.sh start`).
pub fn record(out: &Path, secs: u32) -> Child {
    Command::new("timeout")
        .arg(secs.to_string())
        .args([
            "parec",
            "-d",
            MONITOR,
            "--latency-msec=20",
            "--file-format=wav",
            "--format=float32le",
            "--rate=48000",
            "--channels=2",
        ])
        .arg(out)
        .spawn()
        .unwrap_or_else(|e| panic!("starting parec (pulseaudio-utils): {e}"))
}

/// Records the sink to `out` for `secs` seconds and returns when the file is complete.
pub fn record_for(out: &Path, secs: u32) {
    // `timeout` exits 124 after stopping parec (which then finishes the WAV header): expected.
    let _ = record(out, secs)
        .wait()
        .unwrap_or_else(|e| panic!("waiting for parec: {e}"));
}

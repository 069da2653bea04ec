//! The cpal device sink against a real, real-time-paced device: the PulseAudio null sink of
//! `shared/alsa/null-sink.sh`, reached through ALSA's default device.
//!
//! Skipped (with a note) unless `HEARTH_ALSA_TEST=1`: the caller must have started the sink
//! and exported its environment first:
//!
//! ```text
//! eval "$(../shared/alsa/null-sink.sh start)"
//! HEARTH_ALSA_TEST=1 cargo test -p hearth-engine --test output_device -- --nocapture
//! ../shared/alsa/null-sink.sh stop
//! ```
//!
//! The device-loss experiment kills and restarts the sound server, so it would break any other
//! test using the device at the same time: it is `#[ignore]`d and also needs
//! `HEARTH_ALSA_LOSS_TEST=1` (`-- --ignored device_loss`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod output_support;
mod sink;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use hearth_engine::output::{
    Output, OutputKind, OutputNotice, OutputSpec, OutputStats, STOP_TIMEOUT, list_devices,
    negotiate,
};
use output_support::{Probe, Signal, assert_is_probe};

const RATE: u32 = 48_000;
const FREQ: f64 = 1000.0;
const AMP: f64 = 0.5;

fn enabled(var: &str) -> bool {
    if std::env::var(var).as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "note: skipped, set {var}=1 after `eval \"$(../shared/alsa/null-sink.sh start)\"` \
         to run it against a real-time ALSA device"
    );
    false
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/alsa/null-sink.sh")
}

fn run_script(args: &[&str]) {
    let status = Command::new(script())
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", script().display()));
    assert!(status.success(), "null-sink.sh {args:?}: {status}");
}

/// Waits until the stream is past its start-up burst and pause and callbacks come steadily:
/// `n` callbacks in a row, each within 3 buffer durations of the previous one.
fn wait_for_steady(stats: &OutputStats, n: u64, timeout: Duration) {
    let start = Instant::now();
    let (mut last, mut last_at, mut steady) = (stats.callbacks(), Instant::now(), 0);
    while steady < n {
        assert!(
            start.elapsed() < timeout,
            "no steady callbacks after {timeout:?}: {:?}",
            stats.snapshot()
        );
        std::thread::sleep(Duration::from_millis(2));
        let now = stats.callbacks();
        if now != last {
            steady = if last_at.elapsed() < Duration::from_millis(32) {
                steady + (now - last)
            } else {
                0
            };
            last = now;
            last_at = Instant::now();
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// This process's user + system CPU time in clock ticks (Linux; 0 elsewhere).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn drain_notices(rx: &Receiver<OutputNotice>) -> Vec<OutputNotice> {
    rx.try_iter().collect()
}

#[test]
fn plays_a_sine_through_the_alsa_null_sink() {
    if !enabled("HEARTH_ALSA_TEST") {
        return;
    }
    let devices = list_devices().unwrap_or_else(|e| panic!("list_devices: {e}"));
    assert!(
        devices.iter().any(|d| d.is_default),
        "no default device listed"
    );
    for d in &devices {
        eprintln!(
            "device {:?} ({}){}: {} configs, default {:?}",
            d.name,
            d.id,
            if d.is_default { " [default]" } else { "" },
            d.configs.len(),
            d.default_config
        );
    }

    let negotiated = negotiate(&OutputSpec::Device { name: None }, Some(RATE), None)
        .unwrap_or_else(|e| panic!("negotiate: {e}"));
    assert_eq!(negotiated.rate(), RATE);
    let (source, tally) = Probe::boxed(
        21,
        Signal::Sine {
            freq: FREQ,
            amp: AMP,
            rate: RATE,
        },
    );
    let stats = Arc::new(OutputStats::new());
    let (tx, notices) = crossbeam_channel::unbounded();
    let started = Instant::now();
    let out = Output::start(negotiated, source, Arc::clone(&stats), tx)
        .unwrap_or_else(|(e, _)| panic!("start: {e}"));
    let info = out.info().clone();
    eprintln!("output: {info:?}");
    assert_eq!(info.kind, OutputKind::Device);
    assert_eq!(info.rate, RATE);

    // Ignore the start-up (PulseAudio: a burst, then a pause of up to 2 s).
    wait_for_steady(&stats, 20, Duration::from_secs(10));
    if let Some(rest) = Duration::from_secs(1).checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    // Capture what reaches the sink while the stream plays on. The capture client's start-up
    // is left out of what is judged, in the stream's counters and in the capture: connecting a
    // record stream keeps the sound server busy, and it can be late to ask for audio then (a
    // CI run saw one 33 ms gap as the recorder started) — the server's hiccup, not the
    // output's. Judged: the last 3.5 s of a 5-s recording.
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.wav");
    let mut recorder = sink::record(&capture, 5);
    std::thread::sleep(Duration::from_millis(1500));
    let startup = stats.snapshot();
    let mut startup_timings = Vec::new();
    stats.drain_timings(&mut startup_timings);
    eprintln!(
        "steady after {:?}: {} callbacks, {} underruns during start-up",
        started.elapsed(),
        startup.callbacks,
        startup.underruns
    );
    let window = Instant::now();
    let _ = recorder.wait();
    let window = window.elapsed();
    let steady = stats.snapshot();
    let mut timings = Vec::new();
    stats.drain_timings(&mut timings);

    let stopping = Instant::now();
    let mut back = out
        .stop()
        .unwrap_or_else(|| panic!("the device stream kept the source"));
    let stop_took = stopping.elapsed();
    assert_is_probe(&mut back, 21, &tally);
    let notices = drain_notices(&notices);

    // Callback size and period, render times.
    let callbacks = steady.callbacks - startup.callbacks;
    let frames = steady.frames - startup.frames;
    let secs = window.as_secs_f64();
    let mut render: Vec<u32> = timings.iter().map(|&(ns, _)| ns).collect();
    render.sort_unstable();
    eprintln!(
        "steady window {window:?}: {callbacks} callbacks of {} frames, period {:.3} ms, \
         {:.5}x real time; longest settled gap {:.3} ms; render p50 {} ns, p99 {} ns, \
         max {} ns; load max {:.4}; underruns {} (xruns {}, late {}); stop took {stop_took:?}; \
         notices {notices:?}",
        steady.last_callback_frames,
        secs * 1e3 / callbacks as f64,
        frames as f64 / secs / f64::from(RATE),
        steady.callback_gap_ns_max as f64 / 1e6,
        percentile(&render, 0.5),
        percentile(&render, 0.99),
        render.last().copied().unwrap_or(0),
        steady.load_max,
        steady.underruns - startup.underruns,
        steady.xruns - startup.xruns,
        steady.late_callbacks - startup.late_callbacks,
    );
    assert_eq!(
        timings.len() as u64,
        callbacks,
        "one timing sample per callback"
    );
    // The device consumes audio in real time (±3 % over the window).
    let speed = frames as f64 / secs / f64::from(RATE);
    assert!((0.97..=1.03).contains(&speed), "{speed}x real time");
    assert!(
        !notices
            .iter()
            .any(|n| matches!(n, OutputNotice::Lost { .. })),
        "{notices:?}"
    );
    assert!(stop_took < STOP_TIMEOUT);

    // What reached the sink is our sine: present, continuous, the right level and pitch.
    let mut reader =
        hound::WavReader::open(&capture).unwrap_or_else(|e| panic!("reading the capture: {e}"));
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, RATE));
    let mut samples: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap()).collect();
    // Only the window the counters cover (the capture's end is the window's end).
    let judged = (window.as_secs_f64() * f64::from(RATE)) as usize;
    let skip = (samples.len() / 2).saturating_sub(judged);
    samples.drain(..skip * 2);
    let left: Vec<f32> = samples.chunks_exact(2).map(|f| f[0]).collect();
    let right: Vec<f32> = samples.chunks_exact(2).map(|f| f[1]).collect();
    let first = left.iter().position(|x| x.abs() > 1e-3);
    let last = left.iter().rposition(|x| x.abs() > 1e-3);
    let (Some(first), Some(last)) = (first, last) else {
        panic!("the capture ({} frames) is silent", left.len());
    };
    let span = &left[first..=last];
    eprintln!(
        "capture: {} frames, audio from frame {first} to {last} ({:.3} s)",
        left.len(),
        span.len() as f64 / f64::from(RATE)
    );
    assert!(
        span.len() as f64 > 2.0 * f64::from(RATE),
        "only {} frames of audio captured",
        span.len()
    );
    assert_eq!(&left[first..=last], &right[first..=last], "L and R differ");
    let rms = (span.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / span.len() as f64).sqrt();
    let rising = span
        .windows(2)
        .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
        .count();
    let freq = rising as f64 / (span.len() as f64 / f64::from(RATE));
    // No dropout or glitch: a 1 kHz sine of amplitude 0.5 moves at most 2·0.5·sin(π/48) =
    // 0.065 between samples; a lost or repeated buffer breaks that almost surely.
    let max_step = span
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    let silent_runs = span
        .split(|x| x.abs() >= 1e-3)
        .filter(|run| run.len() >= 8)
        .count();
    eprintln!(
        "capture: rms {rms:.4} (sine {:.4}), {freq:.2} Hz, max step {max_step:.4}, \
         {silent_runs} silent runs",
        AMP / 2f64.sqrt()
    );
    assert!((rms - AMP / 2f64.sqrt()).abs() < 0.02, "rms {rms}");
    assert!((freq - FREQ).abs() < 10.0, "{freq} Hz");
    assert_eq!(silent_runs, 0, "dropouts in the capture");
    assert!(
        max_step < 0.07,
        "discontinuity of {max_step} in the capture"
    );
    // And the stream itself saw no underrun once it had settled.
    assert_eq!(
        steady.underruns, startup.underruns,
        "underruns after start-up: {steady:?}"
    );

    // Another rate and a fixed buffer size, on the same stats (as after a restart). Run after
    // the capture so the two streams never play at once.
    let negotiated = negotiate(&OutputSpec::Device { name: None }, Some(44_100), Some(256))
        .unwrap_or_else(|e| panic!("negotiate 44.1 kHz: {e}"));
    assert_eq!(negotiated.rate(), 44_100);
    let (tx, _notices) = crossbeam_channel::unbounded();
    let out = Output::start(negotiated, back, Arc::clone(&stats), tx)
        .unwrap_or_else(|(e, _)| panic!("start 44.1 kHz: {e}"));
    eprintln!("output: {:?}", out.info());
    assert_eq!(out.info().rate, 44_100);
    // A fixed size is a request: the backend may round it (PulseAudio's plugin makes 256
    // frames at 44.1 kHz into 170); `info` reports what the backend chose.
    let chosen = out
        .info()
        .buffer_frames
        .unwrap_or_else(|| panic!("no buffer size reported"));
    assert!((64..=512).contains(&chosen), "{chosen} frames");
    wait_for_steady(&stats, 40, Duration::from_secs(10));
    // Over 3 s: PulseAudio's plugin asks in bursts at this small size, and over 1 s a CI run
    // measured 0.84x.
    let before = (stats.frames(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let speed = (stats.frames() - before.0) as f64 / before.1.elapsed().as_secs_f64() / 44_100.0;
    let callback_frames = stats.snapshot().last_callback_frames;
    let mut back = out
        .stop()
        .unwrap_or_else(|| panic!("no source at 44.1 kHz"));
    eprintln!("44.1 kHz: {callback_frames}-frame callbacks, {speed:.4}x real time");
    assert_eq!(callback_frames, chosen);
    assert!((0.95..=1.05).contains(&speed), "{speed}x real time");
    assert_is_probe(&mut back, 21, &tally);
}

#[test]
#[ignore = "kills and restarts the sound server; needs HEARTH_ALSA_LOSS_TEST=1"]
fn device_loss_sends_lost_and_stop_returns_the_source() {
    if !enabled("HEARTH_ALSA_LOSS_TEST") {
        return;
    }
    let negotiated = negotiate(&OutputSpec::Device { name: None }, Some(RATE), None)
        .unwrap_or_else(|e| panic!("negotiate: {e}"));
    let (source, tally) = Probe::boxed(
        22,
        Signal::Sine {
            freq: FREQ,
            amp: AMP,
            rate: RATE,
        },
    );
    let stats = Arc::new(OutputStats::new());
    let (tx, notices) = crossbeam_channel::unbounded();
    let out = Output::start(negotiated, source, Arc::clone(&stats), tx.clone())
        .unwrap_or_else(|(e, _)| panic!("start: {e}"));
    wait_for_steady(&stats, 20, Duration::from_secs(10));

    // Pull the plug: kill the sound server mid-stream.
    let before = stats.snapshot();
    let killed = Instant::now();
    run_script(&["stop"]);
    let mut lost = None;
    let mut seen = Vec::new();
    while killed.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = notices.recv_timeout(Duration::from_millis(50)) {
            if matches!(n, OutputNotice::Lost { .. }) && lost.is_none() {
                lost = Some(killed.elapsed());
            }
            seen.push(n);
        }
        if lost.is_some() {
            break;
        }
    }
    // While the engine has not stopped the dead stream yet, cpal's worker must not spin.
    let cpu = cpu_ticks();
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_ticks().saturating_sub(cpu);
    let after = stats.snapshot();
    eprintln!("CPU over 0.5 s with the dead stream still open: {cpu} ticks (100/s)");
    eprintln!(
        "after killing the server: Lost after {lost:?}; notices {seen:?}; callbacks {} -> {} \
         (xruns {} -> {})",
        before.callbacks, after.callbacks, before.xruns, after.xruns
    );

    let stopping = Instant::now();
    let back = out.stop();
    let stop_took = stopping.elapsed();
    eprintln!("stop took {stop_took:?}, source back: {}", back.is_some());

    // Recovery as the engine does it: the server comes back, the default device is reopened
    // with the same source.
    run_script(&["start"]);
    let mut back = back.unwrap_or_else(|| panic!("stop did not return the source"));
    assert_is_probe(&mut back, 22, &tally);
    let negotiated = negotiate(&OutputSpec::Device { name: None }, Some(RATE), None)
        .unwrap_or_else(|e| panic!("renegotiate: {e}"));
    let out = Output::start(negotiated, back, Arc::clone(&stats), tx)
        .unwrap_or_else(|(e, _)| panic!("restart: {e}"));
    let resumed = stats.callbacks();
    wait_for_steady(&stats, 20, Duration::from_secs(10));
    eprintln!(
        "restarted on {:?}: callbacks {resumed} -> {}",
        out.info().name,
        stats.callbacks()
    );
    let mut back = out
        .stop()
        .unwrap_or_else(|| panic!("no source after restart"));
    assert_is_probe(&mut back, 22, &tally);

    assert!(lost.is_some(), "no Lost notice within 5 s: {seen:?}");
    assert!(
        cpu < 25,
        "the dead stream burnt {cpu} ticks of CPU in 0.5 s"
    );
    assert!(stop_took < STOP_TIMEOUT + Duration::from_millis(100));
}

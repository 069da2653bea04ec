//! The null and WAV sinks: real-time pacing, underrun detection, the recorded file, and the
//! source coming back on stop. These run in real time (about 4 s in all).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod output_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hearth_engine::output::{
    Negotiated, Output, OutputError, OutputKind, OutputNotice, OutputSpec, OutputStats, negotiate,
};
use output_support::{Probe, Signal, assert_is_probe, sine_at};

const RATE: u32 = 48_000;
const BUFFER: u32 = 512;

fn neg(spec: &OutputSpec) -> Negotiated {
    negotiate(spec, Some(RATE), Some(BUFFER)).unwrap_or_else(|e| panic!("negotiate: {e}"))
}

fn start(
    neg: Negotiated,
    source: Box<dyn hearth_engine::output::AudioCallback>,
    stats: &Arc<OutputStats>,
) -> (Output, crossbeam_channel::Receiver<OutputNotice>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let out = Output::start(neg, source, Arc::clone(stats), tx)
        .unwrap_or_else(|(e, _)| panic!("start: {e}"));
    (out, rx)
}

#[test]
fn null_sink_renders_in_real_time_without_underruns() {
    let (source, tally) = Probe::boxed(7, Signal::Silence);
    let stats = Arc::new(OutputStats::new());
    let negotiated = neg(&OutputSpec::Null);
    assert_eq!(negotiated.rate(), RATE);
    let (out, notices) = start(negotiated, source, &stats);
    assert_eq!(out.info().kind, OutputKind::Null);
    assert_eq!(out.info().buffer_frames, Some(BUFFER));
    std::thread::sleep(Duration::from_secs(1));
    let stopping = Instant::now();
    let mut back = out
        .stop()
        .unwrap_or_else(|| panic!("the null sink kept the source"));
    assert!(
        stopping.elapsed() < Duration::from_millis(200),
        "stop took {:?}",
        stopping.elapsed()
    );

    // One second of a 48 kHz device: 48000 frames, ±5 %.
    let frames = tally.frames.load(Ordering::Relaxed);
    assert!(
        (45_600..=50_400).contains(&frames),
        "rendered {frames} frames in 1 s"
    );
    assert_eq!(stats.frames(), frames, "stats and source disagree");
    assert_eq!(stats.callbacks(), frames / u64::from(BUFFER));
    assert_eq!(stats.underruns(), 0, "{:?}", stats.snapshot());
    assert!(notices.try_recv().is_err(), "no notice expected");
    // Every buffer left a timing sample of 512 frames.
    let mut timings = Vec::new();
    stats.drain_timings(&mut timings);
    assert_eq!(timings.len() as u64, stats.callbacks());
    assert!(timings.iter().all(|&(_, f)| f == BUFFER));
    assert_is_probe(&mut back, 7, &tally);
}

#[test]
fn a_stalled_render_is_an_underrun_and_the_clock_resynchronises() {
    // 512 frames at 48 kHz = 10.67 ms; stall for three buffers in the 10th render.
    let stall = Duration::from_micros(3 * 10_667);
    let (source, tally) = Probe::boxed(
        8,
        Signal::StallOnce {
            call: 10,
            sleep: stall,
        },
    );
    let stats = Arc::new(OutputStats::new());
    let began = Instant::now();
    let (out, notices) = start(neg(&OutputSpec::Null), source, &stats);
    std::thread::sleep(Duration::from_millis(600));
    let mut back = out
        .stop()
        .unwrap_or_else(|| panic!("the null sink kept the source"));
    let elapsed = began.elapsed();
    assert!(stats.underruns() >= 1, "{:?}", stats.snapshot());
    assert_eq!(stats.xruns(), stats.underruns());
    assert!(
        notices.try_iter().any(|n| n == OutputNotice::Xrun),
        "no Xrun notice"
    );
    // The stall shows in the render-time maximum.
    assert!(stats.render_ns_max() >= stall.as_nanos() as u64);
    assert!(stats.load_max() > 2.5, "load_max {}", stats.load_max());
    // Resynchronised, not catching up in a burst: the two buffers the stall overran are never
    // rendered. Catching up would have rendered floor(elapsed / period) + 1 buffers.
    let frames = tally.frames.load(Ordering::Relaxed);
    let period_ns = 1e9 * f64::from(BUFFER) / f64::from(RATE);
    let catch_up = (elapsed.as_nanos() as f64 / period_ns).floor() as u64 + 1;
    assert!(
        frames <= (catch_up - 1) * u64::from(BUFFER),
        "{frames} frames in {elapsed:?}: the sink caught up instead of resynchronising"
    );
    assert_is_probe(&mut back, 8, &tally);
}

#[test]
fn wav_sink_records_exactly_what_was_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("take.wav");
    let (freq, amp) = (1000.0, 0.5);
    let (source, tally) = Probe::boxed(
        9,
        Signal::Sine {
            freq,
            amp,
            rate: RATE,
        },
    );
    let stats = Arc::new(OutputStats::new());
    let (out, notices) = start(neg(&OutputSpec::Wav(path.clone())), source, &stats);
    assert_eq!(out.info().kind, OutputKind::Wav);
    std::thread::sleep(Duration::from_millis(500));
    // Still recording: nothing at the final path yet.
    assert!(!path.exists(), "the WAV appeared before stop");
    let (back, result) = out.stop_and_finish();
    let written = result.unwrap_or_else(|e| panic!("finish: {e}"));
    let mut back = back.unwrap_or_else(|| panic!("the WAV sink kept the source"));
    // (An Xrun notice is possible on a loaded machine; the recording must not be lost.)
    let notices: Vec<_> = notices.try_iter().collect();
    assert!(
        !notices
            .iter()
            .any(|n| matches!(n, OutputNotice::Lost { .. })),
        "{notices:?}"
    );
    assert_eq!(stats.frames_dropped(), 0);

    // Only the final file is left: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("take.wav")]);

    let mut reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, RATE);
    assert_eq!(spec.bits_per_sample, 32);
    assert_eq!(spec.sample_format, hound::SampleFormat::Float);
    let samples: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap()).collect();
    let frames = samples.len() as u64 / 2;
    // Every rendered frame is in the file, no more, no less.
    assert_eq!(frames, tally.frames.load(Ordering::Relaxed));
    assert_eq!(frames, written);
    assert_eq!(frames, stats.frames());
    // About half a second.
    assert!(
        (22_000..=27_000).contains(&frames),
        "{frames} frames for 0.5 s"
    );
    // The content is the sine, sample for sample, on both channels.
    for (n, frame) in samples.chunks_exact(2).enumerate() {
        let want = sine_at(n as u64, freq, amp, RATE);
        assert_eq!(frame, [want, want], "frame {n}");
    }
    let rms =
        (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    assert!((rms - amp / 2f64.sqrt()).abs() < 0.01, "rms {rms}");

    assert_is_probe(&mut back, 9, &tally);
}

#[test]
fn a_failed_start_gives_the_source_back() {
    let (source, tally) = Probe::boxed(10, Signal::Silence);
    let spec = OutputSpec::Wav("/nonexistent-dir-for-hearth/take.wav".into());
    let (tx, _rx) = crossbeam_channel::unbounded();
    match Output::start(neg(&spec), source, Arc::new(OutputStats::new()), tx) {
        Ok(_) => panic!("recording into a missing directory started"),
        Err((e, mut back)) => {
            assert!(matches!(e, OutputError::Io { .. }), "{e}");
            assert_is_probe(&mut back, 10, &tally);
        }
    }
    assert!(matches!(
        negotiate(&OutputSpec::Null, Some(0), None),
        Err(OutputError::InvalidConfig(_))
    ));
}

#[test]
fn a_restarted_sink_continues_the_same_stats() {
    let (source, tally) = Probe::boxed(11, Signal::Silence);
    let stats = Arc::new(OutputStats::new());
    let (out, _n1) = start(neg(&OutputSpec::Null), source, &stats);
    std::thread::sleep(Duration::from_millis(100));
    let source = out.stop().unwrap_or_else(|| panic!("no source"));
    let first = stats.callbacks();
    assert!(first > 0);
    // The engine's move after a device loss: same source, same stats, another sink.
    let negotiated = negotiate(&OutputSpec::Null, Some(44_100), Some(256)).unwrap();
    let (out, _n2) = start(negotiated, source, &stats);
    assert_eq!(out.info().rate, 44_100);
    std::thread::sleep(Duration::from_millis(100));
    let mut back = out.stop().unwrap_or_else(|| panic!("no source"));
    assert!(stats.callbacks() > first);
    let mut timings = Vec::new();
    stats.drain_timings(&mut timings);
    assert_eq!(timings.len() as u64, stats.callbacks());
    assert!(timings.iter().any(|&(_, f)| f == 256));
    assert_is_probe(&mut back, 11, &tally);
}

#[test]
fn outputs_move_between_threads_and_stats_are_shared() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    // The engine negotiates on one thread and may start, supervise and stop on another.
    send::<Output>();
    send::<Negotiated>();
    send::<OutputNotice>();
    send_sync::<OutputStats>();
    send_sync::<hearth_engine::output::OutputInfo>();
}

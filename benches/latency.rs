//! Command → sound, in real time, and Hearth side by side with rodio and kira.
//!
//! All parts drive the players from a simulated device ([`common::PacedDevice`]): a thread that
//! asks for one buffer every buffer duration on an absolute clock, as a sound card does. Hearth
//! runs as an embedder would run it with their own audio callback
//! ([`hearth::EngineBuilder::build_with_renderer`]): the renderer in the device callback, the
//! fillers and the event pump on the engine's threads, a real cache in a temporary directory.
//!
//! 1. `commands/*` — Hearth at 48 kHz / 256 frames on the demo: the API call → the first
//!    output sample that is changed, for a cached seek (warm tier), an uncached seek (original
//!    only, and with enhancement), an enhancement toggle and a preset change. Measured in
//!    frames handed to the device between the call and that sample (0 = the very next
//!    callback) and in milliseconds to the end of the callback that carries it.
//! 2. `vs_rodio/*` — the same device pulling rodio's `Player` (through its mixer, as its own
//!    cpal stream does) and Hearth, on the demo as FLAC and as MP3, at 128, 256 and 512 frames:
//!    seek call → end of the first callback with audio from the target, and the callback's own
//!    cost during the run of seeks. rodio seeks inside its audio callback (the decoder seeks
//!    and decodes there); Hearth's callback only copies audio the fillers prepared.
//! 3. `vs_kira/*` — the same device, files, buffer sizes and measures with kira 0.11: a
//!    streaming sound played by an `AudioManager` whose backend hands kira's `Renderer` to the
//!    device (`on_start_processing` + `process` in each callback, as kira's cpal backend calls
//!    it), seeked with its handle's `seek_to`. kira seeks on its decode thread, and the sound
//!    plays out the ring buffer of 16 384 frames that thread keeps full before the target's
//!    first frame comes (~0.37 s of a 44.1 kHz track), so each seek takes ~0.4 s: 31 runs per
//!    case instead of 101. How its target audio is detected, and checked against the track
//!    frame by frame, is told at [`kira_rig`].
//!
//! `cargo bench -p hearth --bench latency` runs criterion (one iteration = one command; the
//! criterion times are the latencies) and prints the percentile tables, the players side by
//! side, and the check of kira's detection. Not included: the device's own latency (its buffer
//! queue and the DAC), which is the same for any player.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that fails may panic

mod common;

use std::fs::File;
use std::num::NonZero;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use hearth::cache::{FillerConfig, WarmStore, warm_track};
use hearth::{Engine, Preset, Renderer};

const RATE: u32 = 48_000;
/// Measurements per case (criterion samples of one iteration each).
const RUNS: usize = 100;
/// Measurements per kira case: each takes ~0.4 s.
const KIRA_RUNS: usize = 30;
/// Longest a single measurement may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// A small deterministic PRNG (SplitMix64) for the seek positions.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// Which counter marks "the change is playing".
#[derive(Clone, Copy)]
#[repr(u8)]
enum Mark {
    Jump = 0,
    Mix = 1,
    Preset = 2,
}

/// What the device thread and the measuring thread share.
#[derive(Default)]
struct Probe {
    /// The marker value awaited; 0 when nothing is.
    wanted: AtomicU64,
    /// Which marker (a `Mark`).
    mark: AtomicU8,
    /// Frames handed to the device so far.
    frames_done: AtomicU64,
    /// Callback costs, ns, while recording.
    costs: Mutex<Vec<u64>>,
    recording: std::sync::atomic::AtomicBool,
}

/// One measurement: ms from the call to the end of the callback carrying the change, and
/// frames handed to the device between the call and the change.
type Hit = (f64, u64);

/// The device plus what it reports.
struct Rig {
    probe: Arc<Probe>,
    hits: mpsc::Receiver<(Instant, u64)>,
    _device: common::PacedDevice,
}

/// When a player's progress marker tells about the audio it has played.
#[derive(Clone, Copy, PartialEq)]
enum Reports {
    /// After a callback, the marker covers that callback's output (Hearth, rodio).
    ThisCallback,
    /// After a callback, the marker covers the output of the callback before it: kira
    /// publishes its playhead at the start of each callback (see `kira_rig`).
    PreviousCallback,
}

impl Rig {
    /// Starts a device at `buffer` frames pulling `callback`; while a measurement waits,
    /// `marker(mark, previous, output)` reads the player's progress marker after each callback
    /// (`output` is what that callback produced, `previous` the callback's before it, kept only
    /// for a [`Reports::PreviousCallback`] player).
    fn start(
        buffer: usize,
        reports: Reports,
        callback: impl FnMut(&mut [f32]) + Send + 'static,
        mut marker: impl FnMut(u8, &[f32], &[f32]) -> u64 + Send + 'static,
    ) -> Rig {
        let probe = Arc::new(Probe::default());
        probe
            .costs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reserve(1 << 20);
        let (tx, hits) = mpsc::channel();
        let p = Arc::clone(&probe);
        // The callback before this one: its end and frames before it, and its output.
        let mut previous: Option<(Instant, u64)> = None;
        let mut previous_out = vec![0.0f32; buffer * 2];
        let device = common::PacedDevice::start(RATE, buffer, callback, move |cb, out| {
            if p.recording.load(Ordering::Relaxed) {
                let ns = (cb.end - cb.start).as_nanos() as u64;
                p.costs.lock().unwrap_or_else(|e| e.into_inner()).push(ns);
            }
            let wanted = p.wanted.load(Ordering::Acquire);
            if wanted != 0
                && marker(p.mark.load(Ordering::Acquire), &previous_out, out) >= wanted
                && p.wanted
                    .compare_exchange(wanted, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                // Dated to the callback whose output carries the change.
                let hit = match (reports, previous) {
                    (Reports::PreviousCallback, Some(prev)) => prev,
                    _ => (cb.end, cb.frames_before),
                };
                let _ = tx.send(hit);
            }
            previous = Some((cb.end, cb.frames_before));
            if reports == Reports::PreviousCallback {
                previous_out.copy_from_slice(out);
            }
            p.frames_done
                .store(cb.frames_before + buffer as u64, Ordering::Release);
        });
        Rig {
            probe,
            hits,
            _device: device,
        }
    }

    /// Issues a command through `issue` and waits for the marker `mark` to reach `wanted`.
    fn measure(&self, mark: Mark, wanted: u64, issue: impl FnOnce()) -> Option<Hit> {
        while self.hits.try_recv().is_ok() {}
        self.probe.mark.store(mark as u8, Ordering::Release);
        self.probe.wanted.store(wanted, Ordering::Release);
        let frames0 = self.probe.frames_done.load(Ordering::Acquire);
        let t0 = Instant::now();
        issue();
        match self.hits.recv_timeout(TIMEOUT) {
            Ok((end, frames_before)) => Some((
                end.saturating_duration_since(t0).as_secs_f64() * 1e3,
                frames_before.saturating_sub(frames0),
            )),
            Err(_) => {
                self.probe.wanted.store(0, Ordering::Release);
                None
            }
        }
    }

    fn record_costs(&self, on: bool) {
        self.probe.recording.store(on, Ordering::Release);
    }

    fn take_costs(&self) -> Vec<f64> {
        std::mem::take(&mut *self.probe.costs.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .map(|ns| ns as f64 / 1e3)
            .collect()
    }
}

/// A Hearth engine whose renderer runs in a [`Rig`]'s device callback.
fn hearth_rig(cache: &Path, buffer: usize, enhanced: bool, warm_ahead: bool) -> (Engine, Rig) {
    let (engine, mut renderer): (Engine, Renderer) = Engine::builder()
        .rate(RATE)
        .cache_dir(cache)
        .enhancement(enhanced, Preset::Adaptive, 1.0)
        .warm_ahead(warm_ahead)
        .build_with_renderer()
        .unwrap_or_else(|e| panic!("engine: {e}"));
    let e = engine.clone();
    let rig = Rig::start(
        buffer,
        Reports::ThisCallback,
        move |out| renderer.render(out),
        move |mark, _, _| {
            let t = e.telemetry();
            match mark {
                0 => t.jump_done,
                1 => t.mix_changes,
                _ => t.preset_switches,
            }
        },
    );
    (engine, rig)
}

/// Warms `path` (original and the adaptive preset) into the cache at `dir`.
fn warm(dir: &Path, path: &Path) {
    let store = Arc::new(WarmStore::open(hearth::cache::CacheConfig::new(dir)));
    warm_track(
        store,
        path.to_path_buf(),
        FillerConfig {
            engine_rate: RATE,
            chunk_frames: hearth::DEFAULT_CHUNK_FRAMES,
        },
        &[Preset::Adaptive],
        |_| {},
    )
    .unwrap_or_else(|e| panic!("warm {}: {e}", path.display()));
}

fn duration_s(path: &Path) -> f64 {
    hearth::probe(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .duration()
        .as_secs_f64()
}

/// Restarts the track if it reached its end (a stopped engine changes nothing audible).
fn keep_playing(engine: &Engine) {
    if engine.transport() != hearth::Transport::Playing {
        let _ = engine.seek(Duration::ZERO);
        let _ = engine.play();
        settle(100);
    }
}

fn settle(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Waits `ms` plus a random part of a buffer duration, so that commands land at uniformly
/// distributed points of the device's period (a fixed pause would phase-lock them to it).
fn settle_random(ms: u64, rng: &mut Rng, buffer: usize) {
    let period_us = buffer as u64 * 1_000_000 / u64::from(RATE);
    std::thread::sleep(Duration::from_millis(ms) + Duration::from_micros(rng.below(period_us)));
}

/// Runs `one` as a criterion benchmark of `RUNS` single-command samples; every measurement
/// (warm-up included) also lands in `hits` for the percentile tables.
fn criterion_case(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    hits: &mut Vec<Hit>,
    mut one: impl FnMut() -> Option<Hit>,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                match one() {
                    Some(h) => {
                        total += Duration::from_secs_f64(h.0 / 1e3);
                        hits.push(h);
                    }
                    None => total += TIMEOUT,
                }
            }
            total
        });
    });
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(RUNS)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(500));
}

struct Row {
    name: String,
    hits: Vec<Hit>,
}

/// Part 1: Hearth's commands at 48 kHz / 256 frames.
fn commands(c: &mut Criterion, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let demo = common::asset("demo.flac");
    let seconds = duration_s(&demo);
    let mut rng = Rng(0x4845_4152_5448);
    let mut group = c.benchmark_group("commands");
    configure(&mut group);

    // On a warmed track: cached seeks, toggles, preset changes.
    warm(&cache, &demo);
    let (engine, rig) = hearth_rig(&cache, 256, true, true);
    engine.load(&demo).unwrap();
    engine.play().unwrap();
    settle(500);
    let mut hits = Vec::new();
    criterion_case(
        &mut group,
        BenchmarkId::from_parameter("seek_cached"),
        &mut hits,
        || {
            keep_playing(&engine);
            let to = rng.below(((seconds - 1.0) * 1000.0) as u64) as f64 / 1000.0;
            let wanted = engine.telemetry().generation + 1;
            let h = rig.measure(Mark::Jump, wanted, || {
                let _ = engine.seek(Duration::from_secs_f64(to));
            });
            settle_random(40, &mut rng, 256);
            h
        },
    );
    rows.push(Row {
        name: "seek_cached".into(),
        hits: std::mem::take(&mut hits),
    });
    let mut on = true;
    criterion_case(
        &mut group,
        BenchmarkId::from_parameter("toggle"),
        &mut hits,
        || {
            on = !on;
            keep_playing(&engine);
            let wanted = engine.telemetry().mix_changes + 1;
            let h = rig.measure(Mark::Mix, wanted, || engine.set_enhancement(on));
            settle_random(30, &mut rng, 256);
            h
        },
    );
    rows.push(Row {
        name: "toggle".into(),
        hits: std::mem::take(&mut hits),
    });
    engine.set_enhancement(true);
    // From the top, so the track does not end during the switches.
    let _ = engine.seek(Duration::ZERO);
    let _ = engine.play();
    // Steady state: the background filler calibrates the track's other presets in its
    // first seconds (see DESIGN.md), so a switch costs one chunk of mastering.
    settle(2000);
    let mut preset = Preset::Adaptive;
    criterion_case(
        &mut group,
        BenchmarkId::from_parameter("preset"),
        &mut hits,
        || {
            preset = preset.next();
            keep_playing(&engine);
            let wanted = engine.telemetry().preset_switches + 1;
            let h = rig.measure(Mark::Preset, wanted, || engine.set_preset(preset));
            settle_random(60, &mut rng, 256);
            h
        },
    );
    rows.push(Row {
        name: "preset".into(),
        hits: std::mem::take(&mut hits),
    });
    drop(rig);
    drop(engine);

    // Uncached seeks: fresh copies (new fingerprints), chunks produced only where asked.
    for (name, enhanced) in [("seek_uncached", false), ("seek_uncached_enhanced", true)] {
        let (engine, rig) = hearth_rig(&cache, 256, enhanced, false);
        let mut copies = 0;
        let mut targets: Vec<u64> = Vec::new();
        let chunk_s = f64::from(hearth::DEFAULT_CHUNK_FRAMES) / f64::from(RATE);
        criterion_case(
            &mut group,
            BenchmarkId::from_parameter(name),
            &mut hits,
            || {
                if targets.is_empty() {
                    copies += 1;
                    let copy = dir.path().join(format!("copy-{name}-{copies}.flac"));
                    std::fs::copy(&demo, &copy).unwrap();
                    engine.load(&copy).unwrap();
                    engine.play().unwrap();
                    settle(if enhanced { 1500 } else { 300 });
                    // Odd chunks from 3 on: a seek produces chunk k and k + 1, so no target is
                    // ever produced by an earlier one.
                    let chunks = (seconds / chunk_s) as u64;
                    targets = (1..chunks.saturating_sub(1) / 2)
                        .map(|k| 2 * k + 1)
                        .collect();
                    for i in (1..targets.len()).rev() {
                        targets.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                }
                let k = targets.pop()?;
                let to = k as f64 * chunk_s + rng.below((chunk_s * 900.0) as u64) as f64 / 1000.0;
                let wanted = engine.telemetry().generation + 1;
                let h = rig.measure(Mark::Jump, wanted, || {
                    let _ = engine.seek(Duration::from_secs_f64(to));
                });
                settle_random(60, &mut rng, 256);
                h
            },
        );
        rows.push(Row {
            name: name.into(),
            hits: std::mem::take(&mut hits),
        });
    }
    group.finish();
}

/// rodio's decoder, marked: after a seek, the first sample it yields is from the target.
struct Marked<S> {
    inner: S,
    state: Arc<MarkState>,
    pending: u64,
}

#[derive(Default)]
struct MarkState {
    /// Generation of the seek being asked for (set before `try_seek`).
    requested: AtomicU64,
    /// Generation of the last seek whose target audio has been yielded.
    emitted: AtomicU64,
}

impl<S: rodio::Source> Iterator for Marked<S> {
    type Item = rodio::Sample;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.inner.next();
        if self.pending != 0 && s.is_some() {
            self.state.emitted.store(self.pending, Ordering::Release);
            self.pending = 0;
        }
        s
    }
}

impl<S: rodio::Source> rodio::Source for Marked<S> {
    fn current_span_len(&self) -> Option<usize> {
        self.inner.current_span_len()
    }
    fn channels(&self) -> rodio::ChannelCount {
        self.inner.channels()
    }
    fn sample_rate(&self) -> rodio::SampleRate {
        self.inner.sample_rate()
    }
    fn total_duration(&self) -> Option<Duration> {
        self.inner.total_duration()
    }
    fn try_seek(&mut self, pos: Duration) -> Result<(), rodio::source::SeekError> {
        self.inner.try_seek(pos)?;
        self.pending = self.state.requested.load(Ordering::Acquire);
        Ok(())
    }
}

/// rodio playing `path` through its mixer into a [`Rig`]'s device, as its cpal stream would.
fn rodio_rig(path: &Path, buffer: usize) -> (rodio::Player, Arc<MarkState>, Rig) {
    let channels = NonZero::new(2u16).unwrap_or(NonZero::<u16>::MIN);
    let rate = NonZero::new(RATE).unwrap_or(NonZero::<u32>::MIN);
    let (mixer, mut output) = rodio::mixer::mixer(channels, rate);
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoder = rodio::Decoder::try_from(file).unwrap_or_else(|e| panic!("rodio: {e}"));
    let state = Arc::new(MarkState::default());
    let player = rodio::Player::connect_new(&mixer);
    player.append(Marked {
        inner: decoder,
        state: Arc::clone(&state),
        pending: 0,
    });
    let s = Arc::clone(&state);
    let rig = Rig::start(
        buffer,
        Reports::ThisCallback,
        move |out| {
            // What rodio's own cpal callback does: one mixer sample per output sample.
            for x in out.iter_mut() {
                *x = output.next().unwrap_or(0.0);
            }
        },
        move |_, _, _| s.emitted.load(Ordering::Acquire),
    );
    (player, state, rig)
}

/// kira's backend in this bench. Where kira's cpal backend opens a stream and calls the renderer
/// from the stream's callback, this one hands the renderer to the paced device, whose callback
/// calls it the same way (`on_start_processing`, then `process`).
struct PacedBackend {
    renderer: mpsc::Sender<kira::backend::Renderer>,
}

impl kira::backend::Backend for PacedBackend {
    type Settings = mpsc::Sender<kira::backend::Renderer>;
    type Error = &'static str;

    fn setup(
        settings: Self::Settings,
        _internal_buffer_size: usize,
    ) -> Result<(Self, u32), Self::Error> {
        // The device's rate: kira resamples the 44.1 kHz demo to it, as rodio and Hearth do.
        Ok((PacedBackend { renderer: settings }, RATE))
    }

    fn start(&mut self, renderer: kira::backend::Renderer) -> Result<(), Self::Error> {
        self.renderer
            .send(renderer)
            .map_err(|_| "the bench no longer waits for kira's renderer")
    }
}

/// What kira's seeks share with the device thread.
#[derive(Default)]
struct KiraSeek {
    /// The source frame the pending seek goes to (kira's own rounding of the position).
    target: AtomicU64,
    /// Generation of the pending seek (stored after `target`).
    requested: AtomicU64,
    /// The detected callbacks' audio against the track's.
    check: Mutex<ContentCheck>,
}

/// How the audio of the callbacks detected as kira's first with target audio compared with the
/// track itself.
#[derive(Default, Clone, Copy)]
struct ContentCheck {
    seeks: u64,
    /// Seeks whose compared frames all matched.
    exact_seeks: u64,
    /// Output frames compared: those whose interpolation window lies inside the target audio.
    frames: u64,
    /// Compared frames that did not match (off by more than float rounding).
    frames_off: u64,
    /// Largest |kira's output − the track from the target on, resampled as kira resamples|.
    max_error: f32,
}

/// Off by more than this, a frame does not match: float rounding is far below it (the FLAC
/// demo matches bit for bit).
const MATCH: f32 = 1e-5;

type KiraHandle = kira::sound::streaming::StreamingSoundHandle<kira::sound::FromFileError>;

/// kira playing `path` as a streaming sound (its decoder on kira's decode thread, feeding the
/// sound through a ring buffer) through an `AudioManager` whose renderer runs in a [`Rig`]'s
/// device. Returns the manager, the sound's handle, what the seeks share with the device
/// thread, the track's rate and the rig.
///
/// How "the first callback with target audio" is detected: each frame in kira's ring buffer
/// carries its index in the track, and at the start of every callback the sound publishes the
/// index it has reached ([`KiraHandle::position`]). Read after callback N, the position tells
/// where callback N−1 ended, so a position in [target, target + one callback] means N−1 was the
/// first callback to play the target: the rig dates the hit to N−1's end
/// ([`Reports::PreviousCallback`]). That is the moment rodio's marker (its decoder's first
/// sample after the seek, pulled in that callback) and Hearth's (`jump_done`, counted by the
/// renderer in the callback that switches) stand for, so all three are dated alike: the end of
/// the callback whose output first carries target audio. (The one or two frames kira
/// interpolates between the last buffered frame and the target's first count as before the
/// target.) As a check that kira's bookkeeping tells the truth, the output of the detected
/// callback and the next one is compared, frame by frame, with the track as kira decodes it
/// whole, from the target on, interpolated as kira's resampler does ([`ContentCheck`], in the
/// report): on the FLAC every compared frame matches bit for bit. On the MP3 many seeks start
/// with up to one MP3 frame of differing audio: kira's streaming decoder does not reset
/// symphonia's decoder after seeking (symphonia asks for it), so, most likely, the first frames
/// decode with state left from the old position; the frames after them match.
fn kira_rig(
    path: &Path,
    buffer: usize,
) -> (
    kira::AudioManager<PacedBackend>,
    Arc<Mutex<KiraHandle>>,
    Arc<KiraSeek>,
    f64,
    Rig,
) {
    let whole = kira::sound::static_sound::StaticSoundData::from_file(path)
        .unwrap_or_else(|e| panic!("kira {}: {e}", path.display()));
    let track_rate = f64::from(whole.sample_rate);
    let track = whole.frames;
    let (tx, rx) = mpsc::channel();
    let defaults = kira::AudioManagerSettings::<kira::backend::mock::MockBackend>::default();
    let mut manager = kira::AudioManager::<PacedBackend>::new(kira::AudioManagerSettings {
        capacities: defaults.capacities,
        main_track_builder: defaults.main_track_builder,
        internal_buffer_size: defaults.internal_buffer_size,
        backend_settings: tx,
    })
    .unwrap_or_else(|e| panic!("kira manager: {e}"));
    // `AudioManager::new` starts the backend before it returns.
    let mut renderer = rx
        .try_recv()
        .unwrap_or_else(|_| panic!("kira: the manager did not start its backend"));
    let data = kira::sound::streaming::StreamingSoundData::from_file(path)
        .unwrap_or_else(|e| panic!("kira {}: {e}", path.display()));
    let handle = Arc::new(Mutex::new(
        manager
            .play(data)
            .unwrap_or_else(|e| panic!("kira play: {e}")),
    ));
    let seek = Arc::new(KiraSeek::default());
    let (h, k) = (Arc::clone(&handle), Arc::clone(&seek));
    // Track frames per output frame, and how far one callback moves the playhead (the reading
    // after the first callback to play target frames is the first in [target, target + this)).
    let step = track_rate / f64::from(RATE);
    let one_callback = buffer as f64 * step;
    let mut reached = 0;
    let rig = Rig::start(
        buffer,
        Reports::PreviousCallback,
        move |out| {
            // What kira's cpal backend does in its stream callback.
            renderer.on_start_processing();
            renderer.process(out, 2);
        },
        move |_, previous, out| {
            let requested = k.requested.load(Ordering::Acquire);
            if requested > reached {
                let target = k.target.load(Ordering::Acquire) as f64;
                // Where the previous callback ended, in track frames.
                let at = h.lock().unwrap_or_else(|e| e.into_inner()).position() * track_rate;
                if (target..target + one_callback).contains(&at) {
                    reached = requested;
                    let mut check = k.check.lock().unwrap_or_else(|e| e.into_inner());
                    compare_with_track(&mut check, &track, target, at, step, previous, out);
                }
            }
            reached
        },
    );
    (manager, handle, seek, track_rate, rig)
}

/// Compares two consecutive callbacks of kira's output, `previous` then `out`, whose boundary
/// lies at track position `at`, with the track from `target` on: each output frame whose
/// 4-point window lies inside the target audio must be kira's interpolation of `track` there.
fn compare_with_track(
    check: &mut ContentCheck,
    track: &[kira::Frame],
    target: f64,
    at: f64,
    step: f64,
    previous: &[f32],
    out: &[f32],
) {
    check.seeks += 1;
    let before = previous.len() / 2;
    let mut exact = true;
    for (i, lr) in previous
        .chunks_exact(2)
        .chain(out.chunks_exact(2))
        .enumerate()
    {
        let pos = at + (i as f64 - before as f64) * step;
        let f = pos.floor();
        if f - 1.0 < target || f as usize + 2 >= track.len() {
            continue;
        }
        let f = f as usize;
        let want = kira::interpolate_frame(
            track[f - 1],
            track[f],
            track[f + 1],
            track[f + 2],
            (pos - f as f64) as f32,
        );
        // The renderer clamps its output to ±1.
        let error = (lr[0] - want.left.clamp(-1.0, 1.0))
            .abs()
            .max((lr[1] - want.right.clamp(-1.0, 1.0)).abs());
        check.frames += 1;
        check.max_error = check.max_error.max(error);
        if error > MATCH {
            check.frames_off += 1;
            exact = false;
        }
    }
    check.exact_seeks += u64::from(exact);
}

/// Part 2: seeks, Hearth and rodio, on the same device.
fn versus_rodio(c: &mut Criterion, rows: &mut Vec<Row>, costs: &mut Vec<(String, Vec<f64>)>) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let files: [(&str, PathBuf); 2] = [
        ("flac", common::asset("demo.flac")),
        ("mp3", common::asset("demo.mp3")),
    ];
    let mut group = c.benchmark_group("vs_rodio");
    configure(&mut group);
    for (format, path) in &files {
        warm(&cache, path);
        let seconds = duration_s(path);
        for buffer in [128usize, 256, 512] {
            let mut hits = Vec::new();
            let mut rng = Rng(0x5345_454B ^ buffer as u64);
            // Hearth: the track warmed, so every seek is served from the cache.
            {
                let (engine, rig) = hearth_rig(&cache, buffer, true, true);
                engine.load(path).unwrap();
                engine.play().unwrap();
                settle(500);
                rig.record_costs(true);
                let id = BenchmarkId::new(format!("{format}/{buffer}"), "hearth");
                criterion_case(&mut group, id, &mut hits, || {
                    keep_playing(&engine);
                    let to = rng.below(((seconds - 5.0) * 1000.0) as u64) as f64 / 1000.0;
                    let wanted = engine.telemetry().generation + 1;
                    let h = rig.measure(Mark::Jump, wanted, || {
                        let _ = engine.seek(Duration::from_secs_f64(to));
                    });
                    settle_random(40, &mut rng, buffer);
                    h
                });
                rig.record_costs(false);
                let name = format!("{format}/{buffer}/hearth");
                costs.push((name.clone(), rig.take_costs()));
                rows.push(Row {
                    name,
                    hits: std::mem::take(&mut hits),
                });
            }
            let mut rng = Rng(0x5345_454B ^ buffer as u64);
            {
                let (player, state, rig) = rodio_rig(path, buffer);
                settle(500);
                rig.record_costs(true);
                let mut generation = 0;
                let id = BenchmarkId::new(format!("{format}/{buffer}"), "rodio");
                criterion_case(&mut group, id, &mut hits, || {
                    let to = rng.below(((seconds - 5.0) * 1000.0) as u64) as f64 / 1000.0;
                    generation += 1;
                    state.requested.store(generation, Ordering::Release);
                    let h = rig.measure(Mark::Jump, generation, || {
                        // Blocks until the audio callback has carried the seek out.
                        if let Err(e) = player.try_seek(Duration::from_secs_f64(to)) {
                            panic!("rodio seek: {e}");
                        }
                    });
                    settle_random(40, &mut rng, buffer);
                    h
                });
                rig.record_costs(false);
                let name = format!("{format}/{buffer}/rodio");
                costs.push((name.clone(), rig.take_costs()));
                rows.push(Row {
                    name,
                    hits: std::mem::take(&mut hits),
                });
            }
        }
    }
    group.finish();
}

/// Part 3: seeks, kira, on the same device, files, buffer sizes and seek positions as part 2.
fn versus_kira(
    c: &mut Criterion,
    rows: &mut Vec<Row>,
    costs: &mut Vec<(String, Vec<f64>)>,
    checks: &mut Vec<(String, ContentCheck)>,
) {
    let files: [(&str, PathBuf); 2] = [
        ("flac", common::asset("demo.flac")),
        ("mp3", common::asset("demo.mp3")),
    ];
    let mut group = c.benchmark_group("vs_kira");
    configure(&mut group);
    // Each of kira's seeks takes ~0.4 s (see the module doc): fewer of them keeps the run short.
    group.sample_size(KIRA_RUNS);
    for (format, path) in &files {
        let seconds = duration_s(path);
        for buffer in [128usize, 256, 512] {
            let mut hits = Vec::new();
            // Part 2's sequence, but for targets near the playhead (see below).
            let mut rng = Rng(0x5345_454B ^ buffer as u64);
            let (manager, handle, seek, track_rate, rig) = kira_rig(path, buffer);
            settle(500);
            rig.record_costs(true);
            let mut generation = 0;
            let id = BenchmarkId::new(format!("{format}/{buffer}"), "kira");
            criterion_case(&mut group, id, &mut hits, || {
                let now = {
                    let h = handle.lock().unwrap_or_else(|e| e.into_inner());
                    let state = h.state();
                    if state != kira::sound::PlaybackState::Playing {
                        panic!("kira: the sound is {state:?}, not playing");
                    }
                    h.position()
                };
                // At least 2 s from the playhead either way, so that the audio already
                // buffered (~0.4 s) cannot carry the playhead into the target by itself.
                let to = loop {
                    let to = rng.below(((seconds - 5.0) * 1000.0) as u64) as f64 / 1000.0;
                    if (to - now).abs() >= 2.0 {
                        break to;
                    }
                };
                generation += 1;
                // The frame kira's decode thread seeks to: the position rounded to a frame.
                seek.target
                    .store((to * track_rate).round() as u64, Ordering::Release);
                seek.requested.store(generation, Ordering::Release);
                let h = rig.measure(Mark::Jump, generation, || {
                    // Only queues the seek: kira's decode thread carries it out.
                    handle.lock().unwrap_or_else(|e| e.into_inner()).seek_to(to);
                });
                settle_random(40, &mut rng, buffer);
                h
            });
            rig.record_costs(false);
            let name = format!("{format}/{buffer}/kira");
            costs.push((name.clone(), rig.take_costs()));
            rows.push(Row {
                name: name.clone(),
                hits: std::mem::take(&mut hits),
            });
            checks.push((name, *seek.check.lock().unwrap_or_else(|e| e.into_inner())));
            // Stopped, kira's decode thread ends; a sound merely dropped would leave it
            // polling its full ring buffer for the rest of the run.
            handle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .stop(kira::Tween::default());
            settle(100);
            drop(rig);
            drop(manager);
        }
    }
    group.finish();
}

fn report(rows: &[Row], costs: &[(String, Vec<f64>)], checks: &[(String, ContentCheck)]) {
    // Hearth's commands, then the players side by side for each file and buffer size.
    let mut order: Vec<String> = rows
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| r.name.clone())
        .collect();
    for format in ["flac", "mp3"] {
        for buffer in [128, 256, 512] {
            for player in ["hearth", "rodio", "kira"] {
                order.push(format!("{format}/{buffer}/{player}"));
            }
        }
    }
    let rows = order
        .iter()
        .filter_map(|n| rows.iter().find(|r| &r.name == n));
    let costs = || {
        order
            .iter()
            .filter_map(|n| costs.iter().find(|(c, _)| c == n))
    };
    println!(
        "\n{:<24} {:>4} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "latency", "n", "p50 ms", "p99 ms", "max ms", "p50 fr", "p99 fr", "max fr"
    );
    for r in rows.clone() {
        let ms: Vec<f64> = r.hits.iter().map(|h| h.0).collect();
        let fr: Vec<f64> = r.hits.iter().map(|h| h.1 as f64).collect();
        println!(
            "{:<24} {:>4} {:>9.2} {:>9.2} {:>9.2} {:>10.0} {:>10.0} {:>10.0}",
            r.name,
            ms.len(),
            common::pct(&ms, 50.0),
            common::pct(&ms, 99.0),
            common::pct(&ms, 100.0),
            common::pct(&fr, 50.0),
            common::pct(&fr, 99.0),
            common::pct(&fr, 100.0),
        );
    }
    println!(
        "\n{:<24} {:>9} {:>9} {:>9} {:>9}",
        "callback cost (seeks)", "n", "p50 µs", "p99 µs", "max µs"
    );
    for (name, v) in costs() {
        println!(
            "{name:<24} {:>9} {:>9.1} {:>9.1} {:>9.1}",
            v.len(),
            common::pct(v, 50.0),
            common::pct(v, 99.0),
            common::pct(v, 100.0)
        );
    }
    // Side by side: rodio ÷ Hearth and kira ÷ Hearth.
    println!(
        "\n{:<12} {:>22} {:>22} {:>22} {:>22}",
        "vs hearth",
        "seek p99 (rodio/hearth)",
        "seek p99 (kira/hearth)",
        "cost p99 (rodio/hearth)",
        "cost p99 (kira/hearth)"
    );
    let p99 = |name: &str| {
        let seek = rows
            .clone()
            .find(|r| r.name == name)
            .map(|r| common::pct(&r.hits.iter().map(|h| h.0).collect::<Vec<_>>(), 99.0));
        let cost = costs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| common::pct(v, 99.0));
        (seek.unwrap_or(f64::NAN), cost.unwrap_or(f64::NAN))
    };
    for format in ["flac", "mp3"] {
        for buffer in [128, 256, 512] {
            let (hs, hc) = p99(&format!("{format}/{buffer}/hearth"));
            let (rs, rc) = p99(&format!("{format}/{buffer}/rodio"));
            let (ks, kc) = p99(&format!("{format}/{buffer}/kira"));
            println!(
                "{:<12} {:>22.2} {:>22.2} {:>22.1} {:>22.1}",
                format!("{format}/{buffer}"),
                rs / hs,
                ks / hs,
                rc / hc,
                kc / hc
            );
        }
    }
    // The check of kira's detection against the audio it played (see `kira_rig`).
    println!(
        "\n{:<24} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "kira audio vs track", "seeks", "exact", "frames", "off", "max |error|"
    );
    for (name, c) in checks {
        println!(
            "{name:<24} {:>9} {:>9} {:>9} {:>9} {:>12.1e}",
            c.seeks, c.exact_seeks, c.frames, c.frames_off, c.max_error
        );
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    let mut checks = Vec::new();
    commands(&mut c, &mut rows);
    versus_rodio(&mut c, &mut rows, &mut costs);
    versus_kira(&mut c, &mut rows, &mut costs, &mut checks);
    c.final_summary();
    report(&rows, &costs, &checks);
}

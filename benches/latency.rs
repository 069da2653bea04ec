//! Command → sound, in real time, and Hearth side by side with rodio.
//!
//! Both parts drive the engine from a simulated device ([`common::PacedDevice`]): a thread that
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
//!
//! `cargo bench -p hearth --bench latency` runs criterion (one iteration = one command; the
//! criterion times are the latencies) and prints the percentile tables. Not included: the
//! device's own latency (its buffer queue and the DAC), which is the same for any player.

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

impl Rig {
    /// Starts a device at `buffer` frames pulling `callback`; `marker(mark)` reads the
    /// engine's progress marker after each callback.
    fn start(
        buffer: usize,
        callback: impl FnMut(&mut [f32]) + Send + 'static,
        marker: impl Fn(u8) -> u64 + Send + 'static,
    ) -> Rig {
        let probe = Arc::new(Probe::default());
        probe
            .costs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reserve(1 << 20);
        let (tx, hits) = mpsc::channel();
        let p = Arc::clone(&probe);
        let device = common::PacedDevice::start(RATE, buffer, callback, move |cb| {
            if p.recording.load(Ordering::Relaxed) {
                let ns = (cb.end - cb.start).as_nanos() as u64;
                p.costs.lock().unwrap_or_else(|e| e.into_inner()).push(ns);
            }
            let wanted = p.wanted.load(Ordering::Acquire);
            if wanted != 0
                && marker(p.mark.load(Ordering::Acquire)) >= wanted
                && p.wanted
                    .compare_exchange(wanted, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                let _ = tx.send((cb.end, cb.frames_before));
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
        move |out| renderer.render(out),
        move |mark| {
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
        move |out| {
            // What rodio's own cpal callback does: one mixer sample per output sample.
            for x in out.iter_mut() {
                *x = output.next().unwrap_or(0.0);
            }
        },
        move |_| s.emitted.load(Ordering::Acquire),
    );
    (player, state, rig)
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

fn report(rows: &[Row], costs: &[(String, Vec<f64>)]) {
    println!(
        "\n{:<24} {:>4} {:>9} {:>9} {:>9} {:>10} {:>10} {:>10}",
        "latency", "n", "p50 ms", "p99 ms", "max ms", "p50 fr", "p99 fr", "max fr"
    );
    for r in rows {
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
    for (name, v) in costs {
        println!(
            "{name:<24} {:>9} {:>9.1} {:>9.1} {:>9.1}",
            v.len(),
            common::pct(v, 50.0),
            common::pct(v, 99.0),
            common::pct(v, 100.0)
        );
    }
    // Side by side: rodio ÷ Hearth.
    println!(
        "\n{:<12} {:>22} {:>22}",
        "hearth:rodio", "seek p99 (rodio/hearth)", "cost p99 (rodio/hearth)"
    );
    let p99 = |name: &str| {
        let seek = rows
            .iter()
            .find(|r| r.name == name)
            .map(|r| common::pct(&r.hits.iter().map(|h| h.0).collect::<Vec<_>>(), 99.0));
        let cost = costs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| common::pct(v, 99.0));
        (seek.unwrap_or(f64::NAN), cost.unwrap_or(f64::NAN))
    };
    for format in ["flac", "mp3"] {
        for buffer in [128, 256, 512] {
            let (hs, hc) = p99(&format!("{format}/{buffer}/hearth"));
            let (rs, rc) = p99(&format!("{format}/{buffer}/rodio"));
            println!(
                "{:<12} {:>22.2} {:>22.1}",
                format!("{format}/{buffer}"),
                rs / hs,
                rc / hc
            );
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut rows = Vec::new();
    let mut costs = Vec::new();
    commands(&mut c, &mut rows);
    versus_rodio(&mut c, &mut rows, &mut costs);
    c.final_summary();
    report(&rows, &costs);
}

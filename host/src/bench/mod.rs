//! `hearth bench`: latencies of the real engine, measured the way a listener experiences them.
//!
//! Everything runs for real: the filler thread, a cache in a temporary directory, and the null
//! sink paced in real time (so a callback happens every buffer duration, as on a device).
//! Each latency is the wall-clock time from the API call to the moment the renderer did it —
//! read from the renderer's telemetry counters, which it updates at the start of the callback
//! that plays the change; the bench polls them every 100 µs (sleeping, not spinning: a spinning
//! bench would steal a core from the engine on a 2-core machine).
//!
//! What it does not include: the device's own latency (its buffer, the DAC) — outside the
//! engine, and the same for any player.
//!
//! After the latencies, a listening session over many distinct tracks measures memory (see
//! [`session`]).

mod session;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth::cache::{FillerConfig, WarmStore, warm_track, warm_track_on};
use hearth::output::OutputSpec;
use hearth::{Engine, EngineConfig, Telemetry};
use serde_json::{Value, json};

use crate::cli::BenchArgs;
use crate::config::Settings;
use crate::failure::Failure;

/// How long any single measurement may take before it counts as a timeout.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Poll period of the telemetry counters.
const POLL: Duration = Duration::from_micros(100);

/// Runs `hearth bench`.
pub fn run(args: &BenchArgs, settings: &Settings) -> Result<(), Failure> {
    let files = if args.files.is_empty() {
        vec![crate::demo::path()?]
    } else {
        args.files.clone()
    };
    let mut results = Vec::new();
    for f in &files {
        let mut r = bench_file(f, args, settings)?;
        if args.session_tracks > 0 {
            fresh_memory_baseline();
            r.session = Some(session::run(
                f,
                args.session_tracks as usize,
                settings,
                args.rate,
                args.buffer,
                args.seed,
            )?);
        }
        if args.json {
            println!("{}", r.to_json());
        } else {
            print!("{}", r.to_table());
        }
        results.push(r);
    }
    if let Some(svg) = &args.plot {
        plot(svg, &results).map_err(|e| Failure::other(svg.display(), e))?;
        if !args.json {
            println!("latency distributions: {}", svg.display());
        }
    }
    Ok(())
}

/// Samples of one latency, milliseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// The measurements.
    pub ms: Vec<f64>,
    /// Measurements that timed out (not in `ms`).
    pub timeouts: usize,
}

impl Samples {
    fn push(&mut self, d: Option<Duration>) {
        match d {
            Some(d) => self.ms.push(d.as_secs_f64() * 1000.0),
            None => self.timeouts += 1,
        }
    }

    /// Nearest-rank percentile.
    pub fn pct(&self, p: f64) -> f64 {
        let mut v = self.ms.clone();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    pub(crate) fn json(&self) -> Value {
        let r = |x: f64| {
            if x.is_finite() {
                json!((x * 1000.0).round() / 1000.0)
            } else {
                Value::Null
            }
        };
        let mut v =
            json!({"p50": r(self.pct(50.0)), "p99": r(self.pct(99.0)), "max": r(self.pct(100.0))});
        if self.timeouts > 0 {
            v["timeouts"] = json!(self.timeouts);
        }
        v
    }
}

/// Everything measured for one file.
#[derive(Debug, Default)]
pub struct BenchResult {
    file: String,
    rate: u32,
    buffer: u32,
    runs: u32,
    latencies: Vec<(&'static str, Samples)>,
    render_load_pct: Samples,
    fill_x_realtime: f64,
    underruns: u64,
    rss_start_mb: f64,
    rss_peak_mb: f64,
    session: Option<session::SessionResult>,
    /// Tracks the background library warm (`--warm-library`) warmed meanwhile.
    library_warmed: Option<usize>,
}

/// The targets from the issue, for the table (ms unless noted); `buffer_ms` is one buffer.
fn target(name: &str, buffer_ms: f64) -> String {
    match name {
        "seek_cached_ms" | "toggle_ms" => format!("p99 ≤ {:.2}", buffer_ms + 1.0),
        "seek_cold_ms" => "p99 ≤ 15".into(),
        "seek_cold_enhanced_ms" => "p99 ≤ 60".into(),
        "preset_ms" => "p99 ≤ 20".into(),
        "first_audio_cold_ms" => "≤ 20".into(),
        "render_load_pct" => "p99 ≤ 1 %".into(),
        _ => String::new(),
    }
}

impl BenchResult {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "file": self.file, "rate": self.rate, "buffer": self.buffer, "runs": self.runs,
        });
        for (name, s) in &self.latencies {
            v[*name] = s.json();
        }
        v["fill_x_realtime"] = json!((self.fill_x_realtime * 10.0).round() / 10.0);
        v["render_load_pct"] = self.render_load_pct.json();
        v["underruns"] = json!(self.underruns);
        v["rss_start_mb"] = json!((self.rss_start_mb * 10.0).round() / 10.0);
        v["rss_peak_mb"] = json!((self.rss_peak_mb * 10.0).round() / 10.0);
        if let Some(n) = self.library_warmed {
            v["library_warmed"] = json!(n);
        }
        if let Some(sess) = &self.session {
            v["session_tracks"] = json!(sess.tracks);
            v["rss_session_mb"] = sess.rss_mb.json();
            v["anon_growth_mb"] = json!((sess.anon_growth_mb * 10.0).round() / 10.0);
        }
        v
    }

    fn to_table(&self) -> String {
        use std::fmt::Write;
        let buffer_ms = f64::from(self.buffer) * 1000.0 / f64::from(self.rate);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "hearth bench: {} at {} Hz, {}-frame buffer ({buffer_ms:.2} ms), {} runs",
            self.file, self.rate, self.buffer, self.runs
        );
        let _ = writeln!(
            s,
            "{:<24} {:>9} {:>9} {:>9}   target",
            "", "p50", "p99", "max"
        );
        let mut row = |name: &str, x: &Samples| {
            let t = if x.timeouts > 0 {
                format!("  ({} timed out)", x.timeouts)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "{name:<24} {:>9.3} {:>9.3} {:>9.3}   {}{t}",
                x.pct(50.0),
                x.pct(99.0),
                x.pct(100.0),
                target(name, buffer_ms)
            );
        };
        for (name, x) in &self.latencies {
            row(name, x);
        }
        row("render_load_pct", &self.render_load_pct);
        let _ = writeln!(
            s,
            "{:<24} {:>9.0}   target ≥ 150",
            "fill_x_realtime", self.fill_x_realtime
        );
        let _ = writeln!(s, "{:<24} {:>9}   target 0", "underruns", self.underruns);
        if let Some(n) = self.library_warmed {
            let _ = writeln!(s, "{:<24} {:>9}", "library_warmed", n);
        }
        let _ = writeln!(
            s,
            "{:<24} {:>9.1}   target ≤ 10",
            "rss_start_mb", self.rss_start_mb
        );
        let _ = writeln!(s, "{:<24} {:>9.1}", "rss_peak_mb", self.rss_peak_mb);
        if let Some(sess) = &self.session {
            let _ = writeln!(
                s,
                "{:<24} {:>9.1} {:>9} {:>9.1}   max ≤ 64 ({} tracks)",
                "rss_session_mb",
                sess.rss_mb.pct(50.0),
                "",
                sess.rss_mb.pct(100.0),
                sess.tracks
            );
            let _ = writeln!(
                s,
                "{:<24} {:>9.1}   target ≤ 8",
                "anon_growth_mb", sess.anon_growth_mb
            );
        }
        s
    }
}

/// A small deterministic PRNG (SplitMix64) for the seeded positions.
pub(crate) struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Resident set size and its peak, MB (Linux; zeros elsewhere).
fn rss_mb() -> (f64, f64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0.0, 0.0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Waits until `moved(telemetry)` is true; the time since `t0`, or `None` after the timeout.
fn wait_for(engine: &Engine, t0: Instant, moved: impl Fn(&Telemetry) -> bool) -> Option<Duration> {
    loop {
        if moved(&engine.telemetry()) {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > TIMEOUT {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

pub(crate) fn fail(what: &str) -> impl Fn(hearth::EngineError) -> Failure + '_ {
    move |e| Failure::other(what, e)
}

/// A fresh copy of `src` under `dir` (a new fingerprint: audio never produced before).
fn fresh_copy(src: &Path, dir: &Path, n: usize) -> Result<PathBuf, Failure> {
    let ext = src.extension().and_then(|e| e.to_str()).unwrap_or("audio");
    let to = dir.join(format!("copy-{n}.{ext}"));
    std::fs::copy(src, &to).map_err(|e| Failure::other(to.display(), e))?;
    Ok(to)
}

/// Waits until written data has reached the disk (Unix; nothing elsewhere).
fn settle_writeback() {
    #[cfg(unix)]
    // SAFETY: sync(2) takes no arguments and cannot fail; it only flushes the page cache.
    unsafe {
        libc::sync();
    }
}

/// Gives freed heap memory back to the OS and resets the peak RSS before each file, so that a
/// file's `rss_peak_mb` is its own (the previous file's engine is gone by now, but glibc would
/// keep its memory and VmHWM remember it). A fresh process only for the first file: later
/// files' `rss_start_mb` still include the code pages and allocator caches earlier runs
/// brought in (run one file per process for a clean start figure).
fn fresh_memory_baseline() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free heap pages to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(target_os = "linux")]
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn bench_file(path: &Path, args: &BenchArgs, settings: &Settings) -> Result<BenchResult, Failure> {
    fresh_memory_baseline();
    let info = hearth::probe(path).map_err(|e| crate::failure::source_failure(path, e))?;
    let tmp = tempfile::tempdir().map_err(|e| Failure::other("temporary directory", e))?;
    let cache = hearth::cache::CacheConfig::new(tmp.path().join("cache"));
    let config = EngineConfig {
        rate: Some(args.rate),
        buffer_frames: Some(args.buffer),
        cache: cache.clone(),
        enhance: true,
        preset: settings.preset,
        // Chunks are produced only where asked for, so that cold seeks are cold.
        warm_ahead: false,
        filler_delay: Duration::from_millis(args.slow_filler_ms),
        ..EngineConfig::default()
    };
    let engine = Engine::builder()
        .config(config)
        .build(OutputSpec::Null)
        .map_err(fail("engine"))?;
    let (rss_start_mb, _) = rss_mb();
    let stats = engine
        .output_stats()
        .ok_or_else(|| Failure::Other("no output statistics".into()))?;
    let underruns_before = stats.underruns();
    let mut timings = Vec::new();
    let mut rng = Rng(args.seed ^ 0x4845_4152_5448);
    let runs = args.runs as usize;
    let rate = f64::from(args.rate);
    let duration = info.duration().as_secs_f64();
    let mut copies = 0usize;
    let copy = |copies: &mut usize| {
        *copies += 1;
        fresh_copy(path, tmp.path(), *copies)
    };
    let settle = |ms: u64| std::thread::sleep(Duration::from_millis(ms));

    // First audio of a track never seen: play() → the first callback with sound.
    let mut first_cold = Samples::default();
    for _ in 0..runs.min(20) {
        let p = copy(&mut copies)?;
        engine.load(&p).map_err(fail("load"))?;
        settle(20);
        let before = engine.telemetry().audible_frames;
        let t0 = Instant::now();
        engine.play().map_err(fail("play"))?;
        first_cold.push(wait_for(&engine, t0, |t| t.audible_frames > before));
        settle(100);
    }

    // Whole-track warm, both variants, × real time: the median of three fresh copies, with
    // the player idle (an empty queue), so that the engine's own background warming of the
    // track it was playing does not share the cores with the measurement.
    engine.clear().map_err(fail("clear"))?;
    settle(300);
    let store = Arc::new(WarmStore::open(cache.clone()));
    let mut fills = Vec::new();
    let mut warmed = PathBuf::new();
    for _ in 0..3 {
        warmed = copy(&mut copies)?;
        // The previous warms' writes reach the disk first (a few hundred MB for long files):
        // otherwise the kernel's writeback of the last one shares the cores with this one.
        settle_writeback();
        let t0 = Instant::now();
        warm_track(
            Arc::clone(&store),
            warmed.clone(),
            FillerConfig {
                engine_rate: args.rate,
                chunk_frames: hearth::DEFAULT_CHUNK_FRAMES,
            },
            &[settings.preset],
            |_| {},
        )
        .map_err(|e| Failure::other(warmed.display(), e))?;
        fills.push(duration / t0.elapsed().as_secs_f64().max(1e-9));
    }
    fills.sort_by(f64::total_cmp);
    let fill_x_realtime = fills[1];
    drop(store);

    // From here on, with --warm-library, a library warm in the same process.
    let library = args.warm_library.then(|| {
        LibraryWarm::start(
            path.to_path_buf(),
            tmp.path().join("library"),
            cache.clone(),
            FillerConfig {
                engine_rate: args.rate,
                chunk_frames: hearth::DEFAULT_CHUNK_FRAMES,
            },
            settings.preset,
        )
    });

    // First audio of a warmed track.
    let mut first_cached = Samples::default();
    for _ in 0..runs.min(20) {
        engine.load(&warmed).map_err(fail("load"))?;
        settle(20);
        let before = engine.telemetry().audible_frames;
        let t0 = Instant::now();
        engine.play().map_err(fail("play"))?;
        first_cached.push(wait_for(&engine, t0, |t| t.audible_frames > before));
        settle(100);
    }

    // Seeks within the warmed track (warm tier → hot slot → next callback).
    let mut seek_cached = Samples::default();
    for _ in 0..runs {
        let to = rng.below((duration * 1000.0) as u64 - 1000) as f64 / 1000.0;
        let generation = engine.telemetry().generation + 1;
        let t0 = Instant::now();
        engine
            .seek(Duration::from_secs_f64(to))
            .map_err(fail("seek"))?;
        seek_cached.push(wait_for(&engine, t0, |t| t.jump_done >= generation));
        settle(60);
    }

    // Enhancement toggles: the call → the callback whose mix starts moving.
    let mut toggle = Samples::default();
    for i in 0..runs {
        let before = engine.telemetry().mix_changes;
        let t0 = Instant::now();
        engine.set_enhancement(i % 2 == 1);
        toggle.push(wait_for(&engine, t0, |t| t.mix_changes > before));
        settle(30);
    }
    engine.set_enhancement(true);
    settle(50);

    // Preset changes: the call → the callback that starts the new preset's audio. In steady
    // state: give the background filler time to calibrate the track's other presets (what
    // it does in the first seconds of every new track), so a switch costs one chunk.
    settle(1500);
    let mut preset = Samples::default();
    let mut p = settings.preset;
    for _ in 0..runs {
        p = p.next();
        let before = engine.telemetry().preset_switches;
        let t0 = Instant::now();
        engine.set_preset(p);
        preset.push(wait_for(&engine, t0, |t| t.preset_switches > before));
        settle(80);
    }
    engine.set_preset(settings.preset);

    // Cold seeks, original only then enhanced, into chunks never produced: fresh copies,
    // each seek to an unvisited chunk pair.
    let chunk_s = f64::from(hearth::DEFAULT_CHUNK_FRAMES) / rate;
    let chunks = (duration / chunk_s) as u64;
    let mut cold = Samples::default();
    let mut cold_enhanced = Samples::default();
    for (enhanced, samples) in [(false, &mut cold), (true, &mut cold_enhanced)] {
        engine.set_enhancement(enhanced);
        let mut done = 0;
        while done < runs {
            let p = copy(&mut copies)?;
            engine.load(&p).map_err(fail("load"))?;
            engine.play().map_err(fail("play"))?;
            // Let the track start (and, enhanced, be analysed and calibrated).
            settle(if enhanced { 1500 } else { 300 });
            // Chunks 0..2 have been produced by now; visit the others two by two, shuffled.
            let mut order: Vec<u64> = (1..chunks.saturating_sub(1) / 2)
                .map(|k| 2 * k + 1)
                .collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            if order.is_empty() {
                return Err(Failure::BadInput(format!(
                    "{}: too short for cold seeks",
                    path.display()
                )));
            }
            for k in order {
                if done == runs {
                    break;
                }
                let to = k as f64 * chunk_s + rng.below((chunk_s * 900.0) as u64) as f64 / 1000.0;
                let generation = engine.telemetry().generation + 1;
                let t0 = Instant::now();
                engine
                    .seek(Duration::from_secs_f64(to))
                    .map_err(fail("seek"))?;
                samples.push(wait_for(&engine, t0, |t| t.jump_done >= generation));
                tracing::debug!(
                    enhanced,
                    to,
                    ms = samples.ms.last().copied().unwrap_or(f64::NAN),
                    "cold seek"
                );
                done += 1;
                settle(60);
                stats.drain_timings(&mut timings);
            }
        }
    }
    stats.drain_timings(&mut timings);
    let library_warmed = library.map(LibraryWarm::stop);
    let buffer_ns = f64::from(args.buffer) / rate * 1e9;
    let render_load_pct = Samples {
        ms: timings
            .iter()
            .map(|&(ns, frames)| {
                f64::from(ns) / (f64::from(frames) / rate * 1e9).max(buffer_ns * 0.01) * 100.0
            })
            .collect(),
        timeouts: 0,
    };
    let underruns = stats.underruns() - underruns_before;
    let (_, rss_peak_mb) = rss_mb();
    Ok(BenchResult {
        file: path.display().to_string(),
        rate: args.rate,
        buffer: args.buffer,
        runs: args.runs,
        latencies: vec![
            ("seek_cached_ms", seek_cached),
            ("seek_cold_ms", cold),
            ("seek_cold_enhanced_ms", cold_enhanced),
            ("toggle_ms", toggle),
            ("preset_ms", preset),
            ("first_audio_cold_ms", first_cold),
            ("first_audio_cached_ms", first_cached),
        ],
        render_load_pct,
        fill_x_realtime,
        underruns,
        rss_start_mb,
        rss_peak_mb,
        session: None,
        library_warmed,
    })
}

/// `--warm-library`: fresh copies of the bench's file warmed one after another, on every
/// core at the lowest priority, into the engine's cache directory, until stopped.
struct LibraryWarm {
    stop: Arc<std::sync::atomic::AtomicBool>,
    warmed: Arc<std::sync::atomic::AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl LibraryWarm {
    fn start(
        file: PathBuf,
        dir: PathBuf,
        cache: hearth::cache::CacheConfig,
        config: FillerConfig,
        preset: hearth::Preset,
    ) -> LibraryWarm {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let warmed = Arc::new(AtomicUsize::new(0));
        let (s, w) = (Arc::clone(&stop), Arc::clone(&warmed));
        let thread = std::thread::spawn(move || {
            // The warm's threads inherit the lowest priority from this one.
            hearth::run_at_lowest_priority();
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let store = Arc::new(WarmStore::open(cache));
            if std::fs::create_dir_all(&dir).is_err() {
                return;
            }
            let mut n = 0;
            while !s.load(Ordering::Relaxed) {
                n += 1;
                let Ok(copy) = fresh_copy(&file, &dir, n) else {
                    return;
                };
                let warm = warm_track_on(
                    Arc::clone(&store),
                    copy.clone(),
                    config,
                    &[preset],
                    cores,
                    |_| {},
                );
                let _ = std::fs::remove_file(&copy);
                if warm.is_err() {
                    return;
                }
                w.fetch_add(1, Ordering::Relaxed);
            }
        });
        LibraryWarm {
            stop,
            warmed,
            thread,
        }
    }

    /// Stops after the track being warmed; how many were warmed.
    fn stop(self) -> usize {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.warmed.load(Ordering::Relaxed)
    }
}

/// Latency distributions, one panel per latency and file.
fn plot(svg: &Path, results: &[BenchResult]) -> Result<(), String> {
    use plotters::prelude::*;
    let names = [
        "seek_cached_ms",
        "seek_cold_ms",
        "seek_cold_enhanced_ms",
        "toggle_ms",
        "preset_ms",
        "first_audio_cold_ms",
        "first_audio_cached_ms",
    ];
    let rows = results.len().max(1);
    let root = SVGBackend::new(svg, (1400, 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((rows, 1));
    for (area, r) in areas.iter().zip(results) {
        let max = r
            .latencies
            .iter()
            .flat_map(|(_, s)| s.ms.iter().copied())
            .fold(1.0f64, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{} — latency (ms), {} Hz / {} frames",
                    r.file, r.rate, r.buffer
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(170)
            .build_cartesian_2d(0f64..max, 0f64..names.len() as f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .y_labels(names.len())
            .y_label_formatter(&|y| {
                names
                    .get(*y as usize)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            })
            .x_desc("milliseconds")
            .draw()
            .map_err(|e| e.to_string())?;
        for (row, name) in names.iter().enumerate() {
            let Some((_, s)) = r.latencies.iter().find(|(n, _)| n == name) else {
                continue;
            };
            let y = row as f64 + 0.5;
            let color = Palette99::pick(row).to_rgba();
            chart
                .draw_series(s.ms.iter().enumerate().map(|(i, &x)| {
                    // Jitter the dots vertically so equal values stay visible.
                    let dy = ((i * 37) % 11) as f64 / 11.0 * 0.5 - 0.25;
                    Circle::new((x, y + dy), 3, color.filled())
                }))
                .map_err(|e| e.to_string())?;
            let p50 = s.pct(50.0);
            let p99 = s.pct(99.0);
            if p50.is_finite() {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(p50, y - 0.4), (p50, y + 0.4)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(p99, y - 0.3), (p99, y + 0.3)],
                        RED.stroke_width(2),
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

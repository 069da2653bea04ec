//! `hearth cache stats | warm | clean | verify`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth::cache::{CacheStats, FillerConfig, WarmStore, warm_track};
use hearth::output::{OutputSpec, negotiate};
use serde_json::json;

use crate::cli::{CacheCommand, WarmArgs};
use crate::config::Settings;
use crate::failure::Failure;

/// Runs a cache subcommand.
pub fn run(cmd: &CacheCommand, settings: &Settings) -> Result<(), Failure> {
    match cmd {
        CacheCommand::Stats { json } => stats(settings, *json),
        CacheCommand::Warm(args) => warm(args, settings),
        CacheCommand::Clean { older_than, all } => clean(settings, *older_than, *all),
        CacheCommand::Verify { repair, json } => verify(settings, *repair, *json),
    }
}

fn open(settings: &Settings) -> WarmStore {
    WarmStore::open(settings.cache.clone())
}

/// The `--json` object for `cache stats`. Keys are an interface: keep them stable.
pub fn stats_json(s: &CacheStats, dir: &std::path::Path) -> serde_json::Value {
    let rate = |hits: u64, misses: u64| {
        let n = hits + misses;
        if n == 0 {
            None
        } else {
            Some(hits as f64 / n as f64)
        }
    };
    let counters = |c: &hearth::cache::CounterSnapshot, saved: f64| {
        json!({
            "hot_hits": c.hot_hits, "warm_hits": c.warm_hits, "misses": c.misses,
            "hit_rate": rate(c.hot_hits + c.warm_hits, c.misses),
            "chunks_produced": c.chunks_produced, "production_seconds": c.production_nanos as f64 / 1e9,
            "corrupt_chunks": c.corrupt_chunks, "time_saved_seconds": saved,
        })
    };
    json!({
        "dir": dir.display().to_string(),
        "tracks": s.tracks, "max_tracks": s.max_tracks, "files": s.files,
        "bytes": s.bytes_on_disk, "budget_bytes": s.budget_bytes,
        "session": counters(&s.session, s.session_time_saved_secs),
        "all_time": counters(&s.all_time, s.all_time_time_saved_secs),
        "degraded": s.degraded,
        "unlinked_open_bytes": s.unlinked_open.map(|u| u.bytes),
        "unlinked_open_files": s.unlinked_open.map(|u| u.files),
    })
}

fn stats(settings: &Settings, as_json: bool) -> Result<(), Failure> {
    let store = open(settings);
    let s = store.stats();
    if as_json {
        println!("{}", stats_json(&s, &settings.cache.dir));
        return Ok(());
    }
    let a = &s.all_time;
    let lookups = a.hot_hits + a.warm_hits + a.misses;
    let pct = |n: u64| {
        if lookups == 0 {
            0.0
        } else {
            100.0 * n as f64 / lookups as f64
        }
    };
    println!("cache:       {}", settings.cache.dir.display());
    println!("tracks:      {} (cap {})", s.tracks, s.max_tracks);
    println!(
        "on disk:     {} of {} budget ({} files)",
        human_bytes(s.bytes_on_disk),
        human_bytes(s.budget_bytes),
        s.files
    );
    println!(
        "lookups:     {lookups} — hot hits {} ({:.0}%), warm hits {} ({:.0}%), misses {} ({:.0}%)",
        a.hot_hits,
        pct(a.hot_hits),
        a.warm_hits,
        pct(a.warm_hits),
        a.misses,
        pct(a.misses)
    );
    println!(
        "produced:    {} chunks in {:.1} s",
        a.chunks_produced,
        a.production_nanos as f64 / 1e9
    );
    println!(
        "time saved:  {:.1} s by warm hits",
        s.all_time_time_saved_secs
    );
    if a.corrupt_chunks > 0 {
        println!(
            "corrupt:     {} chunks were damaged on disk and produced again",
            a.corrupt_chunks
        );
    }
    if let Some(u) = s.unlinked_open.filter(|u| u.files > 0) {
        println!(
            "held:        {} in {} removed files still open by a process (freed when it closes them)",
            human_bytes(u.bytes),
            u.files
        );
    }
    if let Some(r) = &s.degraded {
        println!("status:      degraded — {r}");
    }
    Ok(())
}

/// The engine rate to warm for: flag, config, the default device's, else 48 kHz.
fn warm_rate(args: &WarmArgs, settings: &Settings) -> u32 {
    args.rate.or(settings.rate).unwrap_or_else(|| {
        negotiate(&OutputSpec::Device { name: None }, None, None)
            .map(|n| n.rate())
            .unwrap_or(48_000)
    })
}

fn warm(args: &WarmArgs, settings: &Settings) -> Result<(), Failure> {
    let mut problems = Vec::new();
    let paths = crate::paths::expand(&args.paths, &mut problems);
    for p in &problems {
        eprintln!("hearth: warning: {p}");
    }
    if paths.is_empty() {
        return Err(Failure::BadInput(
            "nothing to warm: no audio files found".into(),
        ));
    }
    let rate = warm_rate(args, settings);
    let preset = args.preset.unwrap_or(settings.preset);
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        usize::from,
    );
    let store = Arc::new(open(settings));
    let config = FillerConfig {
        engine_rate: rate,
        chunk_frames: hearth::DEFAULT_CHUNK_FRAMES,
    };
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template(
        "{prefix:>28.dim} [{bar:30}] {pos}/{len} chunks {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    let overall = bars.add(indicatif::ProgressBar::new(paths.len() as u64));
    overall.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>28.bold} [{bar:30}] {pos}/{len} tracks {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    overall.set_prefix("overall");
    let queue = Arc::new(parking_queue(paths.clone()));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut audio_seconds = 0.0f64;
    let seconds = Arc::new(std::sync::Mutex::new(0.0f64));
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(paths.len()).max(1) {
            let queue = Arc::clone(&queue);
            let store = Arc::clone(&store);
            let failures = Arc::clone(&failures);
            let seconds = Arc::clone(&seconds);
            let bars = &bars;
            let style = &style;
            let overall = &overall;
            scope.spawn(move || {
                while let Some(path) = queue.lock().ok().and_then(|mut q| q.pop()) {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let bar = bars.insert_before(overall, indicatif::ProgressBar::new(0));
                    bar.set_style(style.clone());
                    bar.set_prefix(shorten(&name, 28));
                    let result =
                        warm_track(Arc::clone(&store), path.clone(), config, &[preset], |p| {
                            bar.set_length(p.total);
                            bar.set_position(p.present);
                        });
                    match result {
                        Ok(p) => {
                            bar.finish_with_message("done");
                            if let Ok(mut s) = seconds.lock() {
                                *s += p.total as f64 / 2.0 * f64::from(config.chunk_frames)
                                    / f64::from(rate);
                            }
                        }
                        Err(e) => {
                            bar.abandon_with_message("failed");
                            if let Ok(mut f) = failures.lock() {
                                f.push(format!("{}: {e}", path.display()));
                            }
                        }
                    }
                    overall.inc(1);
                }
            });
        }
    });
    overall.finish();
    if let Ok(s) = seconds.lock() {
        audio_seconds = *s;
    }
    let _ = store.flush_index();
    let failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "warmed {} of {} tracks at {rate} Hz (original + {preset}) in {elapsed:.1} s{}",
        paths.len() - failures.len(),
        paths.len(),
        if audio_seconds > 0.0 {
            format!(", ~{:.0}x real time", audio_seconds / elapsed.max(1e-6))
        } else {
            String::new()
        },
    );
    for f in &failures {
        eprintln!("hearth: {f}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::BadInput(format!(
            "{} of {} tracks could not be warmed",
            failures.len(),
            paths.len()
        )))
    }
}

/// A work queue popped from the end: reverse so the first path is warmed first.
fn parking_queue(mut paths: Vec<std::path::PathBuf>) -> std::sync::Mutex<Vec<std::path::PathBuf>> {
    paths.reverse();
    std::sync::Mutex::new(paths)
}

fn clean(settings: &Settings, older_than: Option<f64>, all: bool) -> Result<(), Failure> {
    if !all && older_than.is_none() {
        return Err(Failure::BadInput(
            "cache clean: say what to remove: --older-than DAYS or --all".into(),
        ));
    }
    if let Some(d) = older_than
        && !(d >= 0.0 && d.is_finite())
    {
        return Err(Failure::BadInput(format!(
            "--older-than: {d} is not a number of days"
        )));
    }
    let store = open(settings);
    let r = store.clean(
        older_than.map(|d| Duration::from_secs_f64(d * 86_400.0)),
        all,
    );
    if let Some(reason) = &r.degraded {
        return Err(Failure::other("cache clean", reason));
    }
    println!(
        "removed {} tracks ({} files, {}){}",
        r.tracks_removed,
        r.files_removed,
        human_bytes(r.bytes_freed),
        if r.pinned_kept > 0 {
            format!("; kept {} in use", r.pinned_kept)
        } else {
            String::new()
        }
    );
    Ok(())
}

fn verify(settings: &Settings, repair: bool, as_json: bool) -> Result<(), Failure> {
    let store = open(settings);
    let r = store.verify(repair);
    if as_json {
        println!("{}", serde_json::to_value(&r).unwrap_or_default());
    } else {
        println!(
            "checked {} files, {} chunks: {} good",
            r.files_checked, r.chunks_checked, r.chunks_good
        );
        for b in &r.bad_files {
            println!("bad file {}: {}", b.file, b.reason);
        }
        for b in &r.bad_chunks {
            println!(
                "bad chunk {} of {} ({}): {}",
                b.index, b.file, b.variant, b.reason
            );
        }
        if r.missing_files > 0 {
            println!("{} indexed files are missing", r.missing_files);
        }
        if !r.stray_files.is_empty() {
            println!("{} stray files", r.stray_files.len());
        }
        if repair && (r.files_removed > 0 || r.chunks_cleared > 0) {
            println!(
                "repaired: removed {} files, cleared {} chunks",
                r.files_removed, r.chunks_cleared
            );
        }
    }
    if let Some(reason) = &r.degraded {
        return Err(Failure::other("cache verify", reason));
    }
    let damaged = !(r.bad_files.is_empty() && r.bad_chunks.is_empty());
    if damaged && !repair {
        return Err(Failure::Other(
            "the cache has damage; run `hearth cache verify --repair`".into(),
        ));
    }
    Ok(())
}

/// "1.5 GiB".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(max - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

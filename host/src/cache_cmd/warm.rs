//! `hearth cache warm PATHS...`: whole tracks (original + enhanced) into the warm tier,
//! within the cache's budget.
//!
//! A run has three phases:
//!
//! 1. **Sizing.** Each track's source is opened for its exact length at the engine rate and
//!    fingerprinted; the store says how many bytes its files will take (the same geometry the
//!    filler registers, so the figure is exact), whether it is all cached already, and when
//!    the file was last played or warmed.
//! 2. **Choosing** ([`hearth::cache::fit`]): most recently used first, then in the order
//!    given, each track that still fits beside those before it — within the budget and the
//!    track cap, less what the store must keep (pinned or held tracks outside the request;
//!    none in a fresh process). Tracks of the request that are already cached count toward the
//!    budget like the others (they are kept, not warmed again); other cached tracks are fair
//!    game for eviction, least recently used first, as they would be anyway.
//! 3. **Warming.** Everything chosen is held in the store ([`WarmStore::hold`]) before the
//!    first chunk is made, so that no track warmed (or found warm) in this run is evicted to
//!    make room for another; the guard releases the hold when the run ends, however it ends.
//!    Tracks are warmed `--jobs` at a time, in the chosen order.
//!
//! What did not fit is said, with its size, and is not an error: the exit status is non-zero
//! only for tracks that could not be read or a cache that could not be written.
//!
//! Runs on: the main thread, plus `--jobs` scoped worker threads for sizing and for warming.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use hearth::cache::{FillerConfig, Fingerprint, WarmStore, fit, warm_track_on};
use hearth::output::{OutputSpec, negotiate};
use hearth::{ChunkGeometry, Source, TrackId, Variant};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::{human_bytes, open};
use crate::cli::WarmArgs;
use crate::config::Settings;
use crate::failure::Failure;

/// Names in the text summary's "did not fit" list, at most (`--json` lists them all).
const LIST_AT_MOST: usize = 20;

/// Width of the track-name column of the progress bars.
const NAME_WIDTH: usize = 28;

/// One requested track, sized.
#[derive(Debug)]
struct Sized {
    path: PathBuf,
    track: TrackId,
    /// Bytes its warm files take once warm.
    bytes: u64,
    /// Already cached whole before this run.
    cached: bool,
    last_used: Option<(u64, u64)>,
    /// Its length, seconds (for the real-time figure).
    seconds: f64,
    /// Chunks to cache, all variants (the progress bar's length until the filler says).
    chunks: u64,
}

/// How warming one chosen track ended.
#[derive(Debug)]
enum Outcome {
    /// Every chunk of every variant is cached; its files' bytes.
    Warmed(u64),
    /// The store would not make room for all of it (the estimate was beaten by another
    /// process filling the same cache): partly cached, counted with what did not fit.
    Short,
    /// It could not be read, or the cache could not be written.
    Failed(String),
}

/// The engine rate to warm for: flag, config, the default device's, else 48 kHz.
fn warm_rate(args: &WarmArgs, settings: &Settings) -> u32 {
    args.rate.or(settings.rate).unwrap_or_else(|| {
        negotiate(&OutputSpec::Device { name: None }, None, None)
            .map(|n| n.rate())
            .unwrap_or(48_000)
    })
}

/// Runs `hearth cache warm`.
pub fn run(args: &WarmArgs, settings: &Settings) -> Result<(), Failure> {
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
    let variants = [Variant::Original, Variant::Enhanced(preset)];
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        usize::from,
    );
    let store = Arc::new(open(settings));
    let config = FillerConfig {
        engine_rate: rate,
        chunk_frames: hearth::DEFAULT_CHUNK_FRAMES,
    };
    // Bars only on a terminal: a log or a pipe gets one plain line per track instead, and
    // `--json` nothing but its object.
    let terminal = std::io::stderr().is_terminal() && !args.json;
    let plain = !terminal && !args.json;
    let bars = if terminal {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    };
    let started = Instant::now();

    // 1. Sizing.
    let sizing = bars.add(ProgressBar::new(paths.len() as u64));
    sizing.set_style(style(
        "{prefix:>28.bold} [{bar:30}] {pos}/{len} tracks {elapsed}",
    ));
    sizing.set_prefix("sizing");
    let sized = parallel_map(&paths, jobs, |path| {
        let r = size(&store, path, config, &variants);
        sizing.inc(1);
        r
    });
    sizing.finish_and_clear();
    let mut failed: Vec<(PathBuf, String)> = Vec::new();
    let mut seen = HashSet::new();
    let mut wanted: Vec<Sized> = Vec::new();
    for (path, r) in paths.iter().zip(sized) {
        match r {
            // The same file listed twice (or by two names) is one track.
            Ok(s) if seen.insert(s.track) => wanted.push(s),
            Ok(_) => {}
            Err(e) => failed.push((path.clone(), e)),
        }
    }
    let requested = wanted.len() + failed.len();

    // 2. Choosing.
    let ids: Vec<TrackId> = wanted.iter().map(|s| s.track).collect();
    let (kept_tracks, kept_bytes) = store.kept(&ids);
    let limits = store.config();
    let room = limits.budget_bytes.saturating_sub(kept_bytes);
    let cap = limits.max_tracks.saturating_sub(kept_tracks);
    let choice = fit::choose(
        &wanted
            .iter()
            .map(|s| fit::Wanted {
                bytes: s.bytes,
                last_used: s.last_used,
            })
            .collect::<Vec<_>>(),
        room,
        cap,
    );
    let chosen: Vec<&Sized> = choice.chosen.iter().map(|&i| &wanted[i]).collect();
    let mut left_out: Vec<(&Sized, bool)> = choice
        .left_out
        .iter()
        .map(|&i| (&wanted[i], false))
        .collect();
    let chosen_bytes: u64 = chosen.iter().map(|s| s.bytes).sum();
    let capped = !left_out.is_empty() && chosen.len() >= cap;
    let limit = format!(
        "the {} budget{}",
        human_bytes(limits.budget_bytes),
        if capped {
            format!(" and {}-track cap", limits.max_tracks)
        } else {
            String::new()
        }
    );
    if !left_out.is_empty() && !args.json {
        // Said before the long part, so nobody waits an hour to learn it.
        let note = format!(
            "{} ({}) do not fit {limit}: warming {} of {requested} ({})",
            tracks(left_out.len()),
            human_bytes(left_out.iter().map(|(s, _)| s.bytes).sum()),
            chosen.len(),
            human_bytes(chosen_bytes),
        );
        if terminal {
            let _ = bars.println(note);
        } else {
            eprintln!("{note}");
        }
    }

    // 3. Warming, with everything chosen held until the end of the run (the guard is dropped
    // on every path out of this function, a panic included).
    let hold = store.hold(&chosen.iter().map(|s| s.track).collect::<Vec<_>>());
    let overall = bars.add(ProgressBar::new(chosen.len() as u64));
    overall.set_style(style(
        "{prefix:>28.bold} [{bar:30}] {pos}/{len} tracks {elapsed} {msg}",
    ));
    overall.set_prefix("overall");
    let per_track = style("{prefix:>28.dim} [{bar:30}] {pos}/{len} chunks {msg}");
    let done = AtomicUsize::new(0);
    let done_bytes = AtomicU64::new(0);
    overall.set_message(format!("0 B of {}", human_bytes(chosen_bytes)));
    // Fewer tracks than jobs: each track's segments are shared out over the spare cores.
    let threads_per_track = (jobs / chosen.len().max(1)).max(1);
    // The fill figure times the warming alone (not the sizing before it), as `hearth bench`
    // times its `fill_x_realtime`: whole tracks, both variants, analysis and calibration.
    let warming = Instant::now();
    let outcomes = parallel_map(&chosen, jobs, |s| {
        let name = file_name(&s.path);
        let bar = bars.insert_before(&overall, ProgressBar::new(s.chunks));
        bar.set_style(per_track.clone());
        bar.set_prefix(shorten(&name, NAME_WIDTH));
        let result = warm_track_on(
            Arc::clone(&store),
            s.path.clone(),
            config,
            &[preset],
            threads_per_track,
            |p| {
                bar.set_length(p.total);
                bar.set_position(p.present);
            },
        );
        let outcome = match result {
            Ok(p) if p.present >= p.total => {
                Outcome::Warmed(store.entry(s.track).map_or(s.bytes, |e| e.bytes()))
            }
            Ok(_) => match store.status() {
                hearth::cache::StoreStatus::Degraded { reason } => Outcome::Failed(reason),
                hearth::cache::StoreStatus::Healthy => Outcome::Short,
            },
            Err(e) => Outcome::Failed(e),
        };
        let (verb, detail) = match &outcome {
            Outcome::Warmed(b) if s.cached => ("cached", human_bytes(*b)),
            Outcome::Warmed(b) => ("warmed", human_bytes(*b)),
            Outcome::Short => ("partly cached", "no room left".to_string()),
            Outcome::Failed(e) => ("failed", e.clone()),
        };
        match &outcome {
            Outcome::Warmed(_) => bar.finish_with_message(verb),
            _ => bar.abandon_with_message(verb),
        }
        let bytes = done_bytes.fetch_add(s.bytes, Ordering::Relaxed) + s.bytes;
        overall.set_message(format!(
            "{} of {}",
            human_bytes(bytes),
            human_bytes(chosen_bytes)
        ));
        overall.inc(1);
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if plain {
            eprintln!("[{n}/{}] {verb} {name} ({detail})", chosen.len());
        }
        outcome
    });
    let warm_seconds = warming.elapsed().as_secs_f64();
    overall.finish_and_clear();
    drop(hold);
    let _ = store.flush_index();
    let elapsed = started.elapsed().as_secs_f64();

    // The summary: only what the cache holds now is called warmed.
    let mut warmed: Vec<(&Sized, u64)> = Vec::new();
    for (s, outcome) in chosen.iter().zip(outcomes) {
        match outcome {
            Outcome::Warmed(b) => warmed.push((s, b)),
            Outcome::Short => left_out.push((s, true)),
            Outcome::Failed(e) => failed.push((s.path.clone(), e)),
        }
    }
    let warmed_bytes: u64 = warmed.iter().map(|(_, b)| b).sum();
    let already = warmed.iter().filter(|(s, _)| s.cached).count();
    // Real time over what was produced now: tracks found cached cost next to nothing.
    let audio_seconds: f64 = warmed
        .iter()
        .filter(|(s, _)| !s.cached)
        .map(|(s, _)| s.seconds)
        .fold(0.0, |a, b| a + b); // (an empty f64 sum is -0.0)
    let fill_x = audio_seconds / warm_seconds.max(1e-6);
    let threads = jobs.min(chosen.len().max(1)) * threads_per_track;
    let left_bytes: u64 = left_out.iter().map(|(s, _)| s.bytes).sum();
    if args.json {
        println!(
            "{}",
            json!({
                "tracks": requested,
                "rate": rate,
                "preset": preset.name(),
                "warmed": warmed.iter().map(|(s, b)| json!({
                    "path": s.path.display().to_string(), "bytes": b, "already_cached": s.cached,
                })).collect::<Vec<_>>(),
                "warmed_bytes": warmed_bytes,
                "did_not_fit": left_out.iter().map(|(s, partly)| json!({
                    "path": s.path.display().to_string(), "bytes": s.bytes, "partly_cached": partly,
                })).collect::<Vec<_>>(),
                "did_not_fit_bytes": left_bytes,
                "failed": failed.iter().map(|(p, e)| json!({
                    "path": p.display().to_string(), "error": e,
                })).collect::<Vec<_>>(),
                "budget_bytes": limits.budget_bytes,
                "max_tracks": limits.max_tracks,
                "seconds": elapsed,
                "audio_seconds": audio_seconds,
                "warm_seconds": warm_seconds,
                "fill_x_realtime": (audio_seconds > 0.0).then_some((fill_x * 10.0).round() / 10.0),
                "threads": threads,
            })
        );
    } else {
        eprintln!(
            "warmed {} of {requested} tracks ({}{}) at {rate} Hz (original + {preset}) in {elapsed:.1} s{}",
            warmed.len(),
            human_bytes(warmed_bytes),
            if already > 0 {
                format!("; {already} already cached")
            } else {
                String::new()
            },
            if audio_seconds > 0.0 {
                format!(", ~{fill_x:.0}x real time on {threads} thread(s)")
            } else {
                String::new()
            },
        );
        if !left_out.is_empty() {
            eprintln!(
                "{} ({}) did not fit {limit}: {}",
                tracks(left_out.len()),
                human_bytes(left_bytes),
                name_list(left_out.iter().map(|(s, partly)| {
                    let name = file_name(&s.path);
                    if *partly {
                        format!("{name} (partly cached)")
                    } else {
                        name
                    }
                })),
            );
        }
    }
    for (path, e) in &failed {
        eprintln!("hearth: {}: {e}", path.display());
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::BadInput(format!(
            "{} of {requested} tracks could not be warmed",
            failed.len()
        )))
    }
}

/// Opens `path` for its length at the engine rate (exactly what the filler will register)
/// and asks the store what warming it in `variants` will take.
fn size(
    store: &WarmStore,
    path: &Path,
    config: FillerConfig,
    variants: &[Variant],
) -> Result<Sized, String> {
    let frames = Source::open(path, Some(config.engine_rate))
        .map_err(|e| e.to_string())?
        .frames();
    let fp = Fingerprint::of(path).map_err(|e| e.to_string())?;
    let geometry = ChunkGeometry::new(frames, config.chunk_frames);
    let f = store
        .footprint(&fp, config.engine_rate, geometry, variants)
        .ok_or_else(|| "too long to cache".to_string())?;
    Ok(Sized {
        path: path.to_path_buf(),
        track: f.track,
        bytes: f.bytes,
        cached: f.cached,
        last_used: f.last_used,
        seconds: frames as f64 / f64::from(config.engine_rate.max(1)),
        chunks: u64::from(geometry.count()) * variants.len() as u64,
    })
}

/// `f` over `items` on up to `jobs` scoped threads, taken in order (the first items start
/// first); the results in the items' order.
fn parallel_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.min(items.len()).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return mine;
                        };
                        mine.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// "1 track", "11 tracks".
fn tracks(n: usize) -> String {
    if n == 1 {
        "1 track".into()
    } else {
        format!("{n} tracks")
    }
}

/// "a, b, c" — at most [`LIST_AT_MOST`] names, then how many more.
fn name_list(names: impl ExactSizeIterator<Item = String>) -> String {
    let n = names.len();
    let mut list: Vec<String> = names.take(LIST_AT_MOST).collect();
    if n > LIST_AT_MOST {
        list.push(format!(
            "and {} more (--json lists them all)",
            n - LIST_AT_MOST
        ));
    }
    list.join(", ")
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

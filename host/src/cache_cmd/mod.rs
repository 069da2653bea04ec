//! `hearth cache stats | warm | clean | verify`: the cache's statistics and maintenance here,
//! warming in [`warm`].
//!
//! Runs on: the main thread (`warm` adds worker threads of its own).

mod warm;

use std::time::Duration;

use hearth::cache::{CacheStats, WarmStore};
use serde_json::json;

use crate::cli::CacheCommand;
use crate::config::Settings;
use crate::failure::Failure;

/// Runs a cache subcommand.
pub fn run(cmd: &CacheCommand, settings: &Settings) -> Result<(), Failure> {
    match cmd {
        CacheCommand::Stats { json } => stats(settings, *json),
        CacheCommand::Warm(args) => warm::run(args, settings),
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

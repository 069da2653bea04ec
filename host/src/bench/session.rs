//! The memory part of `hearth bench`: a scripted listening session over many distinct tracks,
//! the way a long evening of skipping through a library goes — each track played a moment,
//! sought into, then `next` — with the process's memory sampled from `/proc` every 100 ms.
//!
//! Distinct tracks are made from the input as hard links (copies where links cannot be made):
//! a track's identity includes its path, so every link is a new track to the cache and the
//! player, with nothing decoded before. The session's cache is a temporary directory with the
//! configured budget.
//!
//! * `rss_session_mb`: VmRSS (what `top` shows: heap, code, mapped warm-file pages) over the
//!   session, p50 and max;
//! * `anon_growth_mb`: anonymous RSS after the last track minus after the fifth — what stays
//!   behind per track played (0 when nothing accumulates).
//!
//! Runs on: the caller's thread, plus a sampling thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth::output::OutputSpec;
use hearth::{Engine, EngineConfig};

use super::{Rng, Samples, fail};
use crate::config::Settings;
use crate::failure::Failure;

/// What a session measured.
#[derive(Debug, Default)]
pub struct SessionResult {
    /// Tracks played.
    pub tracks: usize,
    /// VmRSS samples, MB (in `Samples::ms`, which holds plain numbers).
    pub rss_mb: Samples,
    /// Anonymous RSS after the last track minus after the fifth, MB.
    pub anon_growth_mb: f64,
}

/// How long each track plays before the seek, and after it before `next`.
const PLAY: Duration = Duration::from_millis(700);
const AFTER_SEEK: Duration = Duration::from_millis(300);

/// A `/proc/self/status` field in MB (Linux; `None` elsewhere).
pub fn status_mb(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// Plays `tracks` distinct tracks made from `path`, measuring memory.
pub fn run(
    path: &Path,
    tracks: usize,
    settings: &Settings,
    rate: u32,
    buffer: u32,
    seed: u64,
) -> Result<SessionResult, Failure> {
    let tmp = tempfile::tempdir().map_err(|e| Failure::other("temporary directory", e))?;
    let files = (0..tracks)
        .map(|i| link(path, tmp.path(), i))
        .collect::<Result<Vec<PathBuf>, Failure>>()?;
    let mut cache = settings.cache.clone();
    cache.dir = tmp.path().join("cache");
    let config = EngineConfig {
        rate: Some(rate),
        buffer_frames: Some(buffer),
        cache,
        enhance: settings.enhance,
        preset: settings.preset,
        ..EngineConfig::default()
    };
    let engine = Engine::builder()
        .config(config)
        .build(OutputSpec::Null)
        .map_err(fail("engine"))?;
    for f in &files {
        engine.enqueue(f).map_err(fail("enqueue"))?;
    }
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let (Some(rss), Ok(mut s)) = (status_mb("VmRSS:"), samples.lock()) {
                    s.push(rss);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    engine.play().map_err(fail("play"))?;
    let duration = hearth::probe(path)
        .map(|i| i.duration().as_secs_f64())
        .unwrap_or(0.0);
    let mut rng = Rng(seed ^ 0x0053_4553_5349_4F4E);
    let mut anon_fifth = None;
    for i in 0..tracks {
        std::thread::sleep(PLAY);
        let to = rng.below((duration * 1000.0).max(1.0) as u64) as f64 / 1000.0;
        engine
            .seek(Duration::from_secs_f64(to * 0.9))
            .map_err(fail("seek"))?;
        std::thread::sleep(AFTER_SEEK);
        if i == 4 {
            anon_fifth = status_mb("RssAnon:");
        }
        if i + 1 < tracks {
            engine.next().map_err(fail("next"))?;
        }
    }
    let anon_last = status_mb("RssAnon:");
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    drop(engine);
    let rss_mb = Samples {
        ms: samples.lock().map(|s| s.clone()).unwrap_or_default(),
        timeouts: 0,
    };
    let anon_growth_mb = match (anon_fifth, anon_last) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    Ok(SessionResult {
        tracks,
        rss_mb,
        anon_growth_mb,
    })
}

/// Track `i` of the session: a hard link to `src` (a copy if links cannot be made).
fn link(src: &Path, dir: &Path, i: usize) -> Result<PathBuf, Failure> {
    let ext = src.extension().and_then(|e| e.to_str()).unwrap_or("audio");
    let to = dir.join(format!("session-{i:03}.{ext}"));
    if std::fs::hard_link(src, &to).is_err() {
        std::fs::copy(src, &to).map_err(|e| Failure::other(to.display(), e))?;
    }
    Ok(to)
}

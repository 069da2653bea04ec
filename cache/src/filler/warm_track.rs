//! One whole track into the warm tier, as `hearth cache warm` does it — on one thread, or on
//! several at once.
//!
//! Several threads share one track by its stream segments: warming restarts only at a
//! segment's first chunk, from a fresh chain with its pre-roll (see `stream.rs`), so segments
//! are independent and a chunk is the same bytes whichever thread made it, in whatever order.
//! The calling thread first opens the track and writes its first chunk alone — the analysis and
//! calibration that takes are kept in the store, where the other threads find them instead of
//! doing them again — then every thread, each with a filler (and decoder) of its own, takes the
//! next segment from a shared counter until none is left. Hand-written: no crate knows our
//! segments; this is a counter and scoped threads.
//!
//! Runs on: the calling thread, plus `threads - 1` scoped threads while it runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_dsp::Preset;

use super::stream::STREAM_SEGMENT;
use super::{Demand, Filler, FillerConfig, FillerEvent, Step};
use crate::chunk::{TrackId, Variant};
use crate::warm::WarmStore;

/// Progress of [`warm_track`]: chunks cached so far over chunks to cache (all variants).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WarmProgress {
    /// Chunks present, summed over the variants.
    pub present: u64,
    /// Chunks in the track times the variants.
    pub total: u64,
}

/// Warms one whole track into the warm tier — the original and an enhanced variant per
/// preset — as `hearth cache warm` does: a filler of its own with warming as its only demand.
/// `progress` is called as chunks land. Returns the final progress, or why the track cannot be
/// warmed.
///
/// Runs on: the calling thread (one per track in parallel is fine: the store is shared).
pub fn warm_track(
    store: Arc<WarmStore>,
    path: PathBuf,
    config: FillerConfig,
    presets: &[Preset],
    progress: impl FnMut(WarmProgress),
) -> Result<WarmProgress, String> {
    warm_track_on(store, path, config, presets, 1, progress)
}

/// [`warm_track`] on `threads` threads (the calling one included): the track's segments are
/// shared out (see the module docs). The result is the same bytes as on one thread.
/// `progress` is called on the calling thread.
pub fn warm_track_on(
    store: Arc<WarmStore>,
    path: PathBuf,
    config: FillerConfig,
    presets: &[Preset],
    threads: usize,
    mut progress: impl FnMut(WarmProgress),
) -> Result<WarmProgress, String> {
    let demand = Demand {
        presets: presets.to_vec(),
        warm: vec![1],
        ..Demand::default()
    };
    // Background work only, but reporting the track as a hot filler would (ready, failed).
    let new_filler = || {
        let mut f = Filler::with_role(None, Arc::clone(&store), config, super::Role::All);
        f.set_entry(1, path.clone());
        f.set_demand(demand.clone());
        f
    };
    let variants = 1 + presets.len() as u64;
    let mut run = Run {
        variants,
        chunk_frames: config.chunk_frames,
        chunks: None,
        track: None,
        counts: HashMap::new(),
        last: WarmProgress {
            present: 0,
            total: 0,
        },
    };
    if threads <= 1 {
        let mut first = new_filler();
        loop {
            let step = first.step();
            run.absorb(first.take_events(), &mut progress)?;
            if step == Step::Idle {
                break;
            }
        }
    } else {
        run_shared(
            &store,
            &new_filler,
            &demand,
            threads,
            &mut run,
            &mut progress,
            &TrackPrep {
                calibrate: &|track| {
                    calibrate_on_all(&store, track, &path, config.engine_rate, presets, threads)
                },
                // The track's length up front (an open costs well under a millisecond), so
                // the other threads start at once rather than when the calling thread's
                // first step — an analysis step — is done.
                frames: crate::source::Source::open(&path, Some(config.engine_rate))
                    .ok()
                    .map(|s| s.frames()),
            },
        )?;
    }
    // Count what was cached before this run too: the store knows every variant's progress.
    if let Some(track) = run.track {
        let wanted: Vec<Variant> = std::iter::once(Variant::Original)
            .chain(presets.iter().map(|&p| Variant::Enhanced(p)))
            .collect();
        let present: u64 = store
            .progress(track)
            .iter()
            .filter(|v| wanted.contains(&v.variant))
            .map(|v| u64::from(v.present))
            .sum();
        run.last = WarmProgress {
            present: present.min(run.last.total),
            total: run.last.total,
        };
        progress(run.last);
    }
    // The index is saved by the store (every few seconds while it changes, and when the last
    // handle goes), not here: its fsync also waits for the kernel to write back the warm
    // files' data, which on a slow disk takes longer than the warm — a caller timing the
    // warm would time the disk.
    Ok(run.last)
}

/// The warm on several threads (see the module docs). While the calling thread opens and
/// prepares the track alone (its analysis and calibration, with its first segment), the other
/// threads are not idle: they write the original variant — which needs neither — of segments
/// from the back; those segments' enhanced variant is written when the front reaches them
/// (reading the source again: less than what waiting would waste).
fn run_shared(
    store: &Arc<WarmStore>,
    new_filler: &(impl Fn() -> Filler + Sync),
    demand: &Demand,
    threads: usize,
    run: &mut Run,
    progress: &mut impl FnMut(WarmProgress),
    prep: &TrackPrep<'_>,
) -> Result<(), String> {
    let (calibrate, frames) = (prep.calibrate, prep.frames);
    // Segments in the track; unknown (`u32::MAX`) until the calling thread has opened it.
    let count = |frames: u64| {
        let chunks = frames.div_ceil(u64::from(run.chunk_frames));
        u32::try_from(chunks.div_ceil(u64::from(STREAM_SEGMENT))).unwrap_or(u32::MAX - 1)
    };
    let known = frames.map(count);
    let segments = AtomicU32::new(known.unwrap_or(u32::MAX));
    // The next segment from the front, and the last one not yet taken from the back.
    let front = AtomicU32::new(0);
    let back = AtomicU32::new(known.unwrap_or(u32::MAX));
    let prepared = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let failed: Mutex<Option<String>> = Mutex::new(None);
    let range = |s: u32| {
        (
            s.saturating_mul(STREAM_SEGMENT),
            s.saturating_add(1).saturating_mul(STREAM_SEGMENT),
        )
    };
    let claim_front = || {
        let s = front.fetch_add(1, Ordering::Relaxed);
        (s < segments.load(Ordering::Acquire)).then(|| range(s))
    };
    let claim_back = || {
        back.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            (b != u32::MAX && b > front.load(Ordering::Relaxed)).then(|| b - 1)
        })
        .ok()
        .map(range)
    };
    // Steps `f` through its range; false if the track failed (and everyone stops).
    let work_range = |f: &mut Filler| -> bool {
        while !stop.load(Ordering::Relaxed) && f.step() != Step::Idle {
            for e in f.take_events() {
                if let FillerEvent::TrackFailed { error, .. } = e {
                    stop.store(true, Ordering::Relaxed);
                    if let Ok(mut slot) = failed.lock() {
                        slot.get_or_insert(error);
                    }
                    return false;
                }
            }
        }
        true
    };
    let worker = || {
        let mut f = new_filler();
        f.set_demand(Demand {
            presets: Vec::new(),
            ..demand.clone()
        });
        while !prepared.load(Ordering::Acquire) && !stop.load(Ordering::Relaxed) {
            match claim_back() {
                Some(r) => {
                    f.set_warm_range(Some(r));
                    if !work_range(&mut f) {
                        return;
                    }
                }
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        f.set_demand(demand.clone());
        while let Some(r) = claim_front().filter(|_| !stop.load(Ordering::Relaxed)) {
            f.set_warm_range(Some(r));
            if !work_range(&mut f) {
                return;
            }
        }
    };
    let mut first = new_filler();
    std::thread::scope(|scope| -> Result<(), String> {
        let workers: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let fail = |e: String| {
            stop.store(true, Ordering::Relaxed);
            Err(e)
        };
        // Alone on the first segment until its first chunk is written (the track prepared).
        if let Some(r) = claim_front() {
            first.set_warm_range(Some(r));
        }
        let mut busy = true;
        let mut calibrated = false;
        while run.counts.is_empty() {
            busy = first.step() != Step::Idle;
            if let Err(e) = run.absorb(first.take_events(), progress) {
                return fail(e);
            }
            // Once the analysis is done, the calibration on every core (the filler then finds
            // it in the store) rather than on this thread while the others wait.
            if let Some(track) = run.track
                && !calibrated
                && store.analysis(track).is_some()
            {
                calibrated = true;
                calibrate(track);
            }
            if let Some(chunks) = run.chunks
                && segments.load(Ordering::Relaxed) == u32::MAX
            {
                let n = chunks.div_ceil(STREAM_SEGMENT);
                segments.store(n, Ordering::Release);
                back.store(n, Ordering::Relaxed);
            }
            if !busy {
                break;
            }
        }
        if run.chunks.is_none() {
            segments.store(0, Ordering::Release);
        }
        prepared.store(true, Ordering::Release);
        // Then one of the team, reporting progress from the store as it goes.
        loop {
            if !busy {
                match claim_front().filter(|_| !stop.load(Ordering::Relaxed)) {
                    Some(r) => first.set_warm_range(Some(r)),
                    None => break,
                }
            }
            busy = first.step() != Step::Idle;
            if let Err(e) = run.absorb(first.take_events(), progress) {
                return fail(e);
            }
            run.poll_store(store, progress);
        }
        for w in &workers {
            while !w.is_finished() {
                std::thread::sleep(Duration::from_millis(2));
                run.poll_store(store, progress);
            }
        }
        Ok(())
    })?;
    match failed.lock().ok().and_then(|mut f| f.take()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What the threads sharing a track get before it is open.
struct TrackPrep<'a> {
    /// Calibrates the track's presets on every thread once its analysis is stored.
    calibrate: &'a dyn Fn(TrackId),
    /// The track's length, engine frames, if it could be read up front.
    frames: Option<u64>,
}

/// What the calling thread knows of a warm in progress.
struct Run {
    variants: u64,
    chunk_frames: u32,
    /// Chunks in the track, once it is open.
    chunks: Option<u32>,
    track: Option<TrackId>,
    counts: HashMap<Variant, u32>,
    last: WarmProgress,
}

impl Run {
    /// Takes in a filler's events; the track's failure ends the warm.
    fn absorb(
        &mut self,
        events: Vec<FillerEvent>,
        progress: &mut impl FnMut(WarmProgress),
    ) -> Result<(), String> {
        for e in events {
            match e {
                FillerEvent::TrackFailed { error, .. } => return Err(error),
                FillerEvent::TrackReady { frames, track, .. } => {
                    let chunks = frames.div_ceil(u64::from(self.chunk_frames));
                    self.chunks = Some(u32::try_from(chunks).unwrap_or(u32::MAX));
                    self.last.total = chunks * self.variants;
                    self.track = Some(track);
                }
                FillerEvent::CacheProgress {
                    variant, present, ..
                } => {
                    self.counts.insert(variant, present);
                }
                FillerEvent::TrackDamaged { message, .. } => {
                    tracing::warn!(%message, "damaged source")
                }
            }
        }
        self.report(progress);
        Ok(())
    }

    /// Reads the variants' counts from the store (other threads' chunks included).
    fn poll_store(&mut self, store: &WarmStore, progress: &mut impl FnMut(WarmProgress)) {
        let Some(track) = self.track else {
            return;
        };
        for v in store.progress(track) {
            if self.counts.contains_key(&v.variant) {
                self.counts.insert(v.variant, v.present);
            }
        }
        self.report(progress);
    }

    fn report(&mut self, progress: &mut impl FnMut(WarmProgress)) {
        let present = self
            .counts
            .values()
            .map(|&c| u64::from(c))
            .sum::<u64>()
            .min(self.last.total);
        let now = WarmProgress {
            present,
            total: self.last.total,
        };
        if now != self.last {
            progress(now);
            self.last = now;
        }
    }
}

/// Calibrates the track's `presets` not yet in the store with each iteration's windows shared
/// over `threads` threads (see `enhance::calibrate_shared`), and stores the results. Failing
/// here costs nothing but time: the filler calibrates on its own thread.
fn calibrate_on_all(
    store: &WarmStore,
    track: TrackId,
    path: &std::path::Path,
    rate: u32,
    presets: &[Preset],
    threads: usize,
) {
    let Some(analysis) = store.analysis(track) else {
        return;
    };
    for &preset in presets {
        if store.calibration(track, preset).is_some() {
            continue;
        }
        let sources: Result<Vec<_>, _> = (0..threads)
            .map(|_| crate::source::Source::open(path, Some(rate)))
            .collect();
        match sources.and_then(|mut s| crate::enhance::calibrate_shared(&mut s, preset, &analysis))
        {
            Ok(gain) => {
                store.set_calibration(track, preset, gain);
            }
            Err(e) => tracing::debug!(error = %e, "shared calibration failed; the filler does it"),
        }
    }
}

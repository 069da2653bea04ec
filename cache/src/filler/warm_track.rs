//! One whole track into the warm tier, as `hearth cache warm` does it.
//!
//! Runs on: the calling thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use hearth_dsp::Preset;

use super::{Demand, Filler, FillerConfig, FillerEvent, Step};
use crate::chunk::Variant;
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
    mut progress: impl FnMut(WarmProgress),
) -> Result<WarmProgress, String> {
    // Background work only, but reporting the track as a hot filler would (ready, failed).
    let mut filler = Filler::with_role(None, Arc::clone(&store), config, super::Role::All);
    filler.set_entry(1, path);
    filler.set_demand(Demand {
        presets: presets.to_vec(),
        warm: vec![1],
        ..Demand::default()
    });
    let variants = 1 + presets.len() as u64;
    let mut counts: HashMap<Variant, u32> = HashMap::new();
    let mut total = 0u64;
    let mut track_id = None;
    let mut last = WarmProgress {
        present: 0,
        total: 0,
    };
    loop {
        let step = filler.step();
        for e in filler.take_events() {
            match e {
                FillerEvent::TrackFailed { error, .. } => return Err(error),
                FillerEvent::TrackReady { frames, track, .. } => {
                    total = frames.div_ceil(u64::from(config.chunk_frames)) * variants;
                    track_id = Some(track);
                }
                FillerEvent::CacheProgress {
                    variant, present, ..
                } => {
                    counts.insert(variant, present);
                }
                FillerEvent::TrackDamaged { message, .. } => {
                    tracing::warn!(%message, "damaged source")
                }
            }
        }
        let present = counts
            .values()
            .map(|&c| u64::from(c))
            .sum::<u64>()
            .min(total);
        let now = WarmProgress { present, total };
        if now != last {
            progress(now);
            last = now;
        }
        if step == Step::Idle {
            break;
        }
    }
    // Count what was cached before this run too: the store knows every variant's progress.
    drop(filler);
    if let Some(track) = track_id {
        let wanted: Vec<Variant> = std::iter::once(Variant::Original)
            .chain(presets.iter().map(|&p| Variant::Enhanced(p)))
            .collect();
        let present: u64 = store
            .progress(track)
            .iter()
            .filter(|v| wanted.contains(&v.variant))
            .map(|v| u64::from(v.present))
            .sum();
        last = WarmProgress {
            present: present.min(total),
            total,
        };
        progress(last);
    }
    let _ = store.flush_index();
    Ok(last)
}

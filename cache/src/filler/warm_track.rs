//! One whole track into the warm tier, as `hearth cache warm` does it.
//!
//! Runs on: the calling thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use hearth_dsp::Preset;

use super::track::EntryState;
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
    let mut filler = Filler::background(store, config);
    filler.set_entry(1, path);
    filler.set_demand(Demand {
        presets: presets.to_vec(),
        warm: vec![1],
        ..Demand::default()
    });
    let variants = 1 + presets.len() as u64;
    let mut counts: HashMap<Variant, u32> = HashMap::new();
    let mut total = 0u64;
    let mut last = WarmProgress {
        present: 0,
        total: 0,
    };
    loop {
        let step = filler.step();
        for e in filler.take_events() {
            match e {
                FillerEvent::TrackFailed { error, .. } => return Err(error),
                FillerEvent::TrackReady { frames, .. } => {
                    total = frames.div_ceil(u64::from(config.chunk_frames)) * variants;
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
    // Count what was already cached before this run.
    if let Some(EntryState::Open(t)) = filler.entries.get(&1) {
        let present: u64 = t
            .warm
            .values()
            .flatten()
            .map(|f| u64::from(f.present_count()))
            .sum();
        last = WarmProgress {
            present: present.min(total),
            total,
        };
        progress(last);
    }
    let _ = filler.store().flush_index();
    Ok(last)
}

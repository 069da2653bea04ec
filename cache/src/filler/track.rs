//! Per-entry state: the open source and everything derived from it (analysis, calibrations,
//! chains, warm files, the warming stream). An entry is opened when first needed.
//!
//! Runs on: the filler threads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hearth_dsp::{Chain, Preset, TrackAnalysis};

use super::prepare::CalibrationJob;
use super::stream::Stream;
use super::{Filler, FillerEvent};
use crate::chunk::{ChunkGeometry, TrackId, Variant};
use crate::enhance::AnalysisWalk;
use crate::error::SourceError;
use crate::source::Source;
use crate::warm::fingerprint::Fingerprint;
use crate::warm::{WarmFile, WarmStore};

/// Per-entry state: the open source and everything derived from it.
pub(super) struct TrackState {
    pub track: TrackId,
    pub geometry: ChunkGeometry,
    pub source: Source,
    pub analysis: Option<TrackAnalysis>,
    pub analysis_job: Option<AnalysisWalk>,
    pub calibration: HashMap<Preset, f32>,
    pub chains: HashMap<Preset, Chain>,
    pub warm: HashMap<Variant, Option<Arc<WarmFile>>>,
    /// Where P2 warming resumes: chunks from here on, then from 0.
    pub warm_cursor: u32,
    pub damaged_reported: bool,
    /// Sequential warming in progress (see `Stream`).
    pub stream: Option<Stream>,
    /// A calibration in progress.
    pub calibration_job: Option<CalibrationJob>,
}

pub(super) enum EntryState {
    /// Known path, not opened yet.
    Pending(PathBuf),
    /// Open and playable.
    Open(Box<TrackState>),
    /// Cannot be played.
    Failed,
}

impl Filler {
    /// Opens an entry's file if it is not open yet; false if it cannot be played.
    pub(super) fn ensure_open(&mut self, entry: u64) -> bool {
        match self.entries.get(&entry) {
            Some(EntryState::Open(_)) => return true,
            Some(EntryState::Failed) | None => return false,
            Some(EntryState::Pending(_)) => {}
        }
        let Some(EntryState::Pending(path)) = self.entries.remove(&entry) else {
            return false;
        };
        match self.open(entry, &path) {
            Ok(state) => {
                self.entries
                    .insert(entry, EntryState::Open(Box::new(state)));
                self.pin_needed();
                true
            }
            Err(e) => {
                // Reported once, by the filler serving the hot tier.
                if self.role.serves_hot() {
                    self.events.push(FillerEvent::TrackFailed {
                        entry,
                        error: e.to_string(),
                    });
                }
                self.entries.insert(entry, EntryState::Failed);
                false
            }
        }
    }

    pub(super) fn open(
        &mut self,
        entry: u64,
        path: &std::path::Path,
    ) -> Result<TrackState, SourceError> {
        let t0 = Instant::now();
        let source = Source::open(path, Some(self.config.engine_rate))?;
        let geometry = ChunkGeometry::new(source.frames(), self.config.chunk_frames);
        let t1 = Instant::now();
        let fp = Fingerprint::of(path).map_err(SourceError::Open)?;
        let t2 = Instant::now();
        let track = self
            .store
            .register_track(&fp, self.config.engine_rate, geometry);
        tracing::debug!(
            entry,
            source_ms = (t1 - t0).as_secs_f64() * 1e3,
            fingerprint_ms = (t2 - t1).as_secs_f64() * 1e3,
            register_ms = t2.elapsed().as_secs_f64() * 1e3,
            "opened"
        );
        let analysis = self.store.analysis(track);
        let calibration = Preset::ALL
            .iter()
            .filter_map(|&p| self.store.calibration(track, p).map(|c| (p, c)))
            .collect();
        if self.role.serves_hot() {
            self.events.push(FillerEvent::TrackReady {
                entry,
                track,
                info: Box::new(source.info().clone()),
                frames: source.frames(),
            });
        }
        Ok(TrackState {
            track,
            geometry,
            source,
            analysis,
            analysis_job: None,
            calibration,
            chains: HashMap::new(),
            warm: HashMap::new(),
            warm_cursor: 0,
            damaged_reported: false,
            stream: None,
            calibration_job: None,
        })
    }
}

/// Opens (or creates) the warm file of each of `variants` not opened yet, once per variant.
pub(super) fn open_warm_files(
    t: &mut TrackState,
    store: &WarmStore,
    variants: &[Variant],
    rate: u32,
) {
    for &v in variants {
        if !t.warm.contains_key(&v) {
            let hash = match v {
                Variant::Original => 0,
                Variant::Enhanced(p) => chain_for(t, p, rate).params_hash(),
            };
            t.warm.insert(v, store.variant(t.track, v, hash));
        }
    }
}

/// The chain for `preset` on an analysed track (made once, then reused).
pub(super) fn chain_for(t: &mut TrackState, preset: Preset, rate: u32) -> &mut Chain {
    let analysis = t.analysis.clone().unwrap_or_else(|| silent_analysis(rate));
    let calibration = t.calibration.get(&preset).copied().unwrap_or(0.0);
    t.chains
        .entry(preset)
        .or_insert_with(|| Chain::new(preset, &analysis, calibration, rate))
}

fn silent_analysis(rate: u32) -> TrackAnalysis {
    TrackAnalysis {
        version: hearth_dsp::ANALYSIS_VERSION,
        rate,
        integrated_lufs: hearth_dsp::analysis::SILENCE_LUFS,
        loudness_range_lu: 0.0,
        true_peak_dbtp: -200.0,
        sample_peak_dbfs: -200.0,
        duration_seconds: 0.0,
        coverage: 1.0,
        band_levels_db: Vec::new(),
        side_to_mid_db: -100.0,
    }
}

//! Per-entry state: the open source and everything derived from it (analysis, calibrations,
//! chains, warm files, the warming stream).
//!
//! An entry is open only while it is needed — playing, the target of a jump, fading out,
//! next, or being warmed — and closed as soon as it is not: its decoder, buffers and chains are
//! freed and its warm files let go (unmapped once no one else holds them). What is worth
//! keeping lives in the store (analysis, calibrations) or in the closed entry (its path, and
//! that it was announced). So memory does not grow with the number of tracks played.
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
    pub path: PathBuf,
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

/// An entry that is not open: its file, and what was already said about it.
pub(super) struct Closed {
    pub path: PathBuf,
    /// `TrackReady` was sent (opening again says nothing).
    pub announced: bool,
    /// Damage was reported (not again).
    pub damaged_reported: bool,
}

impl Closed {
    pub fn new(path: PathBuf) -> Self {
        Closed {
            path,
            announced: false,
            damaged_reported: false,
        }
    }
}

pub(super) enum EntryState {
    /// Known, not open (not yet, or no longer needed).
    Closed(Closed),
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
            Some(EntryState::Closed(_)) => {}
        }
        let Some(EntryState::Closed(closed)) = self.entries.remove(&entry) else {
            return false;
        };
        match self.open(entry, &closed) {
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

    pub(super) fn open(&mut self, entry: u64, closed: &Closed) -> Result<TrackState, SourceError> {
        let path = closed.path.as_path();
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
        if self.role.serves_hot() && !closed.announced {
            self.events.push(FillerEvent::TrackReady {
                entry,
                track,
                info: Box::new(source.info().clone()),
                frames: source.frames(),
            });
        }
        Ok(TrackState {
            path: path.to_path_buf(),
            track,
            geometry,
            source,
            analysis,
            analysis_job: None,
            calibration,
            chains: HashMap::new(),
            warm: HashMap::new(),
            warm_cursor: 0,
            damaged_reported: closed.damaged_reported,
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

impl Filler {
    /// Closes every open entry that is not needed now (see the module docs).
    pub(super) fn close_unneeded(&mut self) {
        let d = &self.demand;
        let needed = [
            d.playing.map(|p| p.entry),
            d.jump.map(|j| j.entry),
            d.fading.map(|f| f.entry),
            d.next,
            self.warming,
        ];
        let closing: Vec<u64> = self
            .entries
            .iter()
            .filter(|(e, s)| matches!(s, EntryState::Open(_)) && !needed.contains(&Some(**e)))
            .map(|(e, _)| *e)
            .collect();
        for entry in closing {
            if let Some(EntryState::Open(t)) = self.entries.remove(&entry) {
                tracing::trace!(entry, "closing an entry no longer needed");
                self.entries.insert(
                    entry,
                    EntryState::Closed(Closed {
                        path: t.path,
                        announced: true,
                        damaged_reported: t.damaged_reported,
                    }),
                );
            }
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

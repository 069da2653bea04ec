//! What the index knows of each track besides its files: geometry, the track analysis and
//! per-preset calibrations (so a track is analysed once, ever), and warm-tier progress.
//!
//! Runs on: the filler and control threads (under the store's lock).

use super::*;

impl WarmStore {
    /// Takes in the progress of files closed since the last look (see `Shared::closed`).
    pub(super) fn absorb_closed(&self, inner: &mut Inner) {
        let closed = std::mem::take(&mut *self.shared.closed.lock());
        for ((track, variant), present) in closed {
            if let Some(v) = inner
                .tracks
                .get_mut(&track)
                .and_then(|e| e.variants.iter_mut().find(|v| v.variant == variant))
                && v.chunks_present != present
            {
                v.chunks_present = present;
                inner.dirty = true;
            }
        }
    }

    /// The track's length and chunk size as registered (lets a cached track play without
    /// opening its source).
    pub fn geometry(&self, track: TrackId) -> Option<ChunkGeometry> {
        self.inner.lock().tracks.get(&track).map(|e| e.geometry)
    }

    /// The track's analysis, if one of the current [`ANALYSIS_VERSION`] is cached.
    pub fn analysis(&self, track: TrackId) -> Option<TrackAnalysis> {
        let inner = self.inner.lock();
        let a = inner.tracks.get(&track)?.analysis.as_ref()?;
        (a.version == ANALYSIS_VERSION).then(|| a.clone())
    }

    /// Caches the track's analysis (false if the track is not registered).
    pub fn set_analysis(&self, track: TrackId, analysis: TrackAnalysis) -> bool {
        let mut inner = self.inner.lock();
        let Some(e) = inner.tracks.get_mut(&track) else {
            return false;
        };
        e.analysis = Some(analysis);
        inner.dirty = true;
        self.maybe_flush(&mut inner);
        true
    }

    /// The track's calibration gain for `preset`, dB.
    pub fn calibration(&self, track: TrackId, preset: Preset) -> Option<f32> {
        let inner = self.inner.lock();
        inner.tracks.get(&track)?.calibration.get(&preset).copied()
    }

    /// Caches a calibration gain (false if the track is unknown or the gain not finite).
    pub fn set_calibration(&self, track: TrackId, preset: Preset, gain_db: f32) -> bool {
        if !gain_db.is_finite() {
            return false;
        }
        let mut inner = self.inner.lock();
        let Some(e) = inner.tracks.get_mut(&track) else {
            return false;
        };
        e.calibration.insert(preset, gain_db);
        inner.dirty = true;
        self.maybe_flush(&mut inner);
        true
    }

    /// How much of each cached variant of `track` is present (cache-progress events, the TUI
    /// cache map). Exact for files open in this process; the last saved count otherwise.
    pub fn progress(&self, track: TrackId) -> Vec<VariantProgress> {
        let mut inner = self.inner.lock();
        self.absorb_closed(&mut inner);
        let Some(e) = inner.tracks.get(&track) else {
            return Vec::new();
        };
        e.variants
            .iter()
            .map(|v| match inner.open.get(&(track, v.variant)) {
                Some(f) if !f.is_retired() => VariantProgress {
                    variant: v.variant,
                    present: f.present_count(),
                    total: f.chunk_count(),
                },
                _ => VariantProgress {
                    variant: v.variant,
                    present: v.chunks_present,
                    total: v.chunks_total,
                },
            })
            .collect()
    }

    /// Which chunks of one variant of a track are cached, when its file is open in this
    /// process (a cache map for display). Runs on: the control thread.
    pub fn presence(&self, track: TrackId, variant: Variant) -> Option<Vec<bool>> {
        let inner = self.inner.lock();
        inner
            .open
            .get(&(track, variant))
            .filter(|f| !f.is_retired())
            .map(|f| f.presence())
    }

    /// Tracks in the index, most recently used first.
    pub fn tracks(&self) -> Vec<TrackId> {
        let inner = self.inner.lock();
        let mut v: Vec<&TrackEntry> = inner.tracks.values().collect();
        v.sort_by_key(|e| std::cmp::Reverse((e.last_access_ms, e.last_access_seq)));
        v.into_iter().map(|e| e.id).collect()
    }

    /// A copy of the index entry for `track` (for `hearth cache` listings).
    pub fn entry(&self, track: TrackId) -> Option<TrackEntry> {
        self.inner.lock().tracks.get(&track).cloned()
    }
}

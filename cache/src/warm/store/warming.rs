//! What a run that warms many tracks at once needs from the store: how much a track will take
//! once warm, known before any of it is produced ([`WarmStore::footprint`]), and holds that
//! keep the tracks it chose from eviction until it is done ([`WarmStore::hold`]).
//!
//! Holds are separate from the pins: the filler replaces the pins (the playing and the next
//! track) on every plan, and a warm run's filler has no playing track, so a pin set by the run
//! would be gone at its first step. A hold lasts as long as its guard.
//!
//! Runs on: the control thread (planning, the guard) and the warm run's threads (dropping a
//! guard); under the store's lock.

use super::*;

/// What warming a track leaves in the cache, before any of it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarmFootprint {
    /// The track's id at this engine rate (what its warm files are named after).
    pub track: TrackId,
    /// Bytes of its warm files once the variants asked for are warm: one file per variant of
    /// the length the store gives it, plus the files of other variants it already has (a
    /// track is evicted whole, so they go or stay with it).
    pub bytes: u64,
    /// Every variant asked for is already cached whole (warming it produces nothing).
    pub cached: bool,
    /// When its source was last used — played or warmed, at any engine rate, before any
    /// re-tagging — as the index orders accesses: `(ms since the Unix epoch, sequence)`.
    pub last_used: Option<(u64, u64)>,
}

/// Tracks kept from eviction (and from `clean`) while this guard lives; see
/// [`WarmStore::hold`]. Dropping it releases them, also when the run fails or unwinds.
#[derive(Debug)]
#[must_use = "the tracks are held only while the guard lives"]
pub struct WarmHold<'a> {
    store: &'a WarmStore,
    tracks: Vec<TrackId>,
}

impl WarmHold<'_> {
    /// The tracks held.
    pub fn tracks(&self) -> &[TrackId] {
        &self.tracks
    }
}

impl Drop for WarmHold<'_> {
    fn drop(&mut self) {
        let mut inner = self.store.inner.lock();
        for t in &self.tracks {
            if let Some(n) = inner.held.get_mut(t) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    inner.held.remove(t);
                }
            }
        }
        // No eviction here: what was held was chosen to fit, and the next file created (or
        // the next open) brings the cache back within its limits anyway.
    }
}

impl WarmStore {
    /// What warming the source `fp` at `engine_rate`, `geometry` long, in `variants` will
    /// leave in the cache: the bytes (the files' exact lengths: they are preallocated),
    /// whether it is all there already, and when the source was last used. `None` if a track
    /// this long cannot be cached at all (no warm file can describe it).
    ///
    /// `geometry` must be the one the filler registers: [`crate::Source::frames`] at the
    /// engine rate, cut in the filler's chunk frames.
    pub fn footprint(
        &self,
        fp: &Fingerprint,
        engine_rate: u32,
        geometry: ChunkGeometry,
        variants: &[Variant],
    ) -> Option<WarmFootprint> {
        let per_file = WarmFile::file_len_for(geometry, ENGINE_CHANNELS as u16)?;
        let track = track_id(fp, engine_rate, ENGINE_CHANNELS as u16);
        let progress = self.progress(track);
        let inner = self.inner.lock();
        let entry = inner.tracks.get(&track);
        let others: u64 = entry
            .map(|e| {
                e.variants
                    .iter()
                    .filter(|v| !variants.contains(&v.variant))
                    .map(|v| v.bytes)
                    .sum()
            })
            .unwrap_or(0);
        let cached = entry.is_some_and(|e| e.geometry == geometry)
            && variants.iter().all(|v| {
                progress
                    .iter()
                    .any(|p| p.variant == *v && p.total == geometry.count() && p.present == p.total)
            });
        // Same file, other rate or earlier fingerprint: still what the user last played.
        let last_used = inner
            .tracks
            .values()
            .filter(|e| {
                e.id == track
                    || e.fingerprint
                        .as_ref()
                        .is_some_and(|f| f.canonical_path == fp.canonical_path)
            })
            .map(|e| (e.last_access_ms, e.last_access_seq))
            .max();
        Some(WarmFootprint {
            track,
            bytes: per_file
                .saturating_mul(variants.len() as u64)
                .saturating_add(others),
            cached,
            last_used,
        })
    }

    /// The cached tracks that cannot be evicted now — pinned or held — other than `except`:
    /// how many, and their bytes. What a warm run must leave room for.
    pub fn kept(&self, except: &[TrackId]) -> (usize, u64) {
        let inner = self.inner.lock();
        inner
            .tracks
            .values()
            .filter(|e| is_kept(&inner, e.id) && !except.contains(&e.id))
            .fold((0, 0), |(n, bytes), e| (n + 1, bytes + e.bytes()))
    }

    /// Keeps `tracks` from eviction (and from `clean`) until the guard is dropped, whether
    /// they are cached yet or not: a warm run holds everything it chose before it starts, so
    /// warming one track never evicts another it warmed (or found warm) a moment before.
    /// Holds nest: a track stays held while any guard holds it.
    ///
    /// A file that would only fit by evicting held tracks is not created (as for pins: the
    /// warm run then finds the track incomplete), so choose what to hold within the budget
    /// (see [`crate::warm::fit`]).
    pub fn hold(&self, tracks: &[TrackId]) -> WarmHold<'_> {
        let mut inner = self.inner.lock();
        for &t in tracks {
            *inner.held.entry(t).or_insert(0) += 1;
        }
        WarmHold {
            store: self,
            tracks: tracks.to_vec(),
        }
    }
}

/// Whether eviction must spare `track`: pinned (in use by the player) or held (by a warm run).
pub(super) fn is_kept(inner: &Inner, track: TrackId) -> bool {
    inner.pins.contains(&track) || inner.held.contains_key(&track)
}

//! The store's warm files: opening or creating a track variant's file, checking that it fits
//! the budget beside the tracks in use, and the weak table of files handed out (a file nobody
//! holds is unmapped and closed; one that is evicted while held is retired at once).
//!
//! Runs on: the filler threads (and the control thread), under the store's lock.

use super::*;

impl WarmStore {
    /// The warm file for `(track, variant)` rendered with DSP parameters `params_hash`
    /// (0 for the original): opened if it exists, else created (preallocated in full). A file
    /// with another header (parameters, geometry, fingerprint, format version) is deleted and
    /// recreated. `None` if the track is not registered, the store is degraded, or the file
    /// cannot be made. Cheap when already open (an `Arc` clone under a lock). Runs eviction
    /// after creating a file (never evicting `track` itself).
    ///
    /// Runs on: the filler (and control thread).
    pub fn variant(
        &self,
        track: TrackId,
        variant: Variant,
        params_hash: u64,
    ) -> Option<Arc<WarmFile>> {
        self.get_variant(track, variant, params_hash, true)
    }

    /// Like [`WarmStore::variant`] but never creates a file: `None` if none is cached.
    pub fn existing_variant(
        &self,
        track: TrackId,
        variant: Variant,
        params_hash: u64,
    ) -> Option<Arc<WarmFile>> {
        self.get_variant(track, variant, params_hash, false)
    }

    pub(super) fn get_variant(
        &self,
        track: TrackId,
        variant: Variant,
        params_hash: u64,
        create: bool,
    ) -> Option<Arc<WarmFile>> {
        let key = (track, variant);
        let mut inner = self.inner.lock();
        if inner.status.is_degraded() {
            // Recovery (at most every RETRY_INTERVAL) retires files that were deleted meanwhile.
            self.available(&mut inner);
        }
        let entry = inner.tracks.get(&track)?;
        let expected = WarmHeader {
            track,
            variant,
            engine_rate: entry.engine_rate,
            channels: entry.channels,
            geometry: entry.geometry,
            source_hash: entry.source_hash,
            params_hash,
        };
        let now = self.clock.now_ms();
        if let Some(f) = inner.open.get(&key) {
            // Files already mapped keep serving even when degraded: the mapping stays valid
            // whatever happens to the directory. Now and then check the file is still there
            // (a deleted cache directory must not be filled in vain).
            if *f.header() == expected
                && !f.is_retired()
                && (inner.status.is_degraded() || f.still_linked_every(now, RETRY_INTERVAL))
            {
                return Some(f);
            }
        }
        if !self.available(&mut inner) {
            return None;
        }
        if let Some(old) = inner.open.remove(&key) {
            old.retire();
        }
        let name = warm_file_name(track, variant);
        let path = self.warm_dir.join(&name);
        let file = match WarmFile::open(&path, Some(&expected), Arc::clone(&self.shared)) {
            Ok(f) => Some(f),
            Err(CacheError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => None,
            Err(CacheError::BadHeader(why)) => {
                tracing::debug!(file = %name, %why, "replacing warm file");
                if let Err(e) = self.remove_file(&path) {
                    self.degrade(&mut inner, format!("cannot remove a stale warm file: {e}"));
                    return None;
                }
                self.drop_variant_record(&mut inner, track, variant);
                None
            }
            Err(e) => {
                self.degrade(&mut inner, format!("cannot open a warm file: {e}"));
                return None;
            }
        };
        let (file, created) = match file {
            Some(f) => (f, false),
            None if !create => {
                self.drop_variant_record(&mut inner, track, variant);
                return None;
            }
            None if !self.fits(&mut inner, track, &expected) => return None,
            None => match self.create_file(&path, &expected) {
                Ok(f) => (f, true),
                Err(CacheError::Io {
                    op: "link", source, ..
                }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    // Another process made it a moment ago.
                    let f = WarmFile::open(&path, Some(&expected), Arc::clone(&self.shared));
                    (f.ok()?, false)
                }
                Err(CacheError::Io { source, .. }) => {
                    inner.need_bytes = expected.layout().map(|l| l.file_len).unwrap_or(0);
                    self.degrade(&mut inner, format!("cannot create a warm file: {source}"));
                    return None;
                }
                Err(e) => {
                    tracing::warn!(track = %track, %variant, "cannot cache this track: {e}");
                    return None;
                }
            },
        };
        let file = Arc::new(file);
        let record = VariantEntry {
            variant,
            file: name,
            params_hash,
            bytes: file.file_len(),
            chunks_present: file.present_count(),
            chunks_total: file.chunk_count(),
        };
        if let Some(e) = inner.tracks.get_mut(&track) {
            e.variants.retain(|v| v.variant != variant);
            e.variants.push(record);
        }
        inner.open.insert(key, &file);
        inner.dirty = true;
        if created {
            // The cache grew: back within the limits (never evicting `track` itself). Opening
            // a file that was already there changes nothing.
            self.evict_locked(&mut inner, Some(track));
        }
        self.maybe_flush(&mut inner);
        Some(file)
    }

    /// Whether a new file for `header` fits the budget beside the files of the tracks that
    /// cannot be evicted (pinned, held by a warm run, and `track` itself); else the budget is short and the
    /// variant plays from decode-on-demand, never evicting what is in use.
    ///
    /// A short budget is reported once and stays reported for the life of the store, even
    /// when a later, smaller file fits: it is a matter of configuration, and a player
    /// skipping between tracks of different lengths would otherwise say so on every track.
    pub(super) fn fits(&self, inner: &mut Inner, track: TrackId, header: &WarmHeader) -> bool {
        let need = header.layout().map(|l| l.file_len).unwrap_or(u64::MAX);
        let kept: u64 = inner
            .tracks
            .values()
            .filter(|e| e.id == track || is_kept(inner, e.id))
            .map(|e| e.bytes())
            .sum();
        let budget = self.config.budget_bytes;
        if kept.saturating_add(need) <= budget {
            return true;
        }
        if inner.budget_short.is_none() {
            let mb = |b: u64| b as f64 / 1e6;
            let reason = format!(
                "cache budget of {:.0} MB is smaller than the tracks in use need ({:.0} MB): \
                 playing what does not fit from decode-on-demand",
                mb(budget),
                mb(kept.saturating_add(need))
            );
            tracing::info!("{reason}");
            inner.budget_short = Some(reason);
        }
        false
    }

    pub(super) fn create_file(
        &self,
        path: &Path,
        header: &WarmHeader,
    ) -> Result<WarmFile, CacheError> {
        self.check_writes()
            .map_err(|e| CacheError::io("create", path, e))?;
        WarmFile::create(path, header, Arc::clone(&self.shared))
    }

    pub(super) fn drop_variant_record(&self, inner: &mut Inner, track: TrackId, variant: Variant) {
        if let Some(e) = inner.tracks.get_mut(&track) {
            let before = e.variants.len();
            e.variants.retain(|v| v.variant != variant);
            inner.dirty |= e.variants.len() != before;
        }
    }
}

/// The warm files handed out and still held by someone, by (track, variant), held weakly: a
/// file nobody uses any more is unmapped and closed when its last holder lets go (the filler
/// holds a track's files only while the track is playing, next, fading or being warmed). The
/// store keeps the entry to retire the file at once if it is evicted while still held.
#[derive(Debug, Default)]
pub(super) struct OpenFiles(HashMap<(TrackId, Variant), std::sync::Weak<WarmFile>>);

impl OpenFiles {
    pub(super) fn get(&self, key: &(TrackId, Variant)) -> Option<Arc<WarmFile>> {
        self.0.get(key).and_then(std::sync::Weak::upgrade)
    }

    pub(super) fn insert(&mut self, key: (TrackId, Variant), file: &Arc<WarmFile>) {
        self.0.retain(|_, w| w.strong_count() > 0);
        self.0.insert(key, Arc::downgrade(file));
    }

    pub(super) fn remove(&mut self, key: &(TrackId, Variant)) -> Option<Arc<WarmFile>> {
        self.0.remove(key).and_then(|w| w.upgrade())
    }

    /// Keeps the live files `keep` says to (and forgets closed ones).
    pub(super) fn retain(
        &mut self,
        mut keep: impl FnMut(&(TrackId, Variant), &Arc<WarmFile>) -> bool,
    ) {
        self.0
            .retain(|k, w| w.upgrade().is_some_and(|f| keep(k, &f)));
    }
}

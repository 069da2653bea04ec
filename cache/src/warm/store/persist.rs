//! The index on disk: saved atomically (temporary file, fsync, rename) at most every
//! [`FLUSH_INTERVAL`], merged with what other processes saved meanwhile, and reconciled with
//! the warm files actually in the directory when the store opens.
//!
//! Runs on: the control thread and the event pump (under the store's lock).

use super::*;

impl WarmStore {
    /// Saves the index now (merging with the one on disk). Also happens at most every
    /// [`FLUSH_INTERVAL`] after a change, and on drop. Runs on: control thread.
    pub fn flush_index(&self) -> io::Result<()> {
        let mut inner = self.inner.lock();
        self.persist(&mut inner)
    }

    /// Leaves index saves to [`WarmStore::flush_if_due`], called by a thread of the caller's
    /// choosing, instead of whichever thread happens to change the index (so that the
    /// engine's filler never waits for a file system sync).
    pub fn set_background_flush(&self, on: bool) {
        self.background_flush.store(on, Ordering::Relaxed);
    }

    /// Saves the index if it changed and the last save is at least [`FLUSH_INTERVAL`] old.
    /// Runs on: the caller's housekeeping thread (the engine's event pump).
    pub fn flush_if_due(&self) {
        let mut inner = self.inner.lock();
        self.flush_if_due_locked(&mut inner);
    }

    pub(super) fn maybe_flush(&self, inner: &mut Inner) {
        if self.background_flush.load(Ordering::Relaxed) {
            return;
        }
        self.flush_if_due_locked(inner);
    }

    pub(super) fn flush_if_due_locked(&self, inner: &mut Inner) {
        let now = self.clock.now_ms();
        let interval = FLUSH_INTERVAL.as_millis() as u64;
        if inner.dirty && now.abs_diff(inner.last_flush_ms) >= interval {
            let _ = self.persist(inner);
        }
    }

    /// Saves the index: under the directory lock, re-read the one on disk, merge, write
    /// atomically. A failure degrades the store.
    pub(super) fn persist(&self, inner: &mut Inner) -> io::Result<()> {
        if !self.available(inner) {
            return Err(io::Error::other(
                self.reason(inner)
                    .unwrap_or_else(|| "cache degraded".into()),
            ));
        }
        let _lock = self.lock_dir();
        let base = self.merge_from_disk(inner);
        // Files another process removed: drop their records and stop writing into them.
        let warm_dir = &self.warm_dir;
        for e in inner.tracks.values_mut() {
            e.variants.retain(|v| warm_dir.join(&v.file).exists());
        }
        inner.open.retain(|(t, v), f| {
            let keep =
                f.still_linked() && inner.tracks.get(t).is_some_and(|e| e.variant(*v).is_some());
            if !keep {
                f.retire();
            }
            keep
        });
        self.write_index(inner, base)
    }

    /// Merges the index on disk into memory; returns the all-time counters it holds (ours as
    /// last saved if it cannot be read).
    pub(super) fn merge_from_disk(&self, inner: &mut Inner) -> CounterSnapshot {
        match index::load(&self.index_path) {
            Loaded::Index { index, dropped } => {
                if dropped > 0 {
                    tracing::warn!("{dropped} damaged cache index entries ignored");
                }
                let warm_dir = &self.warm_dir;
                index::merge(&mut inner.tracks, index.tracks, &inner.removed, |f| {
                    is_warm_name(f) && warm_dir.join(f).exists()
                });
                inner.next_seq = inner.next_seq.max(index.next_seq);
                index.counters
            }
            Loaded::Missing => inner.saved_counters,
            Loaded::Damaged(why) => {
                tracing::warn!("cache index unusable ({why}); rebuilding it from the warm files");
                inner.saved_counters
            }
        }
    }

    pub(super) fn write_index(&self, inner: &mut Inner, base: CounterSnapshot) -> io::Result<()> {
        let session = self.shared.counters.snapshot();
        let total = base.plus(&session.minus(&inner.session_at_save));
        self.absorb_closed(inner);
        for e in inner.tracks.values_mut() {
            for v in &mut e.variants {
                if let Some(f) = inner.open.get(&(e.id, v.variant)) {
                    v.chunks_present = f.present_count();
                }
            }
        }
        let idx = IndexFile {
            version: index::INDEX_VERSION,
            next_seq: inner.next_seq,
            counters: total,
            tracks: inner.tracks.values().cloned().collect(),
        };
        let saved = self
            .check_writes()
            .and_then(|()| index::save(&self.index_path, &idx));
        match saved {
            Ok(()) => {
                inner.saved_counters = total;
                inner.session_at_save = session;
                inner.removed.clear();
                inner.dirty = false;
                inner.last_flush_ms = self.clock.now_ms();
                Ok(())
            }
            Err(e) => {
                self.degrade(inner, format!("cannot save the cache index: {e}"));
                Err(e)
            }
        }
    }

    /// Takes an index read while degraded (no files checked yet).
    pub(super) fn adopt_loaded(&self, inner: &mut Inner, index: IndexFile) {
        inner.next_seq = index.next_seq;
        inner.saved_counters = index.counters;
        inner.tracks = index.tracks.into_iter().map(|e| (e.id, e)).collect();
    }

    /// Brings the index in memory, the index on disk and the warm files into agreement:
    /// merge with the index on disk; remove files with bad headers, misnamed files and stale
    /// temporaries; drop records of files that are gone or describe something else; adopt
    /// valid files the index does not list (it may have been lost: the headers are the
    /// authority); retire open files that were deleted or replaced; save.
    pub(super) fn reconcile(&self, inner: &mut Inner) {
        let _lock = self.lock_dir();
        let base = self.merge_from_disk(inner);
        let mut found: BTreeMap<String, (WarmHeader, u64)> = BTreeMap::new();
        for (name, path, meta) in self.list_warm_dir() {
            if crate::warm::is_temp_name(&name) {
                if is_older_than(&meta, STALE_TEMP) {
                    let _ = self.remove_file(&path);
                }
                continue;
            }
            if !is_warm_name(&name) {
                continue;
            }
            let header = fs::File::open(&path)
                .map_err(|e| CacheError::io("open", &path, e))
                .and_then(|f| warm::read_header(&f, &path));
            match header {
                Ok((h, l)) if warm_file_name(h.track, h.variant) == name => {
                    found.insert(name, (h, l.file_len));
                }
                Ok(_) | Err(CacheError::BadHeader(_)) => {
                    tracing::info!(file = %name, "removing a damaged or foreign warm file");
                    let _ = self.remove_file(&path);
                }
                Err(e) => tracing::warn!("cannot read a warm file header: {e}"),
            }
        }
        // Records must match a file describing exactly them.
        let mut claimed = BTreeSet::new();
        for e in inner.tracks.values_mut() {
            e.variants.retain_mut(|v| match found.get(&v.file) {
                Some((h, len))
                    if h.track == e.id
                        && h.variant == v.variant
                        && h.geometry == e.geometry
                        && h.engine_rate == e.engine_rate
                        && h.channels == e.channels =>
                {
                    v.params_hash = h.params_hash;
                    v.bytes = *len;
                    v.chunks_total = h.geometry.count();
                    claimed.insert(v.file.clone());
                    true
                }
                _ => false,
            });
        }
        // Valid files nobody lists: attach to their track, or adopt as a new entry.
        let now = self.clock.now_ms();
        for (name, (h, len)) in found {
            if claimed.contains(&name) {
                continue;
            }
            let record = VariantEntry {
                variant: h.variant,
                file: name.clone(),
                params_hash: h.params_hash,
                bytes: len,
                chunks_present: 0,
                chunks_total: h.geometry.count(),
            };
            match inner.tracks.get_mut(&h.track) {
                Some(e)
                    if e.geometry == h.geometry
                        && e.engine_rate == h.engine_rate
                        && e.channels == h.channels =>
                {
                    e.variants.retain(|v| v.variant != h.variant);
                    e.variants.push(record);
                }
                Some(_) => {
                    let _ = self.remove_file(&self.warm_dir.join(&name));
                }
                None => {
                    // When it was last used is unknown (the index that knew is lost): count
                    // it as used now, so a lost index does not expire the whole cache at once.
                    let at = now;
                    inner.tracks.insert(
                        h.track,
                        TrackEntry {
                            id: h.track,
                            fingerprint: None,
                            source_hash: h.source_hash,
                            engine_rate: h.engine_rate,
                            channels: h.channels,
                            geometry: h.geometry,
                            created_ms: at,
                            last_access_ms: at,
                            last_access_seq: 0,
                            access_count: 0,
                            analysis: None,
                            calibration: BTreeMap::new(),
                            variants: vec![record],
                        },
                    );
                    inner.removed.remove(&h.track);
                }
            }
        }
        // Entries that hold nothing worth keeping.
        inner.tracks.retain(|_, e| {
            e.fingerprint.is_some()
                || !e.variants.is_empty()
                || e.analysis.is_some()
                || !e.calibration.is_empty()
        });
        inner.open.retain(|(t, v), f| {
            let keep =
                f.still_linked() && inner.tracks.get(t).is_some_and(|e| e.variant(*v).is_some());
            if !keep {
                f.retire();
            }
            keep
        });
        inner.dirty = true;
        let _ = self.write_index(inner, base);
    }

    /// Entries of the warm directory: (name, path, metadata), regular files only.
    pub(super) fn list_warm_dir(&self) -> Vec<(String, PathBuf, fs::Metadata)> {
        let Ok(rd) = fs::read_dir(&self.warm_dir) else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter_map(|d| {
                let meta = d.metadata().ok()?;
                if !meta.is_file() {
                    return None;
                }
                let name = d.file_name().to_str()?.to_string();
                Some((name, d.path(), meta))
            })
            .collect()
    }
}

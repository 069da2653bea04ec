//! `hearth cache verify` and `hearth cache clean`: every file's header and chunk checksums
//! checked against the index (repairing on request), and tracks removed by age or all at once.
//!
//! Runs on: the control thread.

use super::*;

/// What [`WarmStore::clean`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanReport {
    /// Tracks removed from the index (with their files).
    pub tracks_removed: usize,
    /// Files removed (warm files, stale temporaries, unreferenced warm files).
    pub files_removed: usize,
    /// Bytes those files occupied.
    pub bytes_freed: u64,
    /// Pinned (or held) tracks that were spared.
    pub pinned_kept: usize,
    /// Set when the cache directory could not be used (nothing was removed).
    pub degraded: Option<String>,
}

/// A warm file that failed verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadFile {
    /// Its name in `<dir>/warm/`.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

/// A chunk that failed verification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadChunk {
    /// The file's name in `<dir>/warm/`.
    pub file: String,
    /// Its track.
    pub track: TrackId,
    /// Its variant.
    pub variant: Variant,
    /// The chunk.
    pub index: u32,
    /// What is wrong.
    pub reason: String,
}

/// What [`WarmStore::verify`] found (and, with repair, fixed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Warm files whose header was read.
    pub files_checked: usize,
    /// Chunks marked present that were checked.
    pub chunks_checked: u64,
    /// Of those, chunks whose checksum matched.
    pub chunks_good: u64,
    /// Files with a damaged or foreign header (removed with repair).
    pub bad_files: Vec<BadFile>,
    /// Chunks whose checksum or mark is wrong (marked absent with repair).
    pub bad_chunks: Vec<BadChunk>,
    /// Valid warm files the index did not list (adopted with repair).
    pub unindexed_files: usize,
    /// Index entries whose file is gone (dropped with repair).
    pub missing_files: usize,
    /// Other files in the warm directory (removed with repair).
    pub stray_files: Vec<String>,
    /// Files removed by repair.
    pub files_removed: usize,
    /// Chunks marked absent by repair.
    pub chunks_cleared: u64,
    /// Set when the cache directory could not be used.
    pub degraded: Option<String>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.bad_files.is_empty()
            && self.bad_chunks.is_empty()
            && self.unindexed_files == 0
            && self.missing_files == 0
            && self.stray_files.is_empty()
            && self.degraded.is_none()
    }
}

impl WarmStore {
    /// Removes cached tracks: all of them (`all`), those not accessed for `older_than`, or
    /// (neither) whatever eviction would. Pinned and held tracks are spared. Also removes stale
    /// temporaries and, with `all`, any warm file the index does not list.
    ///
    /// Runs on: the control thread (`hearth cache clean`).
    pub fn clean(&self, older_than: Option<Duration>, all: bool) -> CleanReport {
        let mut inner = self.inner.lock();
        let mut report = CleanReport::default();
        inner.last_probe_ms = 0; // an explicit request: re-check a degraded directory now
        if !self.available(&mut inner) {
            report.degraded = self.reason(&inner);
            return report;
        }
        let now = self.clock.now_ms();
        let victims: Vec<TrackId> = if all || older_than.is_some() {
            let cutoff = older_than.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            inner
                .tracks
                .values()
                .filter(|e| all || cutoff.is_some_and(|c| now.saturating_sub(e.last_access_ms) > c))
                .filter(|e| {
                    let pinned = is_kept(&inner, e.id);
                    report.pinned_kept += usize::from(pinned);
                    !pinned
                })
                .map(|e| e.id)
                .collect()
        } else {
            evict::plan(&candidates(&inner, None), now, &self.config.limits())
        };
        for t in victims {
            let before = inner.tracks.len();
            let (files, bytes) = self.remove_track(&mut inner, t);
            report.tracks_removed += before - inner.tracks.len();
            report.files_removed += files;
            report.bytes_freed += bytes;
        }
        let referenced: BTreeSet<String> = inner
            .tracks
            .values()
            .flat_map(|e| e.variants.iter().map(|v| v.file.clone()))
            .collect();
        for (name, path, meta) in self.list_warm_dir() {
            let stale_temp = crate::warm::is_temp_name(&name) && is_older_than(&meta, STALE_TEMP);
            let unreferenced = all && is_warm_name(&name) && !referenced.contains(&name);
            if (stale_temp || unreferenced) && self.remove_file(&path).is_ok() {
                report.files_removed += 1;
                report.bytes_freed += meta.len();
            }
        }
        if let Err(e) = self.persist(&mut inner) {
            tracing::warn!("cannot save the cache index after cleaning: {e}");
        }
        report
    }

    /// Checks every warm file's header and every present chunk's checksum. With `repair`,
    /// removes files with bad headers and stray files, marks bad chunks absent, adopts
    /// unindexed files and drops entries whose files are gone.
    ///
    /// Runs on: the control thread (`hearth cache verify`). Reads every cached byte.
    pub fn verify(&self, repair: bool) -> VerifyReport {
        let mut inner = self.inner.lock();
        let mut report = VerifyReport::default();
        inner.last_probe_ms = 0;
        if !self.available(&mut inner) {
            report.degraded = self.reason(&inner);
            return report;
        }
        let referenced: BTreeMap<String, (TrackId, Variant)> = inner
            .tracks
            .values()
            .flat_map(|e| {
                e.variants
                    .iter()
                    .map(|v| (v.file.clone(), (e.id, v.variant)))
            })
            .collect();
        let mut seen = BTreeSet::new();
        let mut scratch = Vec::new();
        for (name, path, _) in self.list_warm_dir() {
            if crate::warm::is_temp_name(&name) {
                continue;
            }
            if !is_warm_name(&name) {
                if repair && self.remove_file(&path).is_ok() {
                    report.files_removed += 1;
                }
                report.stray_files.push(name);
                continue;
            }
            // The header is always re-read from disk, even for a file open here: the copy
            // in memory says nothing about what is on disk now.
            let on_disk = fs::File::open(&path)
                .map_err(|e| CacheError::io("open", &path, e))
                .and_then(|f| warm::read_header(&f, &path));
            let open = referenced
                .get(&name)
                .and_then(|k| inner.open.get(k))
                .filter(|f| !f.is_retired());
            let file = match (on_disk, open) {
                (Err(e), _) => Err(e),
                (Ok((h, _)), Some(f)) if h == *f.header() => Ok(f),
                (Ok(_), _) => WarmFile::open(&path, None, Arc::clone(&self.shared)).map(Arc::new),
            };
            let file = match file {
                Ok(f) if warm_file_name(f.header().track, f.header().variant) == name => f,
                Ok(_) => {
                    let bad = BadFile {
                        file: name.clone(),
                        reason: "file name does not match its header".into(),
                    };
                    self.bad_file(&mut inner, &mut report, &path, bad, repair);
                    continue;
                }
                Err(e) => {
                    let bad = BadFile {
                        file: name.clone(),
                        reason: e.to_string(),
                    };
                    if matches!(e, CacheError::BadHeader(_)) {
                        self.bad_file(&mut inner, &mut report, &path, bad, repair);
                    } else {
                        // Unreadable for another reason (permissions, I/O): report, keep.
                        report.bad_files.push(bad);
                    }
                    continue;
                }
            };
            report.files_checked += 1;
            seen.insert(name.clone());
            if !referenced.contains_key(&name) {
                report.unindexed_files += 1;
            }
            let h = *file.header();
            for i in 0..file.chunk_count() {
                let reason = match file.check_chunk(i, &mut scratch) {
                    ChunkCheck::Absent | ChunkCheck::Busy => continue,
                    ChunkCheck::Good => {
                        report.chunks_checked += 1;
                        report.chunks_good += 1;
                        continue;
                    }
                    ChunkCheck::BadChecksum => "checksum mismatch".to_string(),
                    ChunkCheck::BadMark(m) => format!("presence byte {m}"),
                };
                report.chunks_checked += 1;
                if repair {
                    file.clear_chunk(i);
                    report.chunks_cleared += 1;
                }
                report.bad_chunks.push(BadChunk {
                    file: name.clone(),
                    track: h.track,
                    variant: h.variant,
                    index: i,
                    reason,
                });
            }
        }
        for (name, (track, variant)) in &referenced {
            if !seen.contains(name) && !report.bad_files.iter().any(|b| &b.file == name) {
                report.missing_files += 1;
                if repair {
                    if let Some(f) = inner.open.remove(&(*track, *variant)) {
                        f.retire();
                    }
                    self.drop_variant_record(&mut inner, *track, *variant);
                }
            }
        }
        if repair {
            self.reconcile(&mut inner);
        }
        report
    }

    /// Records a bad file; with repair removes it and the records and open files that refer
    /// to it.
    pub(super) fn bad_file(
        &self,
        inner: &mut Inner,
        report: &mut VerifyReport,
        path: &Path,
        bad: BadFile,
        repair: bool,
    ) {
        if repair && self.remove_file(path).is_ok() {
            report.files_removed += 1;
            let name = bad.file.clone();
            let keys: Vec<(TrackId, Variant)> = inner
                .tracks
                .values()
                .flat_map(|e| {
                    e.variants
                        .iter()
                        .filter(|v| v.file == name)
                        .map(move |v| (e.id, v.variant))
                })
                .collect();
            for (t, v) in keys {
                if let Some(f) = inner.open.remove(&(t, v)) {
                    f.retire();
                }
                self.drop_variant_record(inner, t, v);
            }
        }
        report.bad_files.push(bad);
    }
}

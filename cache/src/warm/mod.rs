//! The warm tier: whole decoded tracks on disk, one memory-mapped file per (track, variant),
//! and the persistent index that describes them.
//!
//! * [`store`]: the [`WarmStore`] — the cache directory, the index in memory, which files are
//!   open, pins and holds, eviction, statistics, maintenance (`verify`, `clean`) and
//!   degradation when the directory cannot be used;
//! * [`file`]: one [`WarmFile`] — a header, a presence bitmap and checksums, then the PCM;
//!   chunks are written whole, then marked present (Release), read back checksum-verified;
//! * [`header`]: the on-disk layout; [`mmap`] (private): the only `unsafe` in the crate;
//! * [`index`]: the index file, saved atomically; [`evict`]: the LRU/budget/TTL policy;
//!   [`fit`]: which tracks of a warm run fit the limits, chosen before it starts;
//! * [`fingerprint`]: a track's identity, from which file names are derived;
//! * [`stats`]: hit/miss and production counters; [`unlinked`]: disk still held by removed
//!   files.
//!
//! Runs on: the filler threads and the control thread; never the audio thread (every method
//! may take a lock or do file I/O).

pub mod evict;
pub mod file;
pub mod fingerprint;
pub mod fit;
pub mod header;
pub mod index;
pub(crate) mod mmap;
pub mod stats;
pub mod store;
pub mod unlinked;

pub use file::{ChunkCheck, WarmFile};
pub use store::WarmStore;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique temporary name next to `path` (same directory, so a rename or link into place is
/// atomic): `NAME.PID.N.tmp`. Warm files and the index are both written this way.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name = path
        .file_name()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{}.{n}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// True for a name [`temp_name`] makes (a leftover, if old: the store removes those).
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.ends_with(".tmp")
}

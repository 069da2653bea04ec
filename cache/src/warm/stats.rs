//! Cache statistics: counters bumped from any thread, and the report the engine and host show.
//!
//! The counters are relaxed atomics: cheap enough to bump from the filler and control threads
//! on every chunk (the renderer reports its hot hits through the engine, which calls
//! [`crate::WarmStore::record_hot_hit`] off the audio thread). The cumulative totals are
//! persisted in the index, so `hearth cache stats` shows hit/miss counts across runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Live counters for one store (this process, since it was opened).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hot_hits: AtomicU64,
    warm_hits: AtomicU64,
    misses: AtomicU64,
    chunks_produced: AtomicU64,
    production_nanos: AtomicU64,
    corrupt_chunks: AtomicU64,
}

impl Counters {
    pub(crate) fn hot_hit(&self) {
        self.hot_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn warm_hit(&self) {
        self.warm_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn production(&self, took: Duration) {
        self.chunks_produced.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.production_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn corrupt_chunk(&self) {
        self.corrupt_chunks.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            hot_hits: self.hot_hits.load(Ordering::Relaxed),
            warm_hits: self.warm_hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            chunks_produced: self.chunks_produced.load(Ordering::Relaxed),
            production_nanos: self.production_nanos.load(Ordering::Relaxed),
            corrupt_chunks: self.corrupt_chunks.load(Ordering::Relaxed),
        }
    }
}

/// The counters at one moment (also their persisted form in the index).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CounterSnapshot {
    /// Chunks the playhead entered that were already in a hot slot (sent ahead).
    pub hot_hits: u64,
    /// Chunks copied out of the warm tier instead of being produced.
    pub warm_hits: u64,
    /// Chunks that were in neither tier when needed and had to be produced cold.
    pub misses: u64,
    /// Chunks produced (decoded, resampled, mastered), for whatever reason.
    pub chunks_produced: u64,
    /// Time spent producing them, nanoseconds.
    pub production_nanos: u64,
    /// Warm chunks that failed their checksum (dropped and produced again).
    pub corrupt_chunks: u64,
}

impl CounterSnapshot {
    /// Field-wise sum (saturating).
    pub fn plus(&self, o: &CounterSnapshot) -> CounterSnapshot {
        self.zip(o, u64::saturating_add)
    }

    /// Field-wise difference (saturating at zero).
    pub fn minus(&self, o: &CounterSnapshot) -> CounterSnapshot {
        self.zip(o, u64::saturating_sub)
    }

    fn zip(&self, o: &CounterSnapshot, f: fn(u64, u64) -> u64) -> CounterSnapshot {
        CounterSnapshot {
            hot_hits: f(self.hot_hits, o.hot_hits),
            warm_hits: f(self.warm_hits, o.warm_hits),
            misses: f(self.misses, o.misses),
            chunks_produced: f(self.chunks_produced, o.chunks_produced),
            production_nanos: f(self.production_nanos, o.production_nanos),
            corrupt_chunks: f(self.corrupt_chunks, o.corrupt_chunks),
        }
    }

    /// Mean time to produce a chunk, if any was produced.
    pub fn mean_production(&self) -> Option<Duration> {
        (self.chunks_produced > 0)
            .then(|| Duration::from_nanos(self.production_nanos / self.chunks_produced))
    }

    /// Estimated production time the warm tier saved: warm hits × mean production time.
    pub fn time_saved(&self) -> Duration {
        let mean = self.mean_production().unwrap_or_default();
        mean.saturating_mul(u32::try_from(self.warm_hits).unwrap_or(u32::MAX))
    }
}

/// What the cache reports about itself (`hearth cache stats`, the TUI, engine events).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Counters since this store was opened.
    pub session: CounterSnapshot,
    /// Counters over every run that used this cache directory (persisted in the index).
    pub all_time: CounterSnapshot,
    /// [`CounterSnapshot::time_saved`] of `session`, seconds.
    pub session_time_saved_secs: f64,
    /// [`CounterSnapshot::time_saved`] of `all_time`, seconds.
    pub all_time_time_saved_secs: f64,
    /// Exact bytes of the warm files (the sum of their lengths, all preallocated).
    pub bytes_on_disk: u64,
    /// The byte budget eviction keeps to.
    pub budget_bytes: u64,
    /// Tracks in the index.
    pub tracks: usize,
    /// The track cap eviction keeps to.
    pub max_tracks: usize,
    /// Warm files (one per cached track variant).
    pub files: usize,
    /// Why the cache is degraded, if it is.
    pub degraded: Option<String>,
    /// Warm files removed from the directory but still open or mapped by some process (their
    /// disk space is not free yet), and their bytes; `None` where this cannot be seen.
    pub unlinked_open: Option<crate::warm::unlinked::Unlinked>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_saved_is_warm_hits_times_mean_production() {
        let c = Counters::default();
        c.production(Duration::from_millis(4));
        c.production(Duration::from_millis(2));
        c.warm_hit();
        c.warm_hit();
        c.warm_hit();
        c.hot_hit();
        c.miss();
        let s = c.snapshot();
        assert_eq!(s.mean_production(), Some(Duration::from_millis(3)));
        assert_eq!(s.time_saved(), Duration::from_millis(9));
        assert_eq!((s.hot_hits, s.misses, s.chunks_produced), (1, 1, 2));
        assert_eq!(s.plus(&s).minus(&s), s);
        assert_eq!(CounterSnapshot::default().time_saved(), Duration::ZERO);
    }
}

//! hearth-cache: the chunk pipeline and the two-tier chunk cache.
//!
//! A source file becomes engine-rate stereo `f32` chunks here: [`decode`] (symphonia, with
//! frame-exact random access), [`downmix`] (channel mapping to stereo), [`resample`] (rubato's
//! FFT resampler on a fixed block grid) and [`source`] (random access that equals a
//! front-to-back pass), cut by the [`chunk`] model.
//!
//! The persistent part of the cache is the warm tier: [`WarmStore`] (the directory, the
//! [`index`], [`evict`]ion, statistics, verify/clean, degradation) hands out [`WarmFile`]s
//! (one memory-mapped file per track variant, [`warm`], laid out as in [`header`]). Tracks are
//! named by a [`fingerprint`] of their source.
//!
//! Threads: nothing in this crate runs on the audio thread except the renderer-side half of
//! the hot tier. Decoding, resampling and mastering run on the filler; the warm store is used
//! by the filler and control threads.
//!
//! `unsafe` code is denied everywhere but in `mmap`, the one module that touches the mapping.

#![deny(unsafe_code)]

pub mod chunk;
pub mod clock;
pub mod enhance;
pub mod error;
pub mod evict;
pub mod filler;
pub mod fingerprint;
#[doc(hidden)]
pub mod fuzzing;
pub mod header;
pub mod hot;
pub mod index;
mod mmap;
pub mod source;
pub mod stats;
pub mod store;
pub mod warm;

pub use chunk::{ChunkGeometry, ChunkKey, DEFAULT_CHUNK_FRAMES, ENGINE_CHANNELS, TrackId, Variant};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CacheError, HeaderError, SourceError};
pub use fingerprint::{Fingerprint, track_id};
pub use header::{WarmHeader, WarmLayout};
pub use source::Source;
pub use source::{DecodeReport, SourceInfo, Tags, probe};
pub use stats::{CacheStats, CounterSnapshot};
pub use store::{
    BadChunk, BadFile, CacheConfig, CleanReport, StoreStatus, VariantProgress, VerifyReport,
    WarmStore, warm_file_name,
};
pub use warm::{ChunkCheck, WarmFile};

//! hearth-cache: the chunk pipeline and the two-tier chunk cache. Three subsystems, one
//! folder each:
//!
//! * [`source`]: a file becomes engine-rate stereo `f32` frames with exact random access
//!   (symphonia decoding, container timing, channel mapping, rubato resampling), cut by the
//!   [`chunk`] model; [`enhance`] masters it.
//! * [`warm`]: the persistent tier on disk — [`WarmStore`] (directory, index, eviction,
//!   statistics, maintenance) and its memory-mapped [`WarmFile`]s.
//! * [`filler`]: the scheduler that produces chunks in priority order into the [`hot`] tier
//!   (RAM slots handed to the renderer through lock-free queues) and the warm tier.
//!
//! Threads: nothing in this crate runs on the audio thread except the renderer-side half of
//! the hot tier ([`hot::HotConsumer`]). Decoding, resampling and mastering run on the filler
//! threads; the warm store is used by the filler and control threads.
//!
//! `unsafe` code is denied everywhere but in `warm::mmap`, the one module that touches the
//! mapping.

#![deny(unsafe_code)]

pub mod chunk;
pub mod clock;
pub mod enhance;
pub mod error;
pub mod filler;
#[doc(hidden)]
pub mod fuzzing;
pub mod hot;
pub mod source;
pub mod warm;

pub use chunk::{ChunkGeometry, DEFAULT_CHUNK_FRAMES, ENGINE_CHANNELS, TrackId, Variant};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CacheError, HeaderError, SourceError};
pub use source::Source;
pub use source::{CoverArt, DecodeReport, SourceInfo, Tags, cover_art, probe};
pub use warm::fingerprint::{Fingerprint, track_id};
pub use warm::header::{WarmHeader, WarmLayout};
pub use warm::stats::{CacheStats, CounterSnapshot};
pub use warm::store::{
    BadChunk, BadFile, CacheConfig, CleanReport, StoreStatus, VariantProgress, VerifyReport,
    WarmFootprint, WarmHold, WarmStore, warm_file_name,
};
pub use warm::{ChunkCheck, WarmFile};

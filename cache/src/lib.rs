//! hearth-cache: the chunk pipeline and the two-tier chunk cache.
//!
//! A source file becomes engine-rate stereo `f32` chunks here: [`decode`] (symphonia, with
//! frame-exact random access), [`downmix`] (channel mapping to stereo), [`resample`] (rubato's
//! FFT resampler on a fixed block grid) and [`source`] (random access that equals a
//! front-to-back pass), cut by the [`chunk`] model.
//!
//! Threads: nothing in this crate runs on the audio thread except the renderer-side half of
//! the hot tier. Decoding, resampling and mastering run on the filler.

pub mod chunk;
pub mod decode;
pub mod downmix;
pub mod error;
pub mod mp4;
pub mod resample;
pub mod source;

pub use chunk::{ChunkGeometry, ChunkKey, DEFAULT_CHUNK_FRAMES, ENGINE_CHANNELS, TrackId, Variant};
pub use decode::{DecodeReport, SourceInfo, Tags, probe};
pub use error::SourceError;
pub use source::Source;

//! Hearth: a real-time audio playback engine with a two-tier chunk cache and auto-mastering.
//!
//! This facade re-exports the public API of the workspace crates; applications (the `hearth`
//! binary among them) depend on this crate alone.
//!
//! * [`Source`] turns an audio file into engine-rate stereo `f32` frames with exact random
//!   access; [`probe`] describes a file without decoding it.
//! * [`enhance`] analyses a track and renders its enhanced (mastered) variant with a
//!   [`Preset`]; [`intensity`] mixes it with the original.

pub use hearth_cache::enhance;
pub use hearth_cache::{
    ChunkGeometry, ChunkKey, DEFAULT_CHUNK_FRAMES, DecodeReport, ENGINE_CHANNELS, Source,
    SourceError, SourceInfo, Tags, TrackId, Variant, probe,
};
pub use hearth_dsp::{Chain, ChainParams, Preset, TrackAnalysis, UnknownPreset, intensity};

/// Helpers around time and frame counts.
pub mod time {
    pub use hearth_cache::decode::frames_to_duration;
    pub use hearth_cache::source::engine_frames;
}

//! Hearth: a real-time audio playback engine with a two-tier chunk cache and auto-mastering.
//!
//! This facade re-exports the public API of the workspace crates; applications (the `hearth`
//! binary among them) depend on this crate alone.
//!
//! * [`Engine`] is the player: a control handle usable from any thread (`load`, `enqueue`,
//!   `play`, `seek`, `set_enhancement`, `set_preset`, …) and a stream of [`Event`]s. Build it
//!   with [`Engine::builder`] for a device, the null sink or a WAV recorder
//!   ([`output::OutputSpec`]), or offline ([`OfflineRenderer`]).
//!
//! * [`Source`] turns an audio file into engine-rate stereo `f32` frames with exact random
//!   access; [`probe`] describes a file without decoding it.
//! * [`enhance`] analyses a track and renders its enhanced (mastered) variant with a
//!   [`Preset`]; [`intensity`] mixes it with the original.

pub use hearth_cache::enhance;
pub use hearth_cache::{
    ChunkGeometry, CoverArt, DEFAULT_CHUNK_FRAMES, DecodeReport, ENGINE_CHANNELS, Source,
    SourceError, SourceInfo, Tags, TrackId, Variant, cover_art, probe,
};
pub use hearth_dsp::{Chain, ChainParams, Preset, TrackAnalysis, UnknownPreset, intensity};
pub use hearth_engine::Engine;
pub use hearth_engine::run_at_lowest_priority;
pub use hearth_engine::{
    EngineBuilder, EngineConfig, EngineError, EntryId, EntryStatus, Event, Normalize,
    OfflineRenderer, QueueEntry, Renderer, Telemetry, TrackMeta, Transport, UnknownNormalize,
    output,
};

/// The cache: configuration, statistics and maintenance.
pub mod cache {
    pub use hearth_cache::filler::{FillerConfig, WarmProgress, warm_track, warm_track_on};
    pub use hearth_cache::warm::fit;
    pub use hearth_cache::warm::store::WARM_DIR;
    pub use hearth_cache::warm::unlinked::{Unlinked, held_by_processes};
    pub use hearth_cache::{
        CacheConfig, CacheStats, CleanReport, CounterSnapshot, Fingerprint, StoreStatus,
        VerifyReport, WarmFootprint, WarmHold, WarmStore,
    };
}

/// Helpers around time and frame counts.
pub mod time {
    pub use hearth_cache::source::engine_frames;
    pub use hearth_cache::source::frames_to_duration;
}

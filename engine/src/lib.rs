//! hearth-engine: the real-time engine.
//!
//! * [`Engine`] — the control handle (`Clone + Send + Sync`), usable from any thread: `load`,
//!   `enqueue`, `play`, `pause`, `toggle_pause`, `stop`, `seek`, `seek_relative`, `next`,
//!   `previous`, `set_enhancement`, `set_preset`, `set_intensity`, `set_volume`, queue
//!   inspection, and [`Engine::events`], a stream of [`Event`]s (position, track started/ended,
//!   buffering and recovered, cache progress per track, underruns, device changes, errors);
//! * [`Renderer`] — the only thing on the audio thread (`Send + 'static`): never allocates,
//!   frees, locks, blocks, logs or makes a system call (enforced by a test with a checking
//!   allocator);
//! * [`output`] — where the audio goes: a cpal device, or the null sink or WAV recorder (both
//!   paced in real time like a device); [`OfflineRenderer`] renders as fast as asked.
//!
//! The folders answer "which thread": [`control`] (the caller's threads), `audio` (the audio
//! thread: the renderer and what it reads and writes), `background` (the engine's own threads:
//! `hearth-filler` and the `hearth-warmer`s (one per core but one) step the fillers, `hearth-events` pumps events and
//! supervises the output), [`output`] (where the audio goes: device, null sink, WAV).
//!
//! ```
//! use std::time::Duration;
//! use hearth_engine::{EngineBuilder, Event, Preset};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let cache = tempfile::tempdir()?;
//! // Offline: render as fast as we ask (a real-time engine is
//! // `EngineBuilder::new().build(OutputSpec::Device { name: None })`).
//! let (engine, mut output) = EngineBuilder::new()
//!     .rate(48_000)
//!     .cache_dir(cache.path())
//!     .enhancement(true, Preset::Warm, 0.8)
//!     .build_offline()?;
//! let events = engine.events();
//! engine.enqueue(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fixtures/vorbis.ogg"))?;
//! engine.play()?;
//!
//! let mut buffer = vec![0.0f32; 512 * 2]; // interleaved stereo
//! output.render(&mut buffer);
//! engine.seek(Duration::from_millis(1500))?; // takes effect in the next render call
//! engine.set_preset(Preset::Punchy);
//! for _ in 0..20 {
//!     output.render(&mut buffer);
//! }
//! let (_, position) = engine.position().expect("playing");
//! assert!(position > Duration::from_millis(1500));
//! assert!(events.try_iter().any(|e| matches!(e, Event::Seeked { .. })));
//! # Ok(())
//! # }
//! ```

mod audio;
mod background;
pub mod control;
mod error;
mod event;
pub mod output;

pub use audio::{Renderer, Transport};
pub use background::run_at_lowest_priority;
pub use control::{
    Engine, EngineBuilder, EngineConfig, EntryId, EntryStatus, Normalize, OfflineRenderer,
    QueueEntry, Telemetry, TrackMeta, UnknownNormalize,
};
pub use error::EngineError;
pub use event::Event;
pub use hearth_dsp::Preset;

// The control handle is shared across threads; the renderer moves to the audio thread.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    const fn moved<T: Send + 'static>() {}
    shared::<Engine>();
    moved::<Renderer>();
    moved::<OfflineRenderer>();
};

/// Unit tests check real-time code with `assert_no_alloc` (violations are counted, not fatal,
/// with the dev-dependency's `warn_debug`).
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

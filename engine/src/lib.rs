//! hearth-engine: the real-time engine.
//!
//! * [`Engine`] — the control handle (`Clone + Send + Sync`), usable from any thread;
//! * [`Renderer`] — the only thing on the audio thread (`Send + 'static`);
//! * [`Event`] — what happened, as a stream;
//! * [`output`] — where the audio goes (a cpal device, a paced null sink or WAV recorder),
//!   and [`OfflineRenderer`] for rendering as fast as possible.

mod command;
mod driver;
mod engine;
mod error;
mod event;
pub mod output;
mod queue;
mod realtime;
mod renderer;
mod shared;

pub use engine::{Engine, EngineBuilder, EngineConfig, OfflineRenderer};
pub use error::EngineError;
pub use event::Event;
pub use queue::{EntryId, EntryStatus, QueueEntry, TrackMeta};
pub use renderer::Renderer;
pub use shared::Transport;

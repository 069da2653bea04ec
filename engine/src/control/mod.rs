//! The control side: what applications call, on their own threads.
//!
//! * [`engine`]: the [`Engine`] handle (`Clone + Send + Sync`) — queue, transport, seeks,
//!   enhancement, volume, events;
//! * [`builder`]: configuration and the three ways to run an engine (output, own callback,
//!   offline);
//! * [`state`]: the state behind the control lock and the operations shared by every caller
//!   and the event pump (a jump, the next entry, the fillers' plan);
//! * [`queue`]: the play queue and the rule for what plays next;
//! * [`controls`]: the "latest value wins" parameters, written here only.
//!
//! A seek, followed through the folders: `Engine::seek` ([`engine`]) →
//! `Inner::jump` ([`state`]: the fillers' plan first, then `Command::Jump`) →
//! `Renderer::try_jump` (`audio::renderer`, once the target's slots have arrived) →
//! `RtEvent::JumpDone` → the pump (`background::pump`) → `Event::Seeked`.
//!
//! Runs on: the caller's thread (any thread); nothing here blocks on audio.

pub(crate) mod builder;
pub(crate) mod controls;
pub(crate) mod engine;
pub(crate) mod loudness;
pub(crate) mod queue;
pub(crate) mod state;

pub use builder::{EngineBuilder, EngineConfig, OfflineRenderer};
pub use engine::{Engine, Telemetry};
pub use loudness::{Normalize, UnknownNormalize};
pub use queue::{EntryId, EntryStatus, QueueEntry, TrackMeta};

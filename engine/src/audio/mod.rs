//! The audio thread: the [`Renderer`] and what it reads and writes.
//!
//! Everything here runs inside the audio callback (or an offline render loop) and is bound by
//! the real-time contract: no allocation, no freeing, no lock, no blocking, no logging, no
//! system call. The renderer's inputs and outputs, each by its meaning:
//!
//! * [`command`]: ordered commands (play, pause, jump, next) through a bounded SPSC queue;
//! * `Controls` (in `control`): "latest value wins" parameters through atomics;
//! * [`held`]: the hot slots it holds, received from and returned to the filler through the
//!   hot tier's lock-free queues;
//! * [`readings`]: what it reports (position, transport, counters) through atomics written
//!   here only; events leave through another SPSC queue (`RtEvent`).
//!
//! The renderer itself: [`renderer`] (commands, jumps, preset switches, frame by frame),
//! `transitions` (jumps, preset switches, track crossfades), `run` (steady stretches in one
//! go), [`voice`] (one entry being played), [`ramp`] (gains that never click, the crossfade
//! law).

pub(crate) mod command;
pub(crate) mod held;
pub(crate) mod ramp;
pub(crate) mod readings;
pub(crate) mod renderer;
mod run;
#[cfg(test)]
mod tests;
mod transitions;
pub(crate) mod voice;

pub use readings::Transport;
pub use renderer::Renderer;

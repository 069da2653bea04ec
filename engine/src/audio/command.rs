//! Ordered commands from the control side to the renderer, through a bounded SPSC queue.
//!
//! Every command is `Copy` and small: pushing and popping moves a few words, never allocates.
//!
//! Runs on: pushed by the control side (under its lock), popped by the audio thread.

/// A move of playback to `frame` of `entry`: a seek (same entry) or a jump to another track.
/// One value from the control side's request to the renderer's pending jump and the filler's
/// target; `generation` counts them, so "done" and "still pending" can be told apart.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Jump {
    /// The queue entry.
    pub entry: u64,
    /// Engine frame.
    pub frame: u64,
    /// The engine's count of jumps when this one was asked for.
    pub generation: u64,
}

/// A command for the renderer.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum Command {
    /// Start or resume (fades in).
    Play,
    /// Pause (fades out, holds the position).
    Pause,
    /// Stop: fade out, then rewind the current track to its start.
    Stop,
    /// Play from a new place: crossfades when audio is playing; waits for the target's audio
    /// (keeps playing until it arrives).
    Jump(Jump),
    /// The queue entry that follows `after` (gapless), or none (the queue ends after it).
    SetNext {
        /// The entry whose successor this is.
        after: u64,
        /// The successor.
        next: Option<u64>,
    },
    /// Forget everything: stop and return every slot.
    Clear,
}

/// Capacity of the command queue. A full queue is an error for the caller, never a wait on
/// the audio thread.
pub(crate) const COMMAND_QUEUE: usize = 256;

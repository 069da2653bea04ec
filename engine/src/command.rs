//! Ordered commands from the control side to the renderer, through a bounded SPSC queue.
//!
//! Every command is `Copy` and small: pushing and popping moves a few words, never allocates.

/// A command for the renderer.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Command {
    /// Start or resume (fades in).
    Play,
    /// Pause (fades out, holds the position).
    Pause,
    /// Stop: fade out, then rewind the current track to its start.
    Stop,
    /// Play `entry` from `frame`: a seek (same entry) or a jump to another track. Crossfades
    /// when audio is playing; waits for the target's audio (keeps playing until it arrives).
    Jump {
        /// The queue entry.
        entry: u64,
        /// Engine frame.
        frame: u64,
        /// The engine's generation for this jump.
        generation: u64,
    },
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
pub const COMMAND_QUEUE: usize = 256;

//! The engine's errors.

use crate::control::queue::EntryId;
use crate::output::OutputError;

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The configuration cannot work.
    #[error("bad configuration: {0}")]
    Config(String),
    /// There is nothing in the queue to play.
    #[error("nothing to play: the queue is empty")]
    NothingToPlay,
    /// No such queue entry.
    #[error("no queue entry {0}")]
    NoSuchEntry(EntryId),
    /// The queue cannot take more entries.
    #[error("the queue is full")]
    QueueFull,
    /// The renderer's command queue is full (commands are arriving faster than audio callbacks).
    #[error("the engine is busy (command queue full)")]
    Busy,
    /// The output could not be opened.
    #[error("output: {0}")]
    Output(#[from] OutputError),
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

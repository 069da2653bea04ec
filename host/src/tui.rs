//! The interactive terminal player (being written).

use hearth::{Engine, Event};

use crate::config::Settings;
use crate::failure::Failure;

/// Runs the terminal UI until the listener quits.
pub fn run(
    engine: &Engine,
    events: &crossbeam_channel::Receiver<Event>,
    _settings: &Settings,
) -> Result<(), Failure> {
    // Until the UI exists: play headless.
    let _ = events;
    engine.play().map_err(|e| Failure::other("play", e))?;
    Err(Failure::Other(
        "the terminal UI is not built yet; use --json".into(),
    ))
}

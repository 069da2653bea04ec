//! hearth-engine: the real-time engine.
//!
//! (Work in progress: the renderer, control handle and events follow; `output` holds the sinks.)

pub mod output;

//! The engine's own threads, between the control side and the audio thread.
//!
//! * [`driver`]: turns the control side's plan and the renderer's readings into the fillers'
//!   demand and steps the fillers (`hearth-filler` for the hot tier, `hearth-warmer`,
//!   `hearth-warmer-1`… — one per core but one — for background warming);
//! * [`pump`]: turns what the renderer and the fillers report into events (`hearth-events`);
//! * [`supervisor`]: watches the output from the pump's thread; moves to the null sink when the
//!   device is lost and back when it returns ([`reconnect`]: when to try), follows the
//!   system's default device.
//!
//! A chunk, followed through the folders: the driver's demand (`driver`) → the filler's plan
//! and production (`hearth_cache::filler`) → a hot slot through the hot tier's queue →
//! `Held` (`audio::held`) → `Renderer::render` (`audio::renderer`).
//!
//! Runs on: the engine's background threads (or, offline, the caller's thread between render
//! calls). Never the audio thread.

pub(crate) mod driver;
pub(crate) mod pump;
pub(crate) mod reconnect;
pub(crate) mod supervisor;

/// Puts the calling thread (and the threads it starts) at the lowest priority of normal
/// threads (nice 19 on Linux): it yields to the hot filler and the audio thread. Not
/// `SCHED_IDLE`, which runs a thread only on a core nothing else wants: with it, bench runs
/// counted up to 10 underruns and 22 ms cold seeks — probably a warmer holding a lock the hot
/// filler needs (the store's) while it waited for an idle core.
pub fn run_at_lowest_priority() {
    let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
}

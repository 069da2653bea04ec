//! The engine's own threads, between the control side and the audio thread.
//!
//! * [`driver`]: turns the control side's plan and the renderer's readings into the fillers'
//!   demand and steps the fillers (`hearth-filler` for the hot tier, `hearth-warmer`,
//!   `hearth-warmer-1`… — one per core — for background warming);
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

/// Puts the calling thread (and the threads it starts) at the lowest priority there is: on
/// Linux `SCHED_IDLE`, which runs only on a core no other thread wants and gives way at once
/// (a nice value of 19 still takes its share of a busy core: with a warmer per core, seeks
/// came late and the audio thread missed callbacks); elsewhere the lowest nice value.
pub fn run_at_lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let min = thread_priority::ThreadPriority::Min;
        if set_thread_priority_and_policy(thread_native_id(), min, idle).is_ok() {
            return;
        }
    }
    let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
}

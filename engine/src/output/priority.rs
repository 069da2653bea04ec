//! Real-time scheduling for the threads that stand in for a device's audio thread.
//!
//! An audio server runs its clients' audio threads at real-time priority (PulseAudio and
//! PipeWire through rtkit, CoreAudio and WASAPI by design; cpal's ALSA and WASAPI threads
//! through its `realtime` feature, which the engine enables), so that a busy machine delays
//! everything else first. The paced null and WAV sinks do the same for their pacing thread,
//! so that a session into them behaves as it would on a device; an embedder driving the
//! renderer from a thread of their own can call [`promote_audio_thread`] there. Best effort:
//! without the privilege (an unprivileged user without rtprio), the thread keeps its normal
//! priority.
//!
//! Runs on: the pacing thread (or the embedder's audio thread), once, before its first
//! callback — it makes system calls.

use thread_priority::{
    RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
};

/// Moderate real-time priority: above normal threads, below the kernel's own (and below what
/// audio servers give themselves).
const RT_PRIORITY: u8 = 40;

/// Raises the calling thread to real-time FIFO scheduling, or else to the highest normal
/// priority it may take. Never fails. Call it once, before the first callback — not inside
/// one.
pub fn promote_audio_thread() {
    #[cfg(unix)]
    {
        let id = thread_priority::thread_native_id();
        if let Ok(v) = ThreadPriorityValue::try_from(RT_PRIORITY) {
            let rt = thread_priority::set_thread_priority_and_policy(
                id,
                ThreadPriority::Crossplatform(v),
                ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
            );
            if rt.is_ok() {
                tracing::debug!("audio thread: real-time FIFO scheduling");
                return;
            }
        }
    }
    match thread_priority::set_current_thread_priority(ThreadPriority::Max) {
        Ok(()) => tracing::debug!("audio thread: highest normal priority"),
        Err(e) => tracing::debug!("audio thread: default priority ({e:?})"),
    }
}

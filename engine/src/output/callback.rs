//! What an output drives ([`AudioCallback`]) and how a running sink holds it ([`CallbackSlot`]).
//!
//! The engine hands its renderer to a sink as a `Box<dyn AudioCallback>` and must get the very
//! same object back when the sink stops (to restart it on another device after a loss, or on
//! the null sink). The source lives inside the sink's audio closure or pacing thread, which the
//! engine cannot reach, so the hand-over runs through two one-slot channels:
//!
//! - **in**: an [`rtrb`] ring of capacity 1. `start` pushes the source only once the stream or
//!   thread is running, so a failure before that point still has the source in hand and can
//!   give it back. The audio side pops it on its next callback (lock-free, no allocation).
//! - **back**: [`CallbackSlot`]'s `Drop` sends the source (or the one still waiting in the ring)
//!   through a crossbeam channel. The slot is dropped when the closure or thread is dropped —
//!   on cpal's worker thread for a device, when the pacing thread ends for the null and WAV
//!   sinks — so `stop` only has to end the stream and receive.
//!
//! Runs on: `CallbackSlot::render` on the audio (or pacing) thread; `Drop` on whichever thread
//! drops the closure (never inside a callback).

use crossbeam_channel::{Receiver, Sender};

use super::OutputNotice;

/// What an output drives: fills interleaved **stereo** `f32` at the engine rate.
///
/// Implemented by the engine's renderer. The output converts to the device's channel layout and
/// sample format on the way out.
///
/// Runs on: the audio thread (cpal's callback thread, or the null/WAV pacing thread). Must be
/// real-time safe: no allocation, no lock, no blocking, no logging, no system call.
pub trait AudioCallback: Send + 'static {
    /// Fills all of `out` (`out.len()` is even: frames × 2, interleaved L, R). Every sample must
    /// be written: the buffer holds the previous block's samples, not silence.
    ///
    /// Runs on: the audio thread.
    fn render(&mut self, out: &mut [f32]);
}

/// Any `FnMut(&mut [f32])` closure is a source: handy for tests, tools and test tones.
impl<F> AudioCallback for F
where
    F: FnMut(&mut [f32]) + Send + 'static,
{
    fn render(&mut self, out: &mut [f32]) {
        self(out);
    }
}

/// The audio-side holder of the source. See the module docs for the hand-over protocol.
pub(crate) struct CallbackSlot {
    /// The source once it has arrived from `pending`.
    source: Option<Box<dyn AudioCallback>>,
    /// Where `start` delivers the source once the sink runs.
    pending: rtrb::Consumer<Box<dyn AudioCallback>>,
    /// Where the source goes back when the slot is dropped.
    back: Sender<Box<dyn AudioCallback>>,
    /// To say "lost" if the slot is dropped by a panic unwinding through the render path.
    notices: Sender<OutputNotice>,
    /// Frames of fade-in still to apply, and the fade's length (0: none). A sink that takes
    /// over a renderer already playing (the device returning after a loss) fades in, so the
    /// music does not start mid-waveform with a click.
    fade_left: u32,
    fade_frames: u32,
}

/// The control side of a [`CallbackSlot`]: delivers the source and receives it back.
pub(crate) struct SlotHandle {
    pending: rtrb::Producer<Box<dyn AudioCallback>>,
    back: Receiver<Box<dyn AudioCallback>>,
}

impl std::fmt::Debug for SlotHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotHandle").finish_non_exhaustive()
    }
}

/// Creates an empty slot (moved to the audio side) and its handle (kept by the control side).
///
/// Runs on: control thread.
pub(crate) fn slot(
    notices: Sender<OutputNotice>,
    fade_in_frames: u32,
) -> (CallbackSlot, SlotHandle) {
    let (pending_tx, pending_rx) = rtrb::RingBuffer::new(1);
    let (back_tx, back_rx) = crossbeam_channel::bounded(1);
    (
        CallbackSlot {
            source: None,
            pending: pending_rx,
            back: back_tx,
            notices,
            fade_left: fade_in_frames,
            fade_frames: fade_in_frames,
        },
        SlotHandle {
            pending: pending_tx,
            back: back_rx,
        },
    )
}

impl CallbackSlot {
    /// Renders from the source, or writes silence while the source has not arrived yet (the
    /// first callbacks after `play`, before `start` has pushed it).
    ///
    /// Runs on: the audio thread. Lock-free: one `pop` attempt on an SPSC ring until the source
    /// has arrived, then a plain call.
    #[inline]
    pub(crate) fn render(&mut self, out: &mut [f32]) {
        if self.source.is_none() {
            self.source = self.pending.pop().ok();
        }
        match &mut self.source {
            Some(source) => {
                source.render(out);
                if self.fade_left > 0 {
                    self.fade_in(out);
                }
            }
            None => out.fill(0.0),
        }
    }

    /// Applies the rest of the fade-in (linear, from silence) to the first frames of `out`.
    ///
    /// Runs on: the audio thread (arithmetic only).
    fn fade_in(&mut self, out: &mut [f32]) {
        let total = self.fade_frames as f32;
        for frame in out.chunks_exact_mut(2) {
            if self.fade_left == 0 {
                break;
            }
            let gain = (self.fade_frames - self.fade_left) as f32 / total;
            frame[0] *= gain;
            frame[1] *= gain;
            self.fade_left -= 1;
        }
    }
}

impl CallbackSlot {
    /// Whether the source has arrived, taking it from the hand-over ring if it is there.
    ///
    /// Runs on: the audio or pacing thread (one lock-free pop).
    pub(crate) fn ready(&mut self) -> bool {
        if self.source.is_none() {
            self.source = self.pending.pop().ok();
        }
        self.source.is_some()
    }
}

impl Drop for CallbackSlot {
    /// Sends the source back to `stop`. Runs wherever the audio closure or the pacing thread is
    /// torn down: never inside a callback, so the channel send is fine here.
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The render path panicked: the stream is dead but no backend will say so.
            let _ = self.notices.try_send(OutputNotice::Lost {
                reason: "the audio thread panicked".to_owned(),
            });
        }
        let source = self.source.take().or_else(|| self.pending.pop().ok());
        if let Some(source) = source {
            // `stop` may have given up waiting and dropped the receiver; nothing else to do.
            let _ = self.back.try_send(source);
        }
    }
}

impl SlotHandle {
    /// Delivers the source to the (running) audio side.
    ///
    /// Runs on: control thread. Never fails in practice: the ring holds one item and this is
    /// the only push; should it fail, the source is handed back.
    pub(crate) fn deliver(
        &mut self,
        source: Box<dyn AudioCallback>,
    ) -> Result<(), Box<dyn AudioCallback>> {
        self.pending
            .push(source)
            .map_err(|rtrb::PushError::Full(s)| s)
    }

    /// Waits up to `timeout` for the source to come back after the audio side was torn down.
    ///
    /// Runs on: control thread.
    pub(crate) fn take_back(&self, timeout: std::time::Duration) -> Option<Box<dyn AudioCallback>> {
        self.back.recv_timeout(timeout).ok()
    }
}

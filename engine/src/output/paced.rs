//! The null and WAV sinks' pacing thread: renders like a device would ask for audio.
//!
//! A real device asks for `buffer_frames` every buffer duration, on its own clock, whatever the
//! renderer is doing. The pacing thread reproduces that, so the engine, its tests and its
//! benchmarks behave the same without a sound card: it renders one buffer, hands it to a
//! [`BlockSink`] (nothing for the null sink, the writer ring for the WAV sink), then sleeps
//! until an **absolute** deadline `start + frames_rendered / rate` — sleeping for "one period"
//! each time would add every wake-up's lateness to the clock and drift.
//!
//! Underruns: when the thread reaches a deadline more than one buffer late (the renderer or the
//! machine stalled), a device with a typical two-buffer queue would have run dry. The thread
//! counts an xrun, sends [`OutputNotice::Xrun`], and resynchronises its clock to now instead
//! of rendering a burst of buffers to catch up (a device does not replay the missed time).
//!
//! Runs on: the pacing thread ("hearth-null-sink" / "hearth-wav-sink"): render, sink, meter
//! and the Xrun notice. `spawn`/`stop` on the control thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::OutputNotice;
use super::callback::{AudioCallback, CallbackSlot, SlotHandle};
use super::stats::{CallbackMeter, OutputStats};

/// How long `stop` waits for the source to come back after the thread has been joined (it is
/// already in the channel by then; the timeout only guards against the impossible).
const RETURN_TIMEOUT: Duration = Duration::from_secs(1);

/// Receives each rendered block on the pacing thread.
pub(crate) trait BlockSink: Send + 'static {
    /// Called with each rendered interleaved stereo block.
    ///
    /// Runs on: the pacing thread, inside the measured render time. Must not block.
    fn consume(&mut self, stereo: &[f32], stats: &OutputStats);
}

/// The null sink's [`BlockSink`]: the audio goes nowhere.
#[derive(Debug)]
pub(crate) struct Discard;

impl BlockSink for Discard {
    fn consume(&mut self, _: &[f32], _: &OutputStats) {}
}

/// Duration of `frames` at `rate`, exact to the nanosecond (no accumulated rounding).
pub(crate) fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    let nanos = u128::from(frames) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A running pacing thread.
#[derive(Debug)]
pub(crate) struct PacedThread {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    handle: SlotHandle,
}

/// Everything the pacing thread owns.
struct Pacer<S> {
    rate: u32,
    buffer_frames: u32,
    slot: CallbackSlot,
    sink: S,
    meter: CallbackMeter,
    notices: Sender<OutputNotice>,
    stop: Arc<AtomicBool>,
}

/// Starts a pacing thread named `name` and delivers `source` to it once it runs; gives the
/// source back if the thread cannot be started.
///
/// Runs on: control thread.
pub(crate) fn spawn<S: BlockSink>(
    name: &str,
    rate: u32,
    buffer_frames: u32,
    sink: S,
    source: Box<dyn AudioCallback>,
    stats: Arc<OutputStats>,
    notices: Sender<OutputNotice>,
) -> Result<PacedThread, (std::io::Error, Box<dyn AudioCallback>)> {
    let (slot, mut handle) = super::callback::slot(notices.clone(), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let pacer = Pacer {
        rate,
        buffer_frames: buffer_frames.max(1),
        slot,
        sink,
        meter: CallbackMeter::new(stats, rate),
        notices,
        stop: Arc::clone(&stop),
    };
    let thread = match thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || pacer.run())
    {
        Ok(thread) => thread,
        // The closure (and the empty slot in it) is gone; the source never left our hands.
        Err(e) => return Err((e, source)),
    };
    if let Err(source) = handle.deliver(source) {
        stop.store(true, Ordering::Release);
        thread.thread().unpark();
        let _ = thread.join();
        return Err((std::io::Error::other("source hand-over ring full"), source));
    }
    // The thread waits for the source before it starts its clock.
    thread.thread().unpark();
    Ok(PacedThread {
        stop,
        thread,
        handle,
    })
}

impl PacedThread {
    /// Stops and joins the thread, then returns the source (the thread's slot sends it back
    /// as the thread ends, also if the render path panicked).
    ///
    /// Runs on: control thread. Returns within about one buffer duration.
    pub(crate) fn stop(self) -> Option<Box<dyn AudioCallback>> {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        if self.thread.join().is_err() {
            tracing::error!("the output pacing thread panicked");
        }
        self.handle.take_back(RETURN_TIMEOUT)
    }
}

impl<S: BlockSink> Pacer<S> {
    /// The thread body. The scratch buffer is allocated here, once, before the loop.
    fn run(mut self) {
        let frames = self.buffer_frames as usize;
        let mut scratch = vec![0.0f32; frames * 2];
        // Unlike a device, which needs samples from its first callback on, this sink can wait
        // for the source, so its output starts with the source's first frame (the WAV file
        // holds exactly what the source rendered) and the clock starts with it.
        while !self.slot.ready() {
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            thread::park_timeout(Duration::from_millis(10));
        }
        // Stand in for a device's audio thread in scheduling too.
        super::priority::promote_audio_thread();
        let period = frames_to_duration(u64::from(self.buffer_frames), self.rate);
        let mut base = Instant::now();
        let mut frames_since_base: u64 = 0;
        while !self.stop.load(Ordering::Acquire) {
            // The device "asks" for the next buffer at this instant.
            let deadline = base + frames_to_duration(frames_since_base, self.rate);
            if !self.sleep_until(deadline) {
                break;
            }
            let now = Instant::now();
            if now.saturating_duration_since(deadline) > period {
                // More than a buffer late: a device would have played silence by now.
                self.meter.stats().add_xrun();
                let _ = self.notices.try_send(OutputNotice::Xrun);
                base = now;
                frames_since_base = 0;
            }
            let started = Instant::now();
            // This thread stands in for a device's audio thread: the same no-allocation check.
            #[cfg(debug_assertions)]
            assert_no_alloc::assert_no_alloc(|| {
                self.slot.render(&mut scratch);
                self.sink.consume(&scratch, self.meter.stats());
            });
            #[cfg(not(debug_assertions))]
            {
                self.slot.render(&mut scratch);
                self.sink.consume(&scratch, self.meter.stats());
            }
            let render_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.meter.record(render_ns, self.buffer_frames);
            frames_since_base += u64::from(self.buffer_frames);
        }
    }

    /// Sleeps until `deadline`; returns false if asked to stop meanwhile. `park_timeout` so
    /// `stop` can cut a long sleep short with `unpark`; it may wake early, hence the loop.
    fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.stop.load(Ordering::Acquire) {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            thread::park_timeout(deadline - now);
        }
    }
}

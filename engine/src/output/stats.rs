//! Telemetry an output shares with the engine: [`OutputStats`].
//!
//! The audio thread writes, the engine reads. Counters are plain atomics (telemetry is "latest
//! value wins", so `Relaxed` is enough: no other memory is published through them). Per-callback
//! timing samples, which the engine turns into percentiles, go through an [`rtrb`] SPSC ring:
//! the audio side owns the producer while a sink runs (taken at start, put back when the sink's
//! audio side is torn down, so a restarted sink continues the same series); the reading side
//! sits behind a mutex because it is never the audio thread.
//!
//! Runs on: [`CallbackMeter::record`] on the audio thread (atomics and one ring push, no
//! allocation or lock); every `OutputStats` method on any other thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// Timing samples kept when nobody drains them: ~87 s of 512-frame callbacks at 48 kHz.
const DEFAULT_TIMING_CAPACITY: usize = 8192;

/// Shared counters of one output (or of a series of outputs the engine restarts with the same
/// `Arc`): underruns, callbacks, frames, render time and load. Atomics only on the audio side.
pub struct OutputStats {
    callbacks: AtomicU64,
    frames: AtomicU64,
    /// Underruns the backend reported (`ErrorKind::Xrun`), or the pacing thread detected.
    xruns: AtomicU64,
    /// Device callbacks that came more than 1.5 buffers after the previous one.
    late_callbacks: AtomicU64,
    /// Longest spacing between two device callbacks once the stream had settled.
    callback_gap_ns_max: AtomicU64,
    render_ns_last: AtomicU64,
    render_ns_max: AtomicU64,
    /// Render time / callback duration, in parts per million.
    load_ppm_last: AtomicU32,
    load_ppm_max: AtomicU32,
    last_callback_frames: AtomicU32,
    timings_dropped: AtomicU64,
    /// Frames the WAV sink could not hand to its writer (ring full: the disk is too slow).
    frames_dropped: AtomicU64,
    timing_writer: Mutex<Option<rtrb::Producer<(u32, u32)>>>,
    timing_reader: Mutex<rtrb::Consumer<(u32, u32)>>,
}

impl std::fmt::Debug for OutputStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputStats")
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}

impl Default for OutputStats {
    fn default() -> Self {
        Self::new()
    }
}

/// A copy of every counter at one moment, for display and events.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OutputStatsSnapshot {
    /// `xruns + late_callbacks`.
    pub underruns: u64,
    /// Underruns reported by the backend or detected by the pacing thread.
    pub xruns: u64,
    /// Device callbacks that came late enough for the device to run dry.
    pub late_callbacks: u64,
    /// Longest spacing between two device callbacks once the stream had settled, ns (stream
    /// time; 0 for the null/WAV sinks).
    pub callback_gap_ns_max: u64,
    /// Callbacks (device) or buffers (null/WAV) rendered.
    pub callbacks: u64,
    /// Frames rendered.
    pub frames: u64,
    /// Render + convert time of the last callback, ns.
    pub render_ns_last: u64,
    /// Longest render + convert time seen, ns (since start or the last `take_render_ns_max`).
    pub render_ns_max: u64,
    /// Render time / callback duration of the last callback (1.0 = the whole budget).
    pub load_last: f32,
    /// Highest load seen.
    pub load_max: f32,
    /// Frames in the last callback.
    pub last_callback_frames: u32,
    /// Timing samples dropped because the ring was full.
    pub timings_dropped: u64,
    /// Frames the WAV sink dropped because its writer fell behind.
    pub frames_dropped: u64,
}

impl OutputStats {
    /// Stats with room for 8192 undrained timing samples.
    ///
    /// Runs on: control thread (allocates).
    pub fn new() -> Self {
        Self::with_timing_capacity(DEFAULT_TIMING_CAPACITY)
    }

    /// Stats with room for `capacity` undrained timing samples (at least 1).
    ///
    /// Runs on: control thread (allocates).
    pub fn with_timing_capacity(capacity: usize) -> Self {
        let (writer, reader) = rtrb::RingBuffer::new(capacity.max(1));
        Self {
            callbacks: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            xruns: AtomicU64::new(0),
            late_callbacks: AtomicU64::new(0),
            callback_gap_ns_max: AtomicU64::new(0),
            render_ns_last: AtomicU64::new(0),
            render_ns_max: AtomicU64::new(0),
            load_ppm_last: AtomicU32::new(0),
            load_ppm_max: AtomicU32::new(0),
            last_callback_frames: AtomicU32::new(0),
            timings_dropped: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            timing_writer: Mutex::new(Some(writer)),
            timing_reader: Mutex::new(reader),
        }
    }

    /// Underruns: backend-reported xruns (and late wake-ups of the null/WAV pacing thread) plus
    /// late device callbacks. An xrun and the late callback it causes count once.
    pub fn underruns(&self) -> u64 {
        self.xruns() + self.late_callbacks()
    }

    /// Underruns the backend reported through its error callback, or that the null/WAV pacing
    /// thread detected (it woke more than a buffer late).
    pub fn xruns(&self) -> u64 {
        self.xruns.load(Relaxed)
    }

    /// Device callbacks spaced more than 1.5 buffer durations after the previous one, once the
    /// stream had settled (see `device.rs`), not already counted as an xrun.
    pub fn late_callbacks(&self) -> u64 {
        self.late_callbacks.load(Relaxed)
    }

    /// Longest spacing between two device callbacks once the stream had settled, ns, by the
    /// stream's clock: how close the device came to running dry (compare with the buffer
    /// duration). 0 for the null/WAV sinks.
    pub fn callback_gap_ns_max(&self) -> u64 {
        self.callback_gap_ns_max.load(Relaxed)
    }

    /// Callbacks (device) or buffers (null/WAV) rendered.
    pub fn callbacks(&self) -> u64 {
        self.callbacks.load(Relaxed)
    }

    /// Frames rendered.
    pub fn frames(&self) -> u64 {
        self.frames.load(Relaxed)
    }

    /// Render + convert time of the last callback, ns.
    pub fn render_ns_last(&self) -> u64 {
        self.render_ns_last.load(Relaxed)
    }

    /// Longest render + convert time seen, ns.
    pub fn render_ns_max(&self) -> u64 {
        self.render_ns_max.load(Relaxed)
    }

    /// Returns the longest render time and resets it, so a periodic reader gets a max per
    /// interval. Resets the max load too.
    pub fn take_render_ns_max(&self) -> u64 {
        self.load_ppm_max.store(0, Relaxed);
        self.render_ns_max.swap(0, Relaxed)
    }

    /// Render time / callback duration of the last callback (1.0 = the whole time budget).
    pub fn load_last(&self) -> f32 {
        self.load_ppm_last.load(Relaxed) as f32 / 1e6
    }

    /// Highest load seen (since start or the last `take_render_ns_max`).
    pub fn load_max(&self) -> f32 {
        self.load_ppm_max.load(Relaxed) as f32 / 1e6
    }

    /// Frames the WAV sink dropped because its writer thread fell behind.
    pub fn frames_dropped(&self) -> u64 {
        self.frames_dropped.load(Relaxed)
    }

    /// Timing samples dropped because nobody drained the ring in time.
    pub fn timings_dropped(&self) -> u64 {
        self.timings_dropped.load(Relaxed)
    }

    /// Moves the per-callback timing samples `(render ns, callback frames)` recorded since the
    /// last drain into `out` (appending) and returns how many were moved.
    ///
    /// Runs on: any thread but the audio thread (takes a mutex; may grow `out`).
    pub fn drain_timings(&self, out: &mut Vec<(u32, u32)>) -> usize {
        let mut reader = self.timing_reader.lock();
        let n = reader.slots();
        out.reserve(n);
        for _ in 0..n {
            match reader.pop() {
                Ok(sample) => out.push(sample),
                Err(_) => break,
            }
        }
        n
    }

    /// All counters at once.
    pub fn snapshot(&self) -> OutputStatsSnapshot {
        OutputStatsSnapshot {
            underruns: self.underruns(),
            xruns: self.xruns(),
            late_callbacks: self.late_callbacks(),
            callback_gap_ns_max: self.callback_gap_ns_max(),
            callbacks: self.callbacks(),
            frames: self.frames(),
            render_ns_last: self.render_ns_last(),
            render_ns_max: self.render_ns_max(),
            load_last: self.load_last(),
            load_max: self.load_max(),
            last_callback_frames: self.last_callback_frames.load(Relaxed),
            timings_dropped: self.timings_dropped(),
            frames_dropped: self.frames_dropped(),
        }
    }

    /// Counts one xrun. Runs on: the backend's error callback or a pacing thread.
    pub(crate) fn add_xrun(&self) {
        self.xruns.fetch_add(1, Relaxed);
    }

    /// Counts one late callback. Runs on: the audio thread (one atomic add).
    pub(crate) fn add_late_callback(&self) {
        self.late_callbacks.fetch_add(1, Relaxed);
    }

    /// Records the spacing of two settled device callbacks. Runs on: the audio thread.
    pub(crate) fn note_callback_gap(&self, gap_ns: u64) {
        self.callback_gap_ns_max.fetch_max(gap_ns, Relaxed);
    }

    /// Counts frames the WAV sink dropped. Runs on: the pacing thread (one atomic add).
    pub(crate) fn add_frames_dropped(&self, frames: u64) {
        self.frames_dropped.fetch_add(frames, Relaxed);
    }
}

/// The audio side's recorder: owns the timing ring's producer while a sink runs.
///
/// Runs on: the audio thread (`record`); `Drop` on whichever thread tears the sink down.
pub(crate) struct CallbackMeter {
    stats: Arc<OutputStats>,
    timings: Option<rtrb::Producer<(u32, u32)>>,
    rate: u64,
}

impl CallbackMeter {
    /// Takes the timing producer out of `stats`. If another sink still holds it (two outputs
    /// running on the same stats at once), this one records counters but no timing samples.
    ///
    /// Runs on: control thread (takes a mutex once, at sink start).
    pub(crate) fn new(stats: Arc<OutputStats>, rate: u32) -> Self {
        let timings = stats.timing_writer.lock().take();
        Self {
            stats,
            timings,
            rate: u64::from(rate.max(1)),
        }
    }

    /// The shared stats.
    pub(crate) fn stats(&self) -> &OutputStats {
        &self.stats
    }

    /// Records one callback: `render_ns` spent rendering + converting `frames` frames.
    ///
    /// Runs on: the audio thread. Atomics and one SPSC push only.
    #[inline]
    pub(crate) fn record(&mut self, render_ns: u64, frames: u32) {
        let s = &*self.stats;
        s.callbacks.fetch_add(1, Relaxed);
        s.frames.fetch_add(u64::from(frames), Relaxed);
        s.render_ns_last.store(render_ns, Relaxed);
        s.render_ns_max.fetch_max(render_ns, Relaxed);
        s.last_callback_frames.store(frames, Relaxed);
        // load = render_ns / (frames / rate · 1e9); in ppm: render_ns · rate / (frames · 1000).
        let ppm = render_ns.saturating_mul(self.rate) / (u64::from(frames.max(1)) * 1000);
        let ppm = u32::try_from(ppm).unwrap_or(u32::MAX);
        s.load_ppm_last.store(ppm, Relaxed);
        s.load_ppm_max.fetch_max(ppm, Relaxed);
        if let Some(timings) = &mut self.timings {
            let ns = u32::try_from(render_ns).unwrap_or(u32::MAX);
            if timings.push((ns, frames)).is_err() {
                s.timings_dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

impl Drop for CallbackMeter {
    /// Puts the timing producer back so the next sink on the same stats continues the series.
    fn drop(&mut self) {
        if let Some(timings) = self.timings.take() {
            *self.stats.timing_writer.lock() = Some(timings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_records_counters_load_and_timings() {
        let stats = Arc::new(OutputStats::with_timing_capacity(2));
        let mut meter = CallbackMeter::new(Arc::clone(&stats), 48_000);
        // 512 frames at 48 kHz = 10.667 ms; 1.0667 ms of render = 10 % load.
        meter.record(1_066_667, 512);
        meter.record(100, 512);
        meter.record(5, 512); // ring of 2: dropped
        assert_eq!(stats.callbacks(), 3);
        assert_eq!(stats.frames(), 1536);
        assert_eq!(stats.render_ns_max(), 1_066_667);
        assert_eq!(stats.render_ns_last(), 5);
        assert!(
            (stats.load_max() - 0.1).abs() < 1e-4,
            "{}",
            stats.load_max()
        );
        assert_eq!(stats.timings_dropped(), 1);
        let mut out = Vec::new();
        assert_eq!(stats.drain_timings(&mut out), 2);
        assert_eq!(out, vec![(1_066_667, 512), (100, 512)]);
        // The producer goes back on drop; a new meter continues the series.
        drop(meter);
        let mut meter = CallbackMeter::new(Arc::clone(&stats), 48_000);
        meter.record(7, 256);
        out.clear();
        stats.drain_timings(&mut out);
        assert_eq!(out, vec![(7, 256)]);
        assert_eq!(stats.take_render_ns_max(), 1_066_667);
        assert_eq!(stats.render_ns_max(), 0);
    }
}

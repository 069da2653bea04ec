//! The cpal device sink: the data and error callbacks and the stream's life; choosing the
//! device and its configuration is [`negotiate`], listing devices [`list`].
//!
//! **Negotiation** (control thread, before the engine is built, because the engine rate is the
//! device rate): the default host's default output device, or the first whose name or id
//! matches (case-insensitive, exact before substring). Among the device's PCM configurations:
//! the requested rate if supported, else the device's default rate unless that is unusual for
//! music (then 48 kHz, then 44.1 kHz); 2 channels if possible, else the fewest above 2, else
//! mono; the highest-resolution sample format (floats first); the requested buffer size
//! clamped into the supported range, else the backend's default.
//!
//! **Data callback** (cpal's audio thread, e.g. "cpal_alsa_out"): renders stereo `f32` into a
//! scratch buffer allocated up front (in pieces if the device asks for more than it holds),
//! maps to the device channels and converts to the device format (`convert.rs`), and records
//! the render time. It detects late callbacks from the stream timestamps: once the stream has
//! settled (8 on-time callbacks in a row, which skips the start-up burst and pause of servers
//! like PulseAudio), a callback more than 1.5 buffer durations after the previous one, and
//! later than the audio the device still had queued, means it has likely played silence
//! (see [`LateDetector`]). Built with `build_output_stream_raw` so every sample format
//! is handled without the typed builder's `expect`. No allocation, lock, log or channel send:
//! only atomics (checked by `assert_no_alloc` in debug builds when the binary installs its
//! allocator).
//!
//! **Error callback** (also cpal's thread, but not the real-time path): `Xrun` is counted and
//! sent as [`OutputNotice::Xrun`]; `DeviceNotAvailable`, `StreamInvalidated` and
//! `HostUnavailable` become one [`OutputNotice::Lost`], and so does `BackendError` once it has
//! persisted for [`LOST_AFTER`] without a data callback (see [`ErrorRun`]: start-up bursts of
//! such errors are transient); `DeviceChanged` (the backend followed a new default device)
//! becomes [`OutputNotice::Changed`]. The engine reacts on its own thread.
//!
//! **Stop** (control thread): the stream is dropped on a helper thread, because a backend whose
//! server died may block in teardown; the source comes back through the slot's channel when
//! cpal drops the data closure (on ALSA when the worker thread exits). `stop` waits at most
//! [`STOP_TIMEOUT`] and never hangs.

mod list;
mod negotiate;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, Data, ErrorKind, OutputCallbackInfo, SampleFormat, StreamConfig};
use crossbeam_channel::Sender;

use super::callback::{AudioCallback, CallbackSlot, SlotHandle};
use super::convert::{DeviceSample, Dither, write_frames};
use super::rate::RateConverter;
use super::stats::{CallbackMeter, OutputStats};
use super::{OutputError, OutputNotice};

pub use list::{DeviceDescription, SupportedConfig, list_devices};
pub(crate) use negotiate::{DeviceChoice, default_device_id, negotiate};
use negotiate::{device_name, quiet_backend};

/// Stereo frames rendered per piece: more than any device asks for in one callback in
/// practice (16384 frames = 341 ms at 48 kHz); larger callbacks are rendered in pieces.
pub(crate) const SCRATCH_FRAMES: usize = 16_384;
/// How long `stop` waits for the source to come back from cpal.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Fade-in when a stream takes over a renderer that is already playing (the device returning
/// after a loss), ms.
const FADE_IN_MS: u32 = 10;
/// On-time callbacks in a row before late callbacks count as underruns.
const ARM_AFTER: u32 = 8;
pub(super) fn backend(context: &str, e: impl std::fmt::Display) -> OutputError {
    OutputError::Backend(format!("{context}: {e}"))
}

/// Detects callbacks that come too late, from their stream timestamps.
///
/// A callback is late — the device has likely played silence — when the time since the previous
/// callback exceeds both 1.5 × that callback's duration and the audio that was queued ahead of
/// the device after it (its reported playback delay plus the frames it wrote). The second
/// condition matters on servers with deeper queues: through PulseAudio, each callback reports
/// ~21 ms queued besides its own 10.7 ms, so a 16 ms scheduling hiccup of the callback thread
/// (seen on a loaded 2-core machine) is not a dropout. Backends that report no delay fall back
/// to the plain 1.5 × rule. Late callbacks before the stream settles (8 on-time callbacks in a
/// row) are ignored: start-up bursts and pauses are not underruns.
#[derive(Debug, Default)]
pub(crate) struct LateDetector {
    prev_ns: Option<u64>,
    /// Audio queued ahead of the device after the previous callback wrote, ns.
    prev_queued_ns: u64,
    /// The previous callback's duration, ns.
    prev_expected_ns: u64,
    streak: u32,
    armed: bool,
}

/// What [`LateDetector::observe`] concluded about one callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observation {
    /// Counts as an underrun.
    pub(crate) late: bool,
    /// The spacing from the previous callback, once the stream has settled.
    pub(crate) settled_gap_ns: Option<u64>,
}

impl LateDetector {
    /// Observes a callback at `now_ns` (stream time) whose audio will be played `delay_ns`
    /// later, for `frames` frames at `rate`. `xrun_reported`: the backend reported an xrun
    /// since the previous callback, so the gap it causes is not counted twice.
    ///
    /// Runs on: the audio thread (integer arithmetic only).
    pub(crate) fn observe(
        &mut self,
        now_ns: u64,
        delay_ns: u64,
        frames: u32,
        rate: u32,
        xrun_reported: bool,
    ) -> Observation {
        let gap = self.prev_ns.map(|prev| now_ns.saturating_sub(prev));
        let late = gap.is_some_and(|gap| {
            gap.saturating_mul(2) > self.prev_expected_ns.saturating_mul(3)
                && gap > self.prev_queued_ns
        });
        let expected = u64::try_from(u128::from(frames) * 1_000_000_000 / u128::from(rate.max(1)))
            .unwrap_or(u64::MAX);
        self.prev_ns = Some(now_ns);
        self.prev_expected_ns = expected;
        self.prev_queued_ns = delay_ns.saturating_add(expected);
        let settled_gap_ns = if self.armed { gap } else { None };
        if late {
            let counted = self.armed && !xrun_reported;
            self.streak = 0;
            return Observation {
                late: counted,
                settled_gap_ns,
            };
        }
        self.streak = self.streak.saturating_add(1);
        if self.streak >= ARM_AFTER {
            self.armed = true;
        }
        Observation {
            late: false,
            settled_gap_ns,
        }
    }
}

/// Everything the data callback owns.
struct DeviceCallback {
    slot: CallbackSlot,
    /// Stereo scratch, `SCRATCH_FRAMES * 2` samples, allocated before the stream starts.
    scratch: Box<[f32]>,
    channels: usize,
    rate: u32,
    dither: Dither,
    meter: CallbackMeter,
    late: LateDetector,
    /// Set by the error callback on an xrun, so the late callback it causes counts once.
    xrun_flag: Arc<AtomicBool>,
    /// Converts from the engine rate when the device runs at another (`rate.rs`).
    convert: Option<RateConverter>,
}

impl DeviceCallback {
    /// The data callback body.
    ///
    /// Runs on: cpal's audio thread. No allocation, lock, log or system call but the clock.
    fn process(&mut self, data: &mut Data, info: &OutputCallbackInfo) {
        let started = Instant::now();
        let frames = data.len() / self.channels;
        match data.sample_format() {
            SampleFormat::F32 => self.fill_as::<f32>(data),
            SampleFormat::F64 => self.fill_as::<f64>(data),
            SampleFormat::I8 => self.fill_as::<i8>(data),
            SampleFormat::I16 => self.fill_as::<i16>(data),
            SampleFormat::I24 => self.fill_as::<cpal::I24>(data),
            SampleFormat::I32 => self.fill_as::<i32>(data),
            SampleFormat::I64 => self.fill_as::<i64>(data),
            SampleFormat::U8 => self.fill_as::<u8>(data),
            SampleFormat::U16 => self.fill_as::<u16>(data),
            SampleFormat::U24 => self.fill_as::<cpal::U24>(data),
            SampleFormat::U32 => self.fill_as::<u32>(data),
            SampleFormat::U64 => self.fill_as::<u64>(data),
            // Never negotiated (DSD is not PCM); cpal pre-fills the buffer with silence.
            _ => {}
        }
        let render_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        let timestamp = info.timestamp();
        let now_ns = u64::try_from(timestamp.callback.as_nanos()).unwrap_or(u64::MAX);
        let delay_ns = u64::try_from(
            timestamp
                .playback
                .saturating_duration_since(timestamp.callback)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX);
        let xrun = self.xrun_flag.load(Ordering::Relaxed);
        if xrun {
            self.xrun_flag.store(false, Ordering::Relaxed);
        }
        let seen = self.late.observe(now_ns, delay_ns, frames, self.rate, xrun);
        if seen.late {
            self.meter.stats().add_late_callback();
        }
        if let Some(gap) = seen.settled_gap_ns {
            self.meter.stats().note_callback_gap(gap);
        }
        self.meter.record(render_ns, frames);
    }

    /// Renders into the scratch buffer piece by piece and converts into the device buffer.
    fn fill_as<T: DeviceSample + cpal::SizedSample>(&mut self, data: &mut Data) {
        let Some(out) = data.as_slice_mut::<T>() else {
            return;
        };
        let channels = self.channels;
        for piece in out.chunks_mut(SCRATCH_FRAMES * channels) {
            let frames = piece.len() / channels;
            if frames == 0 {
                break; // a trailing partial frame: left as cpal's silence
            }
            let stereo = &mut self.scratch[..frames * 2];
            let slot = &mut self.slot;
            match &mut self.convert {
                Some(convert) => convert.render(stereo, |engine_rate| slot.render(engine_rate)),
                None => slot.render(stereo),
            }
            write_frames(stereo, piece, channels, &mut self.dither);
        }
    }
}

/// Everything the error callback owns.
struct ErrorHandler {
    notices: Sender<OutputNotice>,
    stats: Arc<OutputStats>,
    xrun_flag: Arc<AtomicBool>,
    lost_sent: bool,
    backend_errors: ErrorRun,
    device: String,
}

/// Tells a dead stream from a transient backend error.
///
/// Measured through ALSA's PulseAudio plugin: a stream that starts normally sometimes first
/// gets a burst of `BackendError`s ("snd_pcm_avail_delay: I/O error", hundreds within ~10 ms)
/// and then plays on; when the server dies, the same kind of error repeats on every poll (about
/// 90 000 per second) with no callback ever again, and no `DeviceNotAvailable` comes. So a
/// backend error means "lost" once errors have kept coming for [`LOST_AFTER`] without a single
/// data callback in between.
#[derive(Debug, Default)]
pub(crate) struct ErrorRun {
    /// When the current run of errors began, and the callback count then.
    since: Option<(Instant, u64)>,
}

/// How long backend errors must persist, with no callback, before the stream counts as lost.
pub(crate) const LOST_AFTER: Duration = Duration::from_millis(200);

impl ErrorRun {
    /// Records an error at `now` with the stream's callback count; true once the run without
    /// callbacks has lasted [`LOST_AFTER`].
    pub(crate) fn persistent(&mut self, now: Instant, callbacks: u64) -> bool {
        match self.since {
            Some((start, count)) if count == callbacks => {
                now.saturating_duration_since(start) >= LOST_AFTER
            }
            _ => {
                self.since = Some((now, callbacks));
                false
            }
        }
    }
}

impl ErrorHandler {
    /// Runs on: cpal's thread, outside the data callback (sending and logging are fine).
    fn handle(&mut self, e: cpal::Error) {
        match e.kind() {
            ErrorKind::Xrun => {
                self.stats.add_xrun();
                self.xrun_flag.store(true, Ordering::Relaxed);
                let _ = self.notices.try_send(OutputNotice::Xrun);
            }
            ErrorKind::DeviceNotAvailable
            | ErrorKind::StreamInvalidated
            | ErrorKind::HostUnavailable => self.lost(&e),
            ErrorKind::BackendError => {
                if self.lost_sent {
                    // A dead stream: ALSA's worker repeats this on every poll, spinning a core
                    // until the engine drops the stream. This callback runs on that worker, so
                    // pausing here throttles the spin; the drop still ends the loop promptly.
                    std::thread::sleep(Duration::from_millis(5));
                } else if self
                    .backend_errors
                    .persistent(Instant::now(), self.stats.callbacks())
                {
                    self.lost(&e);
                }
            }
            ErrorKind::DeviceChanged => {
                let name = cpal::default_host()
                    .default_output_device()
                    .map(|d| device_name(&d))
                    .unwrap_or_else(|| "default".to_owned());
                tracing::info!(device = %name, "output rerouted to a new default device");
                let _ = self.notices.try_send(OutputNotice::Changed { name });
            }
            _ => tracing::warn!(device = %self.device, error = %e, "output stream error"),
        }
    }

    /// Sends one `Lost` per stream: the engine replaces the whole output anyway, and backends
    /// may repeat the error on every poll until the stream is dropped.
    fn lost(&mut self, e: &cpal::Error) {
        if !self.lost_sent {
            self.lost_sent = true;
            tracing::warn!(device = %self.device, error = %e, "output device lost");
            let _ = self.notices.try_send(OutputNotice::Lost {
                reason: format!("{}: {e}", self.device),
            });
        }
    }
}

/// How a stream starts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Start {
    /// The first [`FADE_IN_MS`] of the source's audio fade in from silence (the source was
    /// already playing elsewhere: the device returning after a loss).
    pub(crate) fade_in: bool,
    /// The source renders at this rate, not the device's: convert (`rate.rs`).
    pub(crate) source_rate: Option<u32>,
}

/// A running device stream.
pub(crate) struct DeviceOutput {
    stream: cpal::Stream,
    handle: SlotHandle,
    /// Frames per callback as the backend reports it after opening.
    pub(crate) buffer_frames: Option<u32>,
}

impl std::fmt::Debug for DeviceOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceOutput")
            .field("buffer_frames", &self.buffer_frames)
            .finish_non_exhaustive()
    }
}

/// Builds (does not start) a stream for `choice` with `config`; the source is not in it yet.
fn build(
    choice: &DeviceChoice,
    config: StreamConfig,
    stats: &Arc<OutputStats>,
    notices: &Sender<OutputNotice>,
    fade_in: bool,
    convert: Option<RateConverter>,
) -> Result<(cpal::Stream, SlotHandle), cpal::Error> {
    let fade_frames = if fade_in {
        config.sample_rate / 1000 * FADE_IN_MS
    } else {
        0
    };
    let (slot, handle) = super::callback::slot(notices.clone(), fade_frames);
    let xrun_flag = Arc::new(AtomicBool::new(false));
    let mut callback = DeviceCallback {
        slot,
        scratch: vec![0.0; SCRATCH_FRAMES * 2].into_boxed_slice(),
        channels: usize::from(config.channels.max(1)),
        rate: config.sample_rate,
        dither: Dither::default(),
        meter: CallbackMeter::new(Arc::clone(stats), config.sample_rate),
        late: LateDetector::default(),
        xrun_flag: Arc::clone(&xrun_flag),
        convert,
    };
    let mut errors = ErrorHandler {
        notices: notices.clone(),
        stats: Arc::clone(stats),
        xrun_flag,
        lost_sent: false,
        backend_errors: ErrorRun::default(),
        device: choice.name.clone(),
    };
    let stream = quiet_backend(|| {
        choice.device.build_output_stream_raw(
            config,
            choice.format,
            move |data: &mut Data, info: &OutputCallbackInfo| {
                #[cfg(debug_assertions)]
                assert_no_alloc::assert_no_alloc(|| callback.process(data, info));
                #[cfg(not(debug_assertions))]
                callback.process(data, info);
            },
            move |e| errors.handle(e),
            None,
        )
    })?;
    Ok((stream, handle))
}

impl DeviceOutput {
    /// Opens and starts the stream, then hands it the source. On failure the source comes back
    /// with the error (it is only delivered once the stream plays).
    ///
    /// Runs on: control thread.
    pub(crate) fn start(
        choice: &DeviceChoice,
        source: Box<dyn AudioCallback>,
        stats: &Arc<OutputStats>,
        notices: &Sender<OutputNotice>,
        how: Start,
    ) -> Result<DeviceOutput, (OutputError, Box<dyn AudioCallback>)> {
        let converter = || {
            how.source_rate
                .map(|from| RateConverter::new(from, choice.config.sample_rate))
                .transpose()
                .map_err(OutputError::InvalidConfig)
        };
        let convert = match converter() {
            Ok(c) => c,
            Err(e) => return Err((e, source)),
        };
        let built = match build(choice, choice.config, stats, notices, how.fade_in, convert) {
            // Some backends report a buffer range they then refuse: fall back to the default.
            Err(e)
                if matches!(choice.config.buffer_size, BufferSize::Fixed(_))
                    && matches!(
                        e.kind(),
                        ErrorKind::UnsupportedConfig | ErrorKind::InvalidInput
                    ) =>
            {
                tracing::warn!(error = %e, "buffer size refused; using the device default");
                let config = StreamConfig {
                    buffer_size: BufferSize::Default,
                    ..choice.config
                };
                match converter() {
                    Ok(convert) => build(choice, config, stats, notices, how.fade_in, convert),
                    Err(e) => return Err((e, source)),
                }
            }
            other => other,
        };
        let (stream, mut handle) = match built {
            Ok(built) => built,
            Err(e) => {
                let what = format!("opening {:?}", choice.name);
                return Err((backend(&what, e), source));
            }
        };
        if let Err(e) = stream.play() {
            drop(stream);
            return Err((backend(&format!("starting {:?}", choice.name), e), source));
        }
        let buffer_frames = stream.buffer_size().ok();
        if let Err(source) = handle.deliver(source) {
            drop(stream);
            return Err((backend("handing over the source", "ring full"), source));
        }
        Ok(DeviceOutput {
            stream,
            handle,
            buffer_frames,
        })
    }

    /// Ends the stream and returns the source, waiting at most [`STOP_TIMEOUT`].
    ///
    /// Runs on: control thread. The stream is dropped on a helper thread: on ALSA the drop
    /// joins cpal's worker, which a dead sound server could keep waiting.
    pub(crate) fn stop(self) -> Option<Box<dyn AudioCallback>> {
        let DeviceOutput { stream, handle, .. } = self;
        // If the thread cannot be spawned, the closure (and the stream in it) is dropped here.
        let _ = std::thread::Builder::new()
            .name("hearth-stream-stop".to_owned())
            .spawn(move || drop(stream));
        let source = handle.take_back(STOP_TIMEOUT);
        if source.is_none() {
            tracing::error!("the audio stream did not give the renderer back in time");
        }
        source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_errors_mean_lost_only_when_they_persist_without_callbacks() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut run = ErrorRun::default();
        // A start-up burst: 10 ms of errors, then callbacks.
        assert!((0..10).all(|i| !run.persistent(ms(i), 0)));
        // Much later, one more error after callbacks resumed: a new run, not lost.
        assert!(!run.persistent(ms(1000), 50));
        assert!(!run.persistent(ms(1150), 60));
        // A dead stream: errors keep coming and the callback count stands still.
        assert!(!run.persistent(ms(1300), 60));
        assert!(run.persistent(ms(1350), 60));
    }

    #[test]
    fn late_callbacks_count_only_after_the_stream_settles() {
        const P: u64 = 10_666_667; // 512 frames at 48 kHz
        let mut d = LateDetector::default();
        let late =
            |d: &mut LateDetector, t, delay, xrun| d.observe(t, delay, 512, 48_000, xrun).late;
        let mut t = 0;
        let mut count = 0;
        // Start-up: three callbacks at once, then a 1 s pause: not counted.
        for _ in 0..3 {
            count += u32::from(late(&mut d, t, 0, false));
        }
        t += 1_000_000_000;
        count += u32::from(late(&mut d, t, 0, false));
        // Steady pacing with jitter under 1.5 periods.
        for i in 0..20 {
            t += P + (i % 3) * 2_000_000;
            count += u32::from(late(&mut d, t, 0, false));
        }
        assert_eq!(count, 0);
        // No delay reported: one callback 2 periods late is counted.
        t += 2 * P;
        assert!(late(&mut d, t, 0, false));
        // Late, but the backend already reported the xrun: not counted twice.
        t += 3 * P;
        assert!(!late(&mut d, t, 0, true));
        t += P;
        assert!(!late(&mut d, t, 21_000_000, false));
        // 21 ms queued + 10.7 ms written: a 2-period gap is jitter, a 3.5-period one is not.
        t += 2 * P;
        assert!(!late(&mut d, t, 21_000_000, false));
        t += 7 * P / 2;
        assert!(late(&mut d, t, 21_000_000, false));
        // The settled spacing is reported for telemetry.
        t += P;
        assert_eq!(d.observe(t, 0, 512, 48_000, false).settled_gap_ns, Some(P));
    }
}

//! Output sinks: where the renderer's audio goes.
//!
//! One interface, three sinks, all driven by a [`AudioCallback`] (the engine's renderer) that
//! produces interleaved stereo `f32` at the engine rate:
//!
//! - [`OutputSpec::Device`]: a cpal stream on the default host (`device.rs`). The device's
//!   callback thread renders; the output maps stereo to the device's channels and converts to
//!   its sample format.
//! - [`OutputSpec::Null`]: a thread paced in real time like a device, audio discarded
//!   (`paced.rs`). Engine tests, benchmarks and machines without a sound card use it.
//! - [`OutputSpec::Wav`]: the same pacing, with the audio recorded to a 32-bit float WAV by a
//!   writer thread (`wav.rs`): exactly what a listener would have heard, in real time.
//!
//! Life cycle (all on the engine's control thread): [`negotiate`] picks the device and its
//! configuration *before* the engine is built, because the engine rate is the device rate;
//! [`Output::start`] runs the sink with the renderer; [`Output::stop`] ends it and gives the
//! renderer back, so the engine can restart it elsewhere after [`OutputNotice::Lost`] (reopen
//! the default device, else fall back to the null sink).
//!
//! Threads: the render path (device callback, pacing thread) only touches atomics and
//! lock-free rings ([`OutputStats`]); notices are sent from cpal's error callback, the pacing
//! thread (on an underrun) and the WAV writer, never from inside a device's data callback.

mod callback;
mod convert;
mod device;
mod paced;
mod priority;
mod rate;
mod stats;
mod wav;

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Sender;

pub use callback::AudioCallback;
pub use convert::{DeviceSample, Dither, write_frames};
pub(crate) use device::default_device_id;
pub use device::{DeviceDescription, STOP_TIMEOUT, SupportedConfig, list_devices};
pub use priority::promote_audio_thread;
pub use stats::{OutputStats, OutputStatsSnapshot};

/// Null/WAV buffer size when none is asked for: a typical device period.
pub const DEFAULT_BUFFER_FRAMES: u32 = 512;
/// Null/WAV rate when none is asked for.
pub const DEFAULT_RATE: u32 = 48_000;
/// Largest null/WAV buffer accepted (larger requests are clamped).
pub const MAX_BUFFER_FRAMES: u32 = 16_384;

/// Which sink to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// A sound device: `None` = the host's default output device; `Some(name)` = the first
    /// device whose name or id matches, case-insensitively (exact match first, then substring).
    Device {
        /// Device name or id to look for; `None` for the default device.
        name: Option<String>,
    },
    /// A real-time-paced sink that discards the audio.
    Null,
    /// A real-time-paced sink that records to a 32-bit float stereo WAV at this path (written
    /// beside it and moved into place on stop).
    Wav(PathBuf),
}

impl Default for OutputSpec {
    fn default() -> Self {
        Self::Device { name: None }
    }
}

/// The kind of sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// A cpal device.
    Device,
    /// The null sink.
    Null,
    /// The WAV recorder.
    Wav,
}

/// What was negotiated, for display and events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputInfo {
    /// The kind of sink.
    pub kind: OutputKind,
    /// Device name, "null", or the WAV path.
    pub name: String,
    /// Engine rate = device rate, Hz.
    pub rate: u32,
    /// Channels of the device (the renderer always produces 2; the output maps them).
    pub channels: u16,
    /// Frames per callback, if known (requested or default until the device has opened; the
    /// value the backend reports once it has).
    pub buffer_frames: Option<u32>,
    /// The device's sample format ("f32", "i16", ...).
    pub sample_format: String,
}

/// An event from a running output to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputNotice {
    /// The sink is gone (device unplugged, sound server died, stream invalidated, WAV write
    /// failed, render path panicked). The engine should `stop` it and start another.
    Lost {
        /// What happened, for a person.
        reason: String,
    },
    /// The backend rerouted the stream to a new default device; it keeps playing.
    Changed {
        /// The new device's name.
        name: String,
    },
    /// An underrun the backend reported, or the pacing thread detected. Also counted in
    /// [`OutputStats`] (late device callbacks are only counted there: the data callback does
    /// not send).
    Xrun,
}

/// Errors setting up or running an output. Setup errors carry context for a person.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The host has no default output device.
    #[error("no output device available")]
    NoDevice,
    /// No output device matches the requested name.
    #[error("no output device matches {name:?} (available: {})", available.join(", "))]
    DeviceNotFound {
        /// The name asked for.
        name: String,
        /// Names of the devices there are.
        available: Vec<String>,
    },
    /// The device supports no configuration the engine can use.
    #[error("output device {device:?} does not offer {what}")]
    Unsupported {
        /// The device.
        device: String,
        /// What is missing.
        what: String,
    },
    /// A request that cannot be met (e.g. rate 0).
    #[error("invalid output configuration: {0}")]
    InvalidConfig(String),
    /// The audio backend failed (opening, starting, listing).
    #[error("audio backend: {0}")]
    Backend(String),
    /// File-system error (WAV sink).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// WAV encoding error.
    #[error("WAV {}: {source}", path.display())]
    Wav {
        /// The file concerned.
        path: PathBuf,
        /// The error.
        source: hound::Error,
    },
    /// A sink thread could not be started.
    #[error("cannot start an output thread: {0}")]
    Thread(std::io::Error),
}

/// The sink-specific part of a negotiation.
#[derive(Debug, Clone)]
enum Target {
    Device(device::DeviceChoice),
    Null,
    Wav(PathBuf),
}

/// A sink chosen and configured, not yet running. The engine reads [`Negotiated::rate`] to
/// build itself at the device rate, then passes this to [`Output::start`].
#[derive(Debug, Clone)]
pub struct Negotiated {
    target: Target,
    info: OutputInfo,
    /// The rate the source renders at when it is not the device's (see `rate.rs`).
    source_rate: Option<u32>,
}

impl Negotiated {
    /// The engine rate: the device's (or the null/WAV sink's) sample rate, Hz.
    pub fn rate(&self) -> u32 {
        self.info.rate
    }

    /// What was negotiated.
    pub fn info(&self) -> OutputInfo {
        self.info.clone()
    }

    /// The source renders at `rate`: a device negotiated at another rate converts in its
    /// callback (`rate.rs`). The engine's way back onto a returning device whose rates do not
    /// include the engine's.
    pub(crate) fn source_at(mut self, rate: u32) -> Self {
        self.source_rate = (rate != self.info.rate).then_some(rate);
        self
    }

    /// This sink, presented as a device named `name` (a fake device for the supervisor's
    /// tests: it plays like the null sink).
    #[cfg(test)]
    pub(crate) fn posing_as_device(mut self, name: &str) -> Self {
        self.info.kind = OutputKind::Device;
        self.info.name = name.to_owned();
        self
    }
}

/// Picks a sink and its configuration. `rate` and `buffer_frames` are wishes: a device uses
/// the requested rate if it supports it (else its default, see `device.rs`) and clamps the
/// buffer size into its range; the null and WAV sinks take them as given (defaults 48 kHz and
/// 512 frames; buffers clamped to 16..=16384 frames).
///
/// Runs on: control thread. Probes the device (tens of ms); opens nothing.
pub fn negotiate(
    spec: &OutputSpec,
    rate: Option<u32>,
    buffer_frames: Option<u32>,
) -> Result<Negotiated, OutputError> {
    if rate == Some(0) {
        return Err(OutputError::InvalidConfig("sample rate 0".to_owned()));
    }
    if buffer_frames == Some(0) {
        return Err(OutputError::InvalidConfig("buffer size 0".to_owned()));
    }
    let paced_info = |kind, name: String| OutputInfo {
        kind,
        name,
        rate: rate.unwrap_or(DEFAULT_RATE),
        channels: 2,
        buffer_frames: Some(
            buffer_frames
                .unwrap_or(DEFAULT_BUFFER_FRAMES)
                .clamp(16, MAX_BUFFER_FRAMES),
        ),
        sample_format: "f32".to_owned(),
    };
    Ok(match spec {
        OutputSpec::Null => Negotiated {
            target: Target::Null,
            info: paced_info(OutputKind::Null, "null".to_owned()),
            source_rate: None,
        },
        OutputSpec::Wav(path) => {
            if path.file_name().is_none() {
                return Err(OutputError::InvalidConfig(format!(
                    "WAV path {} names no file",
                    path.display()
                )));
            }
            Negotiated {
                target: Target::Wav(path.clone()),
                info: paced_info(OutputKind::Wav, path.display().to_string()),
                source_rate: None,
            }
        }
        OutputSpec::Device { name } => {
            let choice = device::negotiate(name.as_deref(), rate, buffer_frames)?;
            let info = OutputInfo {
                kind: OutputKind::Device,
                name: choice.name.clone(),
                rate: choice.config.sample_rate,
                channels: choice.config.channels,
                buffer_frames: match choice.config.buffer_size {
                    cpal::BufferSize::Fixed(n) => Some(n),
                    cpal::BufferSize::Default => None,
                },
                sample_format: choice.format.to_string(),
            };
            Negotiated {
                target: Target::Device(choice),
                info,
                source_rate: None,
            }
        }
    })
}

/// The running part of an [`Output`].
#[derive(Debug)]
enum Running {
    Device(device::DeviceOutput),
    Null(paced::PacedThread),
    Wav(paced::PacedThread, wav::WavFile),
}

/// A running sink. Dropping it without [`Output::stop`] stops it too, but loses the source.
#[derive(Debug)]
pub struct Output {
    info: OutputInfo,
    running: Option<Running>,
}

impl Output {
    /// Starts the sink with `source`. `stats` receives the counters (the engine may reuse one
    /// `Arc` across restarts); `notices` receives [`OutputNotice`]s (sent with `try_send`: a
    /// full bounded channel drops notices rather than blocking an audio-side thread).
    ///
    /// On failure the source comes back with the error, untouched.
    ///
    /// Runs on: control thread.
    pub fn start(
        neg: Negotiated,
        source: Box<dyn AudioCallback>,
        stats: Arc<OutputStats>,
        notices: Sender<OutputNotice>,
    ) -> Result<Output, (OutputError, Box<dyn AudioCallback>)> {
        Self::start_inner(neg, source, stats, notices, false)
    }

    /// Like [`Output::start`], for a source that is already playing elsewhere (the engine
    /// moving back to a device that returned): a device fades the first 10 ms in, so the music
    /// does not resume mid-waveform with a click.
    ///
    /// Runs on: the engine's output supervisor.
    pub(crate) fn take_over(
        neg: Negotiated,
        source: Box<dyn AudioCallback>,
        stats: Arc<OutputStats>,
        notices: Sender<OutputNotice>,
    ) -> Result<Output, (OutputError, Box<dyn AudioCallback>)> {
        Self::start_inner(neg, source, stats, notices, true)
    }

    fn start_inner(
        neg: Negotiated,
        source: Box<dyn AudioCallback>,
        stats: Arc<OutputStats>,
        notices: Sender<OutputNotice>,
        fade_in: bool,
    ) -> Result<Output, (OutputError, Box<dyn AudioCallback>)> {
        let Negotiated {
            target,
            mut info,
            source_rate,
        } = neg;
        let buffer_frames = info.buffer_frames.unwrap_or(DEFAULT_BUFFER_FRAMES);
        let running = match target {
            Target::Device(choice) => {
                let out = device::DeviceOutput::start(
                    &choice,
                    source,
                    &stats,
                    &notices,
                    device::Start {
                        fade_in,
                        source_rate,
                    },
                )?;
                if out.buffer_frames.is_some() {
                    info.buffer_frames = out.buffer_frames;
                }
                Running::Device(out)
            }
            Target::Null => {
                let thread = paced::spawn(
                    "hearth-null-sink",
                    info.rate,
                    buffer_frames,
                    paced::Discard,
                    source,
                    stats,
                    notices,
                )
                .map_err(|(e, source)| (OutputError::Thread(e), source))?;
                Running::Null(thread)
            }
            Target::Wav(path) => {
                let (sink, file) = match wav::WavFile::create(
                    &path,
                    info.rate,
                    Arc::clone(&stats),
                    notices.clone(),
                ) {
                    Ok(created) => created,
                    Err(e) => return Err((e, source)),
                };
                let spawned = paced::spawn(
                    "hearth-wav-sink",
                    info.rate,
                    buffer_frames,
                    sink,
                    source,
                    stats,
                    notices,
                );
                match spawned {
                    Ok(thread) => Running::Wav(thread, file),
                    Err((e, source)) => {
                        // The ring's producer went with the failed thread, so the writer ends;
                        // nothing was recorded: remove the temporary file, publish nothing.
                        file.discard();
                        return Err((OutputError::Thread(e), source));
                    }
                }
            }
        };
        Ok(Output {
            info,
            running: Some(running),
        })
    }

    /// What is playing: kind, name, rate, device channels, buffer size, sample format.
    pub fn info(&self) -> &OutputInfo {
        &self.info
    }

    /// Stops the sink and returns the source, so the engine can start it on another sink.
    /// `None` only if a device backend did not release it within [`STOP_TIMEOUT`] (the
    /// stream is then abandoned, never joined). For the WAV sink this also completes the file
    /// (errors are logged; use [`Output::stop_and_finish`] to get them).
    ///
    /// Runs on: control thread. Returns within about one buffer (null/WAV, plus writing the
    /// last blocks) or at most [`STOP_TIMEOUT`] (device).
    pub fn stop(self) -> Option<Box<dyn AudioCallback>> {
        let (source, result) = self.stop_and_finish();
        if let Err(e) = result {
            tracing::error!(error = %e, "output did not finish cleanly");
        }
        source
    }

    /// Like [`Output::stop`], and reports whether the sink finished cleanly: for the WAV sink,
    /// `Ok(frames written)` once the file is at its final path; for the others `Ok(0)`.
    ///
    /// Runs on: control thread.
    pub fn stop_and_finish(mut self) -> (Option<Box<dyn AudioCallback>>, Result<u64, OutputError>) {
        match self.running.take() {
            Some(Running::Device(out)) => (out.stop(), Ok(0)),
            Some(Running::Null(thread)) => (thread.stop(), Ok(0)),
            Some(Running::Wav(thread, file)) => {
                // Pacing first: its end of the ring going away tells the writer to finish.
                let source = thread.stop();
                (source, file.finish())
            }
            None => (None, Ok(0)),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        match self.running.take() {
            Some(Running::Device(out)) => drop(out.stop()),
            Some(Running::Null(thread)) => drop(thread.stop()),
            Some(Running::Wav(thread, file)) => {
                drop(thread.stop());
                if let Err(e) = file.finish() {
                    tracing::error!(error = %e, "WAV recording did not finish cleanly");
                }
            }
            None => {}
        }
    }
}

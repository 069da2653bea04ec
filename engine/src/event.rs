//! Events: what the engine tells its users, and the small `Copy` records the renderer sends
//! to get there.

use std::path::PathBuf;
use std::time::Duration;

use hearth_cache::{TrackId, Variant};
use hearth_dsp::Preset;

use crate::control::queue::{EntryId, TrackMeta};

/// Something that happened, for the application (`Engine::events`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The audible position, at the configured rate while playing.
    Position {
        /// The playing entry.
        entry: EntryId,
        /// Seconds from the start of its track.
        seconds: f64,
        /// Track length in seconds, when known.
        duration: Option<f64>,
    },
    /// A track began to play (naturally, after a jump, or gaplessly after the previous one).
    TrackStarted {
        /// The entry.
        entry: EntryId,
        /// Its file.
        path: PathBuf,
        /// What is known about it.
        meta: Option<TrackMeta>,
    },
    /// A track played to its end.
    TrackEnded {
        /// The entry.
        entry: EntryId,
    },
    /// The queue has played out.
    QueueEnded,
    /// An entry was probed: its length and tags are known.
    TrackReady {
        /// The entry.
        entry: EntryId,
        /// What the file is.
        meta: TrackMeta,
    },
    /// The renderer lacks audio it needs and is playing silence (a miss).
    Buffering {
        /// The entry.
        entry: EntryId,
        /// Where, in seconds.
        seconds: f64,
    },
    /// Audio arrived after a miss; playback continues.
    Recovered {
        /// The entry.
        entry: EntryId,
    },
    /// A seek or jump has taken effect.
    Seeked {
        /// The entry.
        entry: EntryId,
        /// Where, in seconds.
        seconds: f64,
        /// Time from the call to the audio callback that played the target.
        latency: Duration,
    },
    /// Playback state changed.
    Transport {
        /// Playing, paused or stopped.
        state: crate::audio::readings::Transport,
    },
    /// The enhancement settings in effect changed.
    Enhancement {
        /// On or off.
        on: bool,
        /// The preset playing.
        preset: Preset,
        /// The intensity.
        intensity: f32,
    },
    /// Warm-tier progress of a track.
    CacheProgress {
        /// The entry (if it is in the queue).
        entry: Option<EntryId>,
        /// The track.
        track: TrackId,
        /// Which variant.
        variant: Variant,
        /// Chunks cached.
        present: u32,
        /// Chunks in the track.
        total: u32,
    },
    /// The cache directory became unusable (playback continues, decoding on demand), or usable
    /// again.
    CacheStatus {
        /// False while degraded.
        healthy: bool,
        /// Why, when degraded.
        reason: Option<String>,
    },
    /// Underruns were counted since the last report (the output ran dry).
    Underrun {
        /// Total so far.
        total: u64,
    },
    /// The output device changed (opened, rerouted, lost and replaced, or fell back to null).
    Device {
        /// Its description.
        name: String,
        /// Its rate.
        rate: u32,
        /// Its buffer size, if fixed.
        buffer_frames: Option<u32>,
    },
    /// The output device was lost (unplugged, sound server gone, stream invalidated), or could
    /// not be opened at start; playback goes on into the null sink — the position keeps
    /// advancing — while the engine tries to reopen the device every 500 ms.
    DeviceLost {
        /// The device that was lost (or wanted).
        name: String,
        /// What happened, for a person.
        reason: String,
    },
    /// The wanted output device is back (it returned, or became available after the start),
    /// or the system's default device changed and playback followed it: playing on it again
    /// from where playback had reached, fading in. An [`Event::Device`] follows.
    DeviceRestored {
        /// The device now playing.
        name: String,
        /// Why the engine moved to it, for a person.
        reason: String,
    },
    /// Something failed; playback continues if it can (a bad file is skipped).
    Error {
        /// The entry concerned, if any.
        entry: Option<EntryId>,
        /// What happened, for a person.
        message: String,
    },
}

/// What the renderer reports, as fixed-size records through a lock-free queue.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum RtEvent {
    TrackStarted {
        entry: u64,
    },
    TrackEnded {
        entry: u64,
    },
    QueueEnded,
    Buffering {
        entry: u64,
        frame: u64,
    },
    Recovered {
        entry: u64,
    },
    JumpDone {
        entry: u64,
        frame: u64,
        generation: u64,
    },
    PresetActive {
        preset: Preset,
    },
    Transport {
        state: crate::audio::readings::Transport,
    },
}

/// Capacity of the renderer's event queue (events are rare; position goes through atomics).
pub(crate) const EVENT_QUEUE: usize = 512;

//! [`Engine`]: the control handle applications hold. `Clone + Send + Sync`; every method runs
//! on the caller's thread and returns quickly: it updates the queue, tells the fillers what to
//! produce, and queues a command for the renderer. What happens after that arrives as
//! [`Event`]s.
//!
//! Runs on: the caller's thread (any thread).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Receiver;
use hearth_cache::{CacheStats, Variant};
use hearth_dsp::Preset;
use parking_lot::Mutex;

use super::builder::EngineBuilder;
use super::queue::{EntryId, QueueEntry};
use super::state::{Inner, fallback_notice};
use crate::audio::command::Command;
use crate::audio::readings::{MAX_ENTRY, Transport};
use crate::background::driver::FillerMsg;
use crate::error::EngineError;
use crate::event::Event;

/// The renderer's counters at one moment (see [`Engine::telemetry`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Telemetry {
    /// Generation of the last seek/jump the renderer carried out.
    pub jump_done: u64,
    /// Generation of the last seek/jump asked for.
    pub generation: u64,
    /// Times the enhancement mix started moving.
    pub mix_changes: u64,
    /// Times a preset switch started.
    pub preset_switches: u64,
    /// Frames of audio (not silence) played.
    pub audible_frames: u64,
    /// Frames rendered.
    pub frames_rendered: u64,
    /// Render calls.
    pub callbacks: u64,
    /// Frames of silence played because audio was missing.
    pub miss_frames: u64,
    /// Events the renderer could not send (its event queue was full).
    pub dropped_events: u64,
}

/// Owns the threads; dropping the last `Engine` shuts everything down.
pub(crate) struct Handle {
    pub(crate) inner: Arc<Inner>,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.inner.to_filler(FillerMsg::Shutdown);
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        let _ = self.inner.store.flush_index();
    }
}

/// The embedding API: a control handle usable from any thread. See the crate docs.
#[derive(Clone)]
pub struct Engine {
    pub(crate) handle: Arc<Handle>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rate", &self.inner().rate)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }

    pub(crate) fn add_thread(&self, t: JoinHandle<()>) {
        self.handle.threads.lock().push(t);
    }

    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.handle.stop)
    }

    pub(crate) fn set_fallback(&self, reason: Option<String>) {
        *self.inner().fallback.lock() = reason;
    }

    pub(crate) fn set_output_info(
        &self,
        info: crate::output::OutputInfo,
        stats: Arc<crate::output::OutputStats>,
    ) {
        *self.inner().output.lock() = Some((info, stats));
    }

    /// The output the engine plays through (`None` for an offline engine).
    pub fn output_info(&self) -> Option<crate::output::OutputInfo> {
        self.inner().output.lock().as_ref().map(|(i, _)| i.clone())
    }

    /// Why the engine plays into the null sink although a device was asked for (no device on
    /// this machine, say); `None` when it plays where it was asked to.
    pub fn output_fallback(&self) -> Option<String> {
        self.inner().fallback.lock().clone()
    }

    /// The one-line notice for [`Engine::output_fallback`], exactly as the engine sends it in
    /// an [`Event::Error`] when it starts (a caller that prints it itself can skip that event).
    pub fn output_fallback_notice(&self) -> Option<String> {
        self.output_fallback()
            .map(|reason| fallback_notice(&reason))
    }

    /// The output's counters (underruns, callback load; `None` offline).
    pub fn output_stats(&self) -> Option<Arc<crate::output::OutputStats>> {
        self.inner()
            .output
            .lock()
            .as_ref()
            .map(|(_, s)| Arc::clone(s))
    }

    /// The engine rate.
    pub fn rate(&self) -> u32 {
        self.inner().rate
    }

    /// A new stream of events (each call gets every event from now on).
    pub fn events(&self) -> Receiver<Event> {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        // A late subscriber still learns where the audio goes.
        if let Some((info, _)) = self.inner().output.lock().as_ref() {
            let _ = tx.try_send(Event::Device {
                name: info.name.clone(),
                rate: info.rate,
                buffer_frames: info.buffer_frames,
            });
        }
        self.inner().subscribers.lock().push(tx);
        rx
    }

    /// Appends a file to the queue. Opening it happens in the background; an unplayable file
    /// is reported with an `Event::Error` and skipped.
    pub fn enqueue(&self, path: impl AsRef<Path>) -> Result<EntryId, EngineError> {
        let path = absolute(path.as_ref());
        let inner = self.inner();
        let mut c = inner.control.lock();
        if c.queue.entries.len() as u64 >= MAX_ENTRY {
            return Err(EngineError::QueueFull);
        }
        let id = c.queue.push(path.clone());
        inner.to_filler(FillerMsg::Entry { entry: id.0, path });
        // A new last entry changes the current one's successor.
        inner.send_next(&mut c);
        inner.send_plan(&c);
        Ok(id)
    }

    /// Replaces the queue with one file, positioned at its start (call `play`).
    pub fn load(&self, path: impl AsRef<Path>) -> Result<EntryId, EngineError> {
        self.clear()?;
        let id = self.enqueue(path)?;
        let inner = self.inner();
        let mut c = inner.control.lock();
        inner.jump(&mut c, id, 0)?;
        Ok(id)
    }

    /// Empties the queue and stops.
    pub fn clear(&self) -> Result<(), EngineError> {
        let inner = self.inner();
        let mut c = inner.control.lock();
        for e in c.queue.entries.drain(..) {
            inner.to_filler(FillerMsg::Remove { entry: e.id.0 });
        }
        c.queue.current = None;
        c.jump = None;
        inner.send_plan(&c);
        inner.command(Command::Clear)
    }

    /// Plays (or resumes). With nothing chosen yet, starts the first entry.
    pub fn play(&self) -> Result<(), EngineError> {
        let inner = self.inner();
        let mut c = inner.control.lock();
        let (playing_entry, _) = inner.readings.position();
        if c.queue.current.is_none() || (playing_entry == 0 && c.jump.is_none()) {
            let first = c
                .queue
                .current
                .or_else(|| c.queue.first())
                .ok_or(EngineError::NothingToPlay)?;
            inner.jump(&mut c, first, 0)?;
        }
        inner.command(Command::Play)
    }

    /// Pauses (the position is kept).
    pub fn pause(&self) -> Result<(), EngineError> {
        self.inner().command(Command::Pause)
    }

    /// Pauses when playing, plays otherwise.
    pub fn toggle_pause(&self) -> Result<(), EngineError> {
        if self.inner().readings.transport() == Transport::Playing {
            self.pause()
        } else {
            self.play()
        }
    }

    /// Stops and rewinds the current track.
    pub fn stop(&self) -> Result<(), EngineError> {
        self.inner().command(Command::Stop)
    }

    /// Seeks within the current track.
    pub fn seek(&self, to: Duration) -> Result<(), EngineError> {
        let inner = self.inner();
        let mut c = inner.control.lock();
        let entry = c.queue.current.ok_or(EngineError::NothingToPlay)?;
        // Nearest frame, in integers: a seek to 82.57 s at 44.1 kHz is frame 3 641 337, which
        // `as_secs_f64() * rate` truncates to 3 641 336.
        let nanos = to.as_nanos() * u128::from(inner.rate);
        let mut frame = u64::try_from((nanos + 500_000_000) / 1_000_000_000).unwrap_or(u64::MAX);
        if let Some(total) = inner.frames_of(&c, entry) {
            frame = frame.min(total.saturating_sub(1));
        }
        inner.jump(&mut c, entry, frame)
    }

    /// Seeks by `seconds` (negative: back) from the current position.
    pub fn seek_relative(&self, seconds: f64) -> Result<(), EngineError> {
        let now = self.position().map_or(0.0, |(_, t)| t.as_secs_f64());
        self.seek(Duration::from_secs_f64((now + seconds).max(0.0)))
    }

    /// Skips to the next entry (nothing happens at the end of the queue).
    pub fn next(&self) -> Result<(), EngineError> {
        let inner = self.inner();
        let mut c = inner.control.lock();
        let cur = c.queue.current.ok_or(EngineError::NothingToPlay)?;
        match c.queue.after(cur) {
            Some(n) => inner.jump(&mut c, n, 0),
            None => Ok(()),
        }
    }

    /// Back to the start of the track, or (within its first 3 s) to the previous entry.
    pub fn previous(&self) -> Result<(), EngineError> {
        let inner = self.inner();
        let at = self.position().map_or(0.0, |(_, t)| t.as_secs_f64());
        let mut c = inner.control.lock();
        let cur = c.queue.current.ok_or(EngineError::NothingToPlay)?;
        let target = if at < 3.0 {
            c.queue.before(cur).unwrap_or(cur)
        } else {
            cur
        };
        inner.jump(&mut c, target, 0)
    }

    /// Plays a given entry from its start.
    pub fn play_entry(&self, entry: EntryId) -> Result<(), EngineError> {
        let inner = self.inner();
        let mut c = inner.control.lock();
        if c.queue.get(entry).is_none() {
            return Err(EngineError::NoSuchEntry(entry));
        }
        inner.jump(&mut c, entry, 0)?;
        inner.command(Command::Play)
    }

    /// Turns enhancement on or off (crossfades at the next audio callback).
    pub fn set_enhancement(&self, on: bool) {
        self.inner().controls.set_enhance(on);
        self.announce_enhancement();
    }

    /// Chooses the preset (switches when its audio is ready, usually at once).
    pub fn set_preset(&self, preset: Preset) {
        self.inner().controls.set_preset(preset);
        let c = self.inner().control.lock();
        self.inner().send_plan(&c);
        self.inner().urgency.raise();
    }

    /// Sets the intensity, 0.0 (original) to 1.0 (fully enhanced).
    pub fn set_intensity(&self, intensity: f32) {
        self.inner()
            .controls
            .set_intensity(intensity.clamp(0.0, 1.0));
        self.announce_enhancement();
    }

    /// Loudness normalisation of the original variant: off (bit-exact), per track, or per
    /// album, to −18 LUFS with the true peak held under −1 dBTP (see `Normalize`). Takes
    /// effect at the next callback, ramped like the volume; the enhanced variant is unaffected.
    pub fn set_normalize(&self, mode: super::loudness::Normalize) {
        let inner = self.inner();
        let mut c = inner.control.lock();
        c.normalize = mode;
        inner.update_gains(&c);
    }

    /// The loudness normalisation mode.
    pub fn normalize(&self) -> super::loudness::Normalize {
        self.inner().control.lock().normalize
    }

    /// The normalisation gain the playing entry's original plays at, dB (0 when off or not
    /// known yet).
    pub fn normalize_gain_db(&self) -> f32 {
        let inner = self.inner();
        let (entry, _) = inner.readings.position();
        20.0 * inner.controls.gain_of(entry).log10()
    }

    /// Sets the volume (linear gain, 0.0–4.0; smoothed).
    pub fn set_volume(&self, volume: f32) {
        self.inner().controls.set_volume(volume.clamp(0.0, 4.0));
    }

    fn announce_enhancement(&self) {
        let s = &self.inner().controls;
        self.inner().broadcast(Event::Enhancement {
            on: s.enhance(),
            preset: s.preset(),
            intensity: s.intensity(),
        });
    }

    /// Enhancement settings: (on, chosen preset, intensity).
    pub fn enhancement(&self) -> (bool, Preset, f32) {
        let s = &self.inner().controls;
        (s.enhance(), s.preset(), s.intensity())
    }

    /// The volume.
    pub fn volume(&self) -> f32 {
        self.inner().controls.volume()
    }

    /// The queue as it stands.
    pub fn queue(&self) -> Vec<QueueEntry> {
        self.inner().control.lock().queue.entries.clone()
    }

    /// The entry the listener is on.
    pub fn current(&self) -> Option<EntryId> {
        self.inner().control.lock().queue.current
    }

    /// What is audible: entry and position.
    pub fn position(&self) -> Option<(EntryId, Duration)> {
        let (entry, frame) = self.inner().readings.position();
        (entry != 0).then(|| {
            (
                EntryId(entry),
                Duration::from_secs_f64(frame as f64 / f64::from(self.inner().rate)),
            )
        })
    }

    /// Playing, paused or stopped.
    pub fn transport(&self) -> Transport {
        self.inner().readings.transport()
    }

    /// Cache statistics (this session and all time).
    pub fn cache_stats(&self) -> CacheStats {
        self.inner().store.stats()
    }

    /// Warm-tier chunk map of an entry's track, per variant (for display).
    pub fn cache_map(&self, entry: EntryId) -> Vec<(Variant, Vec<bool>)> {
        let c = self.inner().control.lock();
        let Some((track, frames)) = c
            .queue
            .get(entry)
            .and_then(QueueEntry::meta)
            .map(|m| (m.track, m.frames))
        else {
            return Vec::new();
        };
        drop(c);
        let chunks = frames.div_ceil(u64::from(self.inner().config.chunk_frames.max(1))) as usize;
        let s = &self.inner().readings;
        // Both rows always: a variant with nothing cached yet is a row of empty cells.
        [Variant::Original, Variant::Enhanced(s.active_preset())]
            .into_iter()
            .map(|v| {
                (
                    v,
                    self.inner()
                        .store
                        .presence(track, v)
                        .unwrap_or_else(|| vec![false; chunks]),
                )
            })
            .collect()
    }

    /// The preset the renderer is playing (it lags [`Engine::enhancement`]'s chosen preset
    /// until the new preset's audio has arrived).
    pub fn active_preset(&self) -> Preset {
        self.inner().readings.active_preset()
    }

    /// Renderer counters: (frames of silence played because audio was missing, render calls,
    /// frames rendered).
    pub fn render_counters(&self) -> (u64, u64, u64) {
        let s = &self.inner().readings;
        (
            s.miss_frames.get(),
            s.callbacks.get(),
            s.frames_rendered.get(),
        )
    }

    /// Counters published by the renderer, for measuring how fast commands take effect (see
    /// `hearth bench`): read one before a command, spin until it moves.
    pub fn telemetry(&self) -> Telemetry {
        let s = &self.inner().readings;
        Telemetry {
            jump_done: s.jump_done(),
            generation: self.inner().control.lock().generation,
            mix_changes: s.mix_changes.get(),
            preset_switches: s.preset_switches.get(),
            audible_frames: s.audible_frames.get(),
            frames_rendered: s.frames_rendered.get(),
            callbacks: s.callbacks.get(),
            miss_frames: s.miss_frames.get(),
            dropped_events: s.dropped_events.get(),
        }
    }

    /// Warms whole entries into the warm tier in the background (lowest priority).
    pub fn warm(&self, entries: &[EntryId]) {
        let inner = self.inner();
        let mut c = inner.control.lock();
        c.warm = entries.iter().map(|e| e.0).collect();
        inner.send_plan(&c);
    }

    /// Test hook: a stalled filler produces nothing (to force misses).
    #[doc(hidden)]
    pub fn stall_filler(&self, stalled: bool) {
        self.inner().to_filler(FillerMsg::Stall(stalled));
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

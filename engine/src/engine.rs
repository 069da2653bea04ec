//! The control handle ([`Engine`]), its builder, and the event pump.
//!
//! `Engine` is `Clone + Send + Sync`; every method runs on the caller's thread and returns
//! quickly: it updates the queue, tells the filler what to produce, and queues a command for the
//! renderer. What happens after that arrives as [`Event`]s.
//!
//! Threads of a real-time engine: the audio thread (the output's), `hearth-filler` (the
//! filler's driver) and `hearth-events` (the pump: turns the renderer's and the filler's
//! reports into events, keeps the queue in step with what is playing, skips unplayable tracks,
//! watches the output). An offline engine has none of them: [`OfflineRenderer::render`] steps
//! the filler, renders and pumps events inline, deterministically.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use hearth_cache::filler::{Filler, FillerConfig, FillerEvent};
use hearth_cache::hot::{HotConfig, hot_tier};
use hearth_cache::{CacheConfig, CacheStats, DEFAULT_CHUNK_FRAMES, Variant, WarmStore};
use hearth_dsp::Preset;
use parking_lot::Mutex;

use crate::command::{COMMAND_QUEUE, Command};
use crate::driver::{Driver, FillerMsg, Plan};
use crate::error::EngineError;
use crate::event::{EVENT_QUEUE, Event, RtEvent};
use crate::queue::{EntryId, EntryStatus, Queue, QueueEntry, TrackMeta};
use crate::renderer::Renderer;
use crate::shared::{MAX_ENTRY, Shared, Transport};

/// How the engine is set up. Every field has a sensible default.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Engine rate; for a device, the device's rate is used when `None`.
    pub rate: Option<u32>,
    /// Output buffer size in frames (device default when `None`).
    pub buffer_frames: Option<u32>,
    /// Where the cache lives and how big it may grow.
    pub cache: CacheConfig,
    /// Frames per chunk.
    pub chunk_frames: u32,
    /// Memory for the hot tier, bytes.
    pub hot_bytes: usize,
    /// Enhancement on at start.
    pub enhance: bool,
    /// Preset at start.
    pub preset: Preset,
    /// Intensity at start (0..1).
    pub intensity: f32,
    /// Volume at start (linear, 0..4).
    pub volume: f32,
    /// Crossfade between tracks (zero: gapless).
    pub track_crossfade: Duration,
    /// How often `Event::Position` is sent while playing.
    pub position_interval: Duration,
    /// Warm the playing and next tracks whole into the warm tier.
    pub warm_ahead: bool,
    /// Test hook: the filler pauses this long after every unit of work (to show that the
    /// benchmarks measure what they claim).
    #[doc(hidden)]
    pub filler_delay: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            rate: None,
            buffer_frames: None,
            cache: CacheConfig::new(std::env::temp_dir().join("hearth-cache")),
            chunk_frames: DEFAULT_CHUNK_FRAMES,
            hot_bytes: hearth_cache::hot::DEFAULT_HOT_BYTES,
            enhance: true,
            preset: Preset::Adaptive,
            intensity: 1.0,
            volume: 1.0,
            track_crossfade: Duration::ZERO,
            position_interval: Duration::from_millis(250),
            warm_ahead: true,
            filler_delay: Duration::ZERO,
        }
    }
}

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
}

/// Builds an [`Engine`].
#[derive(Clone, Debug, Default)]
pub struct EngineBuilder {
    config: EngineConfig,
}

impl EngineBuilder {
    /// Defaults everywhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from a whole configuration.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// The cache directory.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.cache.dir = dir.into();
        self
    }

    /// The engine rate.
    pub fn rate(mut self, rate: u32) -> Self {
        self.config.rate = Some(rate);
        self
    }

    /// Frames per chunk.
    pub fn chunk_frames(mut self, frames: u32) -> Self {
        self.config.chunk_frames = frames.max(1024);
        self
    }

    /// Enhancement settings at start.
    pub fn enhancement(mut self, on: bool, preset: Preset, intensity: f32) -> Self {
        self.config.enhance = on;
        self.config.preset = preset;
        self.config.intensity = intensity.clamp(0.0, 1.0);
        self
    }

    /// Whether to warm whole tracks ahead into the warm tier.
    pub fn warm_ahead(mut self, on: bool) -> Self {
        self.config.warm_ahead = on;
        self
    }

    /// Output buffer size in frames (a device's default when not set).
    pub fn buffer_frames(mut self, frames: u32) -> Self {
        self.config.buffer_frames = Some(frames);
        self
    }

    /// Volume at start (linear, 0..4).
    pub fn volume(mut self, volume: f32) -> Self {
        self.config.volume = volume.clamp(0.0, 4.0);
        self
    }

    /// Crossfade between tracks (zero, the default: gapless).
    pub fn track_crossfade(mut self, d: Duration) -> Self {
        self.config.track_crossfade = d;
        self
    }

    /// How often position events are sent while playing.
    pub fn position_interval(mut self, d: Duration) -> Self {
        self.config.position_interval = d;
        self
    }

    pub(crate) fn into_config(self) -> EngineConfig {
        self.config
    }

    /// An engine that renders on demand, as fast as the caller asks ([`OfflineRenderer`]):
    /// for files, tests and benchmarks. `rate` is the engine rate (default 48 kHz).
    pub fn build_offline(self) -> Result<(Engine, OfflineRenderer), EngineError> {
        let rate = self.config.rate.unwrap_or(48_000);
        let parts = Parts::new(self.config, rate, false)?;
        let Parts {
            engine,
            renderer,
            driver,
            pump,
            ..
        } = parts;
        Ok((
            engine,
            OfflineRenderer {
                renderer,
                driver,
                pump,
            },
        ))
    }
}

/// The pieces an engine is made of, before they are handed to threads.
pub(crate) struct Parts {
    pub engine: Engine,
    pub renderer: Renderer,
    /// The filler serving the hot tier (offline: the only one, doing everything).
    pub driver: Driver,
    /// The background filler (real time only): warming and calibrating.
    pub background: Option<Driver>,
    pub pump: Pump,
}

impl Parts {
    /// The engine's pieces; `background` adds a second filler for background work (real time),
    /// otherwise one filler does everything (offline, deterministic).
    pub fn new(config: EngineConfig, rate: u32, background: bool) -> Result<Parts, EngineError> {
        if !(8_000..=384_000).contains(&rate) {
            return Err(EngineError::Config(format!(
                "engine rate {rate} Hz is out of range"
            )));
        }
        let shared = Arc::new(Shared::new(
            config.enhance,
            config.preset,
            config.intensity,
            config.volume,
        ));
        shared.track_crossfade.store(
            (config.track_crossfade.as_secs_f64() * f64::from(rate)) as u64,
            Ordering::Relaxed,
        );
        let store = Arc::new(WarmStore::open(config.cache.clone()));
        // The pump saves the index; the filler never waits for a file system sync.
        store.set_background_flush(true);
        let hot = HotConfig::with_budget(config.chunk_frames, config.hot_bytes);
        let (producer, consumer) = hot_tier(hot);
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_QUEUE);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(EVENT_QUEUE);
        let renderer = Renderer::new(
            consumer,
            cmd_rx,
            ev_tx,
            Arc::clone(&shared),
            rate,
            config.chunk_frames,
            hot.slots,
        );
        let (filler_tx, filler_rx) = crossbeam_channel::unbounded();
        let (fevents_tx, fevents_rx) = crossbeam_channel::unbounded();
        let filler_config = FillerConfig {
            engine_rate: rate,
            chunk_frames: config.chunk_frames,
        };
        let filler = if background {
            Filler::hot_only(producer, Arc::clone(&store), filler_config)
        } else {
            Filler::new(producer, Arc::clone(&store), filler_config)
        };
        let mut senders = vec![filler_tx];
        let background = if background {
            let bg = Filler::background(Arc::clone(&store), filler_config);
            let (tx, rx) = crossbeam_channel::unbounded();
            senders.push(tx);
            let mut d = Driver::new(bg, rx, Arc::clone(&shared), fevents_tx.clone());
            d.delay = config.filler_delay;
            Some(d)
        } else {
            None
        };
        let mut driver = Driver::new(filler, filler_rx, Arc::clone(&shared), fevents_tx);
        driver.delay = config.filler_delay;
        let inner = Arc::new(Inner {
            shared,
            store,
            rate,
            config,
            commands: Mutex::new(cmd_tx),
            filler: senders,
            control: Mutex::new(Control::default()),
            subscribers: Mutex::new(Vec::new()),
            output: Mutex::new(None),
            fallback: Mutex::new(None),
        });
        let pump = Pump {
            inner: Arc::clone(&inner),
            rt_events: ev_rx,
            filler_events: fevents_rx,
            last_position: None,
            last_underruns: 0,
            last_status: None,
            fallback: None,
        };
        let engine = Engine {
            handle: Arc::new(Handle {
                inner,
                threads: Mutex::new(Vec::new()),
                stop: Arc::new(AtomicBool::new(false)),
            }),
        };
        Ok(Parts {
            engine,
            renderer,
            driver,
            background,
            pump,
        })
    }
}

/// Control-side state, behind one lock (never taken on the audio thread).
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub queue: Queue,
    pub generation: u64,
    /// The jump the renderer has not carried out yet: entry, frame, generation.
    pub jump: Option<(u64, u64, u64)>,
    /// When each pending jump was asked for (for latency reports).
    pub jump_times: VecDeque<(u64, Instant)>,
    pub warm: Vec<u64>,
}

pub(crate) struct Inner {
    pub shared: Arc<Shared>,
    pub store: Arc<WarmStore>,
    pub rate: u32,
    pub config: EngineConfig,
    commands: Mutex<rtrb::Producer<Command>>,
    /// The filler(s): every message goes to each.
    filler: Vec<Sender<FillerMsg>>,
    pub control: Mutex<Control>,
    subscribers: Mutex<Vec<Sender<Event>>>,
    output: Mutex<Option<(crate::output::OutputInfo, Arc<crate::output::OutputStats>)>>,
    /// Why the output is the null sink although a device was asked for.
    pub fallback: Mutex<Option<String>>,
}

impl Inner {
    fn command(&self, cmd: Command) -> Result<(), EngineError> {
        self.commands
            .lock()
            .push(cmd)
            .map_err(|_| EngineError::Busy)
    }

    fn to_filler(&self, msg: FillerMsg) {
        for tx in &self.filler {
            let _ = tx.send(msg.clone());
        }
    }

    pub fn broadcast(&self, event: Event) {
        let mut subs = self.subscribers.lock();
        subs.retain(|s| match s.try_send(event.clone()) {
            Ok(()) | Err(crossbeam_channel::TrySendError::Full(_)) => true,
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => false,
        });
    }

    fn plan(&self, c: &Control) -> Plan {
        Plan {
            order: c
                .queue
                .entries
                .iter()
                .filter(|e| !matches!(e.status, EntryStatus::Failed(_)))
                .map(|e| e.id.0)
                .collect(),
            jump: c.jump,
            generation: c.generation,
            warm_ahead: self.config.warm_ahead,
            warm: c.warm.clone(),
        }
    }

    fn send_plan(&self, c: &Control) {
        self.to_filler(FillerMsg::Plan(self.plan(c)));
    }

    /// Moves playback to `entry` at `frame`: the filler is told first (so production starts
    /// at once), then the renderer.
    fn jump(&self, c: &mut Control, entry: EntryId, frame: u64) -> Result<(), EngineError> {
        c.generation += 1;
        c.jump = Some((entry.0, frame, c.generation));
        c.jump_times.push_back((c.generation, Instant::now()));
        while c.jump_times.len() > 64 {
            c.jump_times.pop_front();
        }
        c.queue.current = Some(entry);
        self.send_plan(c);
        self.command(Command::Jump {
            entry: entry.0,
            frame,
            generation: c.generation,
        })?;
        self.command(Command::SetNext {
            after: entry.0,
            next: c.queue.after(entry).map(|e| e.0),
        })
    }

    fn frames_of(&self, c: &Control, entry: EntryId) -> Option<u64> {
        c.queue
            .get(entry)
            .and_then(QueueEntry::meta)
            .map(|m| m.frames)
    }
}

/// The notice for playing into the null sink because the device could not be opened.
pub(crate) fn fallback_notice(reason: &str) -> String {
    format!("no audio device ({reason}); playing into the null sink")
}

/// Owns the threads; dropping the last `Engine` shuts everything down.
struct Handle {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop: Arc<AtomicBool>,
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
    handle: Arc<Handle>,
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

    pub(crate) fn weak(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.handle.inner))
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
        if let Some(cur) = c.queue.current {
            let _ = inner.command(Command::SetNext {
                after: cur.0,
                next: c.queue.after(cur).map(|e| e.0),
            });
        }
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
        let (playing_entry, _) = inner.shared.position();
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
        if self.inner().shared.transport() == Transport::Playing {
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
        self.inner().shared.enhance.store(on, Ordering::Relaxed);
        self.announce_enhancement();
    }

    /// Chooses the preset (switches when its audio is ready, usually at once).
    pub fn set_preset(&self, preset: Preset) {
        self.inner()
            .shared
            .preset
            .store(preset.id(), Ordering::Relaxed);
        let c = self.inner().control.lock();
        self.inner().send_plan(&c);
    }

    /// Sets the intensity, 0.0 (original) to 1.0 (fully enhanced).
    pub fn set_intensity(&self, intensity: f32) {
        self.inner()
            .shared
            .intensity
            .store(intensity.clamp(0.0, 1.0));
        self.announce_enhancement();
    }

    /// Sets the volume (linear gain, 0.0–4.0; smoothed).
    pub fn set_volume(&self, volume: f32) {
        self.inner().shared.volume.store(volume.clamp(0.0, 4.0));
    }

    fn announce_enhancement(&self) {
        let s = &self.inner().shared;
        self.inner().broadcast(Event::Enhancement {
            on: s.enhance.load(Ordering::Relaxed),
            preset: s.preset(),
            intensity: s.intensity.load(),
        });
    }

    /// Enhancement settings: (on, chosen preset, intensity).
    pub fn enhancement(&self) -> (bool, Preset, f32) {
        let s = &self.inner().shared;
        (
            s.enhance.load(Ordering::Relaxed),
            s.preset(),
            s.intensity.load(),
        )
    }

    /// The volume.
    pub fn volume(&self) -> f32 {
        self.inner().shared.volume.load()
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
        let (entry, frame) = self.inner().shared.position();
        (entry != 0).then(|| {
            (
                EntryId(entry),
                Duration::from_secs_f64(frame as f64 / f64::from(self.inner().rate)),
            )
        })
    }

    /// Playing, paused or stopped.
    pub fn transport(&self) -> Transport {
        self.inner().shared.transport()
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
        let s = &self.inner().shared;
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
        self.inner().shared.active_preset()
    }

    /// Renderer counters: (frames of silence played because audio was missing, render calls,
    /// frames rendered).
    pub fn render_counters(&self) -> (u64, u64, u64) {
        let s = &self.inner().shared;
        (
            s.miss_frames.load(Ordering::Relaxed),
            s.callbacks.load(Ordering::Relaxed),
            s.frames_rendered.load(Ordering::Relaxed),
        )
    }

    /// Counters published by the renderer, for measuring how fast commands take effect (see
    /// `hearth bench`): read one before a command, spin until it moves.
    pub fn telemetry(&self) -> Telemetry {
        let s = &self.inner().shared;
        Telemetry {
            jump_done: s.jump_done.load(Ordering::Acquire),
            generation: self.inner().control.lock().generation,
            mix_changes: s.mix_changes.load(Ordering::Acquire),
            preset_switches: s.preset_switches.load(Ordering::Acquire),
            audible_frames: s.audible_frames.load(Ordering::Acquire),
            frames_rendered: s.frames_rendered.load(Ordering::Acquire),
            callbacks: s.callbacks.load(Ordering::Acquire),
            miss_frames: s.miss_frames.load(Ordering::Acquire),
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

/// A handle that does not keep the engine alive (held by its own threads).
pub(crate) struct WeakEngine(std::sync::Weak<Inner>);

impl WeakEngine {
    pub fn upgrade(&self) -> Option<EngineRef> {
        self.0.upgrade().map(EngineRef)
    }
}

/// A strong reference to the engine's internals, for its own threads.
pub(crate) struct EngineRef(Arc<Inner>);

impl EngineRef {
    pub fn set_output_info(
        &self,
        info: crate::output::OutputInfo,
        stats: Arc<crate::output::OutputStats>,
    ) {
        *self.0.output.lock() = Some((info, stats));
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Turns what the renderer and filler report into events and keeps the control side in step.
pub(crate) struct Pump {
    inner: Arc<Inner>,
    rt_events: rtrb::Consumer<RtEvent>,
    filler_events: Receiver<FillerEvent>,
    last_position: Option<Instant>,
    last_underruns: u64,
    last_status: Option<bool>,
    /// Why the output is the null sink instead of the device asked for (reported once).
    pub fallback: Option<String>,
}

impl Pump {
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Handles everything waiting.
    pub fn poll(&mut self) {
        self.inner.store.flush_if_due();
        // The filler's news first: a track is opened (TrackReady, with its metadata) before
        // any of its audio can reach the renderer, so its TrackStarted finds the metadata.
        self.drain_filler();
        while let Ok(e) = self.rt_events.pop() {
            self.on_rt(e);
        }
        self.drain_filler();
        if let Some(status) = self.inner.store.take_status_change() {
            let healthy = !status.is_degraded();
            if self.last_status != Some(healthy) {
                self.last_status = Some(healthy);
                let reason = match status {
                    hearth_cache::StoreStatus::Degraded { reason } => Some(reason),
                    _ => None,
                };
                self.inner.broadcast(Event::CacheStatus { healthy, reason });
            }
        }
        self.position();
    }

    fn drain_filler(&mut self) {
        while let Ok(e) = self.filler_events.try_recv() {
            self.on_filler(e);
        }
    }

    /// Reports underruns counted by the output.
    pub fn underruns(&mut self, total: u64) {
        if total > self.last_underruns {
            self.last_underruns = total;
            self.inner.broadcast(Event::Underrun { total });
        }
    }

    fn position(&mut self) {
        let inner = &self.inner;
        if inner.shared.transport() != Transport::Playing {
            return;
        }
        let now = Instant::now();
        if self
            .last_position
            .is_some_and(|t| now.duration_since(t) < inner.config.position_interval)
        {
            return;
        }
        self.last_position = Some(now);
        let (entry, frame) = inner.shared.position();
        if entry == 0 {
            return;
        }
        let duration = {
            let c = inner.control.lock();
            c.queue
                .get(EntryId(entry))
                .and_then(QueueEntry::meta)
                .map(|m| m.duration.as_secs_f64())
        };
        inner.broadcast(Event::Position {
            entry: EntryId(entry),
            seconds: frame as f64 / f64::from(inner.rate),
            duration,
        });
    }

    fn on_rt(&mut self, e: RtEvent) {
        let inner = Arc::clone(&self.inner);
        match e {
            RtEvent::TrackStarted { entry } => {
                let id = EntryId(entry);
                // The TrackReady may have been sent after this poll drained the filler's
                // events but before the renderer got the audio: take it now.
                let known = inner
                    .control
                    .lock()
                    .queue
                    .get(id)
                    .is_some_and(|e| e.meta().is_some());
                if !known {
                    self.drain_filler();
                }
                let (path, meta) = {
                    let mut c = inner.control.lock();
                    c.queue.current = Some(id);
                    let next = c.queue.after(id).map(|e| e.0);
                    let _ = inner.command(Command::SetNext { after: entry, next });
                    inner.send_plan(&c);
                    let e = c.queue.get(id);
                    (
                        e.map(|e| e.path.clone()).unwrap_or_default(),
                        e.and_then(QueueEntry::meta).cloned(),
                    )
                };
                inner.broadcast(Event::TrackStarted {
                    entry: id,
                    path,
                    meta,
                });
            }
            RtEvent::TrackEnded { entry } => inner.broadcast(Event::TrackEnded {
                entry: EntryId(entry),
            }),
            RtEvent::QueueEnded => inner.broadcast(Event::QueueEnded),
            RtEvent::Buffering { entry, frame } => inner.broadcast(Event::Buffering {
                entry: EntryId(entry),
                seconds: frame as f64 / f64::from(inner.rate),
            }),
            RtEvent::Recovered { entry } => inner.broadcast(Event::Recovered {
                entry: EntryId(entry),
            }),
            RtEvent::JumpDone {
                entry,
                frame,
                generation,
            } => {
                let latency = {
                    let mut c = inner.control.lock();
                    if c.jump.is_some_and(|j| j.2 == generation) {
                        c.jump = None;
                        inner.send_plan(&c);
                    }
                    let at = c
                        .jump_times
                        .iter()
                        .find(|(g, _)| *g == generation)
                        .map(|(_, t)| *t);
                    c.jump_times.retain(|(g, _)| *g > generation);
                    at.map(|t| t.elapsed()).unwrap_or_default()
                };
                inner.broadcast(Event::Seeked {
                    entry: EntryId(entry),
                    seconds: frame as f64 / f64::from(inner.rate),
                    latency,
                });
            }
            RtEvent::PresetActive { preset } => inner.broadcast(Event::Enhancement {
                on: inner.shared.enhance.load(Ordering::Relaxed),
                preset,
                intensity: inner.shared.intensity.load(),
            }),
            RtEvent::Transport { state } => inner.broadcast(Event::Transport { state }),
        }
    }

    fn on_filler(&mut self, e: FillerEvent) {
        let inner = Arc::clone(&self.inner);
        match e {
            FillerEvent::TrackReady {
                entry,
                track,
                info,
                frames,
            } => {
                let meta = TrackMeta {
                    duration: Duration::from_secs_f64(frames as f64 / f64::from(inner.rate)),
                    info: *info,
                    frames,
                    track,
                };
                if let Some(q) = inner.control.lock().queue.get_mut(EntryId(entry)) {
                    q.status = EntryStatus::Ready(Box::new(meta.clone()));
                }
                inner.broadcast(Event::TrackReady {
                    entry: EntryId(entry),
                    meta,
                });
            }
            FillerEvent::TrackFailed { entry, error } => {
                let id = EntryId(entry);
                let message = {
                    let mut c = inner.control.lock();
                    let path = c
                        .queue
                        .get(id)
                        .map(|e| e.path.display().to_string())
                        .unwrap_or_default();
                    if let Some(q) = c.queue.get_mut(id) {
                        q.status = EntryStatus::Failed(error.clone());
                    }
                    // Skip it if it is (about to be) playing; fix the successor otherwise.
                    let playing =
                        c.queue.current == Some(id) || c.jump.is_some_and(|j| j.0 == entry);
                    if playing {
                        match c.queue.after(id) {
                            Some(next) => {
                                let _ = inner.jump(&mut c, next, 0);
                            }
                            None => {
                                c.jump = None;
                                let _ = inner.command(Command::Stop);
                            }
                        }
                    } else if let Some(cur) = c.queue.current {
                        let _ = inner.command(Command::SetNext {
                            after: cur.0,
                            next: c.queue.after(cur).map(|e| e.0),
                        });
                    }
                    inner.send_plan(&c);
                    format!("{path}: {error}")
                };
                inner.broadcast(Event::Error {
                    entry: Some(id),
                    message,
                });
            }
            FillerEvent::TrackDamaged { entry, message } => {
                let path = inner
                    .control
                    .lock()
                    .queue
                    .get(EntryId(entry))
                    .map(|e| e.path.display().to_string())
                    .unwrap_or_default();
                inner.broadcast(Event::Error {
                    entry: Some(EntryId(entry)),
                    message: format!("{path}: {message}; playing what decodes"),
                });
            }
            FillerEvent::CacheProgress {
                entry,
                track,
                variant,
                present,
                total,
            } => {
                inner.broadcast(Event::CacheProgress {
                    entry: Some(EntryId(entry)),
                    track,
                    variant,
                    present,
                    total,
                });
            }
        }
    }
}

/// Renders an engine offline, as fast as asked: files, tests, benchmarks.
///
/// Each [`OfflineRenderer::render`] call first lets the filler catch up with what the renderer
/// needs (unless stalled through [`Engine::stall_filler`]), then renders, then pumps events —
/// so an offline run is deterministic, and the sample at which a command takes effect can be
/// measured exactly.
pub struct OfflineRenderer {
    renderer: Renderer,
    driver: Driver,
    pump: Pump,
}

impl std::fmt::Debug for OfflineRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineRenderer")
            .field("renderer", &self.renderer)
            .finish_non_exhaustive()
    }
}

impl OfflineRenderer {
    /// Renders the next `out.len() / 2` frames (interleaved stereo).
    pub fn render(&mut self, out: &mut [f32]) {
        self.prepare();
        self.renderer.render(out);
        self.pump.poll();
    }

    /// Lets the filler catch up and pumps events, without rendering (what happens between
    /// callbacks). `render` does this itself.
    pub fn prepare(&mut self) {
        self.driver.poll();
        self.driver.catch_up(256);
        self.pump.poll();
    }

    /// The renderer alone, for tests that wrap it (allocation checks): call `prepare` first.
    pub fn render_only(&mut self, out: &mut [f32]) {
        self.renderer.render(out);
    }

    /// Test hook: with `false`, the renderer computes every frame on its general path instead
    /// of rendering steady stretches in one go — the output must not change.
    #[doc(hidden)]
    pub fn set_steady_runs(&mut self, on: bool) {
        self.renderer.set_steady_runs(on);
    }

    /// Pumps events after a `render_only`.
    pub fn finish(&mut self) {
        self.pump.poll();
    }
}

//! Building an engine: the configuration, the builder, and the three ways to run it — on an
//! output ([`EngineBuilder::build`]: a device, the null sink, a WAV recorder), with your own
//! audio callback ([`EngineBuilder::build_with_renderer`]), or offline
//! ([`EngineBuilder::build_offline`], rendering as fast as asked).
//!
//! A real-time engine has these threads: the audio thread (the output's), `hearth-filler` (the
//! hot tier's filler), `hearth-warmer`, `hearth-warmer-1`… (background fillers, one per core
//! but one, see `background::driver`), and `hearth-events` (the pump,
//! which also supervises the output). An offline engine has none: [`OfflineRenderer::render`]
//! steps the filler, renders and pumps events inline, deterministically.
//!
//! Runs on: the caller's thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hearth_cache::filler::{Filler, FillerConfig, Urgency};
use hearth_cache::hot::{HotConfig, hot_tier};
use hearth_cache::{CacheConfig, DEFAULT_CHUNK_FRAMES, WarmStore};
use hearth_dsp::Preset;
use parking_lot::Mutex;

use super::controls::Controls;
use super::engine::{Engine, Handle};
use super::state::{Control, Inner, fallback_notice};
use crate::audio::command::COMMAND_QUEUE;
use crate::audio::readings::Readings;
use crate::audio::renderer::{Renderer, RendererIo};
use crate::background::driver::{self, Driver, PlanSlot};
use crate::background::pump::Pump;
use crate::background::supervisor::{DeviceOpener, Opener, Supervisor};
use crate::error::EngineError;
use crate::event::{EVENT_QUEUE, Event};
use crate::output::{self, AudioCallback, Output, OutputSpec, OutputStats};

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
    /// Loudness normalisation of the original variant at start.
    pub normalize: super::loudness::Normalize,
    /// Background warming threads (real time): `None` is one per core but one (at least one,
    /// at most four).
    pub warmers: Option<usize>,
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
            normalize: super::loudness::Normalize::Off,
            warmers: None,
            filler_delay: Duration::ZERO,
        }
    }
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

    /// Background warming threads (default: one per core but one, 1–4); at least one.
    pub fn warmers(mut self, n: usize) -> Self {
        self.config.warmers = Some(n.max(1));
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
    /// The background fillers (real time only, one per core): warming and calibrating.
    pub background: Vec<Driver>,
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
        let controls = Arc::new(Controls::new(
            config.enhance,
            config.preset,
            config.intensity,
            config.volume,
        ));
        controls
            .set_track_crossfade((config.track_crossfade.as_secs_f64() * f64::from(rate)) as u64);
        let readings = Arc::new(Readings::new(config.preset));
        let store = Arc::new(WarmStore::open(config.cache.clone()));
        // The pump saves the index; the filler never waits for a file system sync.
        store.set_background_flush(true);
        let hot = HotConfig::with_budget(config.chunk_frames, config.hot_bytes);
        let (producer, consumer) = hot_tier(hot);
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(COMMAND_QUEUE);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(EVENT_QUEUE);
        let renderer = Renderer::new(
            RendererIo {
                hot: consumer,
                commands: cmd_rx,
                events: ev_tx,
                controls: Arc::clone(&controls),
                readings: Arc::clone(&readings),
            },
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
        // Seeks, jumps and preset changes preempt the real-time hot filler's less urgent work
        // (an offline engine's filler steps between commands anyway).
        let urgency = Urgency::new();
        let filler = if background {
            let mut f = Filler::hot_only(producer, Arc::clone(&store), filler_config);
            f.set_urgency(urgency.clone());
            f
        } else {
            Filler::new(producer, Arc::clone(&store), filler_config)
        };
        let mut senders = vec![filler_tx];
        let plans = Arc::new(PlanSlot::default());
        // Background warming on every core but one (at the lowest priority: it yields to the
        // hot filler and the audio thread), sharing each track's stream segments (see
        // `Filler::set_share`). One core is left to the hot filler and the audio thread: on
        // two cores, a warmer on each made seeks late and callbacks miss (bench runs).
        let warmers = if background {
            config.warmers.map_or_else(
                || {
                    std::thread::available_parallelism()
                        .map_or(1, |n| n.get().saturating_sub(1).clamp(1, MAX_WARMERS))
                },
                |n| n.max(1),
            )
        } else {
            0
        };
        let background: Vec<Driver> = (0..warmers)
            .map(|k| {
                let mut bg = Filler::background(Arc::clone(&store), filler_config);
                bg.set_share(k as u32, warmers as u32);
                let (tx, rx) = crossbeam_channel::unbounded();
                senders.push(tx);
                let mut d = Driver::new(
                    bg,
                    rx,
                    Arc::clone(&controls),
                    Arc::clone(&readings),
                    Arc::clone(&plans),
                    fevents_tx.clone(),
                );
                d.delay = config.filler_delay;
                d
            })
            .collect();
        let mut driver = Driver::new(
            filler,
            filler_rx,
            Arc::clone(&controls),
            Arc::clone(&readings),
            Arc::clone(&plans),
            fevents_tx,
        );
        driver.delay = config.filler_delay;
        let normalize = config.normalize;
        let inner = Arc::new(Inner {
            controls,
            readings,
            store,
            rate,
            config,
            commands: Mutex::new(cmd_tx),
            filler: senders,
            plans,
            urgency,
            control: Mutex::new(Control {
                normalize,
                ..Control::default()
            }),
            subscribers: Mutex::new(Vec::new()),
            output: Mutex::new(None),
            fallback: Mutex::new(None),
        });
        let pump = Pump::new(Arc::clone(&inner), ev_rx, fevents_rx);
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

impl AudioCallback for Renderer {
    fn render(&mut self, out: &mut [f32]) {
        Renderer::render(self, out);
    }
}

/// How often the pump looks for news when nothing wakes it.
const PUMP_PERIOD: Duration = Duration::from_millis(5);

impl EngineBuilder {
    /// Builds an engine playing through `spec` (a device, the null sink, or a WAV recorder).
    ///
    /// With a device that cannot be opened, the engine falls back to the null sink and says so
    /// in an `Event::Device` (and [`Engine::output_info`]); the machine without a sound card
    /// still plays, silently, in real time.
    pub fn build(self, spec: OutputSpec) -> Result<Engine, EngineError> {
        let config = self.into_config();
        let (neg, fallback_reason) =
            match output::negotiate(&spec, config.rate, config.buffer_frames) {
                Ok(n) => (n, None),
                Err(e) if matches!(spec, OutputSpec::Device { .. }) => {
                    let n = output::negotiate(
                        &OutputSpec::Null,
                        config.rate.or(Some(48_000)),
                        config.buffer_frames,
                    )
                    .map_err(EngineError::Output)?;
                    (n, Some(e.to_string()))
                }
                Err(e) => return Err(EngineError::Output(e)),
            };
        let rate = neg.rate();
        let buffer = config.buffer_frames;
        let Parts {
            engine,
            renderer,
            driver,
            background,
            mut pump,
        } = Parts::new(config, rate, true)?;
        let stats = Arc::new(OutputStats::new());
        let (notices_tx, notices_rx) = crossbeam_channel::unbounded();
        let output = match Output::start(
            neg,
            Box::new(renderer),
            Arc::clone(&stats),
            notices_tx.clone(),
        ) {
            Ok(o) => o,
            Err((e, source)) if matches!(spec, OutputSpec::Device { .. }) => {
                let null = output::negotiate(&OutputSpec::Null, Some(rate), buffer)
                    .map_err(EngineError::Output)?;
                let o = Output::start(null, source, Arc::clone(&stats), notices_tx.clone())
                    .map_err(|(e, _)| EngineError::Output(e))?;
                pump.fallback = Some(e.to_string());
                o
            }
            Err((e, _)) => return Err(EngineError::Output(e)),
        };
        if pump.fallback.is_none() {
            pump.fallback = fallback_reason;
        }
        engine.set_output_info(output.info().clone(), Arc::clone(&stats));
        engine.set_fallback(pump.fallback.clone());
        spawn_fillers(&engine, driver, background)?;
        let stop = engine.stop_flag();
        let opener: Option<Box<dyn Opener>> = match &spec {
            OutputSpec::Device { .. } => {
                Some(Box::new(DeviceOpener::new(spec.clone(), rate, buffer)))
            }
            _ => None,
        };
        let supervisor = Supervisor::new(
            output,
            stats,
            notices_rx,
            notices_tx,
            buffer,
            rate,
            opener,
            pump.fallback.clone(),
        );
        let pump_thread = std::thread::Builder::new()
            .name("hearth-events".into())
            .spawn(move || {
                let mut supervisor = supervisor;
                if let Some(reason) = pump.fallback.take() {
                    pump.inner().broadcast(Event::Error {
                        entry: None,
                        message: fallback_notice(&reason),
                    });
                }
                while !stop.load(Ordering::Acquire) {
                    pump.poll();
                    pump.underruns(supervisor.underruns());
                    if !supervisor.wait(PUMP_PERIOD, pump.inner()) {
                        break;
                    }
                }
                supervisor.finish();
            })?;
        engine.add_thread(pump_thread);
        Ok(engine)
    }
}

impl EngineBuilder {
    /// Builds a real-time engine whose audio callback is yours: the returned [`Renderer`] goes
    /// to your audio thread (JACK, a plugin host, your own cpal stream) and `render` is called
    /// there once per buffer; the fillers and the event pump run on the engine's threads as
    /// with [`EngineBuilder::build`]. `rate` is the engine rate (default 48 kHz) — your callback
    /// must run at it. No output statistics or device events: the output is yours.
    ///
    /// Runs on: the caller's thread; the renderer then belongs to the audio thread.
    pub fn build_with_renderer(self) -> Result<(Engine, Renderer), EngineError> {
        let config = self.into_config();
        let rate = config.rate.unwrap_or(48_000);
        let Parts {
            engine,
            renderer,
            driver,
            background,
            mut pump,
        } = Parts::new(config, rate, true)?;
        spawn_fillers(&engine, driver, background)?;
        let stop = engine.stop_flag();
        let pump_thread = std::thread::Builder::new()
            .name("hearth-events".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    pump.poll();
                    std::thread::park_timeout(PUMP_PERIOD);
                }
            })?;
        engine.add_thread(pump_thread);
        Ok((engine, renderer))
    }
}

/// Starts the filler serving the hot tier and the background warmers.
fn spawn_fillers(
    engine: &Engine,
    hot: driver::Driver,
    background: Vec<driver::Driver>,
) -> Result<(), EngineError> {
    engine.add_thread(driver::spawn(hot, 0)?);
    for (k, bg) in background.into_iter().enumerate() {
        engine.add_thread(driver::spawn(bg, k)?);
    }
    Ok(())
}

/// Most background warmers by default, however many cores: each holds a decoder and chains
/// per open track, and past a few the disk, not the cores, sets the pace.
const MAX_WARMERS: usize = 4;

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

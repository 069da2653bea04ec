//! Starting a real-time engine: negotiate the output, build the engine at its rate, hand the
//! renderer to the output, start the filler and the event pump, and keep the output alive.
//!
//! The pump thread also supervises the output: when the device is lost it takes the renderer
//! back (the output returns it when stopped), reopens the default device at the engine rate,
//! and if that fails plays on into the null sink — reporting each change once, never panicking.
//!
//! Runs on: the caller's thread (build), `hearth-events` (supervision).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::driver;
use crate::engine::{Engine, EngineBuilder, Parts, Pump};
use crate::error::EngineError;
use crate::event::Event;
use crate::output::{
    self, Output, OutputInfo, OutputKind, OutputNotice, OutputSpec, OutputStats, RenderSource,
};
use crate::renderer::Renderer;

impl RenderSource for Renderer {
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
                    .map_err(|e| EngineError::Output(e.to_string()))?;
                    (n, Some(e.to_string()))
                }
                Err(e) => return Err(EngineError::Output(e.to_string())),
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
                    .map_err(|e| EngineError::Output(e.to_string()))?;
                let o = Output::start(null, source, Arc::clone(&stats), notices_tx.clone())
                    .map_err(|(e, _)| EngineError::Output(e.to_string()))?;
                pump.fallback = Some(e.to_string());
                o
            }
            Err((e, _)) => return Err(EngineError::Output(e.to_string())),
        };
        if pump.fallback.is_none() {
            pump.fallback = fallback_reason;
        }
        engine.set_output_info(output.info().clone(), Arc::clone(&stats));
        engine.set_fallback(pump.fallback.clone());
        spawn_fillers(&engine, driver, background)?;
        let stop = engine.stop_flag();
        let supervisor = Supervisor {
            output: Some(output),
            stats,
            notices: notices_rx,
            notices_tx,
            buffer,
            rate,
        };
        let engine_for_pump = engine.weak();
        let pump_thread = std::thread::Builder::new()
            .name("hearth-events".into())
            .spawn(move || {
                let mut supervisor = supervisor;
                if let Some(reason) = pump.fallback.take() {
                    pump.inner().broadcast(Event::Error {
                        entry: None,
                        message: crate::engine::fallback_notice(&reason),
                    });
                }
                while !stop.load(Ordering::Acquire) {
                    pump.poll();
                    pump.underruns(supervisor.stats.underruns());
                    match supervisor.notices.recv_timeout(PUMP_PERIOD) {
                        Ok(notice) => supervisor.on_notice(notice, &pump, &engine_for_pump),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                if let Some(o) = supervisor.output.take() {
                    let _ = o.stop_and_finish();
                }
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

/// Starts the filler serving the hot tier and, if there is one, the background warmer.
fn spawn_fillers(
    engine: &Engine,
    hot: driver::Driver,
    background: Option<driver::Driver>,
) -> Result<(), EngineError> {
    engine.add_thread(driver::spawn(hot, false)?);
    if let Some(bg) = background {
        engine.add_thread(driver::spawn(bg, true)?);
    }
    Ok(())
}

/// Owns the running output on the pump thread.
struct Supervisor {
    output: Option<Output>,
    stats: Arc<OutputStats>,
    notices: Receiver<OutputNotice>,
    notices_tx: crossbeam_channel::Sender<OutputNotice>,
    buffer: Option<u32>,
    rate: u32,
}

impl Supervisor {
    fn announce(&self, pump: &Pump) {
        if let Some(o) = &self.output {
            let info = o.info();
            pump.inner().broadcast(Event::Device {
                name: describe(info),
                rate: info.rate,
                buffer_frames: info.buffer_frames,
            });
        }
    }

    fn on_notice(&mut self, notice: OutputNotice, pump: &Pump, engine: &crate::engine::WeakEngine) {
        match notice {
            OutputNotice::Xrun => {}
            OutputNotice::Changed { name } => {
                tracing::info!(%name, "output rerouted");
                if let Some(o) = &self.output {
                    let info = o.info();
                    pump.inner().broadcast(Event::Device {
                        name: name.clone(),
                        rate: info.rate,
                        buffer_frames: info.buffer_frames,
                    });
                }
            }
            OutputNotice::Lost { reason } => {
                let Some(old) = self.output.take() else {
                    return;
                };
                let was = old.info().clone();
                tracing::warn!(%reason, device = %was.name, "output lost");
                let Some(source) = old.stop() else {
                    pump.inner().broadcast(Event::Error {
                        entry: None,
                        message: format!("output lost ({reason}) and could not be recovered"),
                    });
                    return;
                };
                // Drain notices the dying stream sent after the loss.
                while self.notices.try_recv().is_ok() {}
                let (output, message) = self.reopen(source, &was);
                if let Some(o) = output {
                    if let Some(e) = engine.upgrade() {
                        e.set_output_info(o.info().clone(), Arc::clone(&self.stats));
                    }
                    self.output = Some(o);
                    self.announce(pump);
                }
                pump.inner().broadcast(Event::Error {
                    entry: None,
                    message: format!("output {} lost ({reason}); {message}", was.name),
                });
            }
        }
    }

    /// The default device at the engine rate, else the null sink.
    fn reopen(
        &mut self,
        source: Box<dyn RenderSource>,
        was: &OutputInfo,
    ) -> (Option<Output>, String) {
        let mut source = source;
        if was.kind == OutputKind::Device {
            for _ in 0..3 {
                match output::negotiate(
                    &OutputSpec::Device { name: None },
                    Some(self.rate),
                    self.buffer,
                ) {
                    Ok(neg) if neg.rate() == self.rate => {
                        match Output::start(
                            neg,
                            source,
                            Arc::clone(&self.stats),
                            self.notices_tx.clone(),
                        ) {
                            Ok(o) => {
                                let msg = format!("reopened {}", o.info().name);
                                return (Some(o), msg);
                            }
                            Err((_, s)) => source = s,
                        }
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        match output::negotiate(&OutputSpec::Null, Some(self.rate), self.buffer) {
            Ok(neg) => match Output::start(
                neg,
                source,
                Arc::clone(&self.stats),
                self.notices_tx.clone(),
            ) {
                Ok(o) => (Some(o), "playing into the null sink".into()),
                Err((e, _)) => (None, format!("and the null sink failed too: {e}")),
            },
            Err(e) => (None, format!("and the null sink failed too: {e}")),
        }
    }
}

fn describe(info: &OutputInfo) -> String {
    match info.kind {
        OutputKind::Device => format!(
            "{} ({} ch, {})",
            info.name, info.channels, info.sample_format
        ),
        OutputKind::Null => "null sink".into(),
        OutputKind::Wav => format!("WAV recorder: {}", info.name),
    }
}

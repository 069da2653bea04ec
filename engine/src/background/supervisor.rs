//! Supervising the output: when the device is lost, take the renderer back (the output
//! returns it when stopped), reopen the default device at the engine rate, and if that fails
//! play on into the null sink — reporting each change once, never panicking.
//!
//! Runs on: `hearth-events` (the pump's thread).

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::pump::Pump;
use crate::control::state::WeakEngine;
use crate::event::Event;
use crate::output::{
    self, AudioCallback, Output, OutputInfo, OutputKind, OutputNotice, OutputSpec, OutputStats,
};

/// Owns the running output on the pump thread.
pub(crate) struct Supervisor {
    output: Option<Output>,
    stats: Arc<OutputStats>,
    notices: Receiver<OutputNotice>,
    notices_tx: crossbeam_channel::Sender<OutputNotice>,
    buffer: Option<u32>,
    rate: u32,
}

impl Supervisor {
    /// Supervises `output`, which reports through `notices`.
    pub fn new(
        output: Output,
        stats: Arc<OutputStats>,
        notices: Receiver<OutputNotice>,
        notices_tx: crossbeam_channel::Sender<OutputNotice>,
        buffer: Option<u32>,
        rate: u32,
    ) -> Self {
        Supervisor {
            output: Some(output),
            stats,
            notices,
            notices_tx,
            buffer,
            rate,
        }
    }

    /// Underruns counted by the output so far.
    pub fn underruns(&self) -> u64 {
        self.stats.underruns()
    }

    /// Waits up to `period` for news from the output and handles it; false once the output
    /// side is gone.
    pub fn wait(&mut self, period: Duration, pump: &Pump, engine: &WeakEngine) -> bool {
        match self.notices.recv_timeout(period) {
            Ok(notice) => self.on_notice(notice, pump, engine),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return false,
        }
        true
    }

    /// Stops the output, letting it finish what it writes (a WAV file).
    pub fn finish(&mut self) {
        if let Some(o) = self.output.take() {
            let _ = o.stop_and_finish();
        }
    }

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

    fn on_notice(&mut self, notice: OutputNotice, pump: &Pump, engine: &WeakEngine) {
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
        source: Box<dyn AudioCallback>,
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

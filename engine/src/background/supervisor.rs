//! Supervising the output: when the device is lost, take the renderer back (the output returns
//! it when stopped) and play on into the null sink, then keep trying the wanted device every
//! 500 ms and move back to it as soon as it opens; while on the default device, follow the
//! system's default when it changes. Each change is reported once, nothing here panics.
//!
//! The renderer moves between sinks whole: its position keeps advancing on the null sink (it is
//! paced in real time like a device), so the device resumes where playback had reached, with a
//! 10 ms fade-in. Only the moment of the switch itself (stopping one sink, starting the other:
//! one buffer to tens of ms) is not rendered.
//!
//! **Rates.** The engine rate is fixed for the engine's life: the hot and warm tiers hold
//! chunks at it. A returning or new default device is opened at the engine rate when it offers
//! it (through a sound server every rate is offered); when it does not, the device's own rate
//! is used and the output stage converts (see `output/device/mod.rs`), so nothing in the tiers
//! is re-planned and no chunk is played at the wrong rate.
//!
//! Runs on: `hearth-events` (the pump's thread). Attempts to open a device run here too — a
//! refused one costs about a millisecond, one that opens tens of ms — never on the audio
//! thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::reconnect::{DEFAULT_CHECK_PERIOD, RETRY_PERIOD, Schedule};
use crate::control::state::Inner;
use crate::event::Event;
use crate::output::{
    self, AudioCallback, Negotiated, Output, OutputInfo, OutputKind, OutputNotice, OutputSpec,
    OutputStats,
};

/// Where the supervisor finds the device it wants: the real one through cpal, or a fake in
/// tests.
pub(crate) trait Opener: Send {
    /// Picks the wanted device and its configuration, opening nothing (the null sink keeps
    /// playing meanwhile). An error says why, for a person.
    fn probe(&mut self) -> Result<Negotiated, String>;
    /// The identity of the system's default device now, when following it; `None` when the
    /// wanted device is a named one (it is not followed) or there is no default.
    fn default_id(&mut self) -> Option<String>;
}

/// The real device: `spec` (`Device { name }`) negotiated at the engine rate.
pub(crate) struct DeviceOpener {
    spec: OutputSpec,
    rate: u32,
    buffer: Option<u32>,
}

impl DeviceOpener {
    /// Opens `spec` (a device) at `rate` with `buffer` frames when asked.
    pub fn new(spec: OutputSpec, rate: u32, buffer: Option<u32>) -> Self {
        DeviceOpener { spec, rate, buffer }
    }
}

impl Opener for DeviceOpener {
    fn probe(&mut self) -> Result<Negotiated, String> {
        // The engine rate is asked for; a device that does not offer it plays at its own rate
        // and the output stage converts.
        output::negotiate(&self.spec, Some(self.rate), self.buffer)
            .map(|neg| neg.source_at(self.rate))
            .map_err(|e| e.to_string())
    }

    fn default_id(&mut self) -> Option<String> {
        match self.spec {
            OutputSpec::Device { name: None } => output::default_device_id(),
            _ => None,
        }
    }
}

/// What the supervisor tells the rest of the engine.
pub(crate) trait Report {
    /// An event for the application.
    fn event(&self, event: Event);
    /// The output now playing, its counters, and why it is the null sink if a device was
    /// wanted.
    fn output(&self, info: &OutputInfo, stats: &Arc<OutputStats>, fallback: Option<String>);
}

/// The engine's side: events to its subscribers, the output to what `Engine::output_info`,
/// `output_stats` and `output_fallback` read.
impl Report for Inner {
    fn event(&self, event: Event) {
        self.broadcast(event);
    }

    fn output(&self, info: &OutputInfo, stats: &Arc<OutputStats>, fallback: Option<String>) {
        *self.output.lock() = Some((info.clone(), Arc::clone(stats)));
        *self.fallback.lock() = fallback;
    }
}

/// Where the supervisor stands.
enum State {
    /// Playing where it was asked to (or the sink asked for is not a device).
    Settled,
    /// On the default device, checking now and then that it is still the system's default.
    Following { id: Option<String>, check: Schedule },
    /// On the null sink although a device is wanted; trying it again on `retry`.
    Fallback {
        /// The device wanted (for messages).
        wanted: String,
        retry: Schedule,
        /// How the device left (for the `device_restored` reason).
        lost: bool,
    },
}

/// Owns the running output on the pump thread.
pub(crate) struct Supervisor {
    output: Option<Output>,
    stats: Arc<OutputStats>,
    notices: Receiver<OutputNotice>,
    notices_tx: Sender<OutputNotice>,
    buffer: Option<u32>,
    rate: u32,
    /// How to reach the wanted device; `None` when the output asked for is not a device.
    opener: Option<Box<dyn Opener>>,
    state: State,
}

impl Supervisor {
    /// Supervises `output`, which reports through `notices`. `opener`: how to reach the device
    /// asked for (`None` for the null and WAV sinks). `fallback`: why `output` is the null sink
    /// although a device was asked for — the supervisor then tries the device from the start.
    #[allow(clippy::too_many_arguments)] // one call site, each piece named there
    pub fn new(
        output: Output,
        stats: Arc<OutputStats>,
        notices: Receiver<OutputNotice>,
        notices_tx: Sender<OutputNotice>,
        buffer: Option<u32>,
        rate: u32,
        opener: Option<Box<dyn Opener>>,
        fallback: Option<String>,
    ) -> Self {
        let now = Instant::now();
        let mut s = Supervisor {
            output: Some(output),
            stats,
            notices,
            notices_tx,
            buffer,
            rate,
            opener,
            state: State::Settled,
        };
        s.state = match (&s.opener, fallback) {
            (Some(_), Some(_)) => State::Fallback {
                wanted: "the output device".into(),
                retry: Schedule::new(now, RETRY_PERIOD),
                lost: false,
            },
            (Some(_), None) => s.following(now),
            (None, _) => State::Settled,
        };
        s
    }

    /// Underruns counted by the output so far.
    pub fn underruns(&self) -> u64 {
        self.stats.underruns()
    }

    /// Waits up to `period` for news from the output and handles it, then makes whatever
    /// attempt is due; false once the output side is gone.
    pub fn wait(&mut self, period: Duration, report: &dyn Report) -> bool {
        match self.notices.recv_timeout(period) {
            Ok(notice) => self.on_notice(notice, report),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return false,
        }
        self.tick(Instant::now(), report);
        true
    }

    /// Stops the output, letting it finish what it writes (a WAV file).
    pub fn finish(&mut self) {
        if let Some(o) = self.output.take() {
            let _ = o.stop_and_finish();
        }
    }

    /// The output playing now.
    #[cfg(test)]
    pub fn info(&self) -> Option<&OutputInfo> {
        self.output.as_ref().map(Output::info)
    }

    fn following(&mut self, now: Instant) -> State {
        match self.opener.as_mut().map(|o| o.default_id()) {
            Some(Some(id)) => State::Following {
                id: Some(id),
                check: Schedule::new(now, DEFAULT_CHECK_PERIOD),
            },
            _ => State::Settled,
        }
    }

    fn on_notice(&mut self, notice: OutputNotice, report: &dyn Report) {
        match notice {
            OutputNotice::Xrun => {}
            OutputNotice::Changed { name } => {
                tracing::info!(%name, "output rerouted by the backend");
                if let Some(o) = &self.output {
                    let info = o.info();
                    report.event(Event::Device {
                        name,
                        rate: info.rate,
                        buffer_frames: info.buffer_frames,
                    });
                }
            }
            OutputNotice::Lost { reason } => self.lost(reason, report),
        }
    }

    /// The output is gone: move the renderer to the null sink, then try the device again.
    fn lost(&mut self, reason: String, report: &dyn Report) {
        let Some(old) = self.output.take() else {
            return;
        };
        let was = old.info().clone();
        tracing::warn!(%reason, device = %was.name, "output lost");
        let Some(source) = old.stop() else {
            report.event(Event::Error {
                entry: None,
                message: format!(
                    "output {} lost ({reason}) and could not be recovered",
                    was.name
                ),
            });
            return;
        };
        // Drain notices the dying stream sent after the loss.
        while self.notices.try_recv().is_ok() {}
        if was.kind != OutputKind::Device || self.opener.is_none() {
            // A WAV or null sink failed: nothing to come back to.
            report.event(Event::Error {
                entry: None,
                message: format!(
                    "output {} lost ({reason}); playing into the null sink",
                    was.name
                ),
            });
            self.state = State::Settled;
            self.onto_null(source, None, true, report);
            return;
        }
        report.event(Event::DeviceLost {
            name: was.name.clone(),
            reason: reason.clone(),
        });
        let why = format!(
            "{} lost ({reason}); trying to reopen it every 0.5 s",
            was.name
        );
        self.state = State::Fallback {
            wanted: was.name,
            retry: Schedule::new(Instant::now(), RETRY_PERIOD),
            lost: true,
        };
        self.onto_null(source, Some(why), true, report);
    }

    /// Plays `source` into the null sink; `announce`: send the `device` event (not after a
    /// failed attempt to go back: the application already knows it is on the null sink).
    fn onto_null(
        &mut self,
        source: Box<dyn AudioCallback>,
        why: Option<String>,
        announce: bool,
        report: &dyn Report,
    ) {
        let started = match output::negotiate(&OutputSpec::Null, Some(self.rate), self.buffer) {
            Ok(neg) => Output::start(
                neg,
                source,
                Arc::clone(&self.stats),
                self.notices_tx.clone(),
            ),
            Err(e) => Err((e, source)),
        };
        match started {
            Ok(o) => self.installed(o, why, announce, report),
            Err((e, _)) => report.event(Event::Error {
                entry: None,
                message: format!("the null sink failed too ({e}); playback stopped"),
            }),
        }
    }

    /// `o` is the output now: tell the engine and (`announce`) the application.
    fn installed(
        &mut self,
        o: Output,
        fallback: Option<String>,
        announce: bool,
        report: &dyn Report,
    ) {
        let info = o.info().clone();
        report.output(&info, &self.stats, fallback);
        if announce {
            report.event(Event::Device {
                name: describe(&info),
                rate: info.rate,
                buffer_frames: info.buffer_frames,
            });
        }
        self.output = Some(o);
    }

    /// Makes whatever attempt is due at `now`: reopening the wanted device, or looking whether
    /// the default device changed.
    fn tick(&mut self, now: Instant, report: &dyn Report) {
        match &mut self.state {
            State::Settled => {}
            State::Fallback { retry, .. } => {
                if retry.due(now) {
                    self.retry(now, report);
                }
            }
            State::Following { id, check } => {
                if !check.due(now) {
                    return;
                }
                let was = id.clone();
                let current = self.opener.as_mut().and_then(|o| o.default_id());
                if let State::Following { check, .. } = &mut self.state {
                    check.attempted(now, Instant::now());
                }
                if current.is_some() && current != was {
                    tracing::info!(from = ?was, to = ?current, "the default output device changed");
                    self.switch(now, "the default output device changed", report);
                }
            }
        }
    }

    /// One attempt to get back to the wanted device.
    fn retry(&mut self, now: Instant, report: &dyn Report) {
        let (wanted, lost) = match &self.state {
            State::Fallback { wanted, lost, .. } => (wanted.clone(), *lost),
            _ => return,
        };
        let reason = if lost {
            format!("{wanted} is back")
        } else {
            "the output device became available".to_owned()
        };
        let switched = self.switch(now, &reason, report);
        if let State::Fallback { retry, .. } = &mut self.state
            && !switched
        {
            retry.attempted(now, Instant::now());
        }
    }

    /// Probes the wanted device and, if it answers, moves the renderer onto it (back to the
    /// null sink if it then fails to start). True when the device plays.
    fn switch(&mut self, now: Instant, reason: &str, report: &dyn Report) -> bool {
        let Some(opener) = self.opener.as_mut() else {
            return false;
        };
        let neg = match opener.probe() {
            Ok(neg) => neg,
            Err(e) => {
                tracing::debug!(error = %e, "the output device is not available yet");
                return false;
            }
        };
        let Some(current) = self.output.take() else {
            return false;
        };
        let fallback_name = current.info().name.clone();
        let Some(source) = current.stop() else {
            report.event(Event::Error {
                entry: None,
                message: format!("output {fallback_name} did not give the renderer back"),
            });
            return false;
        };
        while self.notices.try_recv().is_ok() {}
        match Output::take_over(
            neg,
            source,
            Arc::clone(&self.stats),
            self.notices_tx.clone(),
        ) {
            Ok(o) => {
                let name = o.info().name.clone();
                tracing::info!(device = %name, %reason, "playing on the device again");
                report.event(Event::DeviceRestored {
                    name,
                    reason: reason.to_owned(),
                });
                self.installed(o, None, true, report);
                self.state = self.following(now);
                true
            }
            Err((e, source)) => {
                tracing::debug!(error = %e, "the output device answered but did not start");
                let why = match &self.state {
                    State::Fallback { wanted, .. } => {
                        format!("{wanted} unavailable ({e}); trying to reopen it every 0.5 s")
                    }
                    _ => format!("{e}; trying to reopen the device every 0.5 s"),
                };
                let announce = !matches!(self.state, State::Fallback { .. });
                if announce {
                    // Following the default failed half-way: from now on, retry it.
                    self.state = State::Fallback {
                        wanted: fallback_name,
                        retry: Schedule::new(now, RETRY_PERIOD),
                        lost: true,
                    };
                }
                self.onto_null(source, Some(why), announce, report);
                false
            }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    use parking_lot::Mutex;

    use super::*;

    /// A device that refuses `fails` probes, then answers (and plays like the null sink).
    struct FakeDevice {
        fails: u32,
        probes: Arc<AtomicU32>,
        default: Arc<Mutex<Option<String>>>,
    }

    impl Opener for FakeDevice {
        fn probe(&mut self) -> Result<Negotiated, String> {
            let n = self.probes.fetch_add(1, Ordering::Relaxed);
            if n < self.fails {
                return Err("refused".into());
            }
            let name = self
                .default
                .lock()
                .clone()
                .unwrap_or_else(|| "fake device".into());
            output::negotiate(&OutputSpec::Null, Some(48_000), Some(256))
                .map(|n| n.posing_as_device(&name))
                .map_err(|e| e.to_string())
        }

        fn default_id(&mut self) -> Option<String> {
            self.default.lock().clone()
        }
    }

    #[derive(Default)]
    struct Recorder {
        events: Mutex<Vec<Event>>,
        fallback: Mutex<Option<String>>,
    }

    impl Report for Recorder {
        fn event(&self, event: Event) {
            self.events.lock().push(event);
        }
        fn output(&self, _: &OutputInfo, _: &Arc<OutputStats>, fallback: Option<String>) {
            *self.fallback.lock() = fallback;
        }
    }

    struct Rig {
        sup: Supervisor,
        rec: Recorder,
        probes: Arc<AtomicU32>,
        frames: Arc<AtomicU64>,
        notices: Sender<OutputNotice>,
        default: Arc<Mutex<Option<String>>>,
    }

    /// A supervisor on the null sink with a counting source, wanting a fake device that fails
    /// `fails` times; `default`: the fake system default (followed when set).
    fn rig(fails: u32, default: Option<&str>, fallback: bool) -> Rig {
        let frames = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&frames);
        let source = move |out: &mut [f32]| {
            out.fill(0.25);
            counter.fetch_add(out.len() as u64 / 2, Ordering::Relaxed);
        };
        let stats = Arc::new(OutputStats::new());
        let (tx, rx) = crossbeam_channel::unbounded();
        let probes = Arc::new(AtomicU32::new(0));
        let default = Arc::new(Mutex::new(default.map(str::to_owned)));
        let mut opener = FakeDevice {
            fails,
            probes: Arc::clone(&probes),
            default: Arc::clone(&default),
        };
        let first = if fallback {
            output::negotiate(&OutputSpec::Null, Some(48_000), Some(256)).unwrap()
        } else {
            let n = opener.probe().unwrap();
            probes.store(0, Ordering::Relaxed);
            n
        };
        let output = Output::start(first, Box::new(source), Arc::clone(&stats), tx.clone())
            .map_err(|(e, _)| e)
            .unwrap();
        let sup = Supervisor::new(
            output,
            stats,
            rx,
            tx.clone(),
            Some(256),
            48_000,
            Some(Box::new(opener)),
            fallback.then(|| "no device".to_owned()),
        );
        Rig {
            sup,
            rec: Recorder::default(),
            probes,
            frames,
            notices: tx,
            default,
        }
    }

    impl Rig {
        /// Runs the supervisor like the pump does until `done` or 5 s; the time it took.
        fn run_until(&mut self, done: impl Fn(&Supervisor) -> bool) -> Duration {
            let t0 = Instant::now();
            while !done(&self.sup) {
                assert!(t0.elapsed() < Duration::from_secs(5), "timed out");
                self.sup.wait(Duration::from_millis(5), &self.rec);
            }
            t0.elapsed()
        }

        fn take_events(&self) -> Vec<Event> {
            std::mem::take(&mut *self.rec.events.lock())
        }
    }

    fn on(kind: OutputKind) -> impl Fn(&Supervisor) -> bool {
        move |s| s.info().is_some_and(|i| i.kind == kind)
    }

    #[test]
    fn a_device_that_fails_n_times_is_retried_every_half_second_then_played_on() {
        let mut r = rig(3, None, true);
        let took = r.run_until(on(OutputKind::Device));
        assert_eq!(
            r.probes.load(Ordering::Relaxed),
            4,
            "3 refusals, then the one that opened"
        );
        assert!(
            took >= Duration::from_millis(4 * 500) && took < Duration::from_millis(4 * 500 + 400),
            "4 attempts 500 ms apart took {took:?}"
        );
        let ev = r.take_events();
        assert!(
            matches!(&ev[..], [Event::DeviceRestored { name, .. }, Event::Device { .. }] if name == "fake device"),
            "{ev:?}"
        );
        assert_eq!(*r.rec.fallback.lock(), None);
        // The same source kept playing all along, in real time, on the null sink and then on
        // the device (the position never stopped).
        let before = r.frames.load(Ordering::Relaxed);
        assert!(
            before as f64 >= took.as_secs_f64() * 48_000.0 * 0.8,
            "{before} frames rendered in {took:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        assert!(r.frames.load(Ordering::Relaxed) > before + 4_800);
        r.sup.finish();
    }

    #[test]
    fn a_lost_device_falls_back_to_null_and_comes_back_when_it_returns() {
        let mut r = rig(0, None, false);
        assert_eq!(r.sup.info().map(|i| i.kind), Some(OutputKind::Device));
        r.notices
            .send(OutputNotice::Lost {
                reason: "unplugged".into(),
            })
            .unwrap();
        r.run_until(on(OutputKind::Null));
        let ev = r.take_events();
        assert!(
            matches!(&ev[..], [Event::DeviceLost { name, reason }, Event::Device { name: null, .. }]
                if name == "fake device" && reason == "unplugged" && null == "null sink"),
            "{ev:?}"
        );
        assert!(
            r.rec
                .fallback
                .lock()
                .as_deref()
                .is_some_and(|f| f.contains("fake device lost"))
        );
        let frames = r.frames.load(Ordering::Relaxed);
        let took = r.run_until(on(OutputKind::Device));
        assert!(
            took <= Duration::from_millis(600),
            "back after {took:?} (one retry period)"
        );
        let ev = r.take_events();
        assert!(
            matches!(&ev[..], [Event::DeviceRestored { reason, .. }, Event::Device { .. }]
                if reason == "fake device is back"),
            "{ev:?}"
        );
        assert!(
            r.frames.load(Ordering::Relaxed) > frames,
            "the position stood still"
        );
        r.sup.finish();
    }

    #[test]
    fn playback_follows_the_system_default_device() {
        let mut r = rig(0, Some("speakers"), false);
        // The default does not change: nothing happens.
        std::thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(1200) {
            r.sup.wait(Duration::from_millis(5), &r.rec);
        }
        assert!(r.take_events().is_empty());
        *r.default.lock() = Some("headset".into());
        r.run_until(|s| s.info().is_some_and(|i| i.name == "headset"));
        let ev = r.take_events();
        assert!(
            matches!(&ev[..], [Event::DeviceRestored { name, reason }, Event::Device { .. }]
                if name == "headset" && reason.contains("default")),
            "{ev:?}"
        );
        r.sup.finish();
    }
}

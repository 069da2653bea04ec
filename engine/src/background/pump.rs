//! The event pump: turns what the renderer and the fillers report into [`Event`]s, and keeps
//! the control side in step with what is playing (the current entry after a gapless change,
//! skipping an entry that fails to open, the next entry the renderer must know).
//!
//! Runs on: `hearth-events` (a real-time engine) or the offline caller's thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use hearth_cache::filler::FillerEvent;

use crate::audio::command::Command;
use crate::audio::readings::Transport;
use crate::control::queue::{EntryId, EntryStatus, QueueEntry, TrackMeta};
use crate::control::state::Inner;
use crate::event::{Event, RtEvent};

/// How often the normalisation gains are recomputed.
const GAINS_PERIOD: Duration = Duration::from_millis(250);

/// Turns what the renderer and filler report into events and keeps the control side in step.
pub(crate) struct Pump {
    inner: Arc<Inner>,
    rt_events: rtrb::Consumer<RtEvent>,
    filler_events: Receiver<FillerEvent>,
    last_position: Option<Instant>,
    last_underruns: u64,
    last_status: Option<bool>,
    last_gains: Option<Instant>,
    /// Why the output is the null sink instead of the device asked for (reported once).
    pub fallback: Option<String>,
}

impl Pump {
    /// A pump for the engine `inner`, reading the renderer's and the fillers' reports.
    pub fn new(
        inner: Arc<Inner>,
        rt_events: rtrb::Consumer<RtEvent>,
        filler_events: Receiver<FillerEvent>,
    ) -> Self {
        Pump {
            inner,
            rt_events,
            filler_events,
            last_position: None,
            last_underruns: 0,
            last_status: None,
            last_gains: None,
            fallback: None,
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Handles everything waiting.
    pub fn poll(&mut self) {
        self.inner.store.flush_if_due();
        {
            let mut c = self.inner.control.lock();
            if c.next_unsent {
                self.inner.send_next(&mut c);
            }
        }
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
        self.gains();
    }

    /// Recomputes the normalisation gains a few times a second: the playhead moves on, tracks
    /// are opened and analysed.
    fn gains(&mut self) {
        let now = Instant::now();
        if self
            .last_gains
            .is_some_and(|t| now.duration_since(t) < GAINS_PERIOD)
        {
            return;
        }
        self.last_gains = Some(now);
        let c = self.inner.control.lock();
        self.inner.update_gains(&c);
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
        if inner.readings.transport() != Transport::Playing {
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
        let (entry, frame) = inner.readings.position();
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
                    inner.send_next(&mut c);
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
                    if c.jump.is_some_and(|j| j.generation == generation) {
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
                on: inner.controls.enhance(),
                preset,
                intensity: inner.controls.intensity(),
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
                        c.queue.current == Some(id) || c.jump.is_some_and(|j| j.entry == entry);
                    if playing {
                        let moved = match c.queue.after(id) {
                            Some(next) => inner.jump(&mut c, next, 0),
                            None => {
                                c.jump = None;
                                inner.command(Command::Stop)
                            }
                        };
                        if let Err(e) = moved {
                            tracing::warn!(%e, "cannot move past an unplayable track");
                        }
                    } else {
                        inner.send_next(&mut c);
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

//! The UI's memory between frames, and its glue to the engine: events update it, key actions
//! become engine calls, and [`Session::view`] gathers a [`ViewModel`] each frame.
//!
//! Cheap values (position, transport, enhancement, volume, output counters) are read from the
//! engine on every frame. The queue and the cache map are copied when an event says they
//! changed, and at least every second anyway.
//!
//! Runs on: the UI thread.

use std::time::{Duration, Instant};

use hearth::{Engine, EntryId, EntryStatus, Event, Preset, QueueEntry, TrackMeta, Variant};

use super::keys::Action;
use super::view::{
    CacheRow, EnhancementView, Notice, OutputView, QueueRow, RowStatus, TrackView, ViewModel,
};

/// How long an error stays on the notice line.
const ERROR_FOR: Duration = Duration::from_secs(6);
/// How long information stays.
const INFO_FOR: Duration = Duration::from_secs(3);
/// The queue and cache map are refreshed at least this often.
const REFRESH: Duration = Duration::from_secs(1);
/// A seek not confirmed by the engine within this time is forgotten.
const SEEK_PENDING_FOR: Duration = Duration::from_millis(1500);

/// A seek asked for but not yet audible: the display shows its target, and further relative
/// seeks start from it (so three quick → presses go 15 s ahead).
#[derive(Debug, Clone, Copy)]
struct PendingSeek {
    entry: EntryId,
    seconds: f64,
    asked: Instant,
}

/// What the UI remembers between frames.
#[derive(Debug)]
pub struct Session<'e> {
    engine: &'e Engine,
    queue: Vec<QueueEntry>,
    queue_stale: bool,
    queue_read: Instant,
    cache: Vec<(Variant, Vec<bool>)>,
    cache_entry: Option<EntryId>,
    cache_stale: bool,
    cache_read: Instant,
    buffering: Option<EntryId>,
    pending_seek: Option<PendingSeek>,
    notice: Option<(Notice, Instant)>,
    cache_problem: Option<String>,
    queue_ended: bool,
}

impl<'e> Session<'e> {
    /// A session over `engine`.
    pub fn new(engine: &'e Engine) -> Self {
        let now = Instant::now();
        Session {
            engine,
            queue: Vec::new(),
            queue_stale: true,
            queue_read: now,
            cache: Vec::new(),
            cache_entry: None,
            cache_stale: true,
            cache_read: now,
            buffering: None,
            pending_seek: None,
            notice: None,
            cache_problem: None,
            queue_ended: false,
        }
    }

    /// The queue has played out.
    pub fn queue_ended(&self) -> bool {
        self.queue_ended
    }

    /// Shows an error on the notice line.
    pub fn error(&mut self, text: impl Into<String>) {
        self.notice = Some((
            Notice {
                text: text.into(),
                error: true,
            },
            Instant::now() + ERROR_FOR,
        ));
    }

    /// Shows information on the notice line (an error still showing is kept).
    fn info(&mut self, text: impl Into<String>) {
        if matches!(&self.notice, Some((n, until)) if n.error && *until > Instant::now()) {
            return;
        }
        self.notice = Some((
            Notice {
                text: text.into(),
                error: false,
            },
            Instant::now() + INFO_FOR,
        ));
    }

    /// Takes an engine event into account.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::TrackStarted { entry, .. } => {
                self.queue_stale = true;
                self.cache_stale = true;
                if self.buffering != Some(entry) {
                    self.buffering = None;
                }
                if self.pending_seek.is_some_and(|p| p.entry != entry) {
                    self.pending_seek = None;
                }
            }
            Event::TrackReady { .. } => {
                self.queue_stale = true;
                self.cache_stale = true;
            }
            Event::QueueEnded => self.queue_ended = true,
            Event::Buffering { entry, .. } => self.buffering = Some(entry),
            Event::Recovered { .. } => self.buffering = None,
            Event::Seeked { entry, seconds, .. } => {
                if let Some(p) = self.pending_seek
                    && (p.entry != entry || (p.seconds - seconds).abs() < 0.1)
                {
                    self.pending_seek = None;
                }
            }
            Event::Transport {
                state: hearth::Transport::Stopped,
            } => self.buffering = None,
            Event::Enhancement { .. } => self.cache_stale = true,
            Event::CacheProgress { entry, .. } if entry.is_none() || entry == self.cache_entry => {
                self.cache_stale = true;
            }
            Event::CacheStatus { healthy, reason } => {
                self.cache_problem =
                    (!healthy).then(|| reason.unwrap_or_else(|| "unknown reason".into()));
                self.cache_stale = true;
            }
            Event::Device { name, rate, .. } => self.info(format!("output: {name} at {rate} Hz")),
            Event::DeviceLost { name, reason } => self.error(format!(
                "output {name} lost ({reason}); retrying every 0.5 s"
            )),
            Event::DeviceRestored { name, reason } => {
                self.info(format!("playing on {name} again ({reason})"))
            }
            Event::Error { message, .. } => {
                self.queue_stale = true;
                self.error(message);
            }
            _ => {}
        }
    }

    /// Carries out a key's action. Engine errors go to the notice line.
    pub fn on_action(&mut self, action: Action) {
        let engine = self.engine;
        let result = match action {
            Action::Quit => Ok(()),
            Action::TogglePause => engine.toggle_pause(),
            Action::SeekBy(delta) => self.seek_by(delta),
            Action::SeekTenths(k) => match self.current_meta().map(|m| m.duration) {
                Some(d) => self.seek_to(d.as_secs_f64() * f64::from(k) / 10.0),
                None => {
                    self.info("the track's length is not known yet");
                    Ok(())
                }
            },
            Action::ToggleEnhancement => {
                let (on, _, _) = engine.enhancement();
                engine.set_enhancement(!on);
                Ok(())
            }
            Action::Preset(forward) => {
                let (_, preset, _) = engine.enhancement();
                let p = if forward {
                    preset.next()
                } else {
                    preset.previous()
                };
                engine.set_preset(p);
                self.cache_stale = true;
                Ok(())
            }
            Action::Intensity(delta) => {
                let (_, _, i) = engine.enhancement();
                engine.set_intensity(step(i, delta, 1.0));
                Ok(())
            }
            Action::Volume(delta) => {
                engine.set_volume(step(engine.volume(), delta, 4.0));
                Ok(())
            }
            Action::CycleNormalize => {
                let next = match engine.normalize() {
                    hearth::Normalize::Off => hearth::Normalize::Track,
                    hearth::Normalize::Track => hearth::Normalize::Album,
                    hearth::Normalize::Album => hearth::Normalize::Off,
                };
                engine.set_normalize(next);
                self.info(format!("loudness normalisation: {next}"));
                Ok(())
            }
            Action::Next => {
                self.pending_seek = None;
                engine.next()
            }
            Action::Previous => {
                self.pending_seek = None;
                engine.previous()
            }
            Action::SavePlaylist => {
                self.save_queue();
                Ok(())
            }
        };
        if let Err(e) = result {
            self.error(e.to_string());
        }
    }

    /// Saves the queue to `queue-<unix seconds>.m3u8` in the data directory's `playlists`
    /// folder and shows where (or why not) on the notice line. The path stays up as long as an
    /// error would, and even over one: it is the answer to the key just pressed.
    fn save_queue(&mut self) {
        let saved = crate::playlist::queue_save_path(std::time::SystemTime::now())
            .and_then(|path| crate::playlist::save_queue(self.engine, &path).map(|n| (path, n)));
        match saved {
            Ok((path, n)) => {
                self.notice = Some((
                    Notice {
                        text: format!(
                            "saved {n} {} to {}",
                            if n == 1 { "entry" } else { "entries" },
                            path.display()
                        ),
                        error: false,
                    },
                    Instant::now() + ERROR_FOR,
                ));
            }
            Err(e) => self.error(format!("save: {e}")),
        }
    }

    /// Seeks by `delta` seconds from the displayed position.
    fn seek_by(&mut self, delta: f64) -> Result<(), hearth::EngineError> {
        let from = self.position().as_secs_f64();
        let mut to = (from + delta).max(0.0);
        if let Some(d) = self.current_meta().map(|m| m.duration.as_secs_f64()) {
            to = to.min(d);
        }
        self.seek_to(to)
    }

    fn seek_to(&mut self, seconds: f64) -> Result<(), hearth::EngineError> {
        self.engine
            .seek(Duration::from_secs_f64(seconds.max(0.0)))?;
        if let Some(entry) = self.engine.current() {
            self.pending_seek = Some(PendingSeek {
                entry,
                seconds,
                asked: Instant::now(),
            });
        }
        Ok(())
    }

    /// The current entry's metadata, once it has been opened.
    fn current_meta(&self) -> Option<&TrackMeta> {
        let current = self.engine.current()?;
        self.queue.iter().find(|e| e.id == current)?.meta()
    }

    /// The position of the current entry: a seek's target until it is audible, else what the
    /// engine plays (zero while another entry is still audible).
    fn position(&self) -> Duration {
        let current = self.engine.current();
        if let Some(p) = self.pending_seek
            && Some(p.entry) == current
            && p.asked.elapsed() < SEEK_PENDING_FOR
        {
            return Duration::from_secs_f64(p.seconds);
        }
        match self.engine.position() {
            Some((entry, t)) if Some(entry) == current => t,
            _ => Duration::ZERO,
        }
    }

    /// Copies the queue and cache map from the engine when they are stale.
    fn refresh(&mut self, now: Instant) {
        if self.queue_stale || now.duration_since(self.queue_read) >= REFRESH {
            self.queue = self.engine.queue();
            self.queue_stale = false;
            self.queue_read = now;
        }
        let current = self.engine.current();
        if current != self.cache_entry
            || self.cache_stale
            || now.duration_since(self.cache_read) >= REFRESH / 2
        {
            self.cache = current.map_or_else(Vec::new, |e| self.engine.cache_map(e));
            self.cache_entry = current;
            self.cache_stale = false;
            self.cache_read = now;
        }
    }

    /// Why nothing can ever play (every entry failed), if so.
    pub fn nothing_playable(&self) -> Option<String> {
        let mut failures = self.queue.iter().map(|e| match &e.status {
            EntryStatus::Failed(why) => Some(format!("{}: {why}", e.path.display())),
            _ => None,
        });
        let first = failures.next()??;
        failures.all(|f| f.is_some()).then_some(first)
    }

    /// The cache map's rows: the engine's, plus an empty row for the enhanced variant while
    /// the engine has none yet (its preparation has not started), so both rows are always
    /// there.
    fn cache_rows(&self, chosen: Preset) -> Vec<CacheRow> {
        let row = |variant: Variant, chunks: Vec<bool>| CacheRow {
            label: match variant {
                Variant::Original => "original".to_string(),
                Variant::Enhanced(p) => p.name().to_string(),
            },
            chunks,
            enhanced: matches!(variant, Variant::Enhanced(_)),
        };
        let mut rows: Vec<CacheRow> = self
            .cache
            .iter()
            .map(|(variant, chunks)| row(*variant, chunks.clone()))
            .collect();
        let has_enhanced = rows.iter().any(|r| r.enhanced);
        if !has_enhanced && let Some(original) = rows.first() {
            let empty = vec![false; original.chunks.len()];
            rows.push(row(Variant::Enhanced(chosen), empty));
        }
        rows
    }

    /// Everything the next frame shows.
    pub fn view(&mut self, now: Instant) -> ViewModel {
        self.refresh(now);
        if self.notice.as_ref().is_some_and(|(_, until)| *until <= now) {
            self.notice = None;
        }
        if self
            .pending_seek
            .is_some_and(|p| now.duration_since(p.asked) >= SEEK_PENDING_FOR)
        {
            self.pending_seek = None;
        }
        let engine = self.engine;
        let current = engine.current();
        let track = current
            .and_then(|c| self.queue.iter().find(|e| e.id == c))
            .map(|e| {
                let meta = e.meta();
                let tags = meta.map(|m| &m.info.tags);
                TrackView {
                    title: tags
                        .and_then(|t| t.title.clone())
                        .unwrap_or_else(|| file_name(e)),
                    artist: tags.and_then(|t| t.artist.clone()),
                    album: tags.and_then(|t| t.album.clone()),
                    duration: meta.map(|m| m.duration),
                }
            });
        let (on, preset, intensity) = engine.enhancement();
        let output = engine.output_info().map(|info| {
            let stats = engine.output_stats();
            OutputView {
                name: info.name,
                rate: info.rate,
                buffer_frames: info.buffer_frames,
                underruns: stats.as_ref().map_or(0, |s| s.underruns()),
                load_last: stats.as_ref().map_or(0.0, |s| s.load_last()),
                load_max: stats.as_ref().map_or(0.0, |s| s.load_max()),
                fallback: engine.output_fallback(),
            }
        });
        ViewModel {
            track,
            transport: engine.transport(),
            buffering: self.buffering.is_some() && self.buffering == current,
            position: self.position(),
            cache: self.cache_rows(preset),
            enhancement: EnhancementView {
                on,
                preset,
                intensity,
            },
            volume: engine.volume(),
            normalize: (engine.normalize(), engine.normalize_gain_db()),
            output,
            cache_problem: self.cache_problem.clone(),
            queue: self
                .queue
                .iter()
                .map(|e| QueueRow {
                    title: entry_title(e),
                    status: match &e.status {
                        EntryStatus::Pending => RowStatus::Pending,
                        EntryStatus::Ready(m) => RowStatus::Ready(m.duration),
                        EntryStatus::Failed(why) => RowStatus::Failed(why.clone()),
                    },
                    current: Some(e.id) == current,
                })
                .collect(),
            notice: self.notice.as_ref().map(|(n, _)| n.clone()),
        }
    }
}

/// `value + delta`, rounded to hundredths (no drift from repeated float steps), within
/// `0..=max`.
fn step(value: f32, delta: f32, max: f32) -> f32 {
    (((value + delta) * 100.0).round() / 100.0).clamp(0.0, max)
}

fn file_name(e: &QueueEntry) -> String {
    e.path.file_name().map_or_else(
        || e.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// "Title · Artist", the title alone, or the file name.
fn entry_title(e: &QueueEntry) -> String {
    let tags = e.meta().map(|m| &m.info.tags);
    let title = tags
        .and_then(|t| t.title.clone())
        .unwrap_or_else(|| file_name(e));
    match tags.and_then(|t| t.artist.as_deref()) {
        Some(a) => format!("{title} · {a}"),
        None => title,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_and_clamp() {
        assert_eq!(step(1.0, 0.1, 1.0), 1.0);
        assert_eq!(step(0.0, -0.1, 1.0), 0.0);
        assert_eq!(step(0.7, -0.1, 1.0), 0.6);
        assert_eq!(step(3.95, 0.1, 4.0), 4.0);
        let mut v = 1.0;
        for _ in 0..7 {
            v = step(v, 0.1, 4.0);
        }
        assert_eq!(v, 1.7);
    }
}

//! The player's session, kept across runs: the queue (file paths), the entry the listener is
//! on and the position in it, paused or playing, enhancement on/off, preset, intensity and
//! volume — in `session.json` in the platform state directory (`$XDG_STATE_HOME/hearth/` on
//! Linux; the data directory on platforms without a state directory).
//!
//! - [`Keeper`] writes it while any `hearth play` mode runs (terminal UI, `--json`, headless):
//!   on every track change, every [`SAVE_EVERY`] while anything changes, and once more at quit
//!   ([`Keeper::finish`]), so a crash loses at most ten seconds. Every write is atomic (a
//!   temporary file in the same directory, fsync, rename): a reader finds the old session or
//!   the new one, never half of one.
//! - [`for_resume`] reads it back for `--resume` / `resume = true`, checking every value and
//!   every file; whatever is wrong is said in one line and the player starts fresh.
//! - [`restore`] puts a session into a new engine without a sound out of place.
//!
//! Runs on: the main thread (reading, restoring, `finish`) and the keeper's own thread,
//! `hearth-session` (the writes while the player runs).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, select};
use hearth::{Engine, EntryId, EntryStatus, Event, Preset, Transport};
use serde::{Deserialize, Serialize};

use crate::cli::PlaybackOpts;
use crate::config::{Resume, Settings};
use crate::failure::Failure;

/// The format's version; a file with another is not read (it says so and is replaced).
pub const VERSION: u64 = 1;
/// How often the keeper writes while the player runs (the most a crash can lose).
pub const SAVE_EVERY: Duration = Duration::from_secs(10);
/// The file's name in the state directory.
const FILE_NAME: &str = "session.json";
/// Temporary files of a write in progress: `.session.json.XXXXXX.tmp` beside the file.
const TMP_PREFIX: &str = ".session.json.";
const TMP_SUFFIX: &str = ".tmp";
/// A temporary file this old was left by a killed writer (a write takes milliseconds).
const STALE_TMP: Duration = Duration::from_secs(60);

/// A session, every value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The queue's files, in order (entries that failed to play are not kept).
    pub queue: Vec<PathBuf>,
    /// Index into `queue` of the entry the listener is on; `None` once the queue has played
    /// to its end (a resume then starts from the top).
    pub current: Option<usize>,
    /// Position in the current entry.
    pub position: Duration,
    /// Paused (otherwise playing).
    pub paused: bool,
    /// Enhancement on.
    pub enhance: bool,
    /// The chosen preset.
    pub preset: Preset,
    /// Mastered share, 0.0–1.0.
    pub intensity: f32,
    /// Volume, 0.0–4.0.
    pub volume: f32,
}

/// The file's layout (see the README's Configuration section).
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    version: u64,
    queue: Vec<String>,
    current: Option<usize>,
    position_seconds: f64,
    paused: bool,
    enhance: bool,
    preset: String,
    intensity: f32,
    volume: f32,
}

impl Saved {
    /// The file's text (paths that are not UTF-8 were left out when the snapshot was taken).
    pub fn to_json(&self) -> String {
        let wire = Wire {
            version: VERSION,
            queue: self
                .queue
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect(),
            current: self.current,
            // Milliseconds are plenty, and keep the file readable.
            position_seconds: (self.position.as_secs_f64() * 1000.0).round() / 1000.0,
            paused: self.paused,
            enhance: self.enhance,
            preset: self.preset.name().to_string(),
            intensity: self.intensity,
            volume: self.volume,
        };
        // Serialising plain strings and numbers cannot fail; an empty object would be read
        // back as damaged rather than restore anything wrong.
        let mut text = serde_json::to_string_pretty(&wire).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads and checks a session file's text; the error says what is wrong, in a few words.
    pub fn parse(text: &str) -> Result<Saved, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        // The version first: a file from another version may differ in any other field, and
        // "version 2" says more than the first field that does not fit.
        match value.get("version") {
            None => return Err("no \"version\"".into()),
            Some(v) if v.as_u64() == Some(VERSION) => {}
            Some(v) => return Err(format!("version {v}; this Hearth reads version {VERSION}")),
        }
        let w: Wire = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if w.queue.iter().any(String::is_empty) {
            return Err("an empty path in \"queue\"".into());
        }
        if let Some(c) = w.current
            && c >= w.queue.len()
        {
            return Err(format!(
                "\"current\" is {c} but the queue has {} entries",
                w.queue.len()
            ));
        }
        let position = Duration::try_from_secs_f64(w.position_seconds).map_err(|_| {
            format!(
                "\"position_seconds\" {} is not a position",
                w.position_seconds
            )
        })?;
        if !(0.0..=1.0).contains(&w.intensity) {
            return Err(format!("\"intensity\" {} is outside 0.0–1.0", w.intensity));
        }
        if !(0.0..=4.0).contains(&w.volume) {
            return Err(format!("\"volume\" {} is outside 0.0–4.0", w.volume));
        }
        let preset: Preset = w
            .preset
            .parse()
            .map_err(|e: hearth::UnknownPreset| format!("\"preset\": {e}"))?;
        Ok(Saved {
            queue: w.queue.into_iter().map(PathBuf::from).collect(),
            current: w.current,
            position,
            paused: w.paused,
            enhance: w.enhance,
            preset,
            intensity: w.intensity,
            volume: w.volume,
        })
    }
}

/// Where the session lives: the platform state directory, else the data directory.
pub fn default_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "hearth")?;
    let dir = dirs.state_dir().unwrap_or_else(|| dirs.data_dir());
    Some(dir.join(FILE_NAME))
}

/// Writes `saved` to `path` atomically: a temporary file in the same directory (so the rename
/// cannot cross file systems), flushed to disk, renamed over the old file, and the directory
/// synced so the rename itself survives a power cut. On failure nothing is left behind (the
/// temporary file is removed) and the old session stays as it was.
pub fn write(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .suffix(TMP_SUFFIX)
        .tempfile_in(dir)?;
    tmp.write_all(saved.to_json().as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Best effort: some platforms and file systems cannot sync a directory.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes temporary files that a killed writer left beside the session (not recent ones:
/// another Hearth may be writing right now).
fn remove_stale_temporaries(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > STALE_TMP);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// What reading the session file found.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// No file yet.
    Missing,
    /// The file is there but cannot be read (permissions, I/O).
    Unreadable(String),
    /// The file is not a session this Hearth can use (the reason).
    Damaged(String),
    /// A session.
    Found(Saved),
}

/// Reads the session file at `path`.
pub fn load(path: &Path) -> Loaded {
    match std::fs::read_to_string(path) {
        Ok(text) => match Saved::parse(&text) {
            Ok(s) => Loaded::Found(s),
            Err(why) => Loaded::Damaged(why),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Loaded::Missing,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Loaded::Damaged("not UTF-8 text".into())
        }
        Err(e) => Loaded::Unreadable(e.to_string()),
    }
}

/// The one line to print about what was found, if any: everything that stops a resume is
/// said, except a session that simply does not exist yet when only the config file asked.
pub fn notice(path: &Path, loaded: &Loaded, resume: Resume) -> Option<String> {
    let p = path.display();
    match loaded {
        Loaded::Missing if resume == Resume::Flag => {
            Some(format!("no saved session yet ({p}); starting fresh"))
        }
        Loaded::Missing => None,
        Loaded::Unreadable(e) => Some(format!(
            "session file {p} cannot be read ({e}); starting fresh"
        )),
        Loaded::Damaged(why) => Some(format!(
            "session file {p} is damaged ({why}); starting fresh"
        )),
        Loaded::Found(s) if s.queue.is_empty() && resume == Resume::Flag => Some(format!(
            "the saved session ({p}) has an empty queue; starting fresh"
        )),
        Loaded::Found(_) => None,
    }
}

/// A saved session checked against the disk, ready to be put back.
#[derive(Debug, Clone, PartialEq)]
pub struct Restore {
    /// The files that are still there, in order.
    pub paths: Vec<PathBuf>,
    /// Index into `paths` of the entry to start in.
    pub current: usize,
    /// Where in it.
    pub position: Duration,
    /// Paused (otherwise playing).
    pub paused: bool,
    /// Enhancement on.
    pub enhance: bool,
    /// Preset.
    pub preset: Preset,
    /// Intensity.
    pub intensity: f32,
    /// Volume.
    pub volume: f32,
}

/// Keeps the files that are still there (each one that is not is reported once, through
/// `report`); the current entry, if gone, becomes the next remaining one at 0 s (the first,
/// when it was the last). `None` when nothing is left.
pub fn check(saved: Saved, report: &mut dyn FnMut(String)) -> Option<Restore> {
    let mut paths = Vec::with_capacity(saved.queue.len());
    // (index into `paths`, is it the saved current entry itself)
    let mut start: Option<(usize, bool)> = None;
    for (i, p) in saved.queue.into_iter().enumerate() {
        let gone = match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => Some("is a directory".to_string()),
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = gone {
            report(format!(
                "{}: {why} (in the saved session; skipped)",
                p.display()
            ));
            continue;
        }
        if start.is_none()
            && let Some(c) = saved.current
            && i >= c
        {
            start = Some((paths.len(), i == c));
        }
        paths.push(p);
    }
    if paths.is_empty() {
        report("none of the saved session's files are there any more; starting fresh".into());
        return None;
    }
    let (current, position) = match start {
        Some((index, true)) => (index, saved.position),
        Some((index, false)) => (index, Duration::ZERO),
        None => (0, Duration::ZERO),
    };
    Some(Restore {
        paths,
        current,
        position,
        paused: saved.paused,
        enhance: saved.enhance,
        preset: saved.preset,
        intensity: saved.intensity,
        volume: saved.volume,
    })
}

/// The session to restart, if `resume` asks for one and there is one: prints one line for
/// every reason it cannot (see [`notice`]) and for every file that has gone.
/// Paths on the command line win over the session (said only when `--resume` was given).
pub fn for_resume(resume: Resume, paths_given: bool) -> Option<Restore> {
    if resume == Resume::Off {
        return None;
    }
    if paths_given {
        if resume == Resume::Flag {
            eprintln!(
                "hearth: --resume: playing the paths on the command line, not the saved session"
            );
        }
        return None;
    }
    let Some(path) = default_path() else {
        if resume == Resume::Flag {
            eprintln!("hearth: --resume: this system has no state directory; starting fresh");
        }
        return None;
    };
    let loaded = load(&path);
    if let Some(line) = notice(&path, &loaded, resume) {
        eprintln!("hearth: {line}");
    }
    match loaded {
        Loaded::Found(saved) if !saved.queue.is_empty() => {
            check(saved, &mut |line| eprintln!("hearth: warning: {line}"))
        }
        _ => None,
    }
}

impl Restore {
    /// `settings` with the session's enhancement, preset, intensity and volume where the
    /// command line does not set them (a flag given now is a new wish; the session only
    /// replaces the config file's values and the defaults). The player starts paused when the
    /// session was paused and the mode has controls to resume with (`can_pause`: the terminal
    /// UI and `--json`; the headless player has none, so it plays).
    pub fn settings(&self, mut s: Settings, flags: &PlaybackOpts, can_pause: bool) -> Settings {
        if flags.enhance.is_none() {
            s.enhance = self.enhance;
        }
        if flags.preset.is_none() {
            s.preset = self.preset;
        }
        if flags.intensity.is_none() {
            s.intensity = self.intensity;
        }
        if flags.volume.is_none() {
            s.volume = self.volume;
        }
        s.start_paused = self.paused && can_pause;
        s
    }
}

/// What the engine is built with: `settings`, but silent when it starts paused. Reaching
/// "paused" takes a `play` then a `pause`, and the two can land in different audio callbacks;
/// at volume 0 nothing can sound in between, and [`restore`] sets the volume once the pause
/// has settled.
pub fn engine_settings(settings: &Settings) -> Settings {
    let mut s = settings.clone();
    if s.start_paused {
        s.volume = 0.0;
    }
    s
}

/// Queues `r`'s files into a fresh `engine` (built with [`engine_settings`]) and moves to its
/// entry and position: paused (and at `settings.volume` once silent) if
/// `settings.start_paused`, else playing. Returns where it went, for the [`Keeper`].
pub fn restore(
    engine: &Engine,
    r: &Restore,
    settings: &Settings,
) -> Result<Option<(EntryId, Duration)>, Failure> {
    let mut ids = Vec::with_capacity(r.paths.len());
    for p in &r.paths {
        ids.push(engine.enqueue(p).map_err(|e| Failure::other("queue", e))?);
    }
    let Some(&id) = ids.get(r.current) else {
        return Ok(None);
    };
    let eng = |what: &str, res: Result<(), hearth::EngineError>| {
        res.map_err(|e| Failure::other(format!("resume: {what}"), e))
    };
    // `play_entry` is the one way to make an entry current; the seek follows at once, while
    // the files are still being opened, so the renderer never has the entry's start to play
    // before the seek replaces it.
    eng("play", engine.play_entry(id))?;
    if r.position > Duration::ZERO {
        eng("seek", engine.seek(r.position))?;
    }
    if settings.start_paused {
        eng("pause", engine.pause())?;
        settle_pause(engine);
        engine.set_volume(settings.volume);
    }
    Ok(Some((id, r.position)))
}

/// Waits until the renderer has taken the pause and its ramp has run out (10 ms; 40 ms of
/// rendered frames leaves room for a callback in flight), at most a second.
fn settle_pause(engine: &Engine) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let step = Duration::from_millis(2);
    while engine.transport() != Transport::Paused && Instant::now() < deadline {
        std::thread::sleep(step);
    }
    let (_, _, from) = engine.render_counters();
    let ramp = u64::from(engine.rate()) / 25;
    while engine.render_counters().2 < from + ramp && Instant::now() < deadline {
        std::thread::sleep(step);
    }
}

/// The keeper's memory between writes.
#[derive(Debug, Default)]
struct Watch {
    /// The queue has played to its end (and nothing has started since).
    ended: bool,
    /// Where a restore put the listener, until the engine reports being there: a quit or a
    /// crash before the restored position is audible must not lose it.
    restored: Option<(EntryId, Duration)>,
    /// What the file holds now (a write that would change nothing is skipped).
    written: Option<Saved>,
    /// The last write failed (said once in the log until one succeeds).
    failing: bool,
}

impl Watch {
    /// Takes note of an event; true if it calls for a write.
    fn note(&mut self, e: &Event) -> bool {
        match e {
            Event::TrackStarted { .. } => {
                self.ended = false;
                true
            }
            // Every way back into the queue after its end (a seek, `previous`, a jump) is a
            // jump, and every jump ends in `Seeked`.
            Event::Seeked { .. } => {
                self.ended = false;
                false
            }
            Event::QueueEnded => {
                self.ended = true;
                true
            }
            _ => false,
        }
    }

    /// The engine's session now.
    fn snapshot(&mut self, engine: &Engine) -> Saved {
        let entries = engine.queue();
        let current = engine.current();
        let heard = engine.position();
        let (enhance, preset, intensity) = engine.enhancement();
        let mut queue = Vec::with_capacity(entries.len());
        let mut index = None;
        for e in &entries {
            // A file that failed once would only be reported again; and JSON holds text, so a
            // name that is not UTF-8 could not be written back faithfully.
            if matches!(e.status, EntryStatus::Failed(_)) || e.path.to_str().is_none() {
                continue;
            }
            if Some(e.id) == current {
                index = Some(queue.len());
            }
            queue.push(e.path.clone());
        }
        if let (Some((e, _)), Some((r, _))) = (heard, self.restored)
            && e == r
        {
            self.restored = None;
        }
        let position = match (heard, current) {
            (Some((e, t)), Some(c)) if e == c => t,
            _ => match self.restored {
                Some((e, t)) if Some(e) == current => t,
                // Moving to another entry, which starts at 0.
                _ => Duration::ZERO,
            },
        };
        let (index, position) = if self.ended {
            (None, Duration::ZERO)
        } else {
            (index, position)
        };
        Saved {
            queue,
            current: index,
            position,
            paused: engine.transport() == Transport::Paused,
            enhance,
            preset,
            intensity,
            volume: engine.volume(),
        }
    }

    /// Writes the session if it changed; a failure is logged (once) and returned.
    fn save(&mut self, engine: &Engine, path: &Path) -> Result<(), String> {
        let now = self.snapshot(engine);
        if self.written.as_ref() == Some(&now) {
            return Ok(());
        }
        match write(path, &now) {
            Ok(()) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!(path = %path.display(), "the session is saved again");
                }
                self.written = Some(now);
                Ok(())
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(path = %path.display(), %e, "cannot save the session");
                }
                Err(e.to_string())
            }
        }
    }
}

/// Writes the session while the player runs, on its own thread (see the module docs).
#[derive(Debug)]
pub struct Keeper {
    /// Dropped to tell the thread to make its last write and end.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    path: Option<PathBuf>,
}

impl Keeper {
    /// Starts keeping `engine`'s session in the default place (nothing is kept where the
    /// platform has no such directory). `restored`: where [`restore`] put the listener.
    pub fn start(engine: &Engine, restored: Option<(EntryId, Duration)>) -> Keeper {
        match default_path() {
            Some(path) => Keeper::start_at(engine, path, restored),
            None => {
                tracing::debug!("no state directory: the session is not kept");
                Keeper {
                    stop: None,
                    thread: None,
                    path: None,
                }
            }
        }
    }

    /// [`Keeper::start`] writing to `path`.
    pub fn start_at(
        engine: &Engine,
        path: PathBuf,
        restored: Option<(EntryId, Duration)>,
    ) -> Keeper {
        remove_stale_temporaries(&path);
        let events = engine.events();
        let engine = engine.clone();
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread_path = path.clone();
        let spawned = std::thread::Builder::new()
            .name("hearth-session".into())
            .spawn(move || {
                let watch = Watch {
                    restored,
                    ..Watch::default()
                };
                keep(&engine, &events, &stopped, &thread_path, watch)
            });
        match spawned {
            Ok(t) => Keeper {
                stop: Some(stop),
                thread: Some(t),
                path: Some(path),
            },
            Err(e) => {
                tracing::warn!(%e, "cannot start the session keeper; the session is not kept");
                Keeper {
                    stop: None,
                    thread: None,
                    path: None,
                }
            }
        }
    }

    /// The last write (at quit), waited for; a failure is said in one line on stderr.
    pub fn finish(mut self) {
        if let Err(e) = self.shut_down() {
            let path = self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            eprintln!("hearth: could not save the session to {path}: {e}");
        }
    }

    fn shut_down(&mut self) -> Result<(), String> {
        drop(self.stop.take());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("the session keeper panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // An early return or a panic on the main thread still gets the last write (and the
        // thread's engine handle is let go, so the engine can shut down).
        let _ = self.shut_down();
    }
}

/// The keeper's thread: a write on every track change and queue end, every [`SAVE_EVERY`],
/// and a last one when told to stop (after the events already sent, so a queue end just
/// before quit is not missed).
fn keep(
    engine: &Engine,
    events: &Receiver<Event>,
    stop: &Receiver<()>,
    path: &Path,
    mut watch: Watch,
) -> Result<(), String> {
    let tick = crossbeam_channel::tick(SAVE_EVERY);
    loop {
        select! {
            recv(events) -> e => match e {
                Ok(e) => {
                    if watch.note(&e) {
                        let _ = watch.save(engine, path);
                    }
                }
                // The engine stopped broadcasting: nothing will change any more.
                Err(_) => return watch.save(engine, path),
            },
            recv(tick) -> _ => {
                let _ = watch.save(engine, path);
            }
            recv(stop) -> _ => {
                for e in events.try_iter() {
                    watch.note(&e);
                }
                return watch.save(engine, path);
            }
        }
    }
}

#[cfg(test)]
mod tests;

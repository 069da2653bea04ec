//! MPRIS 2 on the session bus, so media keys, the desktop's media widget and `playerctl`
//! control Hearth: `org.mpris.MediaPlayer2.hearth` (`….hearth.instance<PID>` when another
//! Hearth holds that name), object `/org/mpris/MediaPlayer2`, with the `MediaPlayer2` and
//! `MediaPlayer2.Player` interfaces — built on the engine handle like the rest of the host.
//!
//! The D-Bus side comes from `mpris-server` (zbus underneath): it serves the interfaces and
//! converts the property types; this module only says what each method and property means
//! for the engine. Album art embedded in a file is written once to `<cache>/art/` (named by a
//! hash of the picture, so an album's tracks share one file) and announced as `mpris:artUrl`.
//!
//! Threads: `hearth-mpris` owns the server — it connects, then turns engine events into
//! `PropertiesChanged` and `Seeked` signals (and notices volume changes, which have no event)
//! until the player quits. Method calls and property reads run on zbus's own executor thread
//! and call the `Engine` handle, which is `Send + Sync` and never blocks for long. Without a
//! session bus there is one debug log line and the player carries on.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, select};
use hearth::{Engine, EntryId, Event, TrackMeta, Transport};
use mpris_server::zbus::{self, fdo};
use mpris_server::{
    LoopStatus, Metadata, PlaybackRate, PlaybackStatus, PlayerInterface, Property, RootInterface,
    Server, Signal, Time, TrackId, Volume,
};

/// The well-known name's suffix: `org.mpris.MediaPlayer2.hearth`.
const NAME: &str = "hearth";
/// How often the thread looks at what has no event (the volume).
const TICK: Duration = Duration::from_millis(250);
/// The most the player's volume goes to (the engine's range is 0–4).
const MAX_VOLUME: f64 = 4.0;

/// The running MPRIS service; stops when dropped.
pub struct Mpris {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Mpris {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the service for `engine` in the background. Never fails the player: without a
/// session bus (or if the thread cannot start) it logs one debug line and serves nothing.
pub fn start(engine: &Engine, cache_dir: &Path) -> Mpris {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let engine = engine.clone();
    let events = engine.events();
    let art_dir = cache_dir.join("art");
    let thread = std::thread::Builder::new()
        .name("hearth-mpris".into())
        .spawn(move || serve(engine, events, stop_rx, art_dir));
    match thread {
        Ok(t) => Mpris {
            stop: Some(stop_tx),
            thread: Some(t),
        },
        Err(e) => {
            tracing::debug!(error = %e, "MPRIS: cannot start its thread");
            Mpris {
                stop: None,
                thread: None,
            }
        }
    }
}

/// What the method handlers need besides the engine: the metadata of what is playing.
struct Hearth {
    engine: Engine,
    now: Arc<Mutex<Now>>,
}

/// The entry playing and its metadata, as last announced.
#[derive(Default)]
struct Now {
    entry: Option<EntryId>,
    metadata: Metadata,
}

fn serve(engine: Engine, events: Receiver<Event>, stop: Receiver<()>, art_dir: PathBuf) {
    let now = Arc::new(Mutex::new(Now::default()));
    let imp = || Hearth {
        engine: engine.clone(),
        now: Arc::clone(&now),
    };
    let server = zbus::block_on(async {
        // A name already owned would be queued for, not taken (so `Server::new` succeeds
        // without it): ask the bus first, and take the spec's per-instance name if another
        // Hearth holds ours.
        let bus = zbus::Connection::session().await?;
        let taken = fdo::DBusProxy::new(&bus)
            .await?
            .name_has_owner(
                format!("org.mpris.MediaPlayer2.{NAME}")
                    .as_str()
                    .try_into()?,
            )
            .await?;
        drop(bus);
        let name = if taken {
            format!("{NAME}.instance{}", std::process::id())
        } else {
            NAME.to_owned()
        };
        Server::new(&name, imp()).await
    });
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "MPRIS: no D-Bus session; media keys will not reach Hearth");
            return;
        }
    };
    tracing::debug!(name = %server.bus_name(), "MPRIS: serving");
    let mut volume = engine.volume();
    if let Some(entry) = engine.current() {
        announce_entry(&engine, &now, entry, &art_dir);
    }
    loop {
        let mut changed = Vec::new();
        let mut seeked = None;
        select! {
            recv(stop) -> _ => break,
            recv(events) -> e => match e {
                Ok(Event::TrackStarted { entry, .. }) => {
                    announce_entry(&engine, &now, entry, &art_dir);
                    changed.push(Property::Metadata(metadata(&now)));
                    changed.push(Property::PlaybackStatus(status(engine.transport())));
                }
                Ok(Event::Transport { state }) => {
                    changed.push(Property::PlaybackStatus(status(state)));
                }
                Ok(Event::QueueEnded) => {
                    changed.push(Property::PlaybackStatus(PlaybackStatus::Stopped));
                }
                Ok(Event::Seeked { seconds, .. }) => seeked = Some(seconds),
                Ok(_) => {}
                Err(_) => break,
            },
            default(TICK) => {}
        }
        let v = engine.volume();
        if (v - volume).abs() > f32::EPSILON {
            volume = v;
            changed.push(Property::Volume(f64::from(v)));
        }
        let result = zbus::block_on(async {
            if !changed.is_empty() {
                server.properties_changed(changed).await?;
            }
            if let Some(seconds) = seeked {
                server
                    .emit(Signal::Seeked {
                        position: micros(seconds),
                    })
                    .await?;
            }
            Ok::<(), zbus::Error>(())
        });
        if let Err(e) = result {
            tracing::debug!(error = %e, "MPRIS: a signal was not sent");
        }
    }
}

fn micros(seconds: f64) -> Time {
    Time::from_micros((seconds * 1e6).round() as i64)
}

fn status(t: Transport) -> PlaybackStatus {
    match t {
        Transport::Playing => PlaybackStatus::Playing,
        Transport::Paused => PlaybackStatus::Paused,
        _ => PlaybackStatus::Stopped,
    }
}

fn metadata(now: &Arc<Mutex<Now>>) -> Metadata {
    now.lock().map(|n| n.metadata.clone()).unwrap_or_default()
}

/// The object path MPRIS names entry `entry` by.
fn track_id(entry: EntryId) -> Option<TrackId> {
    TrackId::try_from(format!("/org/hearth/track/{}", entry.0)).ok()
}

/// Records `entry` as playing, with its metadata (and its art, written once).
fn announce_entry(engine: &Engine, now: &Arc<Mutex<Now>>, entry: EntryId, art_dir: &Path) {
    let queue = engine.queue();
    let Some(e) = queue.iter().find(|e| e.id == entry) else {
        return;
    };
    let md = build_metadata(entry, &e.path, e.meta(), art_dir);
    if let Ok(mut n) = now.lock() {
        n.entry = Some(entry);
        n.metadata = md;
    }
}

fn build_metadata(
    entry: EntryId,
    path: &Path,
    meta: Option<&TrackMeta>,
    art_dir: &Path,
) -> Metadata {
    let mut b = Metadata::builder().url(crate::playlist::file_url(path));
    if let Some(id) = track_id(entry) {
        b = b.trackid(id);
    }
    let tags = meta.map(|m| &m.info.tags);
    let title = tags.and_then(|t| t.title.clone()).unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    b = b.title(title);
    if let Some(artist) = tags.and_then(|t| t.artist.clone()) {
        b = b.artist([artist]);
    }
    if let Some(album) = tags.and_then(|t| t.album.clone()) {
        b = b.album(album);
    }
    if let Some(album_artist) = tags.and_then(|t| t.album_artist.clone()) {
        b = b.album_artist([album_artist]);
    }
    if let Some(m) = meta {
        b = b.length(Time::from_micros(
            i64::try_from(m.duration.as_micros()).unwrap_or(i64::MAX),
        ));
    }
    if let Some(art) = write_art(path, art_dir) {
        b = b.art_url(crate::playlist::file_url(&art));
    }
    b.build()
}

/// Writes the file's embedded picture to `art_dir` once (named by a hash of the picture) and
/// returns its path; `None` when the file has none or it cannot be written.
fn write_art(path: &Path, art_dir: &Path) -> Option<PathBuf> {
    let art = match hearth::cover_art(path) {
        Ok(Some(art)) => art,
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(error = %e, file = %path.display(), "MPRIS: no art");
            return None;
        }
    };
    let mut h = DefaultHasher::new();
    art.data.hash(&mut h);
    let out = art_dir.join(format!("{:016x}.{}", h.finish(), art.extension()));
    if out.exists() {
        return Some(out);
    }
    let written = std::fs::create_dir_all(art_dir).and_then(|()| {
        let mut tmp = tempfile::NamedTempFile::new_in(art_dir)?;
        std::io::Write::write_all(&mut tmp, &art.data)?;
        tmp.persist(&out).map_err(|e| e.error)?;
        Ok(())
    });
    match written {
        Ok(()) => Some(out),
        Err(e) => {
            tracing::debug!(error = %e, dir = %art_dir.display(), "MPRIS: cannot write art");
            None
        }
    }
}

fn failed(e: impl std::fmt::Display) -> fdo::Error {
    fdo::Error::Failed(e.to_string())
}

impl RootInterface for Hearth {
    async fn raise(&self) -> fdo::Result<()> {
        Ok(())
    }
    async fn quit(&self) -> fdo::Result<()> {
        Err(fdo::Error::NotSupported(
            "quit Hearth from its own interface".into(),
        ))
    }
    async fn can_quit(&self) -> fdo::Result<bool> {
        Ok(false)
    }
    async fn fullscreen(&self) -> fdo::Result<bool> {
        Ok(false)
    }
    async fn set_fullscreen(&self, _: bool) -> zbus::Result<()> {
        Ok(())
    }
    async fn can_set_fullscreen(&self) -> fdo::Result<bool> {
        Ok(false)
    }
    async fn can_raise(&self) -> fdo::Result<bool> {
        Ok(false)
    }
    async fn has_track_list(&self) -> fdo::Result<bool> {
        Ok(false)
    }
    async fn identity(&self) -> fdo::Result<String> {
        Ok("Hearth".into())
    }
    async fn desktop_entry(&self) -> fdo::Result<String> {
        Ok("hearth".into())
    }
    async fn supported_uri_schemes(&self) -> fdo::Result<Vec<String>> {
        Ok(vec!["file".into()])
    }
    async fn supported_mime_types(&self) -> fdo::Result<Vec<String>> {
        Ok([
            "audio/flac",
            "audio/mpeg",
            "audio/ogg",
            "audio/opus",
            "audio/wav",
            "audio/x-wav",
            "audio/aiff",
            "audio/x-aiff",
            "audio/mp4",
            "audio/aac",
            "audio/x-m4a",
            "audio/x-caf",
            "audio/webm",
            "audio/x-matroska",
        ]
        .map(String::from)
        .to_vec())
    }
}

impl PlayerInterface for Hearth {
    async fn next(&self) -> fdo::Result<()> {
        self.engine.next().map_err(failed)
    }
    async fn previous(&self) -> fdo::Result<()> {
        self.engine.previous().map_err(failed)
    }
    async fn pause(&self) -> fdo::Result<()> {
        self.engine.pause().map_err(failed)
    }
    async fn play_pause(&self) -> fdo::Result<()> {
        self.engine.toggle_pause().map_err(failed)
    }
    async fn stop(&self) -> fdo::Result<()> {
        self.engine.stop().map_err(failed)
    }
    async fn play(&self) -> fdo::Result<()> {
        self.engine.play().map_err(failed)
    }
    async fn seek(&self, offset: Time) -> fdo::Result<()> {
        self.engine
            .seek_relative(offset.as_micros() as f64 / 1e6)
            .map_err(failed)
    }
    async fn set_position(&self, track: TrackId, position: Time) -> fdo::Result<()> {
        // The spec: ignore a stale track id, and positions outside the track.
        let current = self.engine.current();
        if current.and_then(track_id).as_ref() != Some(&track) || position.is_negative() {
            return Ok(());
        }
        let length = current.and_then(|c| {
            self.engine
                .queue()
                .into_iter()
                .find(|e| e.id == c)
                .and_then(|e| e.meta().map(|m| m.duration))
        });
        let to = Duration::from_micros(position.as_micros().unsigned_abs());
        if length.is_some_and(|l| to > l) {
            return Ok(());
        }
        self.engine.seek(to).map_err(failed)
    }
    async fn open_uri(&self, uri: String) -> fdo::Result<()> {
        let Some(path) = crate::playlist::path_of_file_url(&uri) else {
            return Err(fdo::Error::NotSupported(format!(
                "{uri}: only file:// URIs can be opened (streams are not supported)"
            )));
        };
        if !path.is_file() {
            return Err(fdo::Error::InvalidArgs(format!(
                "{}: no such file",
                path.display()
            )));
        }
        let entry = self.engine.enqueue(&path).map_err(failed)?;
        self.engine.play_entry(entry).map_err(failed)
    }
    async fn playback_status(&self) -> fdo::Result<PlaybackStatus> {
        Ok(status(self.engine.transport()))
    }
    async fn loop_status(&self) -> fdo::Result<LoopStatus> {
        Ok(LoopStatus::None)
    }
    async fn set_loop_status(&self, _: LoopStatus) -> zbus::Result<()> {
        Err(zbus::Error::Unsupported)
    }
    async fn rate(&self) -> fdo::Result<PlaybackRate> {
        Ok(1.0)
    }
    async fn set_rate(&self, _: PlaybackRate) -> zbus::Result<()> {
        Ok(())
    }
    async fn shuffle(&self) -> fdo::Result<bool> {
        Ok(false)
    }
    async fn set_shuffle(&self, _: bool) -> zbus::Result<()> {
        Err(zbus::Error::Unsupported)
    }
    async fn metadata(&self) -> fdo::Result<Metadata> {
        Ok(metadata(&self.now))
    }
    async fn volume(&self) -> fdo::Result<Volume> {
        Ok(f64::from(self.engine.volume()))
    }
    async fn set_volume(&self, volume: Volume) -> zbus::Result<()> {
        // Negative values mean 0 (the spec); the engine goes up to 4× (+12 dB).
        let v = if volume.is_finite() {
            volume.clamp(0.0, MAX_VOLUME)
        } else {
            1.0
        };
        self.engine.set_volume(v as f32);
        Ok(())
    }
    async fn position(&self) -> fdo::Result<Time> {
        Ok(self
            .engine
            .position()
            .map_or(Time::ZERO, |(_, t)| micros(t.as_secs_f64())))
    }
    async fn minimum_rate(&self) -> fdo::Result<PlaybackRate> {
        Ok(1.0)
    }
    async fn maximum_rate(&self) -> fdo::Result<PlaybackRate> {
        Ok(1.0)
    }
    async fn can_go_next(&self) -> fdo::Result<bool> {
        Ok(true)
    }
    async fn can_go_previous(&self) -> fdo::Result<bool> {
        Ok(true)
    }
    async fn can_play(&self) -> fdo::Result<bool> {
        Ok(true)
    }
    async fn can_pause(&self) -> fdo::Result<bool> {
        Ok(true)
    }
    async fn can_seek(&self) -> fdo::Result<bool> {
        Ok(true)
    }
    async fn can_control(&self) -> fdo::Result<bool> {
        Ok(true)
    }
}

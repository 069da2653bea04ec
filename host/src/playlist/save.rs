//! Writing the queue as M3U8: `#EXTM3U`, `#EXTINF` per entry, paths relative to the playlist
//! where they still lead to the same file, written atomically.
//!
//! Runs on: the thread that answers a `save` (the JSON protocol's loop, the terminal UI's loop).

use super::*;
use hearth::{Engine, EntryStatus, QueueEntry};
use std::fmt;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a playlist could not be saved.
#[derive(Debug)]
pub enum SaveError {
    /// The name does not end in `.m3u8` or `.m3u`: Hearth would not read it back as a
    /// playlist (and `.pls` would be read as PLS).
    Extension(PathBuf),
    /// The folder it goes in is missing or unusable.
    Folder(PathBuf, std::io::Error),
    /// Writing or renaming into place failed.
    Write(PathBuf, std::io::Error),
    /// The platform has no data directory for this user (no home directory).
    NoDataDir,
}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaveError::Extension(p) => write!(
                f,
                "{}: a saved playlist's name must end in .m3u8 (or .m3u)",
                p.display()
            ),
            SaveError::Folder(p, e) => write!(f, "{}: {}", p.display(), io_reason(e)),
            SaveError::Write(p, e) => write!(f, "cannot write {}: {}", p.display(), io_reason(e)),
            SaveError::NoDataDir => f.write_str("no data directory for this user (is HOME set?)"),
        }
    }
}

impl std::error::Error for SaveError {}

/// One queue entry to write.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveEntry {
    /// The file.
    pub path: PathBuf,
    /// Its length, when known.
    pub seconds: Option<f64>,
    /// "Artist - Title", the title alone, or the file's stem.
    pub label: String,
}

/// The entries of `queue` worth saving: every one but those that failed to open (a saved
/// playlist would only carry the failure along).
pub fn entries_of(queue: &[QueueEntry]) -> Vec<SaveEntry> {
    queue
        .iter()
        .filter(|e| !matches!(e.status, EntryStatus::Failed(_)))
        .map(|e| {
            let meta = e.meta();
            let tag = |t: Option<&String>| t.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            let title = tag(meta.and_then(|m| m.info.tags.title.as_ref()));
            let artist = tag(meta.and_then(|m| m.info.tags.artist.as_ref()));
            let label = match (artist, title) {
                (Some(a), Some(t)) => format!("{a} - {t}"),
                (None, Some(t)) => t,
                _ => e
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            SaveEntry {
                path: e.path.clone(),
                seconds: meta.map(|m| m.duration.as_secs_f64()),
                label,
            }
        })
        .collect()
}

/// Writes the engine's queue to `path` as M3U8; returns how many entries were written.
pub fn save_queue(engine: &Engine, path: &Path) -> Result<usize, SaveError> {
    write_m3u8(path, &entries_of(&engine.queue()))
}

/// Writes `entries` to `path` as M3U8, atomically; returns how many entries were written.
pub fn write_m3u8(path: &Path, entries: &[SaveEntry]) -> Result<usize, SaveError> {
    let ext_ok = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("m3u8") || e.eq_ignore_ascii_case("m3u"));
    if !ext_ok {
        return Err(SaveError::Extension(path.to_path_buf()));
    }
    let write_err = |e| SaveError::Write(path.to_path_buf(), e);
    let abs = std::path::absolute(path).map_err(write_err)?;
    let dir = match abs.parent() {
        Some(d) => d.to_path_buf(),
        None => return Err(SaveError::Extension(path.to_path_buf())),
    };
    let dir_real = std::fs::canonicalize(&dir).map_err(|e| SaveError::Folder(dir.clone(), e))?;
    let text = render_m3u8(entries, &dir, &dir_real);

    // Beside the target, so the rename stays on one file system and is atomic.
    let mut builder = tempfile::Builder::new();
    builder.prefix(".hearth-playlist-").suffix(".tmp");
    #[cfg(unix)]
    {
        // A playlist is an ordinary file: 0666 less the umask, not tempfile's private 0600.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(write_err)?;
    tmp.write_all(text.as_bytes()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(&abs).map_err(|e| write_err(e.error))?;
    // The rename itself is durable once the folder is synced (best effort: not every file
    // system lets a folder be opened for that).
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(entries.len())
}

/// The M3U8 text for `entries`, saved in `dir` (absolute, as the user named it) whose real
/// path is `dir_real`.
pub fn render_m3u8(entries: &[SaveEntry], dir: &Path, dir_real: &Path) -> String {
    let mut out = String::from("#EXTM3U\n");
    for e in entries {
        let seconds = e
            .seconds
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(-1, |s| s.round() as i64);
        // A line break in a tag would start a new entry.
        let label: String = e
            .label
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push_str(&format!("#EXTINF:{seconds},{}\n", label.trim()));
        out.push_str(&entry_line(&e.path, dir, dir_real));
        out.push('\n');
    }
    out
}

/// How `path` is written in a playlist in `dir`: relative when they share a folder below the
/// root and the relative path leads to the same file (checked, because `..` after a
/// symbolic link goes elsewhere), else absolute; a `file://` URL when the path cannot be one
/// line of UTF-8 that reads back as itself.
pub(super) fn entry_line(path: &Path, dir: &Path, dir_real: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let abs_real = std::fs::canonicalize(&abs).ok();
    let leads_to_it = |rel: &PathBuf| {
        match (std::fs::canonicalize(dir.join(rel)), abs_real.as_ref()) {
            (Ok(a), Some(b)) => &a == b,
            // Gone from the disk: nothing to check against; the lexical path is the best guess.
            (Err(_), None) => true,
            _ => false,
        }
    };
    let relative = relative_path(&abs, dir)
        .filter(leads_to_it)
        .or_else(|| relative_path(abs_real.as_ref()?, dir_real));
    let is_relative = relative.is_some();
    let chosen = relative.unwrap_or_else(|| abs.clone());
    match chosen.to_str() {
        Some(s) if reads_back_as_written(s) => {
            // `#...` would read as a comment, and a lone backslash as a Windows separator.
            if is_relative && (s.starts_with('#') || (s.contains('\\') && !s.contains('/'))) {
                format!("./{s}")
            } else {
                s.to_owned()
            }
        }
        _ => file_url(&abs),
    }
}

/// True if `s` as a line of a playlist reads back as the path `s`.
pub(super) fn reads_back_as_written(s: &str) -> bool {
    !s.is_empty()
        && clean(s) == s
        && !s.chars().any(char::is_control)
        && strip_prefix_ci(s, "file:").is_none()
        && url_scheme(s).is_none()
}

/// `file://` and the path percent-encoded (every byte but unreserved characters and `/`).
pub(crate) fn file_url(abs: &Path) -> String {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        abs.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = abs.to_string_lossy().replace('\\', "/").into_bytes();
    let mut out = String::from("file://");
    for b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `target` relative to the folder `base` (both absolute), when they have a folder in common
/// below the root; `None` otherwise (an absolute path says it better than `../../../..`).
pub fn relative_path(target: &Path, base: &Path) -> Option<PathBuf> {
    if !target.is_absolute() || !base.is_absolute() {
        return None;
    }
    let t: Vec<Component> = target.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let roots = t
        .iter()
        .take_while(|c| matches!(c, Component::Prefix(_) | Component::RootDir))
        .count();
    if common <= roots || common == t.len() {
        return None;
    }
    // A `..` left in the folder cannot be climbed back out of lexically.
    if b[common..]
        .iter()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c.as_os_str());
    }
    Some(rel)
}

/// Where the terminal UI saves the queue: `queue-<unix seconds>.m3u8` in the platform data
/// directory's `playlists` folder (`$XDG_DATA_HOME/hearth/playlists` on Linux), created if
/// need be; `-2`, `-3`, ... when that name is taken (two saves in one second).
pub fn queue_save_path(now: SystemTime) -> Result<PathBuf, SaveError> {
    let dirs = directories::ProjectDirs::from("", "", "hearth").ok_or(SaveError::NoDataDir)?;
    let folder = dirs.data_dir().join("playlists");
    std::fs::create_dir_all(&folder).map_err(|e| SaveError::Folder(folder.clone(), e))?;
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut path = folder.join(format!("queue-{secs}.m3u8"));
    let mut n = 2;
    while path.exists() && n < 100 {
        path = folder.join(format!("queue-{secs}-{n}.m3u8"));
        n += 1;
    }
    Ok(path)
}

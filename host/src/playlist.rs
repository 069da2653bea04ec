//! Playlists: reading `.m3u`/`.m3u8`/`.pls` files into entries, and writing the queue as M3U8.
//!
//! [`read`] turns a playlist into [`Item`]s, each resolved against the playlist's folder;
//! `paths::expand` decides what becomes of them (files are queued, folders walked, nested
//! playlists expanded, streams refused, missing files reported). [`save_queue`] writes the
//! engine's queue as M3U8, paths relative to the playlist where that is shorter and still
//! leads to the same file, atomically (a temporary file beside it, then a rename), so a reader
//! never sees half a playlist and a failed save leaves the old one in place.
//!
//! Hand-written: no well-kept crate reads playlists as they are found on disks — the `m3u`
//! crate (unmaintained for years) reads neither PLS nor Latin-1, and none handles a BOM,
//! CRLF, Windows separators, `file://` URLs and PLS's numbered keys together. The formats are
//! small; the rules below are what real files need.
//!
//! Runs on: the main thread (expanding the command line at start) and the thread that answers
//! a `save` (the JSON protocol's loop, the terminal UI's loop). No state of its own.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hearth::{Engine, EntryStatus, QueueEntry};

/// Largest file read as a playlist. A 100 000-entry playlist is about 10 MB; anything bigger
/// is not a playlist, and reading it whole would only cost memory.
const MAX_BYTES: u64 = 16 << 20;

/// The playlist formats Hearth reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.m3u` and `.m3u8`: one entry a line, `#` comments, `#EXTINF` titles.
    M3u,
    /// `.pls`: an INI-like `[playlist]` with `FileN=`/`TitleN=` keys.
    Pls,
}

/// The format a file name says (case-insensitive), if it names a playlist.
pub fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "m3u" | "m3u8" => Some(Format::M3u),
        "pls" => Some(Format::Pls),
        _ => None,
    }
}

/// True for a file name with a playlist extension.
pub fn is_playlist(path: &Path) -> bool {
    format_of(path).is_some()
}

/// Why a playlist could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// Larger than [`MAX_BYTES`].
    TooLarge(u64),
    /// NUL bytes outside UTF-16: some other kind of file named like a playlist.
    Binary,
    /// A UTF-16 byte-order mark, then text that is not UTF-16.
    BadUtf16,
    /// An HTTP Live Streaming manifest (`#EXT-X-` tags): a stream, not a list of files.
    Hls,
    /// A `.pls` file with neither a `[playlist]` section nor `FileN=` keys.
    NotPls,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read playlist: {}", io_reason(e)),
            ReadError::TooLarge(n) => write!(
                f,
                "not a playlist: {n} bytes (a playlist is at most {} MiB)",
                MAX_BYTES >> 20
            ),
            ReadError::Binary => f.write_str("not a playlist (binary data)"),
            ReadError::BadUtf16 => f.write_str("not a playlist (damaged UTF-16 text)"),
            ReadError::Hls => f.write_str("an HLS stream manifest: streams are not supported"),
            ReadError::NotPls => f.write_str("not a PLS playlist (no [playlist] section)"),
        }
    }
}

impl std::error::Error for ReadError {}

/// An I/O error as a user reads it: the common cases without Rust's "(os error N)".
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// How the playlist's bytes were read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (with or without a BOM): what `.m3u8` means, and what most `.m3u` are today.
    Utf8,
    /// UTF-16 with a byte-order mark (some Windows tools write it).
    Utf16,
    /// Not valid UTF-8: each byte is the character of that number (ISO 8859-1), which is what
    /// older Windows and Winamp-era `.m3u` files mostly are, and which never fails.
    Latin1,
}

/// Bytes to text: a BOM says UTF-8 or UTF-16; otherwise UTF-8 if valid, else Latin-1.
pub fn decode(bytes: &[u8]) -> Result<(String, Encoding), ReadError> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes);
    }
    // A BOM is an encoding mark, not part of the first entry's name.
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    if bytes.contains(&0) {
        return Err(ReadError::Binary);
    }
    Ok(match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), Encoding::Utf8),
        Err(_) => (
            bytes.iter().map(|&b| char::from(b)).collect(),
            Encoding::Latin1,
        ),
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<(String, Encoding), ReadError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ReadError::BadUtf16);
    }
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
    String::from_utf16(&units)
        .map(|s| (s, Encoding::Utf16))
        .map_err(|_| ReadError::BadUtf16)
}

/// The lines of `text`, numbered from 1: LF and CRLF ends, or CR alone (classic Mac OS) when
/// the text has no LF at all.
fn lines(text: &str) -> Vec<(usize, &str)> {
    let split: Vec<&str> = if text.contains('\n') {
        text.split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect()
    } else {
        text.split('\r').collect()
    };
    split
        .into_iter()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// A line without surrounding blanks, and without a BOM (files made by concatenating
/// playlists carry one in the middle).
fn clean(line: &str) -> &str {
    line.trim().trim_start_matches('\u{feff}').trim()
}

/// One entry as the playlist writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Line number in the file (from 1), for messages.
    pub line: usize,
    /// The path or URL as written.
    pub text: String,
    /// The title the playlist gives it (`#EXTINF`, `TitleN=`), if any. Playback uses the
    /// file's own tags; this is for messages about the entry.
    pub title: Option<String>,
}

/// Parses M3U/M3U8: one entry a line; blank lines and `#` comments skipped; `#EXTINF:`
/// gives the title of the entry after it. `#EXTM3U` is welcome but not required (plain M3U
/// has no header).
pub fn parse_m3u(text: &str) -> Result<Vec<RawEntry>, ReadError> {
    let mut entries = Vec::new();
    let mut title = None;
    for (line, raw) in lines(text) {
        let l = clean(raw);
        if l.is_empty() {
            continue;
        }
        if let Some(tag) = l.strip_prefix('#') {
            if let Some(info) = strip_prefix_ci(tag, "EXTINF:") {
                // `#EXTINF:<seconds>[ attributes],<title>`: the title is after the first comma.
                title = info
                    .split_once(',')
                    .map(|(_, t)| t.trim())
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned);
            } else if strip_prefix_ci(tag, "EXT-X-").is_some() {
                return Err(ReadError::Hls);
            }
            continue;
        }
        entries.push(RawEntry {
            line,
            text: l.to_owned(),
            title: title.take(),
        });
    }
    Ok(entries)
}

/// Parses PLS: `FileN=` entries in the order of N (not of the lines), each with its
/// `TitleN=`. Keys are case-insensitive; `;` and `#` lines are comments; keys of other
/// sections are ignored. `NumberOfEntries=` (and `LengthN=`, `Version=`) are read past: the
/// `FileN` keys themselves say what there is, and real files get the count wrong.
pub fn parse_pls(text: &str) -> Result<Vec<RawEntry>, ReadError> {
    let mut files: BTreeMap<u64, (usize, String)> = BTreeMap::new();
    let mut titles: BTreeMap<u64, String> = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut saw_playlist = false;
    for (line, raw) in lines(text) {
        let l = clean(raw);
        if l.is_empty() || l.starts_with(';') || l.starts_with('#') {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let name = name.trim().to_ascii_lowercase();
            saw_playlist |= name == "playlist";
            section = Some(name);
            continue;
        }
        if section.as_deref().is_some_and(|s| s != "playlist") {
            continue;
        }
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let numbered = |prefix: &str| key.strip_prefix(prefix)?.parse::<u64>().ok();
        if let Some(n) = numbered("file") {
            if !value.is_empty() {
                // A repeated number keeps its first line: later duplicates are mistakes.
                files.entry(n).or_insert_with(|| (line, value.to_owned()));
            }
        } else if let Some(n) = numbered("title")
            && !value.is_empty()
        {
            titles.entry(n).or_insert_with(|| value.to_owned());
        }
    }
    if !saw_playlist && files.is_empty() {
        return Err(ReadError::NotPls);
    }
    Ok(files
        .into_iter()
        .map(|(n, (line, text))| RawEntry {
            line,
            text,
            title: titles.remove(&n),
        })
        .collect())
}

/// What an entry points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local file or folder, absolute (it may not exist).
    Path(PathBuf),
    /// A URL of another scheme than `file:` (`http://`, `https://`, `rtsp://`, ...): a stream.
    Stream(String),
    /// A `file:` URL that names no local path, and why.
    Invalid(String),
}

/// An entry of a playlist that has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Line number in the playlist (from 1).
    pub line: usize,
    /// The entry as written.
    pub text: String,
    /// The playlist's title for it, if any.
    pub title: Option<String>,
    /// What it points at.
    pub target: Target,
}

/// Reads the playlist at `path` (its extension says the format; anything else is read as
/// M3U) into its entries, resolved against its folder.
pub fn read(path: &Path) -> Result<Vec<Item>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    if len > MAX_BYTES {
        return Err(ReadError::TooLarge(len));
    }
    let mut bytes = Vec::new();
    // `take`: a file that grows while it is read still stops at the limit.
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    let (text, encoding) = decode(&bytes)?;
    let raw = match format_of(path) {
        Some(Format::Pls) => parse_pls(&text)?,
        Some(Format::M3u) | None => parse_m3u(&text)?,
    };
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Absolute, so that `..` in entries climbs from the playlist's real folder.
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    Ok(raw
        .into_iter()
        .map(|r| {
            let mut target = target_of(&r.text, &base);
            if encoding == Encoding::Latin1
                && let Target::Path(p) = &target
                && !p.exists()
                && let Some(raw_path) = latin1_bytes_path(&r.text, &base)
                && raw_path.exists()
            {
                target = Target::Path(raw_path);
            }
            Item {
                line: r.line,
                text: r.text,
                title: r.title,
                target,
            }
        })
        .collect())
}

/// What the entry `text` points at, relative entries resolved against `base` (absolute).
pub fn target_of(text: &str, base: &Path) -> Target {
    if let Some(rest) = strip_prefix_ci(text, "file:") {
        return match file_url_path(rest) {
            Ok(p) => Target::Path(normalize(&base.join(p))),
            Err(why) => Target::Invalid(why),
        };
    }
    if url_scheme(text).is_some() {
        return Target::Stream(text.to_owned());
    }
    // Windows playlists write `Music\Album\01.mp3`. On Unix a backslash is a legal name
    // character, so convert only when the entry has no `/` at all: then it cannot be a Unix
    // path with a backslash in one name (that is, not one Hearth wrote: see `entry_line`).
    let converted;
    let text = if cfg!(unix) && text.contains('\\') && !text.contains('/') {
        converted = text.replace('\\', "/");
        converted.as_str()
    } else {
        text
    };
    Target::Path(normalize(&base.join(text)))
}

/// The scheme of a URL (`http` in `http://...`): at least two characters (so `C:\` is a
/// drive, not a scheme), then `://` (so `Artist: Title.mp3` is a file name).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (valid && rest.starts_with("//")).then_some(scheme)
}

/// The path of a `file:` URL (given what follows `file:`), percent-decoded: `file:///p`,
/// `file://localhost/p`, and the short `file:/p`.
fn file_url_path(rest: &str) -> Result<PathBuf, String> {
    let path = match rest.strip_prefix("//") {
        Some(after) => {
            let (host, path) = after.split_at(after.find('/').unwrap_or(after.len()));
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Err(format!(
                    "a file URL on another host ({host}) is not supported"
                ));
            }
            path
        }
        None => rest,
    };
    // In a URL, `?` and `#` end the path; writers percent-encode them inside names.
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path.is_empty() {
        return Err("a file URL without a path".into());
    }
    bytes_path(percent_decode(path)).ok_or_else(|| "a file URL that is not a valid path".into())
}

/// `%XX` to the byte; a `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A path from raw bytes (any bytes on Unix; UTF-8 elsewhere).
fn bytes_path(bytes: Vec<u8>) -> Option<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
    }
    #[cfg(not(unix))]
    {
        String::from_utf8(bytes).ok().map(PathBuf::from)
    }
}

/// For a Latin-1 playlist: the entry's original bytes as a path. A file named on an old
/// system has those bytes in its name, not the UTF-8 of the characters they stand for; the
/// byte-to-character mapping is one-to-one, so the bytes come back exactly. Unix only (names
/// are bytes there).
fn latin1_bytes_path(text: &str, base: &Path) -> Option<PathBuf> {
    if !cfg!(unix) || text.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
    let mut bytes = bytes?;
    // The same Windows-separator rule as `target_of`.
    if bytes.contains(&b'\\') && !bytes.contains(&b'/') {
        for b in &mut bytes {
            if *b == b'\\' {
                *b = b'/';
            }
        }
    }
    bytes_path(bytes).map(|p| normalize(&base.join(p)))
}

/// `a/./b/../c` as `a/c`, without asking the file system to resolve it: `..` removes the
/// name before it unless that name is a symbolic link (then `x/..` is the link target's
/// parent, which only the kernel knows, and the `..` stays).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::RootDir | Component::Prefix(_)) => {} // `/..` is `/`
                Some(Component::Normal(_))
                    if !out
                        .symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_symlink()) =>
                {
                    out.pop();
                }
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

// ---- Writing -----------------------------------------------------------------------------

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
fn entry_line(path: &Path, dir: &Path, dir_real: &Path) -> String {
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
fn reads_back_as_written(s: &str) -> bool {
    !s.is_empty()
        && clean(s) == s
        && !s.chars().any(char::is_control)
        && strip_prefix_ci(s, "file:").is_none()
        && url_scheme(s).is_none()
}

/// `file://` and the path percent-encoded (every byte but unreserved characters and `/`).
fn file_url(abs: &Path) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(entries: &[RawEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.text.as_str()).collect()
    }

    #[test]
    fn formats_by_extension_any_case() {
        assert_eq!(format_of(Path::new("a/List.M3U8")), Some(Format::M3u));
        assert_eq!(format_of(Path::new("x.m3u")), Some(Format::M3u));
        assert_eq!(format_of(Path::new("x.PLS")), Some(Format::Pls));
        assert_eq!(format_of(Path::new("x.flac")), None);
        assert_eq!(format_of(Path::new("m3u")), None);
    }

    #[test]
    fn m3u_entries_titles_comments_and_blank_lines() {
        let text = "#EXTM3U\n\n# a comment\n#EXTINF:123,Artist - Song, with comma\nsong.flac\n\
                    #EXTGRP:whatever\nno title.mp3\n#EXTINF:-1 tvg-id=\"x\",Radio\n  spaced.ogg  \n";
        let e = parse_m3u(text).unwrap();
        assert_eq!(texts(&e), ["song.flac", "no title.mp3", "spaced.ogg"]);
        assert_eq!(e[0].title.as_deref(), Some("Artist - Song, with comma"));
        assert_eq!(e[0].line, 5);
        assert_eq!(e[1].title, None, "a title belongs to the next entry only");
        assert_eq!(e[2].title.as_deref(), Some("Radio"));
    }

    #[test]
    fn bom_and_crlf_and_cr_only() {
        let bytes = b"\xEF\xBB\xBF#EXTM3U\r\n#EXTINF:1,T\r\na.flac\r\nb.flac\r\n";
        let (text, enc) = decode(bytes).unwrap();
        assert_eq!(enc, Encoding::Utf8);
        let e = parse_m3u(&text).unwrap();
        assert_eq!(texts(&e), ["a.flac", "b.flac"]);
        assert_eq!(e[0].line, 3);
        // A BOM with no header: the first entry's name must not carry it.
        let (text, _) = decode(b"\xEF\xBB\xBFfirst.flac\n").unwrap();
        assert_eq!(texts(&parse_m3u(&text).unwrap()), ["first.flac"]);
        // Classic Mac OS line ends.
        assert_eq!(
            texts(&parse_m3u("a.flac\rb.flac\r").unwrap()),
            ["a.flac", "b.flac"]
        );
    }

    #[test]
    fn latin1_falls_back_byte_to_char() {
        // "Été.mp3" in ISO 8859-1: not valid UTF-8.
        let (text, enc) = decode(b"#EXTM3U\n\xC9t\xE9.mp3\n").unwrap();
        assert_eq!(enc, Encoding::Latin1);
        assert_eq!(texts(&parse_m3u(&text).unwrap()), ["Été.mp3"]);
        // Valid UTF-8 stays UTF-8.
        let (text, enc) = decode("Été.mp3\n".as_bytes()).unwrap();
        assert_eq!((text.as_str(), enc), ("Été.mp3\n", Encoding::Utf8));
    }

    #[cfg(unix)]
    #[test]
    fn latin1_names_on_disk_are_found_by_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"\xC9t\xE9.flac");
        std::fs::write(dir.path().join(name), b"x").unwrap();
        let list = dir.path().join("old.m3u");
        std::fs::write(&list, b"\xC9t\xE9.flac\n").unwrap();
        let items = read(&list).unwrap();
        assert_eq!(items[0].target, Target::Path(dir.path().join(name)));
    }

    #[test]
    fn utf16_with_bom_and_binary_files() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "a.flac\r\nÉ.flac\r\n".encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        let (text, enc) = decode(&bytes).unwrap();
        assert_eq!(enc, Encoding::Utf16);
        assert_eq!(texts(&parse_m3u(&text).unwrap()), ["a.flac", "É.flac"]);
        assert!(matches!(decode(b"fLaC\0\0\x01"), Err(ReadError::Binary)));
        assert!(matches!(decode(&[0xFF, 0xFE, 1]), Err(ReadError::BadUtf16)));
    }

    #[test]
    fn hls_manifests_are_streams() {
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nseg0.ts\n";
        let err = parse_m3u(text).unwrap_err();
        assert!(
            err.to_string().contains("streams are not supported"),
            "{err}"
        );
    }

    #[test]
    fn pls_orders_by_number_with_titles() {
        let text = "[playlist]\r\nNumberOfEntries=3\r\nFile2=b.mp3\r\nTitle2=Bee\r\nfile10=j.mp3\r\n\
                    File1=a.mp3\r\nLength1=100\r\n; comment\r\nFile3=\r\nVersion=2\r\n";
        let e = parse_pls(text).unwrap();
        assert_eq!(texts(&e), ["a.mp3", "b.mp3", "j.mp3"]);
        assert_eq!(e[1].title.as_deref(), Some("Bee"));
        assert_eq!(e[0].title, None);
        assert_eq!(e[0].line, 6);
    }

    #[test]
    fn pls_ignores_other_sections_and_needs_its_own() {
        let text = "[other]\nFile1=x.mp3\n[playlist]\nFile1=a.mp3\n";
        assert_eq!(texts(&parse_pls(text).unwrap()), ["a.mp3"]);
        assert!(matches!(parse_pls("hello\n"), Err(ReadError::NotPls)));
        assert!(
            parse_pls("[playlist]\nNumberOfEntries=0\n")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn relative_absolute_and_windows_paths() {
        let base = Path::new("/music/lists");
        assert_eq!(
            target_of("a b/Été.flac", base),
            Target::Path("/music/lists/a b/Été.flac".into())
        );
        assert_eq!(
            target_of("../album/01.flac", base),
            Target::Path("/music/album/01.flac".into())
        );
        assert_eq!(
            target_of("/abs/x.flac", base),
            Target::Path("/abs/x.flac".into())
        );
        #[cfg(unix)]
        {
            assert_eq!(
                target_of("..\\album\\01.mp3", base),
                Target::Path("/music/album/01.mp3".into())
            );
            // A `/` says it is a Unix path: a backslash in it is part of a name.
            assert_eq!(
                target_of("./odd\\name.mp3", base),
                Target::Path("/music/lists/odd\\name.mp3".into())
            );
        }
        // `Artist: Title` is a file name, not a URL.
        assert_eq!(
            target_of("Artist: Title.mp3", base),
            Target::Path("/music/lists/Artist: Title.mp3".into())
        );
    }

    #[test]
    fn urls_are_streams() {
        let base = Path::new("/m");
        for url in [
            "http://radio.example/stream",
            "HTTPS://x.example/a.mp3",
            "rtsp://cam/1",
            "mms://old/radio",
        ] {
            assert_eq!(target_of(url, base), Target::Stream(url.into()), "{url}");
        }
    }

    #[test]
    fn file_urls_are_percent_decoded() {
        let base = Path::new("/m");
        assert_eq!(
            target_of("file:///home/u/M%C3%BAsica/a%20b%25.flac", base),
            Target::Path("/home/u/Música/a b%.flac".into())
        );
        assert_eq!(
            target_of("FILE://localhost/x/y.flac", base),
            Target::Path("/x/y.flac".into())
        );
        assert_eq!(
            target_of("file:/x/y.flac", base),
            Target::Path("/x/y.flac".into())
        );
        assert_eq!(
            target_of("file:///x/%23y.flac#frag", base),
            Target::Path("/x/#y.flac".into())
        );
        assert!(matches!(
            target_of("file://server/share/a.flac", base),
            Target::Invalid(why) if why.contains("another host")
        ));
        // A stray `%` is kept.
        assert_eq!(
            target_of("file:///x/100%.flac", base),
            Target::Path("/x/100%.flac".into())
        );
    }

    #[cfg(unix)]
    #[test]
    fn file_urls_carry_any_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let Target::Path(p) = target_of("file:///x/%FF.flac", Path::new("/")) else {
            panic!("not a path");
        };
        assert_eq!(p.as_os_str().as_bytes(), b"/x/\xFF.flac");
        // And `file_url` writes them back.
        assert_eq!(file_url(&p), "file:///x/%FF.flac");
    }

    #[test]
    fn relative_paths_for_saving() {
        let rel = |t: &str, b: &str| relative_path(Path::new(t), Path::new(b));
        assert_eq!(rel("/a/b/c.flac", "/a/b"), Some("c.flac".into()));
        assert_eq!(rel("/a/x/c.flac", "/a/b"), Some("../x/c.flac".into()));
        assert_eq!(rel("/a/b/c.flac", "/a/b/d/e"), Some("../../c.flac".into()));
        assert_eq!(
            rel("/home/u/m.flac", "/tmp/lists"),
            None,
            "only the root in common"
        );
        assert_eq!(rel("/a", "/a"), None);
        assert_eq!(rel("a/c.flac", "/a"), None);
    }

    #[test]
    fn rendering_escapes_what_would_not_read_back() {
        let dir = Path::new("/nonexistent-hearth-test/lists");
        let entry = |p: &str, secs, label: &str| SaveEntry {
            path: p.into(),
            seconds: secs,
            label: label.into(),
        };
        let text = render_m3u8(
            &[
                entry(
                    "/nonexistent-hearth-test/music/Été 1.flac",
                    Some(150.4),
                    "A - T",
                ),
                entry("/elsewhere/x.flac", None, "x"),
                entry(
                    "/nonexistent-hearth-test/lists/#1.flac",
                    Some(2.6),
                    "two\nlines",
                ),
                entry("/nonexistent-hearth-test/lists/a\\b.flac", None, "b"),
                entry("/nonexistent-hearth-test/lists/new\nline.flac", None, "n"),
            ],
            dir,
            dir,
        );
        assert_eq!(
            text,
            "#EXTM3U\n\
             #EXTINF:150,A - T\n../music/Été 1.flac\n\
             #EXTINF:-1,x\n/elsewhere/x.flac\n\
             #EXTINF:3,two lines\n./#1.flac\n\
             #EXTINF:-1,b\n./a\\b.flac\n\
             #EXTINF:-1,n\nfile:///nonexistent-hearth-test/lists/new%0Aline.flac\n"
        );
        // Each line reads back as the path it was written for.
        let back: Vec<Target> = parse_m3u(&text)
            .unwrap()
            .iter()
            .map(|e| target_of(&e.text, dir))
            .collect();
        let want: Vec<Target> = [
            "/nonexistent-hearth-test/music/Été 1.flac",
            "/elsewhere/x.flac",
            "/nonexistent-hearth-test/lists/#1.flac",
            "/nonexistent-hearth-test/lists/a\\b.flac",
            "/nonexistent-hearth-test/lists/new\nline.flac",
        ]
        .iter()
        .map(|p| Target::Path(p.into()))
        .collect();
        assert_eq!(back, want);
    }

    #[test]
    fn saving_is_atomic_and_round_trips() {
        let root = tempfile::tempdir().unwrap();
        let music = root.path().join("music");
        let lists = root.path().join("lists");
        std::fs::create_dir_all(&music).unwrap();
        std::fs::create_dir_all(&lists).unwrap();
        let files: Vec<PathBuf> = ["a b.flac", "Été.flac"]
            .iter()
            .map(|n| music.join(n))
            .collect();
        for f in &files {
            std::fs::write(f, b"x").unwrap();
        }
        let entries: Vec<SaveEntry> = files
            .iter()
            .map(|p| SaveEntry {
                path: p.clone(),
                seconds: Some(61.0),
                label: "L".into(),
            })
            .collect();
        let list = lists.join("saved.m3u8");
        std::fs::write(&list, "old").unwrap();
        assert_eq!(write_m3u8(&list, &entries).unwrap(), 2);
        let text = std::fs::read_to_string(&list).unwrap();
        assert!(text.contains("\n../music/a b.flac\n"), "{text}");
        // Nothing left beside it.
        assert_eq!(std::fs::read_dir(&lists).unwrap().count(), 1);
        let back: Vec<Target> = read(&list).unwrap().into_iter().map(|i| i.target).collect();
        let want: Vec<Target> = files.iter().cloned().map(Target::Path).collect();
        assert_eq!(back, want);
        // Errors are readable.
        let e = write_m3u8(&lists.join("x.pls"), &entries).unwrap_err();
        assert!(e.to_string().contains(".m3u8"), "{e}");
        let e = write_m3u8(&root.path().join("no/such/x.m3u8"), &entries).unwrap_err();
        assert!(e.to_string().contains("No such file or directory"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn relative_only_when_it_leads_to_the_same_file() {
        // lists/link -> other/deep: from lists/link, `..` is other/, not lists/.
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("other/deep");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(root.path().join("lists")).unwrap();
        std::fs::write(root.path().join("lists/song.flac"), b"x").unwrap();
        let link = root.path().join("lists/link");
        std::os::unix::fs::symlink(&deep, &link).unwrap();
        let real = std::fs::canonicalize(&link).unwrap();
        let line = entry_line(&root.path().join("lists/song.flac"), &link, &real);
        // Lexically `../song.flac`, which from other/deep is other/song.flac: not that.
        assert_eq!(line, "../../lists/song.flac");
    }
}

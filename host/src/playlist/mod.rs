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
use std::io::Read;
use std::path::{Component, Path, PathBuf};

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

/// The local path a `file:` URL names (percent-decoded); `None` for any other scheme, another
/// host, or no path. For MPRIS's `OpenUri`, with the same rules as playlist entries.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // MPRIS is Linux-only
pub(crate) fn path_of_file_url(uri: &str) -> Option<PathBuf> {
    let rest = strip_prefix_ci(uri, "file:")?;
    file_url_path(rest).ok()
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

mod save;
pub use save::*;

#[cfg(test)]
mod tests;

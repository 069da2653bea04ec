//! Turning command-line paths into a play list: directories expand to the audio files in them
//! (recursively), sorted naturally ("2 - b" before "10 - a"), hidden files skipped; playlists
//! (`.m3u`, `.m3u8`, `.pls`, by extension in any case) expand to their entries, in place.
//!
//! Runs on: the main thread, once at start.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::playlist::{self, Target};

/// How deep playlists may include playlists. Cycles are caught by name before this; the
/// limit is for chains no one means (a generated playlist including the next one, ...).
const MAX_PLAYLIST_DEPTH: usize = 16;

/// Extensions Hearth's decoders read.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "flac", "mp3", "mp2", "mp1", "ogg", "oga", "wav", "wave", "aif", "aiff", "aifc", "m4a", "mp4",
    "m4b", "aac", "caf", "mka", "webm", "opus",
];

/// True for a file name with an audio extension.
pub fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Expands `paths`: files are kept as given (whatever their extension: the decoder decides),
/// directories become their audio files in natural order, playlists their entries (relative
/// ones against the playlist's folder; folders and nested playlists expanded the same way).
/// Unreadable directories and playlists, and playlist entries that are missing or are
/// streams, are reported in `problems` (once each) and skipped. A playlist that does not
/// exist is one problem too, except as the only argument: then it is kept as given, so that
/// the player fails with the one line it gives any missing file.
pub fn expand(paths: &[PathBuf], problems: &mut Vec<String>) -> Vec<PathBuf> {
    let mut x = Expansion {
        out: Vec::new(),
        problems,
        reported: HashSet::new(),
        open: Vec::new(),
    };
    for p in paths {
        if p.is_dir() {
            x.dir(p);
        } else if playlist::is_playlist(p) && (p.exists() || paths.len() > 1) {
            x.playlist(p, 0);
        } else {
            x.out.push(p.clone());
        }
    }
    x.out
}

/// The state of one expansion.
struct Expansion<'a> {
    out: Vec<PathBuf>,
    problems: &'a mut Vec<String>,
    /// What was reported already (a missing file listed twice is one problem).
    reported: HashSet<String>,
    /// The playlists being expanded, outermost first, by real path (the cycle guard).
    open: Vec<PathBuf>,
}

impl Expansion<'_> {
    fn report(&mut self, key: String, message: String) {
        if self.reported.insert(key) {
            self.problems.push(message);
        }
    }

    fn dir(&mut self, dir: &Path) {
        let mut found = Vec::new();
        walk(dir, &mut found, self.problems, 0);
        found.sort_by(|a, b| natord::compare(&a.to_string_lossy(), &b.to_string_lossy()));
        self.out.extend(found);
    }

    fn playlist(&mut self, path: &Path, depth: usize) {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.open.contains(&real) {
            let msg = format!(
                "{}: the playlist includes itself; not expanded again",
                path.display()
            );
            self.report(format!("cycle {}", real.display()), msg);
            return;
        }
        if depth >= MAX_PLAYLIST_DEPTH {
            let msg = format!(
                "{}: playlists nested more than {MAX_PLAYLIST_DEPTH} deep; skipped",
                path.display()
            );
            self.report(format!("depth {}", real.display()), msg);
            return;
        }
        let items = match playlist::read(path) {
            Ok(items) => items,
            Err(e) => {
                let msg = format!("{}: {e}", path.display());
                self.report(format!("read {}", real.display()), msg);
                return;
            }
        };
        self.open.push(real);
        for item in items {
            let at = format!("{}:{}", path.display(), item.line);
            let named = match &item.title {
                Some(t) => format!("{} (\"{t}\")", item.text),
                None => item.text.clone(),
            };
            match item.target {
                Target::Stream(url) => {
                    let msg = format!("{at}: {url}: streams are not supported; skipped");
                    self.report(format!("stream {url}"), msg);
                }
                Target::Invalid(why) => {
                    let msg = format!("{at}: {named}: {why}; skipped");
                    self.report(format!("invalid {}", item.text), msg);
                }
                Target::Path(p) => match std::fs::metadata(&p) {
                    Ok(m) if m.is_dir() => self.dir(&p),
                    Ok(_) if playlist::is_playlist(&p) => self.playlist(&p, depth + 1),
                    Ok(_) => self.out.push(p),
                    Err(e) => {
                        let shown = if Path::new(&item.text) == p {
                            named
                        } else {
                            format!("{named} ({})", p.display())
                        };
                        let msg = format!("{at}: {shown}: {}; skipped", playlist::io_reason(&e));
                        self.report(format!("missing {}", p.display()), msg);
                    }
                },
            }
        }
        self.open.pop();
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, problems: &mut Vec<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found, problems, depth + 1),
            Ok(_) if is_audio(&path) => found.push(path),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_naturally_sorted_and_skip_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "10 - ten.flac",
            "2 - two.mp3",
            "1 - one.ogg",
            "notes.txt",
            ".hidden.flac",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("disc 2")).unwrap();
        std::fs::write(dir.path().join("disc 2/3 - three.wav"), b"x").unwrap();
        let mut problems = Vec::new();
        let got: Vec<String> = expand(&[dir.path().to_path_buf()], &mut problems)
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap_or(p)
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "1 - one.ogg",
                "2 - two.mp3",
                "10 - ten.flac",
                "disc 2/3 - three.wav"
            ]
        );
        assert!(problems.is_empty());
    }

    fn names(paths: &[PathBuf], root: &Path) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
            .collect()
    }

    #[test]
    fn playlists_expand_in_place_with_folders_and_nested_lists() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for f in [
            "a.flac",
            "b.flac",
            "album/2.flac",
            "album/10.flac",
            "lists/c.flac",
        ] {
            std::fs::create_dir_all(r.join(f).parent().unwrap()).unwrap();
            std::fs::write(r.join(f), b"x").unwrap();
        }
        std::fs::write(r.join("lists/inner.PLS"), "[playlist]\nFile1=c.flac\n").unwrap();
        std::fs::write(
            r.join("lists/outer.m3u8"),
            "#EXTM3U\n../b.flac\n../album\ninner.PLS\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        let args = [
            r.join("a.flac"),
            r.join("lists/outer.m3u8"),
            r.join("a.flac"),
        ];
        let got = expand(&args, &mut problems);
        assert_eq!(
            names(&got, r),
            [
                "a.flac",
                "b.flac",
                "album/2.flac",
                "album/10.flac",
                "lists/c.flac",
                "a.flac"
            ]
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn missing_entries_and_streams_are_reported_once_and_skipped() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::write(r.join("a.flac"), b"x").unwrap();
        std::fs::write(
            r.join("l.m3u"),
            "a.flac\ngone.flac\nhttp://radio.example/live\ngone.flac\nfile://nas/x.flac\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        let got = expand(&[r.join("l.m3u")], &mut problems);
        assert_eq!(names(&got, r), ["a.flac"]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("l.m3u:2: gone.flac") && problems[0].contains("No such file"));
        assert!(problems[1].contains("http://radio.example/live: streams are not supported"));
        assert!(problems[2].contains("another host"));
    }

    #[test]
    fn cycles_stop_and_unreadable_playlists_are_one_problem() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::write(r.join("a.flac"), b"x").unwrap();
        std::fs::write(r.join("one.m3u"), "a.flac\ntwo.m3u\n").unwrap();
        std::fs::write(r.join("two.m3u"), "one.m3u\n").unwrap();
        std::fs::write(r.join("bin.m3u"), b"\0\0\0").unwrap();
        let mut problems = Vec::new();
        let got = expand(&[r.join("one.m3u"), r.join("bin.m3u")], &mut problems);
        assert_eq!(names(&got, r), ["a.flac"]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("includes itself"), "{problems:?}");
        assert!(
            problems[1].contains("bin.m3u: not a playlist"),
            "{problems:?}"
        );
        // A playlist that does not exist: alone, it stays, to fail like any missing file;
        // among others, it is a problem.
        let mut problems = Vec::new();
        let got = expand(&[r.join("nope.m3u8")], &mut problems);
        assert_eq!(got, [r.join("nope.m3u8")]);
        assert!(problems.is_empty());
        let got = expand(&[r.join("nope.m3u8"), r.join("a.flac")], &mut problems);
        assert_eq!(names(&got, r), ["a.flac"]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("nope.m3u8: cannot read playlist: No such file"),
            "{problems:?}"
        );
    }
}

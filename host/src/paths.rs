//! Turning command-line paths into a play list: directories expand to the audio files in them
//! (recursively), sorted naturally ("2 - b" before "10 - a"), hidden files skipped.

use std::path::{Path, PathBuf};

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
/// directories become their audio files in natural order. Unreadable directories are reported
/// in `problems` and skipped.
pub fn expand(paths: &[PathBuf], problems: &mut Vec<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found, problems, 0);
            found.sort_by(|a, b| natord::compare(&a.to_string_lossy(), &b.to_string_lossy()));
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
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
}

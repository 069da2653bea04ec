//! Track identity: a fingerprint of the source file, and the [`TrackId`] derived from it.
//!
//! A fingerprint is the canonical path, the size, the modification time and a hash of the
//! first and last 64 KiB. Any change to the file (re-encoded, re-tagged, replaced, touched)
//! gives a new fingerprint and so a new `TrackId`: a changed source is never served from the
//! old cache. The id also covers the engine rate and channel layout, because the cached PCM
//! depends on them.
//!
//! Cache file names are derived from these hashes only, never from user paths.
//!
//! Runs on: the control thread (when a track is loaded or queued) and the filler.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::chunk::TrackId;

/// Bytes hashed at each end of the file.
pub const EDGE_BYTES: u64 = 64 * 1024;

/// What identifies a source file's content without reading all of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The canonical (absolute, symlink-free) path, lossily converted to UTF-8 so the index
    /// stays JSON. Used to notice that a path now holds different content.
    pub canonical_path: String,
    /// File size, bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (negative before it).
    pub mtime_ns: i64,
    /// xxh3-64 of the size, the first [`EDGE_BYTES`] and the last [`EDGE_BYTES`] (the whole
    /// file when it is shorter than twice that).
    pub head_tail_hash: u64,
}

impl Fingerprint {
    /// Fingerprints the file at `path`: reads its metadata and at most 128 KiB.
    ///
    /// Runs on: control or filler thread (does file I/O).
    pub fn of(path: &Path) -> io::Result<Fingerprint> {
        let canonical = std::fs::canonicalize(path)?;
        let mut file = File::open(&canonical)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory, not an audio file",
            ));
        }
        let size = meta.len();
        let mtime_ns = match meta.modified()?.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_nanos())
                .map(|n| -n)
                .unwrap_or(i64::MIN),
        };
        let mut h = Xxh3::new();
        h.update(&size.to_le_bytes());
        let mut buf = vec![0u8; EDGE_BYTES as usize];
        if size <= 2 * EDGE_BYTES {
            let mut all = Vec::with_capacity(size as usize);
            file.read_to_end(&mut all)?;
            h.update(&all);
        } else {
            file.read_exact(&mut buf)?;
            h.update(&buf);
            file.seek(SeekFrom::Start(size - EDGE_BYTES))?;
            file.read_exact(&mut buf)?;
            h.update(&buf);
        }
        Ok(Fingerprint {
            canonical_path: canonical.to_string_lossy().into_owned(),
            size,
            mtime_ns,
            head_tail_hash: h.digest(),
        })
    }

    /// A hash of every field: the "source fingerprint" stored in warm file headers.
    pub fn hash(&self) -> u64 {
        let mut h = Xxh3::new();
        h.update(b"hearth-fingerprint-v1\0");
        h.update(&(self.canonical_path.len() as u64).to_le_bytes());
        h.update(self.canonical_path.as_bytes());
        h.update(&self.size.to_le_bytes());
        h.update(&self.mtime_ns.to_le_bytes());
        h.update(&self.head_tail_hash.to_le_bytes());
        h.digest()
    }
}

/// The identity of a track's cached audio: its source fingerprint at an engine rate and
/// channel count, decoded by this version of the decoding rules
/// ([`crate::source::DECODE_VERSION`]). Stable across runs and builds (xxh3 of a fixed
/// encoding).
pub fn track_id(fp: &Fingerprint, engine_rate: u32, channels: u16) -> TrackId {
    let mut h = Xxh3::new();
    h.update(b"hearth-track-v1\0");
    h.update(&crate::source::DECODE_VERSION.to_le_bytes());
    h.update(&fp.hash().to_le_bytes());
    h.update(&engine_rate.to_le_bytes());
    h.update(&channels.to_le_bytes());
    TrackId(h.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_follow_content_size_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.bin");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&a, &big).unwrap();
        let fa = Fingerprint::of(&a).unwrap();
        assert_eq!(fa.size, 300_000);
        assert!(fa.canonical_path.ends_with("a.bin"));
        // Through a relative-looking path with `..`, the same file has the same fingerprint.
        let via = dir.path().join("sub/../a.bin");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(Fingerprint::of(&via).ok(), Some(fa.clone()));

        // A change in the last 64 KiB, size and mtime forced equal, still changes it.
        let mut changed = big.clone();
        changed[299_999] ^= 1;
        let b = dir.path().join("b.bin");
        std::fs::write(&b, &changed).unwrap();
        let mut fb = Fingerprint::of(&b).unwrap();
        assert_ne!(fb.head_tail_hash, fa.head_tail_hash);
        fb.canonical_path = fa.canonical_path.clone();
        fb.mtime_ns = fa.mtime_ns;
        assert_ne!(track_id(&fa, 48_000, 2), track_id(&fb, 48_000, 2));

        assert_ne!(track_id(&fa, 48_000, 2), track_id(&fa, 44_100, 2));
        assert_eq!(track_id(&fa, 48_000, 2), track_id(&fa.clone(), 48_000, 2));
        assert!(Fingerprint::of(dir.path()).is_err());
        assert!(Fingerprint::of(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn small_files_are_hashed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, b"hello").unwrap();
        let a = Fingerprint::of(&p).unwrap();
        std::fs::write(&p, b"hellp").unwrap();
        let b = Fingerprint::of(&p).unwrap();
        assert_ne!(a.head_tail_hash, b.head_tail_hash);
        let e = dir.path().join("e");
        std::fs::write(&e, b"").unwrap();
        assert_eq!(Fingerprint::of(&e).map(|f| f.size).ok(), Some(0));
    }
}

//! Entry points for the fuzz targets in `fuzz/` (and their regression tests): each takes
//! arbitrary bytes and must return — never panic, never hang, never allocate without bound.
//! Not part of the API.

use std::path::Path;
use std::sync::Arc;

use crate::warm::file::{ChunkCheck, Shared, WarmFile};
use crate::warm::header::{HEADER_LEN, WarmHeader};
use crate::{ChunkGeometry, Source, TrackId, Variant};

/// Extensions the decode target gives its input, chosen by the first byte: the probe uses
/// the extension as a hint, so each container's reader gets its turn.
const EXTENSIONS: [&str; 9] = [
    "flac", "mp3", "ogg", "wav", "aiff", "m4a", "caf", "mkv", "bin",
];

/// Most chunks of a fuzz input read (in the order the input picks).
const MAX_CHUNKS: usize = 12;

/// The decode pipeline on arbitrary bytes: probe, open at 48 kHz, then read chunks in an
/// order taken from the input. Files go in `dir`.
pub fn decode(dir: &Path, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let ext = EXTENSIONS[usize::from(pick) % EXTENSIONS.len()];
    let path = dir.join(format!("input.{ext}"));
    if std::fs::write(&path, body).is_err() {
        return;
    }
    let _ = crate::probe(&path);
    let Ok(mut source) = Source::open(&path, Some(48_000)) else {
        return;
    };
    let chunk = 4096u64;
    let chunks = source.frames().div_ceil(chunk).max(1);
    let mut out = vec![0.0f32; chunk as usize * 2];
    for &k in body.iter().rev().take(MAX_CHUNKS) {
        let start = (u64::from(k) % chunks) * chunk;
        let n = chunk.min(source.frames().saturating_sub(start));
        if n == 0 {
            continue;
        }
        if source.read(start, &mut out[..n as usize * 2]).is_err() {
            return;
        }
        assert!(
            out.iter().all(|x| x.is_finite()),
            "the pipeline returned a non-finite sample"
        );
    }
}

/// The warm-file header and chunk table on arbitrary bytes. With the first byte odd, a valid
/// header is built from the next bytes (so the fuzzer gets past the checksum and exercises
/// the presence bytes, checksums and PCM), followed by the rest of the input as the body;
/// otherwise the input is the file. The file is opened, every chunk checked and read; a
/// chunk that reads as good must match its checksum (checked by `read_chunk` itself).
pub fn warm_file(dir: &Path, data: &[u8]) {
    let _ = WarmHeader::decode(data);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 && rest.len() >= 8 {
        let chunk_frames = 1 + u32::from(u16::from_le_bytes([rest[0], rest[1]]) % 2048);
        let total_frames = u64::from(u16::from_le_bytes([rest[2], rest[3]]));
        let channels = 1 + u16::from(rest[4] % 8);
        let header = WarmHeader {
            track: TrackId(u64::from(rest[5])),
            variant: Variant::Original,
            engine_rate: 48_000,
            channels,
            geometry: ChunkGeometry::new(total_frames, chunk_frames),
            source_hash: 0,
            params_hash: 0,
        };
        let Ok(head) = header.encode() else { return };
        let Ok(layout) = header.layout() else { return };
        // The body as given, then zeros up to the declared length unless the input says
        // to leave the file short.
        let mut b = head.to_vec();
        b.extend_from_slice(&rest[6..]);
        if rest[6 % rest.len()] & 1 == 0 && (b.len() as u64) < layout.file_len {
            b.resize(layout.file_len as usize, 0);
        }
        b
    } else {
        rest.to_vec()
    };
    if bytes.len() > 64 << 20 {
        return;
    }
    let path = dir.join("fuzz.warm");
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    let Ok(file) = WarmFile::open(&path, None, Arc::new(Shared::default())) else {
        return;
    };
    assert!(bytes.len() >= HEADER_LEN);
    let channels = usize::from(file.header().channels);
    let mut scratch = Vec::new();
    for i in 0..file.chunk_count().min(64) {
        let check = file.check_chunk(i, &mut scratch);
        let mut out = vec![0.0f32; file.geometry().len(i) as usize * channels];
        let good = file.read_chunk(i, &mut out).unwrap_or(false);
        assert_eq!(
            good,
            check == ChunkCheck::Good,
            "read_chunk and check_chunk disagree on chunk {i}"
        );
        if !good {
            assert!(out.iter().all(|&x| x == 0.0), "a bad chunk leaked samples");
        }
    }
}

/// The index loader on arbitrary bytes: parse, then open a store whose index is these bytes
/// (reconciling it with an empty warm directory) and save it again.
pub fn index(dir: &Path, data: &[u8]) {
    let _ = crate::warm::index::parse(data);
    let cache = dir.join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    if std::fs::create_dir_all(&cache).is_err() {
        return;
    }
    if std::fs::write(cache.join(crate::warm::index::INDEX_FILE), data).is_err() {
        return;
    }
    let store = crate::WarmStore::open(crate::CacheConfig::new(&cache));
    let _ = store.stats();
    let _ = store.flush_index();
}

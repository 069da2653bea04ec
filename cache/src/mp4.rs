//! Gapless information from MP4/M4A edit lists.
//!
//! AAC in MP4 starts with encoder priming (1024 or 2112 frames) and ends with padding; the
//! container says which part to play in the audio track's edit list (`moov/trak/edts/elst`).
//! symphonia parses the atom but does not apply it, and no maintained crate exposes it in a
//! form we can use without a second demuxer, so this reads just those few boxes by hand.
//! Hostile input is bounded: the `moov` box is read only up to `MAX_MOOV` bytes and every
//! access is checked.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const MAX_MOOV: u64 = 32 * 1024 * 1024;

/// The part of the audio track to play, in the track's sample frames.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EditTrim {
    /// Frames to drop at the start (encoder priming), in `timescale` units.
    pub skip: u64,
    /// Frames to play after that, when the edit says, in `timescale` units.
    pub play: Option<u64>,
    /// The track's media timescale (usually its sample rate).
    pub timescale: u32,
}

/// Reads the first audio track's edit list; `None` when there is none (or nothing to trim).
pub fn edit_trim(path: &Path) -> Option<EditTrim> {
    let mut file = File::open(path).ok()?;
    let moov = read_top_level_box(&mut file, *b"moov")?;
    let movie_timescale = find_child(&moov, *b"mvhd").and_then(mvhd_timescale)?;
    children(&moov)
        .filter(|(kind, _)| kind == b"trak")
        .find_map(|(_, trak)| audio_trak_trim(trak, movie_timescale))
}

fn audio_trak_trim(trak: &[u8], movie_timescale: u32) -> Option<EditTrim> {
    let mdia = find_child(trak, *b"mdia")?;
    let handler = find_child(mdia, *b"hdlr")?;
    // hdlr: version/flags(4), pre_defined(4), handler_type(4)
    if handler.get(8..12)? != b"soun" {
        return None;
    }
    let media_timescale = find_child(mdia, *b"mdhd").and_then(mdhd_timescale)?;
    let elst = find_child(find_child(trak, *b"edts")?, *b"elst")?;
    let edits = parse_elst(elst)?;
    // Skip leading empty edits (media_time -1: a delay before the track); use the first real
    // edit. Several real edits are a composition, not a gapless trim: leave those alone.
    let mut real = edits.iter().filter(|e| e.media_time >= 0);
    let edit = real.next()?;
    if real.next().is_some() {
        return None;
    }
    let skip = edit.media_time as u64;
    let play = (edit.segment_duration > 0).then(|| {
        let frames = u128::from(edit.segment_duration) * u128::from(media_timescale)
            / u128::from(movie_timescale.max(1));
        u64::try_from(frames).unwrap_or(u64::MAX)
    });
    (skip > 0 || play.is_some()).then_some(EditTrim {
        skip,
        play,
        timescale: media_timescale,
    })
}

struct Edit {
    segment_duration: u64,
    media_time: i64,
}

fn parse_elst(b: &[u8]) -> Option<Vec<Edit>> {
    let version = *b.first()?;
    let count = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    let entry = if version == 1 { 20 } else { 12 };
    let mut edits = Vec::new();
    for i in 0..count.min(64) {
        let e = b.get(8 + i * entry..8 + (i + 1) * entry)?;
        let edit = if version == 1 {
            Edit {
                segment_duration: u64::from_be_bytes(e[0..8].try_into().ok()?),
                media_time: i64::from_be_bytes(e[8..16].try_into().ok()?),
            }
        } else {
            Edit {
                segment_duration: u64::from(u32::from_be_bytes(e[0..4].try_into().ok()?)),
                media_time: i64::from(i32::from_be_bytes(e[4..8].try_into().ok()?)),
            }
        };
        edits.push(edit);
    }
    Some(edits)
}

fn mvhd_timescale(b: &[u8]) -> Option<u32> {
    // version 0: flags(4) ctime(4) mtime(4) timescale(4); version 1: ctime/mtime are 8 bytes.
    let at = if *b.first()? == 1 { 20 } else { 12 };
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn mdhd_timescale(b: &[u8]) -> Option<u32> {
    mvhd_timescale(b)
}

/// Reads the payload of the first top-level box of `kind`.
fn read_top_level_box(file: &mut File, kind: [u8; 4]) -> Option<Vec<u8>> {
    let len = file.metadata().ok()?.len();
    let mut pos = 0u64;
    while pos + 8 <= len {
        file.seek(SeekFrom::Start(pos)).ok()?;
        let mut h = [0u8; 16];
        file.read_exact(&mut h[..8]).ok()?;
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let (size, header) = match size32 {
            0 => (len - pos, 8),
            1 => {
                file.read_exact(&mut h[8..16]).ok()?;
                (u64::from_be_bytes(h[8..16].try_into().ok()?), 16)
            }
            s => (u64::from(s), 8),
        };
        if size < header {
            return None;
        }
        if h[4..8] == kind {
            let body = size - header;
            if body > MAX_MOOV {
                return None;
            }
            let mut buf = vec![0u8; body as usize];
            file.read_exact(&mut buf).ok()?;
            return Some(buf);
        }
        pos = pos.checked_add(size)?;
    }
    None
}

/// Iterates over the child boxes in a container payload.
fn children(b: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let h = b.get(pos..pos + 8)?;
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let kind = [h[4], h[5], h[6], h[7]];
        let (size, header) = match size32 {
            0 => (b.len() - pos, 8),
            1 => {
                let ext = b.get(pos + 8..pos + 16)?;
                (
                    usize::try_from(u64::from_be_bytes(ext.try_into().ok()?)).ok()?,
                    16,
                )
            }
            s => (s, 8),
        };
        if size < header {
            return None;
        }
        let body = b.get(pos + header..pos.checked_add(size)?)?;
        pos += size;
        Some((kind, body))
    })
}

fn find_child(b: &[u8], kind: [u8; 4]) -> Option<&[u8]> {
    children(b).find(|(k, _)| *k == kind).map(|(_, body)| body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn reads_priming_and_length_from_a_minimal_moov() {
        let mut mvhd = vec![0u8; 12];
        mvhd.extend_from_slice(&1000u32.to_be_bytes());
        mvhd.extend_from_slice(&[0u8; 80]);
        let mut mdhd = vec![0u8; 12];
        mdhd.extend_from_slice(&44_100u32.to_be_bytes());
        mdhd.extend_from_slice(&[0u8; 8]);
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(b"soun");
        hdlr.extend_from_slice(&[0u8; 12]);
        let mut elst = vec![0u8, 0, 0, 0];
        elst.extend_from_slice(&1u32.to_be_bytes());
        elst.extend_from_slice(&2000u32.to_be_bytes()); // 2 s in movie timescale
        elst.extend_from_slice(&1024i32.to_be_bytes());
        elst.extend_from_slice(&[0, 1, 0, 0]);
        let mdia = [boxed(b"mdhd", &mdhd), boxed(b"hdlr", &hdlr)].concat();
        let trak = [
            boxed(b"edts", &boxed(b"elst", &elst)),
            boxed(b"mdia", &mdia),
        ]
        .concat();
        let moov = [boxed(b"mvhd", &mvhd), boxed(b"trak", &trak)].concat();
        let file = [boxed(b"ftyp", b"M4A \0\0\0\0"), boxed(b"moov", &moov)].concat();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.m4a");
        std::fs::write(&path, file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            edit_trim(&path),
            Some(EditTrim {
                skip: 1024,
                play: Some(88_200),
                timescale: 44_100
            })
        );
    }

    #[test]
    fn garbage_is_not_a_trim() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("g.m4a");
        std::fs::write(&path, [0xffu8; 100]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(edit_trim(&path), None);
        std::fs::write(&path, boxed(b"moov", &[1, 2, 3])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(edit_trim(&path), None);
    }
}

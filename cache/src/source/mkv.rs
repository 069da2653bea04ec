//! What symphonia does not take from a Matroska/WebM file with Opus audio: the exact length.
//!
//! Symphonia's Matroska demuxer subtracts the track's `CodecDelay` from block timestamps (in
//! whole ticks, usually milliseconds) but applies neither it nor the last block's
//! `DiscardPadding` to the audio, and the segment's `Duration` is a rounded float. ffmpeg
//! writes an Opus track as: `CodecDelay` = the pre-skip, then blocks back to back, the last
//! one carrying `DiscardPadding` (the encoder's padding). The exact length is then the sum of
//! the packets' durations (each from its TOC byte) minus the pre-skip and the padding, which
//! is what [`scan_opus_track`] reads in one pass over element headers (block payloads are
//! skipped but for their first bytes).
//!
//! Hand-written because no maintained crate reads these elements without also being a second
//! demuxer; the walk is bounded (element sizes checked against the file, lacing beyond
//! Xiph/fixed gives up) and never allocates more than one block header.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::opus;

const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const CODEC_DELAY: u32 = 0x56AA;
const CLUSTER: u32 = 0x1F43_B675;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const DISCARD_PADDING: u32 = 0x75A2;

/// The Opus track's timing as the file lays it out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OpusTrackTiming {
    /// Nanoseconds per timestamp tick (`TimestampScale`, default 1 ms).
    pub tick_ns: u64,
    /// The track's `CodecDelay`, nanoseconds.
    pub codec_delay_ns: u64,
    /// Frames at 48 kHz in all the track's packets (pre-skip and padding included).
    pub packet_frames: u64,
    /// The last block's `DiscardPadding`, in frames at 48 kHz (0 when absent).
    pub end_padding: u64,
    /// Frames every packet decodes to, when all but the last decode to the same number (what
    /// libopus encoders write): packet `n` then starts at `n` times it, whatever its rounded
    /// timestamp says.
    pub uniform_packet_frames: Option<u64>,
}

/// Walks the file for its first Opus audio track; `None` if there is none or the layout is
/// beyond this reader (laced blocks other than Xiph or fixed, unknown sizes inside clusters).
pub fn scan_opus_track(path: &Path) -> Option<OpusTrackTiming> {
    let file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut r = BufReader::with_capacity(16 * 1024, file);
    let mut w = Walk {
        tick_ns: 1_000_000,
        track: None,
        entry: EntryFields::default(),
        entry_end: 0,
        group_end: 0,
        group_padding: None,
        group_ours: false,
        packet_frames: 0,
        end_padding: 0,
        first: None,
        previous: None,
        uniform: true,
    };
    let mut pos = 0u64;
    while pos < len {
        r.seek(SeekFrom::Start(pos)).ok()?;
        let (id, size, header) = element_header(&mut r)?;
        let body = pos + header;
        // Unknown size (all ones): only tolerated for the segment, which then runs to the end.
        let end = match size {
            None if id == SEGMENT || id == CLUSTER => len,
            None => return None,
            Some(s) => body.checked_add(s)?.min(len),
        };
        if w.group_end > 0 && body >= w.group_end {
            w.close_group();
        }
        if w.entry_end > 0 && body >= w.entry_end {
            w.close_entry();
        }
        match id {
            // Masters we descend into: continue with their first child.
            SEGMENT | INFO | TRACKS | CLUSTER => pos = body,
            TRACK_ENTRY => {
                w.entry = EntryFields::default();
                w.entry_end = end;
                pos = body;
            }
            BLOCK_GROUP => {
                w.group_end = end;
                w.group_padding = None;
                w.group_ours = false;
                pos = body;
            }
            TIMESTAMP_SCALE => {
                w.tick_ns = read_uint(&mut r, end - body)?.max(1);
                pos = end;
            }
            TRACK_NUMBER => {
                w.entry.number = Some(read_uint(&mut r, end - body)?);
                pos = end;
            }
            TRACK_TYPE => {
                w.entry.kind = Some(read_uint(&mut r, end - body)?);
                pos = end;
            }
            CODEC_DELAY => {
                w.entry.codec_delay_ns = read_uint(&mut r, end - body)?;
                pos = end;
            }
            CODEC_ID => {
                let n = usize::try_from((end - body).min(32)).ok()?;
                let mut id_bytes = vec![0u8; n];
                r.read_exact(&mut id_bytes).ok()?;
                w.entry.opus = id_bytes.starts_with(b"A_OPUS");
                pos = end;
            }
            DISCARD_PADDING => {
                let ns = read_int(&mut r, end - body)?;
                w.group_padding = Some(ns);
                pos = end;
            }
            SIMPLE_BLOCK | BLOCK => {
                if let Some((track, _)) = w.track {
                    let (number, frames) = read_block(&mut r, end - body)?;
                    if number == track {
                        // Uniform if every packet before the latest matches the first.
                        if let (Some(first), Some(prev)) = (w.first, w.previous) {
                            w.uniform &= prev == first;
                        }
                        w.first.get_or_insert(frames);
                        w.previous = Some(frames);
                        w.packet_frames += frames;
                        w.end_padding = 0;
                        w.group_ours = id == BLOCK;
                    }
                }
                pos = end;
            }
            // EBML header, seek heads, cues, tags, attachments, void...: skipped whole.
            _ => pos = end,
        }
    }
    w.close_group();
    w.close_entry();
    let (_, codec_delay_ns) = w.track?;
    Some(OpusTrackTiming {
        tick_ns: w.tick_ns,
        codec_delay_ns,
        packet_frames: w.packet_frames,
        end_padding: w.end_padding,
        uniform_packet_frames: w.first.filter(|_| w.uniform),
    })
}

#[derive(Default)]
struct EntryFields {
    number: Option<u64>,
    kind: Option<u64>,
    opus: bool,
    codec_delay_ns: u64,
}

struct Walk {
    tick_ns: u64,
    /// The chosen track: (number, codec delay in ns).
    track: Option<(u64, u64)>,
    entry: EntryFields,
    entry_end: u64,
    group_end: u64,
    group_padding: Option<i64>,
    group_ours: bool,
    packet_frames: u64,
    end_padding: u64,
    /// Frames of the first and of the latest packet of the track.
    first: Option<u64>,
    previous: Option<u64>,
    uniform: bool,
}

impl Walk {
    fn close_entry(&mut self) {
        if self.entry_end == 0 {
            return;
        }
        self.entry_end = 0;
        let e = std::mem::take(&mut self.entry);
        if self.track.is_none()
            && e.opus
            && e.kind == Some(2)
            && let Some(n) = e.number
        {
            self.track = Some((n, e.codec_delay_ns));
        }
    }

    fn close_group(&mut self) {
        if self.group_end == 0 {
            return;
        }
        self.group_end = 0;
        if self.group_ours {
            // DiscardPadding is in nanoseconds; frames at 48 kHz, rounded.
            let ns = self.group_padding.unwrap_or(0).max(0) as u64;
            self.end_padding = ((u128::from(ns) * 48_000 + 500_000_000) / 1_000_000_000) as u64;
        }
    }
}

/// Reads an element's ID and size; returns (id, size or `None` if unknown, header length).
fn element_header(r: &mut impl Read) -> Option<(u32, Option<u64>, u64)> {
    let (id, id_len) = read_vint(r, true)?;
    let (size, size_len) = read_vint(r, false)?;
    let unknown = size == (1u64 << (7 * size_len)) - 1;
    Some((
        u32::try_from(id).ok()?,
        (!unknown).then_some(size),
        u64::from(id_len + size_len),
    ))
}

/// An EBML variable-length integer; `keep_marker` for IDs. Returns (value, bytes).
fn read_vint(r: &mut impl Read, keep_marker: bool) -> Option<(u64, u32)> {
    let mut first = [0u8; 1];
    r.read_exact(&mut first).ok()?;
    let len = first[0].leading_zeros() + 1;
    if len > 8 || (keep_marker && len > 4) {
        return None;
    }
    let mut value = if keep_marker {
        u64::from(first[0])
    } else {
        u64::from(first[0]) & ((1u64 << (8 - len)) - 1)
    };
    for _ in 1..len {
        r.read_exact(&mut first).ok()?;
        value = (value << 8) | u64::from(first[0]);
    }
    Some((value, len))
}

fn read_uint(r: &mut impl Read, size: u64) -> Option<u64> {
    if size > 8 {
        return None;
    }
    let mut v = 0u64;
    let mut b = [0u8; 1];
    for _ in 0..size {
        r.read_exact(&mut b).ok()?;
        v = (v << 8) | u64::from(b[0]);
    }
    Some(v)
}

fn read_int(r: &mut impl Read, size: u64) -> Option<i64> {
    let v = read_uint(r, size)?;
    if size == 0 || size == 8 {
        return Some(v as i64);
    }
    let shift = 64 - 8 * size as u32;
    Some(((v << shift) as i64) >> shift)
}

/// Reads a (Simple)Block's track number and the frames at 48 kHz its Opus packets decode to.
fn read_block(r: &mut impl Read, size: u64) -> Option<(u64, u64)> {
    let (track, track_len) = read_vint(r, false)?;
    let mut head = [0u8; 3];
    r.read_exact(&mut head).ok()?;
    let flags = head[2];
    let payload = size.checked_sub(u64::from(track_len) + 3)?;
    let sizes: Vec<u64> = match (flags >> 1) & 3 {
        0 => vec![payload],
        // Xiph lacing: count, then sizes as runs of 255s; the last frame takes the rest.
        1 => {
            let count = usize::from(read_u8(r)?) + 1;
            let mut sizes = Vec::with_capacity(count);
            let mut used = 1u64;
            for _ in 1..count {
                let mut s = 0u64;
                loop {
                    let b = read_u8(r)?;
                    used += 1;
                    s += u64::from(b);
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(s);
            }
            let laced: u64 = sizes.iter().sum();
            sizes.push(payload.checked_sub(used + laced)?);
            sizes
        }
        // Fixed-size lacing: equal frames.
        3 => {
            let count = u64::from(read_u8(r)?) + 1;
            let each = (payload - 1) / count;
            vec![each; usize::try_from(count).ok()?]
        }
        // EBML lacing: not produced by Opus muxers we know of.
        _ => return None,
    };
    let mut frames = 0u64;
    for (i, s) in sizes.iter().enumerate() {
        let mut toc = [0u8; 2];
        let n = usize::try_from((*s).min(2)).ok()?;
        r.read_exact(&mut toc[..n]).ok()?;
        frames += opus::packet_frames(&toc[..n])?;
        // Skip the rest of this frame to reach the next one's TOC.
        if i + 1 < sizes.len() {
            std::io::copy(&mut r.take(s - n as u64), &mut std::io::sink()).ok()?;
        }
    }
    Some((track, frames))
}

fn read_u8(r: &mut impl Read) -> Option<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b).ok()?;
    Some(b[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints_and_signed_ints() {
        let mut r: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3, 0x81];
        assert_eq!(read_vint(&mut r, true), Some((0x1A45_DFA3, 4)));
        assert_eq!(read_vint(&mut r, false), Some((1, 1)));
        let mut r: &[u8] = &[0xFF, 0x38];
        assert_eq!(read_int(&mut r, 2), Some(-200));
        let mut r: &[u8] = &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(
            element_header(&mut &[0xA3u8, 0xFF][..]),
            Some((0xA3, None, 2))
        );
        assert_eq!(read_vint(&mut r, false), Some(((1u64 << 56) - 1, 8)));
    }

    #[test]
    fn garbage_is_not_a_track() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.webm");
        std::fs::write(&p, [0x1Au8, 0x45, 0xDF, 0xA3, 0x80, 0xff, 0xff]).unwrap();
        assert_eq!(scan_opus_track(&p), None);
    }
}

//! What symphonia does not take from an MP4/M4A file: the edit list (gapless trim) and the
//! packet timeline of fixed-frame codecs.
//!
//! **Edit list.** AAC in MP4 starts with encoder priming (1024 or 2112 frames) and ends with
//! padding; the container says which part to play in the audio track's edit list
//! (`moov/trak/edts/elst`). symphonia parses the atom but does not apply it.
//!
//! **Packet timeline.** symphonia stamps each packet with its `stts` timestamp. A muxer that
//! copies its input's timestamps (ffmpeg converting an Ogg Vorbis whose granule positions
//! jitter, for one) writes `stts` durations that do not match what the packets decode to: an
//! ALAC file with 4096-frame packets can say 4544 for one packet and 3648 for the next.
//! Placing decoded audio at those timestamps opens a 448-frame hole and overlaps the next
//! packet; every decoder (ffmpeg, Apple's) plays the packets back to back instead. For codecs
//! whose packets all decode to the same number of frames (AAC, ALAC) the [`PacketTimeline`]
//! maps a packet's timestamp to its sample number through `stts`, and the sample number to
//! its first frame as `n · frames_per_packet`: positions on the timeline of the decoded audio,
//! exact in any order of reading.
//!
//! No maintained crate exposes these boxes in a form we can use without a second demuxer, so
//! this reads just those few by hand. Hostile input is bounded: the `moov` box is read only up
//! to `MAX_MOOV` bytes, `stts` to `MAX_STTS_RUNS` runs, and every access is checked.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const MAX_MOOV: u64 = 32 * 1024 * 1024;
/// More `stts` runs than this and the file is not worth a timeline (timestamps are used).
const MAX_STTS_RUNS: usize = 1 << 20;

/// The part of the audio track to play, in the track's media timescale.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EditTrim {
    /// Media time to drop at the start (encoder priming), in `timescale` units.
    pub skip: u64,
    /// Media time to play after that, when the edit says, in `timescale` units.
    pub play: Option<u64>,
    /// The track's media timescale (usually its sample rate).
    pub timescale: u32,
}

/// What the first audio track's `moov` boxes say beyond what symphonia reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mp4Audio {
    /// The gapless trim, when the edit list has one.
    pub trim: Option<EditTrim>,
    /// The track's media timescale.
    pub timescale: u32,
    /// The `stts` table: runs of (sample count, duration in `timescale` units).
    pub stts: Vec<(u32, u32)>,
}

/// Reads the first audio track's edit list and sample timing; `None` if there is no audio
/// track (or the file is not MP4).
pub fn read_audio_track(path: &Path) -> Option<Mp4Audio> {
    let mut file = File::open(path).ok()?;
    let moov = read_top_level_box(&mut file, *b"moov")?;
    let movie_timescale = find_child(&moov, *b"mvhd").and_then(mvhd_timescale)?;
    children(&moov)
        .filter(|(kind, _)| kind == b"trak")
        .find_map(|(_, trak)| audio_trak(trak, movie_timescale))
}

/// Reads the first audio track's edit list; `None` when there is none (or nothing to trim).
pub fn edit_trim(path: &Path) -> Option<EditTrim> {
    read_audio_track(path)?.trim
}

fn audio_trak(trak: &[u8], movie_timescale: u32) -> Option<Mp4Audio> {
    let mdia = find_child(trak, *b"mdia")?;
    let handler = find_child(mdia, *b"hdlr")?;
    // hdlr: version/flags(4), pre_defined(4), handler_type(4)
    if handler.get(8..12)? != b"soun" {
        return None;
    }
    let timescale = find_child(mdia, *b"mdhd").and_then(mdhd_timescale)?;
    let stts = find_child(mdia, *b"minf")
        .and_then(|minf| find_child(minf, *b"stbl"))
        .and_then(|stbl| find_child(stbl, *b"stts"))
        .and_then(parse_stts)
        .unwrap_or_default();
    let trim = find_child(trak, *b"edts")
        .and_then(|edts| find_child(edts, *b"elst"))
        .and_then(|elst| edit_from_elst(elst, movie_timescale, timescale));
    Some(Mp4Audio {
        trim,
        timescale,
        stts,
    })
}

fn edit_from_elst(elst: &[u8], movie_timescale: u32, media_timescale: u32) -> Option<EditTrim> {
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

fn parse_stts(b: &[u8]) -> Option<Vec<(u32, u32)>> {
    // version/flags(4), entry_count(4), then (sample_count, sample_delta) pairs.
    let count = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if count > MAX_STTS_RUNS {
        return None;
    }
    let table = b.get(8..8 + count.checked_mul(8)?)?;
    Some(
        table
            .chunks_exact(8)
            .map(|e| {
                (
                    u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
                    u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
                )
            })
            .filter(|&(n, _)| n > 0)
            .collect(),
    )
}

/// Positions of an MP4 track's packets on the timeline of its decoded audio, for codecs whose
/// every packet decodes to `frames_per_packet` frames (the last one may hold fewer): packet
/// `n` starts at frame `n · frames_per_packet`, whatever `stts` says its timestamp is.
///
/// Frames here count the decoded stream from its first packet, before any edit-list trim.
#[derive(Clone, Debug)]
pub struct PacketTimeline {
    frames_per_packet: u64,
    /// Media timescale and sample rate: converts a remainder inside one packet.
    timescale: u64,
    rate: u64,
    runs: Vec<Run>,
    /// Packets in the track.
    packets: u64,
    /// Timestamp at the end of the last packet.
    end_ts: u64,
}

#[derive(Copy, Clone, Debug)]
struct Run {
    first_packet: u64,
    first_ts: u64,
    count: u64,
    delta: u64,
}

impl PacketTimeline {
    /// Builds the timeline from a track's `stts`; `None` for an empty or degenerate table.
    pub fn new(audio: &Mp4Audio, frames_per_packet: u64, rate: u32) -> Option<Self> {
        if frames_per_packet == 0 || audio.timescale == 0 || rate == 0 || audio.stts.is_empty() {
            return None;
        }
        let mut runs = Vec::with_capacity(audio.stts.len());
        let (mut packet, mut ts) = (0u64, 0u64);
        for &(count, delta) in &audio.stts {
            runs.push(Run {
                first_packet: packet,
                first_ts: ts,
                count: u64::from(count),
                delta: u64::from(delta),
            });
            packet += u64::from(count);
            ts = ts.checked_add(u64::from(count) * u64::from(delta))?;
        }
        Some(Self {
            frames_per_packet,
            timescale: u64::from(audio.timescale),
            rate: u64::from(rate),
            runs,
            packets: packet,
            end_ts: ts,
        })
    }

    /// The decoded frame at media timestamp `ts` (a packet's timestamp maps to its first frame).
    pub fn frame_at(&self, ts: u64) -> u64 {
        let (packet, packet_ts, delta) = self.packet_at_ts(ts);
        let within = (ts - packet_ts).min(delta);
        packet * self.frames_per_packet + self.ts_to_frames(within).min(self.frames_per_packet)
    }

    /// The media timestamp of decoded frame `frame` (inverse of [`Self::frame_at`] at packet
    /// starts; inside a packet, the packet's timestamp plus the offset at the track's rate).
    pub fn ts_at(&self, frame: u64) -> u64 {
        let packet = frame / self.frames_per_packet;
        if packet >= self.packets {
            return self.end_ts;
        }
        let run = self.run_of_packet(packet);
        let packet_ts = run.first_ts + (packet - run.first_packet) * run.delta;
        let within = frame % self.frames_per_packet;
        packet_ts + (within * self.timescale / self.rate).min(run.delta)
    }

    /// Length of the decoded stream in frames: every packet full but the last, which holds
    /// what its `stts` duration says (at most a full packet).
    pub fn total_frames(&self) -> u64 {
        self.frame_at(self.end_ts)
    }

    fn ts_to_frames(&self, ts: u64) -> u64 {
        u64::try_from(u128::from(ts) * u128::from(self.rate) / u128::from(self.timescale))
            .unwrap_or(u64::MAX)
    }

    fn run_of_packet(&self, packet: u64) -> Run {
        let i = self
            .runs
            .partition_point(|r| r.first_packet <= packet)
            .saturating_sub(1);
        self.runs[i]
    }

    /// The packet holding `ts`: (packet number, its timestamp, its duration).
    fn packet_at_ts(&self, ts: u64) -> (u64, u64, u64) {
        let i = self
            .runs
            .partition_point(|r| r.first_ts <= ts)
            .saturating_sub(1);
        let run = self.runs[i];
        if run.delta == 0 {
            return (run.first_packet, run.first_ts, 0);
        }
        let k = ((ts - run.first_ts) / run.delta).min(run.count.saturating_sub(1));
        // Past the last run's end: the end of the last packet.
        (
            run.first_packet + k,
            run.first_ts + k * run.delta,
            run.delta,
        )
    }
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.m4a");
        std::fs::write(&path, file).unwrap();
        assert_eq!(
            edit_trim(&path),
            Some(EditTrim {
                skip: 1024,
                play: Some(88_200),
                timescale: 44_100
            })
        );
    }

    fn timeline(stts: &[(u32, u32)], per_packet: u64) -> PacketTimeline {
        let audio = Mp4Audio {
            trim: None,
            timescale: 44_100,
            stts: stts.to_vec(),
        };
        PacketTimeline::new(&audio, per_packet, 44_100).unwrap_or_else(|| panic!("timeline"))
    }

    #[test]
    fn jittery_timestamps_map_to_packets_back_to_back() {
        // What ffmpeg writes for ALAC made from an Ogg Vorbis whose granules jitter: a
        // 4544-frame and a 3648-frame "duration" for two packets that decode 4096 frames each.
        let t = timeline(
            &[(43, 4096), (1, 4544), (1, 3648), (10, 4096), (1, 760)],
            4096,
        );
        assert_eq!(t.frame_at(0), 0);
        assert_eq!(t.frame_at(43 * 4096), 43 * 4096);
        assert_eq!(
            t.frame_at(43 * 4096 + 4544),
            44 * 4096,
            "not 448 frames late"
        );
        assert_eq!(t.frame_at(45 * 4096), 45 * 4096);
        for packet in 0..56u64 {
            let frame = packet * 4096;
            assert_eq!(t.frame_at(t.ts_at(frame)), frame, "packet {packet}");
        }
        assert_eq!(t.total_frames(), 55 * 4096 + 760);
        assert_eq!(t.ts_at(10 * 4096 + 100), 10 * 4096 + 100);
    }

    #[test]
    fn regular_timestamps_are_frames() {
        let t = timeline(&[(100, 1024), (1, 300)], 1024);
        for ts in [0, 1, 1023, 1024, 5000, 100 * 1024 + 299] {
            assert_eq!(t.frame_at(ts), ts);
            assert_eq!(t.ts_at(ts), ts);
        }
        assert_eq!(t.total_frames(), 100 * 1024 + 300);
    }

    #[test]
    fn garbage_is_not_a_trim() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.m4a");
        std::fs::write(&path, [0xffu8; 100]).unwrap();
        assert_eq!(edit_trim(&path), None);
        std::fs::write(&path, boxed(b"moov", &[1, 2, 3])).unwrap();
        assert_eq!(edit_trim(&path), None);
    }
}

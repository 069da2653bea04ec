//! Where each decoded packet goes on the track's timeline.
//!
//! The timeline is the decoded audio back to back, from the first frame the listener hears
//! (after priming, pre-skip or encoder delay) to the last (before padding). A packet's place
//! is worked out from what the demuxer says about it, which is exact for most containers
//! (FLAC, WAV, MP3, Ogg) but not all:
//!
//! * MP4 fixed-frame codecs (AAC, ALAC): `stts` durations may not match what packets decode
//!   to; the packet's number through `stts` does ([`Positions::Mp4`], see `mp4`).
//! * Matroska/WebM Opus: block timestamps are rounded to milliseconds; with packets of one
//!   size the packet's number is its rounded timestamp over that size
//!   ([`Positions::Regular`], see `mkv`).
//!
//! Gapless trims come from the container where symphonia does not apply them: MP4 edit lists,
//! Opus pre-skip and Matroska `DiscardPadding`, and iTunes' `iTunSMPB` tag for MP3 and MP4
//! files that carry nothing else.
//!
//! Runs on: whichever thread opens or repositions a source (control, filler).

use std::path::Path;

use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::formats::well_known::{FORMAT_ID_ISOMP4, FORMAT_ID_MKV, FORMAT_ID_MP3};
use symphonia::core::formats::{FormatId, Track};
use symphonia::core::packet::Packet;
use symphonia::core::units::TimeBase;

use super::codecs::fixed_packet_frames;
use super::info::Tags;
use super::mp4::PacketTimeline;
use super::opus::OpusHead;
use super::{itunes, mkv, mp4};

/// How a packet's timestamp becomes the frame position of its first decoded frame.
#[derive(Clone, Debug)]
pub(super) enum Positions {
    /// The timestamp, converted from the track's time base: exact for most containers.
    Timestamps,
    /// MP4 fixed-frame codecs: packet number through `stts`, times frames per packet.
    Mp4(PacketTimeline),
    /// Packets of this many frames back to back; the timestamp only picks the packet
    /// (Matroska Opus, whose timestamps are rounded to milliseconds).
    Regular(u64),
}

/// Maps packet timestamps to timeline frames and back, for one track.
#[derive(Clone, Debug)]
pub(super) struct Placement {
    positions: Positions,
    time_base: Option<TimeBase>,
    rate: u32,
    /// Ticks added to every timestamp before it becomes a position (Matroska: the whole ticks
    /// of `CodecDelay` symphonia subtracted, so positions count the decoded stream).
    ts_bias: i64,
    /// Frames of the decoded stream before the timeline's frame 0 (priming, pre-skip).
    pub offset: u64,
    /// A packet that starts within this many frames of where the previous one ended follows
    /// it directly (containers whose timestamps are coarser than a frame); 0 = exact.
    pub snap: u64,
}

impl Placement {
    /// The timeline frame of `packet`'s first decoded frame (after the demuxer's own trim).
    /// Negative inside the priming.
    pub fn start_of(&self, packet: &Packet) -> i64 {
        let ts = packet
            .pts
            .get()
            .saturating_add(i64::try_from(packet.trim_start.get()).unwrap_or(i64::MAX));
        let stream_frame = match &self.positions {
            Positions::Mp4(tl) => {
                i64::try_from(tl.frame_at(u64::try_from(ts).unwrap_or(0))).unwrap_or(i64::MAX)
            }
            Positions::Timestamps => ts_to_frames(ts + self.ts_bias, self.time_base, self.rate),
            Positions::Regular(n) => {
                let at = ts_to_frames(ts + self.ts_bias, self.time_base, self.rate);
                let n = *n as i64;
                (at + n / 2).div_euclid(n) * n
            }
        };
        stream_frame - self.offset as i64
    }

    /// The container timestamp to seek to for timeline frame `frame` (at or before it).
    pub fn seek_ts(&self, frame: u64) -> i64 {
        match &self.positions {
            Positions::Mp4(tl) => i64::try_from(tl.ts_at(frame + self.offset)).unwrap_or(i64::MAX),
            Positions::Timestamps | Positions::Regular(_) => {
                frames_to_ts(frame + self.offset, self.time_base, self.rate) - self.ts_bias
            }
        }
    }
}

/// A track's timeline as the container describes it.
#[derive(Clone, Debug)]
pub(super) struct Timing {
    /// Where packets go.
    pub placement: Placement,
    /// Frames on the timeline; 0 when nothing says (the caller counts them by decoding).
    pub frames: u64,
    /// Encoder delay and padding trimmed, when known.
    pub gapless_trim: Option<(u32, u32)>,
    /// Linear gain the stream asks the player to apply (Opus output gain; 1.0 = none).
    pub gain: f32,
}

/// Works out `track`'s timing; `path` is read for the boxes and elements symphonia skips. Done
/// once per open: a restarted demuxer keeps what the first open found.
pub(super) fn timing(
    path: &Path,
    format: FormatId,
    track: &Track,
    params: &AudioCodecParameters,
    rate: u32,
    tags: &Tags,
) -> Timing {
    let mut t = Timing {
        placement: Placement {
            positions: Positions::Timestamps,
            time_base: track.time_base,
            rate,
            ts_bias: 0,
            offset: 0,
            snap: 0,
        },
        frames: track_frames(track, rate),
        gapless_trim: match (track.delay, track.padding) {
            (None, None) => None,
            (d, p) => Some((d.unwrap_or(0), p.unwrap_or(0))),
        },
        gain: 1.0,
    };
    let opus = (params.codec == codec_ids::CODEC_ID_OPUS)
        .then(|| params.extra_data.as_deref().and_then(OpusHead::parse))
        .flatten();
    if format == FORMAT_ID_ISOMP4 {
        mp4_timing(&mut t, path, params, rate);
    } else if let (true, Some(head)) = (format == FORMAT_ID_MKV, opus) {
        mkv_opus_timing(&mut t, path, head, rate);
    } else if let Some(head) = opus {
        // Ogg: timestamps are granule positions, which count the pre-skip.
        let pre_skip = u64::from(head.pre_skip).min(t.frames);
        t.placement.offset = pre_skip;
        t.frames -= pre_skip;
        t.gapless_trim = Some((u32::from(head.pre_skip), track.padding.unwrap_or(0)));
    }
    if let Some(head) = opus {
        t.gain = head.gain();
    }
    let untrimmed = t.gapless_trim.is_none_or(|(d, p)| d == 0 && p == 0);
    if untrimmed
        && (format == FORMAT_ID_MP3 || format == FORMAT_ID_ISOMP4)
        && let Some(g) = tags.get("iTunSMPB").and_then(itunes::parse_smpb)
    {
        // The stream as decoded is delay + frames + padding long; play the middle.
        if g.frames > 0 && (t.frames == 0 || g.delay + g.frames <= t.frames + g.padding) {
            t.placement.offset += g.delay;
            t.frames = g.frames;
            t.gapless_trim = Some((g.delay as u32, g.padding as u32));
        }
    }
    t
}

/// The track's length as symphonia reports it, in frames at `rate`.
fn track_frames(track: &Track, rate: u32) -> u64 {
    match track.num_frames {
        Some(n) => n,
        None => match (track.duration, track.time_base) {
            (Some(d), Some(tb)) => {
                let f = ts_to_frames(i64::try_from(d.get()).unwrap_or(i64::MAX), Some(tb), rate);
                u64::try_from(f).unwrap_or(0)
            }
            _ => 0,
        },
    }
}

fn mp4_timing(t: &mut Timing, path: &Path, params: &AudioCodecParameters, rate: u32) {
    let Some(audio) = mp4::read_audio_track(path) else {
        return;
    };
    let timeline = fixed_packet_frames(params)
        .and_then(|per_packet| PacketTimeline::new(&audio, per_packet, rate));
    let to_frames = |ts: u64| match &timeline {
        Some(tl) => tl.frame_at(ts),
        None => (u128::from(ts) * u128::from(rate) / u128::from(audio.timescale.max(1))) as u64,
    };
    if let Some(tl) = &timeline {
        t.frames = tl.total_frames();
    }
    if let Some(trim) = audio.trim {
        let offset = to_frames(trim.skip).min(t.frames);
        let play = trim
            .play
            .map(|p| to_frames(trim.skip.saturating_add(p)).saturating_sub(offset))
            .unwrap_or(u64::MAX)
            .min(t.frames - offset);
        let padding = t.frames - offset - play;
        t.placement.offset = offset;
        t.frames = play;
        t.gapless_trim = Some((offset as u32, padding as u32));
    }
    if let Some(tl) = timeline {
        t.placement.positions = Positions::Mp4(tl);
    }
}

fn mkv_opus_timing(t: &mut Timing, path: &Path, head: OpusHead, rate: u32) {
    let Some(scan) = mkv::scan_opus_track(path) else {
        return;
    };
    // Symphonia subtracted whole ticks of CodecDelay from every timestamp: add them back, so
    // timestamps count the decoded stream from its first frame, and trim the pre-skip and the
    // last block's padding as an edit list would.
    t.placement.ts_bias = i64::try_from(scan.codec_delay_ns / scan.tick_ns).unwrap_or(0);
    let pre_skip = u64::from(head.pre_skip);
    t.placement.offset = pre_skip;
    t.frames = scan
        .packet_frames
        .saturating_sub(pre_skip + scan.end_padding);
    t.gapless_trim = Some((u32::from(head.pre_skip), scan.end_padding as u32));
    // Block timestamps are whole ticks (milliseconds), rounded: with packets of one size, a
    // packet's number is its timestamp over that size, rounded; otherwise a packet within a
    // tick of where the previous one ended follows it directly.
    match scan.uniform_packet_frames {
        Some(n) => t.placement.positions = Positions::Regular(n),
        None => {
            t.placement.snap =
                (u128::from(scan.tick_ns) * u128::from(rate)).div_ceil(1_000_000_000) as u64;
        }
    }
}

/// Track timestamp to frames at `rate` (floor).
pub(super) fn ts_to_frames(ts: i64, tb: Option<TimeBase>, rate: u32) -> i64 {
    match tb {
        None => ts,
        Some(tb) => {
            let num = i128::from(ts) * i128::from(tb.numer.get()) * i128::from(rate);
            let den = i128::from(tb.denom.get());
            i64::try_from(num.div_euclid(den)).unwrap_or(if num < 0 { i64::MIN } else { i64::MAX })
        }
    }
}

/// Frames at `rate` to a track timestamp (floor, so a seek never lands late because of rounding).
fn frames_to_ts(frames: u64, tb: Option<TimeBase>, rate: u32) -> i64 {
    match tb {
        None => i64::try_from(frames).unwrap_or(i64::MAX),
        Some(tb) => {
            let num = i128::from(frames) * i128::from(tb.denom.get());
            let den = i128::from(tb.numer.get()) * i128::from(rate);
            i64::try_from(num / den).unwrap_or(i64::MAX)
        }
    }
}

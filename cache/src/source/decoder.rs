//! A positioned decoder over one file: stereo `f32` frames at the source rate, with
//! frame-exact random access.
//!
//! Each decoded packet goes where `placement` says on the timeline, so a decoder that was
//! repositioned by a seek places every frame exactly where a front-to-back decode puts it.
//! Seeks land a codec pre-roll early (see `codecs::preroll`) and decode forward: the first
//! packets after a seek can be wrong (MP3's bit reservoir, AAC/Vorbis overlap, Opus state),
//! and those fall inside the discarded pre-roll. The decoder is reset after every seek; codecs
//! whose output depends on their whole history are decoded in anchored segments (see
//! `codecs::anchor_frames`), front to back and at random alike.
//!
//! Runs on: the filler (and the control thread when probing). Allocation-free once the first
//! packets have grown its buffers.

use std::time::Duration;

use std::io;
use std::path::Path;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder};
use symphonia::core::errors::Error as SymError;

use super::codecs::{anchor_frames, make_decoder, preroll};
use super::downmix::Downmix;
use super::info::{SourceInfo, limits};
use super::open::open;
use super::packets::Packets;
use super::placement::Placement;
use crate::chunk::ENGINE_CHANNELS;
use crate::error::SourceError;

/// Forward distances up to this are decoded through rather than seeked over.
const DECODE_THROUGH: Duration = Duration::from_millis(250);

/// Damage seen while decoding; empty for a clean stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodeReport {
    /// Packets that failed to decode (their frames were replaced by silence).
    pub corrupt_packets: u64,
    /// The first failure: source frame and reason.
    pub first_corruption: Option<(u64, String)>,
    /// Set when the stream ended before the announced length: frames actually decoded.
    pub ended_early_at: Option<u64>,
}

impl DecodeReport {
    /// True when nothing went wrong.
    pub fn is_clean(&self) -> bool {
        self.corrupt_packets == 0 && self.ended_early_at.is_none()
    }
}

/// A positioned decoder over one file: delivers stereo frames at the source rate.
pub struct Decoder {
    /// The file's packets. Every restart of the demuxer reads through a duplicate of the
    /// handle opened first, never the path again: a file deleted or renamed over while it
    /// plays keeps decoding what it was.
    packets: Packets,
    decoder: Box<dyn AudioDecoder>,
    params: AudioCodecParameters,
    placement: Placement,
    rate: u32,
    mix: Downmix,
    /// Segment length for codecs that need anchored decoding (see `anchor_frames`); 0 if not.
    anchor: u64,
    /// How far before a target a seek lands.
    preroll: Duration,
    /// End of the last packet put on the timeline, when the next is expected to follow it.
    last_end: Option<i64>,
    /// Linear gain applied to every decoded sample (Opus output gain; 1.0 = none).
    gain: f32,
    total_frames: u64,
    /// Decoded stereo frames not yet delivered; `buf[buf_off*2..]` starts at frame `next_frame`.
    buf: Vec<f32>,
    buf_off: usize,
    /// Next frame `read` delivers.
    next_frame: u64,
    /// One packet's samples in the source layout.
    scratch: Vec<f32>,
    /// Frames of silence to deliver before `buf` (a hole in the timeline).
    gap: u64,
    /// Set once the segment starting at `next_frame` has been entered through `land_at`.
    anchored_here: bool,
    eof: bool,
    report: DecodeReport,
    /// Counts the decodes and seeks done, so tests can prove that a cache hit decoded nothing.
    packets_decoded: u64,
    seeks: u64,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("rate", &self.rate)
            .field("total_frames", &self.total_frames)
            .field("next_frame", &self.next_frame)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Opens a file for decoding.
    pub fn open(path: &Path) -> Result<(Self, SourceInfo), SourceError> {
        let opened = open(path)?;
        let mut info = opened.info.clone();
        let mut dec = Self::from_opened(path, opened);
        if dec.total_frames == 0 {
            // The container does not say how long the track is: count it once by decoding.
            // Deterministic, and only paid for files without a length in their headers.
            dec.total_frames = u64::MAX;
            let mut sink = vec![0.0f32; 4096 * ENGINE_CHANNELS];
            let mut n = 0u64;
            loop {
                let got = dec.read(&mut sink)?;
                if got == 0 {
                    break;
                }
                n += got as u64;
                if n > limits::MAX_SECONDS * u64::from(dec.rate) {
                    return Err(SourceError::Unsupported("implausible length".into()));
                }
            }
            dec.reopen()?;
            dec.total_frames = n;
            dec.report = DecodeReport::default();
            info.frames = n;
        }
        Ok((dec, info))
    }

    fn from_opened(path: &Path, o: super::open::Opened) -> Self {
        let rate = o.info.sample_rate;
        let preroll = preroll(&o.params);
        // Symphonia's Matroska reader cannot be trusted to seek (see `packets`).
        let scan = (o.info.container == "matroska").then(|| duration_frames(preroll, rate));
        Self {
            packets: Packets::new(o.format, o.file, path, o.track_id, scan),
            decoder: o.decoder,
            anchor: anchor_frames(&o.params),
            preroll,
            placement: o.timing.placement,
            last_end: None,
            gain: o.timing.gain,
            params: o.params,
            rate,
            mix: Downmix::for_channels(&o.channels),
            total_frames: o.info.frames,
            buf: Vec::with_capacity(16_384 * ENGINE_CHANNELS),
            buf_off: 0,
            next_frame: 0,
            scratch: Vec::with_capacity(16_384 * 8),
            gap: 0,
            anchored_here: false,
            eof: false,
            report: DecodeReport::default(),
            packets_decoded: 0,
            seeks: 0,
        }
    }

    /// Starts again from the first frame with a fresh demuxer and decoder: exactly the state
    /// of a front-to-back decode.
    fn reopen(&mut self) -> Result<(), SourceError> {
        self.packets.restart()?;
        self.decoder =
            make_decoder(&self.params).map_err(|e| SourceError::Unsupported(e.to_string()))?;
        self.buf.clear();
        self.buf_off = 0;
        self.next_frame = 0;
        self.gap = 0;
        self.eof = false;
        self.last_end = None;
        Ok(())
    }

    /// Source sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Track length in source frames.
    pub fn total_frames(&self) -> u64 {
        self.total_frames
    }

    /// The next frame `read` delivers.
    pub fn position(&self) -> u64 {
        self.next_frame
    }

    /// Damage seen so far.
    pub fn report(&self) -> &DecodeReport {
        &self.report
    }

    /// Packets decoded since opening (for tests and statistics).
    pub fn packets_decoded(&self) -> u64 {
        self.packets_decoded
    }

    /// Seeks performed since opening (for tests and statistics).
    pub fn seeks(&self) -> u64 {
        self.seeks
    }

    /// Positions the decoder so that the next `read` delivers frame `frame`.
    pub fn seek(&mut self, frame: u64) -> Result<(), SourceError> {
        let frame = frame.min(self.total_frames);
        if frame == self.next_frame {
            return Ok(());
        }
        let through = duration_frames(DECODE_THROUGH, self.rate);
        if frame > self.next_frame && frame - self.next_frame <= through {
            return self.skip(frame - self.next_frame);
        }
        if let Some(segment) = frame.checked_div(self.anchor) {
            let anchor = segment * self.anchor;
            if anchor == 0 {
                self.reopen()?;
            } else {
                self.land_at(anchor)?;
            }
            return self.skip(frame - anchor);
        }
        self.land_at(frame)
    }

    /// Seeks so the next `read` delivers `frame`, landing `SEEK_PREROLL` early and decoding
    /// forward. Deterministic: the same `frame` always takes the same steps.
    fn land_at(&mut self, frame: u64) -> Result<(), SourceError> {
        let mut preroll = duration_frames(self.preroll, self.rate);
        // Symphonia's accurate seek lands at or before the target; should a demuxer ever land
        // after it, retry from further back, and as a last resort decode from the start.
        for _ in 0..3 {
            let target = frame.saturating_sub(preroll);
            if target == 0 {
                break;
            }
            if self.try_seek(target)? {
                self.next_frame = frame;
                match self.decode_packet()? {
                    Some(p) if p.start <= frame as i64 => {
                        if std::env::var_os("HEARTH_DBG").is_some() {
                            eprintln!("land frame {frame} target {target} first {}", p.start);
                        }
                        self.place(p);
                        self.anchored_here = true;
                        return Ok(());
                    }
                    // Landed after the target (or at the end): go further back.
                    other => {
                        if std::env::var_os("HEARTH_DBG").is_some() {
                            eprintln!("miss frame {frame} target {target} got {:?}", other);
                        }
                    }
                }
            }
            preroll = preroll.saturating_mul(8);
        }
        // This file cannot seek (reliably): from now on every reposition decodes from the start,
        // which is exact, without segments (they would need seeks).
        self.anchor = 0;
        self.reopen()?;
        self.skip(frame)
    }

    /// Seeks the demuxer; false if the format cannot seek there.
    fn try_seek(&mut self, target: u64) -> Result<bool, SourceError> {
        self.seeks += 1;
        self.last_end = None;
        let ok = self.packets.seek(target, &self.placement)?;
        if self.anchor > 0 {
            // A fresh decoder, not `reset`: see `anchor_frames`.
            self.decoder =
                make_decoder(&self.params).map_err(|e| SourceError::Unsupported(e.to_string()))?;
        } else {
            self.decoder.reset();
        }
        self.eof = false;
        self.buf.clear();
        self.buf_off = 0;
        self.gap = 0;
        Ok(ok)
    }

    /// Decodes forward, discarding `frames` frames.
    fn skip(&mut self, mut frames: u64) -> Result<(), SourceError> {
        let mut sink = [0.0f32; 1024 * ENGINE_CHANNELS];
        while frames > 0 {
            let n = frames.min(1024) as usize;
            let got = self.read(&mut sink[..n * ENGINE_CHANNELS])?;
            if got == 0 {
                break;
            }
            frames -= got as u64;
        }
        Ok(())
    }

    /// Fills `out` (interleaved stereo) from the current position; returns the frames written,
    /// 0 at the end of the track. Never writes past the track's announced length.
    pub fn read(&mut self, out: &mut [f32]) -> Result<usize, SourceError> {
        let want = out.len() / ENGINE_CHANNELS;
        let mut done = 0;
        let mut idle_packets = 0u64;
        while done < want {
            let left = self.total_frames.saturating_sub(self.next_frame);
            if left == 0 {
                break;
            }
            let mut room = ((want - done) as u64).min(left) as usize;
            if self.anchor > 0
                && self.next_frame > 0
                && self.next_frame.is_multiple_of(self.anchor)
                && !self.anchored_here
            {
                // Crossing into a new segment: decode it the way random access does.
                let at = self.next_frame;
                self.land_at(at)?;
                self.anchored_here = true;
                continue;
            }
            if self.anchor > 0 {
                let to_anchor = self.anchor - self.next_frame % self.anchor;
                room = room.min(to_anchor as usize);
            }
            if self.gap > 0 {
                let n = (self.gap.min(room as u64)) as usize;
                out[done * 2..(done + n) * 2].fill(0.0);
                self.gap -= n as u64;
                self.advance(n);
                done += n;
                continue;
            }
            let avail = self.buf.len() / ENGINE_CHANNELS - self.buf_off;
            if avail > 0 {
                let n = avail.min(room);
                let from = self.buf_off * ENGINE_CHANNELS;
                out[done * 2..(done + n) * 2].copy_from_slice(&self.buf[from..from + n * 2]);
                self.buf_off += n;
                self.advance(n);
                done += n;
                continue;
            }
            if self.eof {
                self.report.ended_early_at.get_or_insert(self.next_frame);
                break;
            }
            match self.decode_packet()? {
                Some(p) => {
                    if !self.place(p) {
                        idle_packets += 1;
                        if idle_packets > limits::MAX_PACKETS_WITHOUT_PROGRESS {
                            return Err(SourceError::NoProgress {
                                packets: idle_packets,
                            });
                        }
                    }
                }
                None => self.eof = true,
            }
        }
        Ok(done)
    }

    fn advance(&mut self, n: usize) {
        self.next_frame += n as u64;
        self.anchored_here = false;
        if self.buf_off * ENGINE_CHANNELS == self.buf.len() {
            self.buf.clear();
            self.buf_off = 0;
        }
    }

    /// Puts a decoded packet (in `scratch`) on the timeline at `next_frame`: frames before it
    /// are dropped (pre-roll, overlap), a hole before it becomes silence. Returns false when the
    /// packet contributed nothing.
    fn place(&mut self, p: DecodedPacket) -> bool {
        let n_in = self.mix.channels_in();
        let next = self.next_frame as i64;
        let mut skip = 0usize;
        if p.start < next {
            let behind = (next - p.start) as u64;
            if behind >= p.frames as u64 {
                return false;
            }
            skip = behind as usize;
        } else if p.start > next {
            let hole = (p.start - next) as u64;
            self.gap = hole.min(self.total_frames.saturating_sub(self.next_frame));
        }
        if p.frames == skip {
            return self.gap > 0;
        }
        self.buf.clear();
        self.buf_off = 0;
        self.mix
            .apply(&self.scratch[skip * n_in..p.frames * n_in], &mut self.buf);
        true
    }

    /// Reads and decodes the next packet of our track into `scratch`. `None` at the end of the
    /// stream. Damaged packets are recorded in the report and skipped.
    fn decode_packet(&mut self) -> Result<Option<DecodedPacket>, SourceError> {
        let mut skipped = 0u64;
        loop {
            let packet = match self.packets.next(&self.placement) {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(SymError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(None);
                }
                Err(SymError::IoError(e)) => return Err(SourceError::Io(e)),
                // A chained stream changing its parameters: treat as the end of this track.
                Err(SymError::ResetRequired) => return Ok(None),
                Err(e) => {
                    self.record_corruption(self.next_frame, e.to_string());
                    skipped += 1;
                    if skipped > limits::MAX_PACKETS_WITHOUT_PROGRESS {
                        return Err(SourceError::NoProgress { packets: skipped });
                    }
                    continue;
                }
            };
            let mut start = self.placement.start_of(&packet);
            if let Some(end) = self.last_end
                && start != end
                && start.abs_diff(end) <= self.placement.snap
            {
                start = end;
            }
            match self.decoder.decode(&packet) {
                Ok(audio) => {
                    self.packets_decoded += 1;
                    let frames = audio.frames();
                    let n_in = self.mix.channels_in();
                    if audio.spec().channels().count() != n_in {
                        self.record_corruption(
                            start.max(0) as u64,
                            "channel count changed mid-stream".into(),
                        );
                        continue;
                    }
                    self.scratch.resize(frames * n_in, 0.0);
                    audio.copy_to_slice_interleaved(&mut self.scratch[..]);
                    if self.gain != 1.0 {
                        self.scratch.iter_mut().for_each(|s| *s *= self.gain);
                    }
                    self.last_end = Some(start + frames as i64);
                    return Ok(Some(DecodedPacket { start, frames }));
                }
                Err(SymError::IoError(e)) if e.kind() != io::ErrorKind::UnexpectedEof => {
                    return Err(SourceError::Io(e));
                }
                Err(e) => {
                    self.record_corruption(start.max(0) as u64, e.to_string());
                    skipped += 1;
                    if skipped > limits::MAX_PACKETS_WITHOUT_PROGRESS {
                        return Err(SourceError::NoProgress { packets: skipped });
                    }
                }
            }
        }
    }

    fn record_corruption(&mut self, at: u64, reason: String) {
        self.report.corrupt_packets += 1;
        self.report.first_corruption.get_or_insert((at, reason));
    }
}

#[derive(Copy, Clone, Debug)]
struct DecodedPacket {
    /// Timeline position of the packet's first decoded (already trimmed) frame.
    start: i64,
    frames: usize,
}

pub(super) fn duration_frames(d: Duration, rate: u32) -> u64 {
    (d.as_nanos() * u128::from(rate) / 1_000_000_000) as u64
}

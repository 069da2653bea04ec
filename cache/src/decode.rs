//! Decoding a source file with symphonia into stereo `f32` frames at the source rate, with
//! frame-exact random access.
//!
//! Positions come from packet timestamps (`pts + trim_start`, converted from the track's time
//! base to frames), so a decoder that was repositioned by a seek places every frame exactly where
//! a front-to-back decode puts it. Seeks go `SEEK_PREROLL` early and decode forward: symphonia
//! lands at or before the target, but the first packets after a seek can be wrong (MP3's bit
//! reservoir, AAC/Vorbis overlap), and those fall inside the discarded pre-roll. The decoder is
//! reset after every seek.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::well_known as codec_ids;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::common::Limit;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, MetadataRevision, StandardTag};
use symphonia::core::units::{TimeBase, Timestamp};

use crate::chunk::ENGINE_CHANNELS;
use crate::downmix::Downmix;
use crate::error::SourceError;
use crate::mp4::PacketTimeline;

/// Version of the rules that turn a file into frames. Part of every [`crate::TrackId`], so a
/// change that alters decoded audio (2: MP4 packets placed back to back) retires what older
/// builds cached.
pub const DECODE_VERSION: u32 = 2;

/// How far before a target a seek lands before decoding forward (source time).
const SEEK_PREROLL: Duration = Duration::from_millis(100);
/// Forward distances up to this are decoded through rather than seeked over.
const DECODE_THROUGH: Duration = Duration::from_millis(250);

/// Resource limits against hostile files.
pub mod limits {
    /// Most channels a source may have.
    pub const MAX_CHANNELS: usize = 32;
    /// Lowest accepted sample rate.
    pub const MIN_RATE: u32 = 1_000;
    /// Highest accepted sample rate.
    pub const MAX_RATE: u32 = 768_000;
    /// Longest accepted track, in seconds (24 hours).
    pub const MAX_SECONDS: u64 = 24 * 3600;
    /// Largest tag value kept, in bytes.
    pub const MAX_TAG_BYTES: usize = 64 * 1024;
    /// Largest embedded picture kept, in bytes.
    pub const MAX_VISUAL_BYTES: usize = 8 * 1024 * 1024;
    /// Packets read in a row without producing audio before giving up.
    pub const MAX_PACKETS_WITHOUT_PROGRESS: u64 = 20_000;
}

/// Tags a listener recognises, plus everything else as raw key/value pairs.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tags {
    /// Track title.
    pub title: Option<String>,
    /// Performing artist.
    pub artist: Option<String>,
    /// Album title.
    pub album: Option<String>,
    /// Album artist.
    pub album_artist: Option<String>,
    /// Release or recording date, as written in the file.
    pub date: Option<String>,
    /// Genre.
    pub genre: Option<String>,
    /// Track number, as written in the file.
    pub track_number: Option<String>,
    /// Every other text tag, key as written in the file.
    pub other: Vec<(String, String)>,
}

/// What `hearth probe` shows: the source as the file describes it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceInfo {
    /// The file, as given.
    pub path: PathBuf,
    /// Container short name (`flac`, `isomp4`, `ogg`, `wave`, ...).
    pub container: String,
    /// Codec short name (`flac`, `mp3`, `aac`, `vorbis`, `pcm_s16le`, ...).
    pub codec: String,
    /// Codec long name.
    pub codec_long: String,
    /// Source sample rate in Hz.
    pub sample_rate: u32,
    /// Source channel count.
    pub channels: u16,
    /// Channel layout as symphonia describes it.
    pub channel_layout: String,
    /// Bits per decoded sample, for PCM-like codecs.
    pub bits_per_sample: Option<u32>,
    /// Length in source frames, after gapless trimming.
    pub frames: u64,
    /// Encoder delay and padding that were trimmed, when the container gives them.
    pub gapless_trim: Option<(u32, u32)>,
    /// Metadata.
    pub tags: Tags,
}

impl SourceInfo {
    /// Length as a duration.
    pub fn duration(&self) -> Duration {
        frames_to_duration(self.frames, self.sample_rate)
    }
}

/// Converts a frame count at `rate` to a duration.
pub fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    if rate == 0 {
        return Duration::ZERO;
    }
    let r = u64::from(rate);
    Duration::new(frames / r, ((frames % r) * 1_000_000_000 / r) as u32)
}

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
    path: PathBuf,
    /// The file as opened first. Every restart of the demuxer reads through a duplicate of
    /// this handle, never the path again: a file deleted or renamed over while it plays keeps
    /// decoding what it was.
    file: File,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    params: AudioCodecParameters,
    track_id: u32,
    time_base: Option<TimeBase>,
    rate: u32,
    mix: Downmix,
    /// Segment length for codecs that need anchored decoding (see `anchor_frames`); 0 if not.
    anchor: u64,
    /// Container-level trim at the start (frames of the stream before our frame 0).
    offset: u64,
    /// Packet positions from packet numbers rather than timestamps (MP4 AAC/ALAC, see `mp4`).
    timeline: Option<PacketTimeline>,
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
            .field("path", &self.path)
            .field("rate", &self.rate)
            .field("total_frames", &self.total_frames)
            .field("next_frame", &self.next_frame)
            .finish_non_exhaustive()
    }
}

struct Opened {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    params: AudioCodecParameters,
    info: SourceInfo,
    /// Frames the container says to skip at the start (MP4 edit lists).
    offset: u64,
    /// Packet positions from packet numbers rather than timestamps (see `mp4`).
    timeline: Option<PacketTimeline>,
    track_id: u32,
    time_base: Option<TimeBase>,
    channels: Channels,
}

/// Opens `path` and probes it, reading what the container says beyond symphonia (MP4 edit
/// list and packet timeline).
fn open_format(path: &Path) -> Result<(Opened, File), SourceError> {
    let meta = std::fs::metadata(path).map_err(SourceError::Open)?;
    if meta.is_dir() {
        return Err(SourceError::IsDirectory);
    }
    if meta.len() == 0 {
        return Err(SourceError::Empty);
    }
    let file = File::open(path).map_err(SourceError::Open)?;
    let opened = open_format_from(&file, path, true)?;
    Ok((opened, file))
}

/// Probes `file` from its start (`path` gives the extension hint and, with `extras`, is read
/// for the container details symphonia leaves out; a restart of the demuxer keeps those from
/// the first open and passes `false`).
fn open_format_from(file: &File, path: &Path, extras: bool) -> Result<Opened, SourceError> {
    use std::io::{Seek, SeekFrom};
    // A duplicate shares the file offset: rewind it for the new demuxer.
    let mut file = file.try_clone().map_err(SourceError::Open)?;
    file.seek(SeekFrom::Start(0)).map_err(SourceError::Open)?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let meta_opts = MetadataOptions::default()
        .limit_tag_bytes(Limit::Maximum(limits::MAX_TAG_BYTES))
        .limit_visual_bytes(Limit::Maximum(limits::MAX_VISUAL_BYTES));
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), meta_opts)
        .map_err(|e| match e {
            SymError::IoError(io) if io.kind() != io::ErrorKind::UnexpectedEof => {
                SourceError::Io(io)
            }
            // "No suitable format reader" needs no elaboration; anything else is a clue.
            SymError::Unsupported(_) => SourceError::UnknownFormat(String::new()),
            other => SourceError::UnknownFormat(format!(" ({other})")),
        })?;
    let container = format.format_info().short_name.to_string();
    let track = format
        .default_track(TrackType::Audio)
        .cloned()
        .ok_or(SourceError::NoAudioTrack)?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or(SourceError::NoAudioTrack)?;
    let decoder = make_decoder(&params).map_err(|e| match e {
        SymError::Unsupported(_) => SourceError::UnsupportedCodec {
            codec: codec_name(params.codec),
            container: container.clone(),
        },
        other => SourceError::Unsupported(other.to_string()),
    })?;
    let rate = params
        .sample_rate
        .ok_or_else(|| SourceError::Unsupported("the stream has no sample rate".into()))?;
    if !(limits::MIN_RATE..=limits::MAX_RATE).contains(&rate) {
        return Err(SourceError::Unsupported(format!(
            "sample rate {rate} Hz is out of range"
        )));
    }
    let channels = decoder
        .codec_params()
        .channels
        .clone()
        .or(params.channels.clone())
        .unwrap_or_default();
    let n_channels = channels.count();
    if n_channels == 0 || n_channels > limits::MAX_CHANNELS {
        return Err(SourceError::Unsupported(format!("{n_channels} channels")));
    }
    let time_base = track.time_base;
    let frames = match track.num_frames {
        Some(n) => n,
        None => match (track.duration, time_base) {
            (Some(d), Some(tb)) => {
                let f = ts_to_frames(i64::try_from(d.get()).unwrap_or(i64::MAX), Some(tb), rate);
                u64::try_from(f).unwrap_or(0)
            }
            _ => 0,
        },
    };
    if frames > limits::MAX_SECONDS * u64::from(rate) {
        return Err(SourceError::Unsupported(format!(
            "implausible length of {} hours",
            frames / u64::from(rate) / 3600
        )));
    }
    let mut frames = frames;
    let mut gapless_trim = match (track.delay, track.padding) {
        (None, None) => None,
        (d, p) => Some((d.unwrap_or(0), p.unwrap_or(0))),
    };
    let mut offset = 0;
    let mut timeline = None;
    let is_mp4 =
        format.format_info().format == symphonia::core::formats::well_known::FORMAT_ID_ISOMP4;
    if is_mp4 && extras {
        if let Some(mp4) = crate::mp4::read_audio_track(path) {
            timeline = fixed_packet_frames(&params)
                .and_then(|per_packet| PacketTimeline::new(&mp4, per_packet, rate));
            let ts_to_frames = |t: u64| match &timeline {
                Some(tl) => tl.frame_at(t),
                None => (u128::from(t) * u128::from(rate) / u128::from(mp4.timescale.max(1)))
                    as u64,
            };
            if let Some(tl) = &timeline {
                frames = tl.total_frames();
            }
            if let Some(trim) = mp4.trim {
                offset = ts_to_frames(trim.skip).min(frames);
                let play = trim
                    .play
                    .map(|p| ts_to_frames(trim.skip.saturating_add(p)).saturating_sub(offset))
                    .unwrap_or(u64::MAX)
                    .min(frames - offset);
                let padding = frames - offset - play;
                frames = play;
                gapless_trim = Some((offset as u32, padding as u32));
            }
        }
    }
    let tags = read_tags(format.as_mut());
    let codec_info = decoder.codec_info();
    let info = SourceInfo {
        path: path.to_path_buf(),
        container,
        codec: codec_info.short_name.to_string(),
        codec_long: codec_info.long_name.to_string(),
        sample_rate: rate,
        channels: n_channels as u16,
        channel_layout: channels.to_string(),
        bits_per_sample: params.bits_per_sample,
        frames,
        gapless_trim,
        tags,
    };
    Ok(Opened {
        format,
        decoder,
        params,
        info,
        offset,
        timeline,
        track_id: track.id,
        time_base,
        channels,
    })
}

/// Frames every packet of `params`' codec decodes to, for codecs where that is fixed (the
/// last packet may hold fewer): AAC-LC 1024, ALAC its magic cookie's frame length.
fn fixed_packet_frames(params: &AudioCodecParameters) -> Option<u64> {
    if params.codec == codec_ids::CODEC_ID_AAC {
        Some(1024)
    } else if params.codec == codec_ids::CODEC_ID_ALAC {
        let cookie = params.extra_data.as_deref()?;
        symphonia_common::apple::audio::alac::MagicCookie::read(cookie)
            .ok()
            .map(|c| u64::from(c.frame_length))
            .filter(|&n| n > 0)
    } else {
        None
    }
}

fn make_decoder(params: &AudioCodecParameters) -> Result<Box<dyn AudioDecoder>, SymError> {
    symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default().gapless(true))
}

/// Segment length (source frames) for codecs whose output depends on more history than a
/// pre-roll can rebuild, 0 for the others.
///
/// AAC's perceptual noise substitution draws from a random generator that runs for the life of
/// the decoder (and `reset` does not rewind it), so the same packet decodes differently
/// depending on what was decoded before. For such codecs the timeline is cut into segments at
/// fixed anchors: every segment is decoded by a fresh decoder from a seek to `anchor - pre-roll`,
/// both front to back and at random, which makes each frame a function of its segment alone.
fn anchor_frames(params: &AudioCodecParameters) -> u64 {
    if params.codec == codec_ids::CODEC_ID_AAC {
        1 << 16
    } else {
        0
    }
}

/// Probes a file: container, codec, rate, channels, length and tags, without decoding audio
/// (except for files that do not announce their length, which are counted by decoding).
pub fn probe(path: &Path) -> Result<SourceInfo, SourceError> {
    let (decoder, info) = Decoder::open(path)?;
    drop(decoder);
    Ok(info)
}

impl Decoder {
    /// Opens a file for decoding.
    pub fn open(path: &Path) -> Result<(Self, SourceInfo), SourceError> {
        let (opened, file) = open_format(path)?;
        let mut info = opened.info.clone();
        let mut dec = Self::from_opened(path, file, opened);
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

    fn from_opened(path: &Path, file: File, o: Opened) -> Self {
        Self {
            path: path.to_path_buf(),
            file,
            format: o.format,
            decoder: o.decoder,
            anchor: anchor_frames(&o.params),
            offset: o.offset,
            timeline: o.timeline,
            params: o.params,
            track_id: o.track_id,
            time_base: o.time_base,
            rate: o.info.sample_rate,
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

    /// Starts again from the first frame with a fresh demuxer: exactly the state of a
    /// front-to-back decode.
    fn reopen(&mut self) -> Result<(), SourceError> {
        let o = open_format_from(&self.file, &self.path, false)?;
        self.format = o.format;
        self.decoder = o.decoder;
        self.buf.clear();
        self.buf_off = 0;
        self.next_frame = 0;
        self.gap = 0;
        self.eof = false;
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
        let mut preroll = duration_frames(SEEK_PREROLL, self.rate);
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
                        self.place(p);
                        self.anchored_here = true;
                        return Ok(());
                    }
                    // Landed after the target (or at the end): go further back.
                    _ => {}
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
        let ts = match &self.timeline {
            Some(tl) => i64::try_from(tl.ts_at(target + self.offset)).unwrap_or(i64::MAX),
            None => frames_to_ts(target + self.offset, self.time_base, self.rate),
        };
        let to = SeekTo::Timestamp {
            ts: Timestamp::new(ts),
            track_id: self.track_id,
        };
        let ok = match self.format.seek(SeekMode::Accurate, to) {
            Ok(_) => true,
            Err(SymError::IoError(e)) if e.kind() != io::ErrorKind::UnexpectedEof => {
                return Err(SourceError::Io(e));
            }
            Err(_) => false,
        };
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
                && self.next_frame % self.anchor == 0
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
            let packet = match self.format.next_packet() {
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
            if packet.track_id != self.track_id {
                continue;
            }
            let start_ts = packet
                .pts
                .get()
                .saturating_add(i64::try_from(packet.trim_start.get()).unwrap_or(i64::MAX));
            let stream_frame = match &self.timeline {
                Some(tl) => i64::try_from(tl.frame_at(u64::try_from(start_ts).unwrap_or(0)))
                    .unwrap_or(i64::MAX),
                None => ts_to_frames(start_ts, self.time_base, self.rate),
            };
            let start = stream_frame - self.offset as i64;
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

fn duration_frames(d: Duration, rate: u32) -> u64 {
    (d.as_nanos() * u128::from(rate) / 1_000_000_000) as u64
}

/// Track timestamp to frames at `rate` (floor).
fn ts_to_frames(ts: i64, tb: Option<TimeBase>, rate: u32) -> i64 {
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

fn read_tags(format: &mut dyn FormatReader) -> Tags {
    let mut tags = Tags::default();
    let mut meta = format.metadata();
    if let Some(rev) = meta.skip_to_latest() {
        collect_tags(rev, &mut tags);
    }
    tags
}

fn collect_tags(rev: &MetadataRevision, tags: &mut Tags) {
    let all = rev
        .media
        .tags
        .iter()
        .chain(rev.per_track.iter().flat_map(|t| t.metadata.tags.iter()));
    for tag in all {
        let value = tag.raw.value.to_string();
        let slot = match &tag.std {
            Some(StandardTag::TrackTitle(_)) => &mut tags.title,
            Some(StandardTag::Artist(_)) => &mut tags.artist,
            Some(StandardTag::Album(_)) => &mut tags.album,
            Some(StandardTag::AlbumArtist(_)) => &mut tags.album_artist,
            Some(StandardTag::RecordingDate(_) | StandardTag::ReleaseDate(_)) => &mut tags.date,
            Some(StandardTag::Genre(_)) => &mut tags.genre,
            Some(StandardTag::TrackNumber(_)) => &mut tags.track_number,
            _ => {
                if tags.other.len() < 64 {
                    tags.other.push((tag.raw.key.clone(), truncate(value, 256)));
                }
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(truncate(value, 1024));
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// A readable name for a codec, including ones symphonia has no decoder for.
fn codec_name(id: symphonia::core::codecs::audio::AudioCodecId) -> String {
    if let Some(reg) = symphonia::default::get_codecs().get_audio_decoder(id) {
        return reg.codec.info.short_name.to_string();
    }
    let known: &[(symphonia::core::codecs::audio::AudioCodecId, &str)] = &[
        (codec_ids::CODEC_ID_OPUS, "Opus"),
        (codec_ids::CODEC_ID_SPEEX, "Speex"),
        (codec_ids::CODEC_ID_AC3, "AC-3"),
        (codec_ids::CODEC_ID_EAC3, "E-AC-3"),
        (codec_ids::CODEC_ID_AC4, "AC-4"),
        (codec_ids::CODEC_ID_DCA, "DTS"),
        (codec_ids::CODEC_ID_WMA, "WMA"),
        (codec_ids::CODEC_ID_WAVPACK, "WavPack"),
        (codec_ids::CODEC_ID_MONKEYS_AUDIO, "Monkey's Audio"),
        (codec_ids::CODEC_ID_TTA, "TTA"),
        (codec_ids::CODEC_ID_TRUEHD, "TrueHD"),
        (codec_ids::CODEC_ID_MUSEPACK, "Musepack"),
        (codec_ids::CODEC_ID_ATRAC3, "ATRAC3"),
        (codec_ids::CODEC_ID_ATRAC3PLUS, "ATRAC3plus"),
        (codec_ids::CODEC_ID_ADPCM_G722, "G.722"),
        (codec_ids::CODEC_ID_ADPCM_G726, "G.726"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == id)
        .map(|(_, n)| (*n).to_string())
        .unwrap_or_else(|| format!("unknown codec {id}"))
}

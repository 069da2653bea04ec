//! The source pipeline: a file becomes engine-rate stereo `f32` frames with exact random
//! access.
//!
//! `Source::read(start, out)` returns the same samples whatever was read before: reading
//! front to back continues the decoder and resampler state (cheap), while a jump repositions
//! them with pre-roll so the result equals a front-to-back pass. This is the foundation of
//! "any chunk can be produced on its own, in any order".
//!
//! The stages, in the order a sample meets them:
//!
//! * [`open`](self::open) probes the file (symphonia) and works out the track's timeline
//!   with [`placement`]: packet positions and gapless trims from the container, including
//!   what symphonia leaves out ([`mp4`] edit lists and packet timeline, [`mkv`] Opus timing,
//!   [`opus`] headers, [`itunes`] gapless tags).
//! * [`packets`] hands out the track's packets and repositions them; [`decoder`] decodes them
//!   ([`codecs`]: which decoder, what pre-roll) onto the timeline and maps channels to stereo
//!   ([`downmix`]).
//! * [`resample`] converts to the engine rate on a fixed block grid; [`Source`] (here) ties
//!   the decoder and the resampler together for random access.
//! * [`info`]: what a file says about itself ([`SourceInfo`], [`Tags`]) and the [`limits`]
//!   hostile files meet.
//!
//! Runs on: the filler threads (production, warming) and the control thread (probing); never
//! the audio thread.

mod codecs;
pub mod decoder;
pub mod downmix;
pub mod info;
pub mod itunes;
pub mod mkv;
pub mod mp4;
mod open;
pub mod opus;
mod packets;
mod placement;
pub mod resample;

use std::path::Path;

pub use decoder::{DecodeReport, Decoder};
pub use info::{CoverArt, SourceInfo, Tags, frames_to_duration, limits};

use crate::chunk::{ChunkGeometry, ENGINE_CHANNELS};
use crate::error::SourceError;
use resample::BlockResampler;

/// Version of the rules that turn a file into frames. Part of every [`crate::TrackId`], so a
/// change that alters decoded audio (2: MP4 packets placed back to back, Opus) retires what
/// older builds cached.
pub const DECODE_VERSION: u32 = 2;

/// Probes a file: container, codec, rate, channels, length and tags, without decoding audio
/// (except for files that do not announce their length, which are counted by decoding).
pub fn probe(path: &Path) -> Result<SourceInfo, SourceError> {
    let (decoder, info) = Decoder::open(path)?;
    drop(decoder);
    Ok(info)
}

/// The picture embedded in a file (the front cover if it has several), `None` if it has none.
/// Reads the container's metadata only, no audio. For players that show album art (MPRIS's
/// `mpris:artUrl`); not kept in [`SourceInfo`], so a long queue does not hold its pictures.
pub fn cover_art(path: &Path) -> Result<Option<CoverArt>, SourceError> {
    let file = std::fs::File::open(path).map_err(SourceError::Open)?;
    let mut format = open::restart_demuxer(&file, path)?;
    Ok(info::read_cover(format.as_mut()))
}

/// Continuing forward through up to this many resampler blocks beats repositioning.
const CONTINUE_BLOCKS: u64 = 4;

/// An open source at a fixed engine rate.
#[derive(Debug)]
pub struct Source {
    decoder: Decoder,
    info: SourceInfo,
    engine_rate: u32,
    frames: u64,
    resampled: Option<Resampled>,
}

#[derive(Debug)]
struct Resampled {
    rs: BlockResampler,
    in_block: Vec<f32>,
    out_block: Vec<f32>,
    /// Raw (delay-including) output index of `out_block[0]`, when `has_block`.
    out_start: u64,
    has_block: bool,
    /// The input block the resampler consumes next; the decoder sits at its first frame.
    next_block: u64,
}

/// Engine frames for `src_frames` source frames: `ceil(src_frames · to / from)`.
pub fn engine_frames(src_frames: u64, from: u32, to: u32) -> u64 {
    if from == to {
        return src_frames;
    }
    let num = u128::from(src_frames) * u128::from(to);
    u64::try_from(num.div_ceil(u128::from(from))).unwrap_or(u64::MAX)
}

impl Source {
    /// Opens `path` for reading at `engine_rate` (the source's own rate when `None`).
    pub fn open(path: &Path, engine_rate: Option<u32>) -> Result<Self, SourceError> {
        let (decoder, info) = Decoder::open(path)?;
        let rate = engine_rate.unwrap_or(info.sample_rate);
        if rate == 0 {
            return Err(SourceError::Unsupported("engine rate of 0 Hz".into()));
        }
        let resampled = if rate == info.sample_rate {
            None
        } else {
            let rs = BlockResampler::new(info.sample_rate, rate)?;
            Some(Resampled {
                in_block: vec![0.0; rs.block_in() * ENGINE_CHANNELS],
                out_block: vec![0.0; rs.block_out() * ENGINE_CHANNELS],
                rs,
                out_start: 0,
                has_block: false,
                next_block: 0,
            })
        };
        Ok(Self {
            frames: engine_frames(info.frames, info.sample_rate, rate),
            decoder,
            info,
            engine_rate: rate,
            resampled,
        })
    }

    /// What the file says about itself.
    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// The engine rate this source delivers.
    pub fn engine_rate(&self) -> u32 {
        self.engine_rate
    }

    /// Length in engine frames.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Damage seen while decoding so far (corrupt packets, early end).
    pub fn report(&self) -> &DecodeReport {
        self.decoder.report()
    }

    /// When the stream ended before its announced length: the engine frame where the decoded
    /// audio ends.
    pub fn decoded_end(&self) -> Option<u64> {
        self.decoder
            .report()
            .ended_early_at
            .map(|end| engine_frames(end, self.info.sample_rate, self.engine_rate))
    }

    /// Packets decoded since opening; a cache hit must leave this untouched.
    pub fn packets_decoded(&self) -> u64 {
        self.decoder.packets_decoded()
    }

    /// Fills `out` (interleaved stereo) with engine frames `start..start + out.len() / 2`.
    /// Frames past the end of the track are silence.
    ///
    /// Runs on: the filler (or any non-real-time thread). Allocation-free after the first
    /// reads have grown the decoder's packet buffers.
    pub fn read(&mut self, start: u64, out: &mut [f32]) -> Result<(), SourceError> {
        let frames = (out.len() / ENGINE_CHANNELS) as u64;
        let valid = self.frames.saturating_sub(start).min(frames) as usize;
        out[valid * ENGINE_CHANNELS..].fill(0.0);
        if valid == 0 {
            return Ok(());
        }
        let out = &mut out[..valid * ENGINE_CHANNELS];
        match &mut self.resampled {
            None => {
                self.decoder.seek(start)?;
                let mut done = 0;
                while done < valid {
                    let got = self.decoder.read(&mut out[done * ENGINE_CHANNELS..])?;
                    if got == 0 {
                        break;
                    }
                    done += got;
                }
                out[done * ENGINE_CHANNELS..].fill(0.0);
                Ok(())
            }
            Some(r) => read_resampled(&mut self.decoder, r, start, out),
        }
    }

    /// Produces chunk `index` of the track cut into `chunk_frames`-frame chunks, into `out`
    /// (resized to the chunk's length).
    pub fn produce_chunk(
        &mut self,
        index: u32,
        chunk_frames: u32,
        out: &mut Vec<f32>,
    ) -> Result<(), SourceError> {
        let g = ChunkGeometry::new(self.frames, chunk_frames);
        let range = g.range(index);
        out.resize((range.end - range.start) as usize * ENGINE_CHANNELS, 0.0);
        self.read(range.start, out)
    }
}

fn read_resampled(
    decoder: &mut Decoder,
    r: &mut Resampled,
    start: u64,
    out: &mut [f32],
) -> Result<(), SourceError> {
    let bo = r.rs.block_out() as u64;
    let bi = r.rs.block_in() as u64;
    let mut raw = start + r.rs.delay() as u64;
    let in_current = r.has_block && raw >= r.out_start && raw < r.out_start + bo;
    let next_raw = r.next_block * bo;
    let ahead = raw >= next_raw && raw < next_raw + CONTINUE_BLOCKS * bo;
    if !in_current && !ahead {
        // Reposition one block early from a zeroed state; that block's output is discarded
        // because it lacks the previous block's overlap.
        let first = (raw / bo).saturating_sub(1);
        r.rs.reset();
        r.has_block = false;
        r.next_block = first;
        decoder.seek(first * bi)?;
    }
    let frames = out.len() / ENGINE_CHANNELS;
    let mut done = 0;
    while done < frames {
        if r.has_block && raw >= r.out_start && raw < r.out_start + bo {
            let off = (raw - r.out_start) as usize;
            let n = (bo as usize - off).min(frames - done);
            out[done * ENGINE_CHANNELS..(done + n) * ENGINE_CHANNELS]
                .copy_from_slice(&r.out_block[off * ENGINE_CHANNELS..(off + n) * ENGINE_CHANNELS]);
            done += n;
            raw += n as u64;
            continue;
        }
        let mut got = 0;
        while got < bi as usize {
            let n = decoder.read(&mut r.in_block[got * ENGINE_CHANNELS..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        r.in_block[got * ENGINE_CHANNELS..].fill(0.0);
        r.rs.process(&r.in_block, &mut r.out_block)?;
        r.out_start = r.next_block * bo;
        r.next_block += 1;
        r.has_block = true;
    }
    Ok(())
}

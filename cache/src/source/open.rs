//! Opening a file: probe the container, pick the audio track, make its decoder, and work out
//! its timeline (see `placement`) and what `hearth probe` shows of it.
//!
//! Runs on: whichever thread opens a source (control, filler).

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::Path;

use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder};
use symphonia::core::common::Limit;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::codecs::{codec_name, make_decoder};
use super::info::{SourceInfo, limits, read_tags};
use super::placement::{Timing, timing};
use crate::error::SourceError;

/// A file opened for decoding, with everything the decoder needs about its audio track.
pub(super) struct Opened {
    pub format: Box<dyn FormatReader>,
    pub decoder: Box<dyn AudioDecoder>,
    pub params: AudioCodecParameters,
    pub info: SourceInfo,
    pub timing: Timing,
    pub track_id: u32,
    pub channels: Channels,
    /// The file as opened (see `Decoder::file`).
    pub file: File,
}

/// Opens `path`: checks it is a non-empty file, probes it and reads its audio track.
pub(super) fn open(path: &Path) -> Result<Opened, SourceError> {
    let meta = std::fs::metadata(path).map_err(SourceError::Open)?;
    if meta.is_dir() {
        return Err(SourceError::IsDirectory);
    }
    if meta.len() == 0 {
        return Err(SourceError::Empty);
    }
    let file = File::open(path).map_err(SourceError::Open)?;
    let mut format = restart_demuxer(&file, path)?;
    let container = format.format_info().short_name.to_string();
    let format_id = format.format_info().format;
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
    let tags = read_tags(format.as_mut());
    let timing = timing(path, format_id, &track, &params, rate, &tags);
    if timing.frames > limits::MAX_SECONDS * u64::from(rate) {
        return Err(SourceError::Unsupported(format!(
            "implausible length of {} hours",
            timing.frames / u64::from(rate) / 3600
        )));
    }
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
        frames: timing.frames,
        gapless_trim: timing.gapless_trim,
        tags,
    };
    Ok(Opened {
        format,
        decoder,
        params,
        info,
        timing,
        track_id: track.id,
        channels,
        file,
    })
}

/// A fresh demuxer over `file` from its start (`path` only gives the extension hint).
pub(super) fn restart_demuxer(
    file: &File,
    path: &Path,
) -> Result<Box<dyn FormatReader>, SourceError> {
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
    symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), meta_opts)
        .map_err(|e| match e {
            SymError::IoError(io) if io.kind() != io::ErrorKind::UnexpectedEof => {
                SourceError::Io(io)
            }
            // "No suitable format reader" needs no elaboration; anything else is a clue.
            SymError::Unsupported(_) => SourceError::UnknownFormat(String::new()),
            other => SourceError::UnknownFormat(format!(" ({other})")),
        })
}

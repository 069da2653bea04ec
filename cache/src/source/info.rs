//! What a source is, as opposed to its audio: [`SourceInfo`] (what `hearth probe` shows),
//! its [`Tags`], the [`DecodeReport`] of damage seen while decoding, and the [`limits`] that
//! bound what a hostile file can make us do.
//!
//! Runs on: whichever thread opens a source (control, filler).

use std::path::PathBuf;
use std::time::Duration;

use symphonia::core::formats::FormatReader;
use symphonia::core::meta::{MetadataRevision, RawTag, StandardTag, StandardVisualKey, Visual};

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

impl Tags {
    /// The value of an `other` tag by key, ignoring ASCII case (`R128_TRACK_GAIN`,
    /// `REPLAYGAIN_TRACK_GAIN`, `iTunSMPB`...).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.other
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
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

/// A picture embedded in a file (album art).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverArt {
    /// Its media type as the file says ("image/jpeg", "image/png"), if it does.
    pub media_type: Option<String>,
    /// The encoded picture.
    pub data: Vec<u8>,
}

impl CoverArt {
    /// A file extension for the picture: from the media type, else sniffed from its first
    /// bytes, else "img".
    pub fn extension(&self) -> &'static str {
        let mt = self
            .media_type
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        if mt.ends_with("png") || self.data.starts_with(b"\x89PNG") {
            "png"
        } else if mt.ends_with("jpeg")
            || mt.ends_with("jpg")
            || self.data.starts_with(&[0xFF, 0xD8])
        {
            "jpg"
        } else if mt.ends_with("gif") || self.data.starts_with(b"GIF8") {
            "gif"
        } else if mt.ends_with("webp") {
            "webp"
        } else {
            "img"
        }
    }
}

/// The best picture among every metadata revision of `format`: the front cover if there is
/// one, else the first picture. Pictures larger than [`limits::MAX_VISUAL_BYTES`] were never
/// read.
pub(super) fn read_cover(format: &mut dyn FormatReader) -> Option<CoverArt> {
    let mut meta = format.metadata();
    let mut found: Option<(bool, CoverArt)> = None;
    loop {
        if let Some(rev) = meta.current() {
            let visuals = rev
                .media
                .visuals
                .iter()
                .chain(rev.per_track.iter().flat_map(|t| t.metadata.visuals.iter()));
            for v in visuals.filter(|v| !v.data.is_empty()) {
                let front = matches!(v.usage, Some(StandardVisualKey::FrontCover));
                if found
                    .as_ref()
                    .is_none_or(|(was_front, _)| front && !was_front)
                {
                    found = Some((front, cover(v)));
                }
            }
        }
        if meta.pop().is_none() {
            break;
        }
    }
    found.map(|(_, art)| art)
}

fn cover(v: &Visual) -> CoverArt {
    CoverArt {
        media_type: v.media_type.clone(),
        data: v.data.to_vec(),
    }
}

/// Reads the latest metadata revision's tags from `format`.
pub(super) fn read_tags(format: &mut dyn FormatReader) -> Tags {
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
        let key = tag_key(&tag.raw);
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
                    tags.other.push((key, truncate(value, 256)));
                }
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(truncate(value, 1024));
        }
    }
}

/// A tag's key; for ID3's user-defined text and comment frames (`TXXX`, `COMM`) the key is the
/// frame's description (`iTunSMPB`, `REPLAYGAIN_TRACK_GAIN`), which is what names them; MP4
/// freeform atoms come as `com.apple.iTunes:NAME` and are named by `NAME`.
fn tag_key(raw: &RawTag) -> String {
    let described = matches!(raw.key.as_str(), "TXXX" | "TXX" | "COMM" | "COM");
    if described {
        let desc = raw.sub_fields.iter().flatten().find(|f| {
            f.field.eq_ignore_ascii_case("description")
                || f.field.eq_ignore_ascii_case("short_description")
        });
        if let Some(d) = desc {
            let d = d.value.to_string();
            if !d.is_empty() {
                return d;
            }
        }
    }
    match raw.key.strip_prefix("com.apple.iTunes:") {
        Some(name) => name.to_string(),
        None => raw.key.clone(),
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

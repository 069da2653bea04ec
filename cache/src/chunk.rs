//! The chunk model: how a track is cut into fixed-size chunks, and how a chunk is named.
//!
//! Everything in the hot and warm tiers is interleaved `f32` at the engine rate in the engine
//! layout (stereo). A track of `N` engine frames is cut into `ceil(N / C)` chunks of `C` frames;
//! the last one may be shorter.

use std::fmt;
use std::ops::Range;

use hearth_dsp::Preset;
use serde::{Deserialize, Serialize};

/// Channels in the engine layout. Sources are mapped to it on decode (see `downmix`).
pub const ENGINE_CHANNELS: usize = 2;

/// Default chunk length in frames: 0.68 s at 48 kHz. Small enough that a cold chunk decodes,
/// resamples and masters in a few milliseconds, large enough that per-chunk overheads (seek,
/// pre-roll) stay a small fraction of the work.
pub const DEFAULT_CHUNK_FRAMES: u32 = 32_768;

/// Identity of a track's content at a given engine rate and layout (a hash of its fingerprint).
///
/// Two queue entries playing the same file share a `TrackId`, and so share cached chunks.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct TrackId(pub u64);

impl fmt::Debug for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrackId({:016x})", self.0)
    }
}

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Which rendering of the audio a chunk holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Variant {
    /// Decoded, mapped to stereo and resampled; nothing else.
    Original,
    /// The original passed through the mastering chain with a preset.
    Enhanced(Preset),
}

impl Variant {
    /// A compact code: 0 for the original, 1 + preset id for enhanced variants.
    pub const fn code(self) -> u8 {
        match self {
            Variant::Original => 0,
            Variant::Enhanced(p) => 1 + p.id(),
        }
    }

    /// The inverse of [`Variant::code`].
    pub const fn from_code(code: u8) -> Option<Variant> {
        match code {
            0 => Some(Variant::Original),
            c => match Preset::from_id(c - 1) {
                Some(p) => Some(Variant::Enhanced(p)),
                None => None,
            },
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::Original => f.write_str("original"),
            Variant::Enhanced(p) => write!(f, "enhanced:{p}"),
        }
    }
}

/// How a track of a known length is cut into chunks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkGeometry {
    /// Track length in engine frames.
    pub total_frames: u64,
    /// Frames per chunk (the last chunk may be shorter).
    pub chunk_frames: u32,
}

impl ChunkGeometry {
    /// A geometry; `chunk_frames` of 0 is treated as 1.
    pub fn new(total_frames: u64, chunk_frames: u32) -> Self {
        Self {
            total_frames,
            chunk_frames: chunk_frames.max(1),
        }
    }

    /// Number of chunks (0 for an empty track).
    pub fn count(&self) -> u32 {
        let n = self.total_frames.div_ceil(u64::from(self.chunk_frames));
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Engine-frame range covered by chunk `index` (empty past the end).
    pub fn range(&self, index: u32) -> Range<u64> {
        let c = u64::from(self.chunk_frames);
        let start = (u64::from(index) * c).min(self.total_frames);
        let end = (start + c).min(self.total_frames);
        start..end
    }

    /// Number of frames in chunk `index`.
    pub fn len(&self, index: u32) -> u32 {
        let r = self.range(index);
        // A range is at most `chunk_frames` long, so this fits.
        (r.end - r.start) as u32
    }

    /// True when the track has no frames.
    pub fn is_empty(&self) -> bool {
        self.total_frames == 0
    }

    /// The chunk holding engine frame `frame` (the last chunk for frames past the end).
    pub fn chunk_of(&self, frame: u64) -> u32 {
        if self.total_frames == 0 {
            return 0;
        }
        let f = frame.min(self.total_frames - 1);
        u32::try_from(f / u64::from(self.chunk_frames)).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_covers_the_track_exactly_once() {
        for total in [0u64, 1, 99, 100, 101, 1000, 12_345] {
            let g = ChunkGeometry::new(total, 100);
            let mut next = 0;
            for k in 0..g.count() {
                let r = g.range(k);
                assert_eq!(r.start, next);
                assert!(r.end > r.start && r.end - r.start <= 100);
                assert_eq!(g.chunk_of(r.start), k);
                assert_eq!(g.chunk_of(r.end - 1), k);
                next = r.end;
            }
            assert_eq!(next, total);
        }
    }

    #[test]
    fn variant_codes_round_trip() {
        assert_eq!(
            Variant::from_code(Variant::Original.code()),
            Some(Variant::Original)
        );
        for p in Preset::ALL {
            let v = Variant::Enhanced(p);
            assert_eq!(Variant::from_code(v.code()), Some(v));
        }
        assert_eq!(Variant::from_code(200), None);
    }
}

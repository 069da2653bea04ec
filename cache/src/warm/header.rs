//! The warm file's on-disk header and layout: encoding, and parsing of untrusted bytes.
//!
//! A warm file holds one variant of one track (all multi-byte fields little-endian):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "HRTHWARM"
//! 8       4     format version (FORMAT_VERSION)
//! 12      4     header length (4096)
//! 16      4     engine rate, Hz
//! 20      2     channels
//! 22      1     variant code (0 original, 1 + preset id enhanced)
//! 23      1     reserved (0)
//! 24      4     chunk frames
//! 28      4     chunk count
//! 32      8     total frames
//! 40      8     track id
//! 48      8     source fingerprint hash
//! 56      8     DSP parameter hash (0 for the original)
//! 64      8     presence offset  (= 4096)
//! 72      8     checksums offset (8-aligned, after one presence byte per chunk)
//! 80      8     PCM offset       (page-aligned, after one u64 checksum per chunk)
//! 88      8     file length      (page-aligned, after the PCM)
//! 96..4088      zero
//! 4088    8     xxh3-64 of bytes 0..4088
//! 4096          presence: one byte per chunk, 0 absent, 1 present
//!               checksums: one u64 per chunk, xxh3-64 of the chunk's PCM bytes
//!               PCM: chunk i at pcm + i * chunk_frames * channels * 4, interleaved f32
//! ```
//!
//! The file length is rounded up to a whole page so that its length is exactly what it
//! occupies once preallocated: the store's byte accounting is the sum of file lengths.
//!
//! Pure and allocation-free: a fuzz target can feed [`WarmHeader::decode`] anything.

use xxhash_rust::xxh3::xxh3_64;

use crate::chunk::{ChunkGeometry, TrackId, Variant};
use crate::warm::mmap::RegionLayout;

/// The version this build reads and writes. Files of any other version are deleted.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes in the header (one page).
pub const HEADER_LEN: usize = 4096;

const MAGIC: &[u8; 8] = b"HRTHWARM";
const PAGE: u64 = 4096;
const CHECKSUM_AT: usize = HEADER_LEN - 8;

/// More channels than any layout Hearth renders: a header claiming more is damaged.
const MAX_CHANNELS: u16 = 64;
/// More chunks than any sane track (a day of audio in 1-frame chunks is far less): a header
/// claiming more is damaged, and the bound keeps the layout arithmetic small.
const MAX_CHUNKS: u32 = 1 << 26;

/// What a warm file holds: everything that must match for its chunks to be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarmHeader {
    /// The track's identity (fingerprint + engine rate + layout).
    pub track: TrackId,
    /// Original or enhanced with a preset.
    pub variant: Variant,
    /// Engine rate, Hz.
    pub engine_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Track length and chunk size.
    pub geometry: ChunkGeometry,
    /// Hash of the source fingerprint ([`crate::Fingerprint::hash`]).
    pub source_hash: u64,
    /// Hash of the DSP parameters the variant was rendered with (0 for the original).
    pub params_hash: u64,
}

/// Byte offsets of a warm file's areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarmLayout {
    /// Chunks in the track.
    pub chunk_count: u32,
    /// Start of the presence bytes.
    pub presence: u64,
    /// Start of the checksums.
    pub checksums: u64,
    /// Start of the PCM (page-aligned).
    pub pcm: u64,
    /// Bytes from one chunk's PCM to the next (a full chunk).
    pub chunk_bytes: u64,
    /// File length (page-aligned).
    pub file_len: u64,
}

impl WarmLayout {
    /// The layout of a file for `geometry` with `channels` interleaved channels.
    pub fn of(geometry: ChunkGeometry, channels: u16) -> Result<WarmLayout, HeaderError> {
        if channels == 0 || channels > MAX_CHANNELS {
            return Err(HeaderError::Layout("channel count"));
        }
        if geometry.chunk_frames == 0 {
            return Err(HeaderError::Layout("zero chunk frames"));
        }
        let count = geometry.count();
        if count > MAX_CHUNKS {
            return Err(HeaderError::Layout("too many chunks"));
        }
        let frame_bytes = u64::from(channels) * 4;
        let presence = HEADER_LEN as u64;
        let checksums = (presence + u64::from(count)).next_multiple_of(8);
        let pcm = (checksums + 8 * u64::from(count)).next_multiple_of(PAGE);
        let chunk_bytes = u64::from(geometry.chunk_frames) * frame_bytes;
        let pcm_len = geometry
            .total_frames
            .checked_mul(frame_bytes)
            .ok_or(HeaderError::Layout("track too long"))?;
        let file_len = pcm
            .checked_add(pcm_len)
            .and_then(|l| l.checked_next_multiple_of(PAGE))
            .ok_or(HeaderError::Layout("track too long"))?;
        // The whole file is mapped: it must fit the address space.
        usize::try_from(file_len).map_err(|_| HeaderError::Layout("track too long"))?;
        Ok(WarmLayout {
            chunk_count: count,
            presence,
            checksums,
            pcm,
            chunk_bytes,
            file_len,
        })
    }

    /// Where the mapping's areas are, for [`crate::warm::mmap::Region`].
    pub(crate) fn region(&self) -> RegionLayout {
        // All of these fit in usize: `of` checked `file_len` does and they are smaller.
        RegionLayout {
            atomics_start: self.presence as usize,
            slots_start: self.pcm as usize,
            slot_stride: self.chunk_bytes as usize,
            slot_count: self.chunk_count as usize,
            total_len: self.file_len as usize,
        }
    }

    /// Offset of chunk `i`'s presence byte.
    pub(crate) fn presence_at(&self, i: u32) -> usize {
        (self.presence + u64::from(i)) as usize
    }

    /// Offset of chunk `i`'s checksum.
    pub(crate) fn checksum_at(&self, i: u32) -> usize {
        (self.checksums + 8 * u64::from(i)) as usize
    }
}

impl WarmHeader {
    /// The file layout this header describes.
    pub fn layout(&self) -> Result<WarmLayout, HeaderError> {
        WarmLayout::of(self.geometry, self.channels)
    }

    /// The header's bytes (with its checksum), or why it cannot describe a file.
    pub fn encode(&self) -> Result<[u8; HEADER_LEN], HeaderError> {
        let l = self.layout()?;
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&self.engine_rate.to_le_bytes());
        b[20..22].copy_from_slice(&self.channels.to_le_bytes());
        b[22] = self.variant.code();
        b[24..28].copy_from_slice(&self.geometry.chunk_frames.to_le_bytes());
        b[28..32].copy_from_slice(&l.chunk_count.to_le_bytes());
        b[32..40].copy_from_slice(&self.geometry.total_frames.to_le_bytes());
        b[40..48].copy_from_slice(&self.track.0.to_le_bytes());
        b[48..56].copy_from_slice(&self.source_hash.to_le_bytes());
        b[56..64].copy_from_slice(&self.params_hash.to_le_bytes());
        b[64..72].copy_from_slice(&l.presence.to_le_bytes());
        b[72..80].copy_from_slice(&l.checksums.to_le_bytes());
        b[80..88].copy_from_slice(&l.pcm.to_le_bytes());
        b[88..96].copy_from_slice(&l.file_len.to_le_bytes());
        let sum = xxh3_64(&b[..CHECKSUM_AT]);
        b[CHECKSUM_AT..].copy_from_slice(&sum.to_le_bytes());
        Ok(b)
    }

    /// Parses and validates a header: magic, version, its checksum, field ranges, and that
    /// the stored offsets are the ones this build would compute. Never panics, whatever the
    /// bytes.
    pub fn decode(b: &[u8]) -> Result<(WarmHeader, WarmLayout), HeaderError> {
        let b: &[u8; HEADER_LEN] = b
            .get(..HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(HeaderError::TooShort)?;
        if &b[0..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        if u64_at(b, CHECKSUM_AT) != xxh3_64(&b[..CHECKSUM_AT]) {
            return Err(HeaderError::Checksum);
        }
        if u32_at(b, 12) as usize != HEADER_LEN || b[23] != 0 {
            return Err(HeaderError::Layout("header length"));
        }
        if b[96..CHECKSUM_AT].iter().any(|&x| x != 0) {
            return Err(HeaderError::Layout("reserved bytes set"));
        }
        let variant = Variant::from_code(b[22]).ok_or(HeaderError::Layout("variant code"))?;
        let header = WarmHeader {
            track: TrackId(u64_at(b, 40)),
            variant,
            engine_rate: u32_at(b, 16),
            channels: u16::from_le_bytes([b[20], b[21]]),
            geometry: ChunkGeometry {
                total_frames: u64_at(b, 32),
                chunk_frames: u32_at(b, 24),
            },
            source_hash: u64_at(b, 48),
            params_hash: u64_at(b, 56),
        };
        if header.engine_rate == 0 {
            return Err(HeaderError::Layout("engine rate"));
        }
        let l = header.layout()?;
        let stored = (
            u32_at(b, 28),
            u64_at(b, 64),
            u64_at(b, 72),
            u64_at(b, 80),
            u64_at(b, 88),
        );
        if stored != (l.chunk_count, l.presence, l.checksums, l.pcm, l.file_len) {
            return Err(HeaderError::Layout("offsets"));
        }
        Ok((header, l))
    }

    /// Which field differs from `expected`, if any (for choosing to recreate a file).
    pub fn mismatch(&self, expected: &WarmHeader) -> Option<&'static str> {
        if self.track != expected.track {
            Some("track")
        } else if self.variant != expected.variant {
            Some("variant")
        } else if self.source_hash != expected.source_hash {
            Some("source")
        } else if self.engine_rate != expected.engine_rate || self.channels != expected.channels {
            Some("rate or layout")
        } else if self.geometry != expected.geometry {
            Some("geometry")
        } else if self.params_hash != expected.params_hash {
            Some("DSP parameters")
        } else {
            None
        }
    }
}

fn u32_at(b: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8; HEADER_LEN], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// What is wrong with a warm file's header. `Copy`: parsing untrusted bytes never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer bytes than a header.
    #[error("file too short for a header")]
    TooShort,
    /// Not a Hearth warm file.
    #[error("not a Hearth warm file (bad magic)")]
    BadMagic,
    /// Written by a different format version.
    #[error("format version {0} (this build reads {expected})", expected = FORMAT_VERSION)]
    Version(u32),
    /// The header's own checksum does not match its bytes.
    #[error("header checksum mismatch")]
    Checksum,
    /// Fields out of range or inconsistent with each other.
    #[error("inconsistent header: {0}")]
    Layout(&'static str),
    /// The file's length differs from what the header describes.
    #[error("file is {actual} bytes, the header describes {expected}")]
    Length {
        /// Bytes the header's layout needs.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// A valid header for something else (another track, variant, geometry or DSP parameters).
    #[error("header describes a different {0}")]
    Mismatch(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_dsp::Preset;
    use proptest::prelude::*;

    fn header() -> WarmHeader {
        WarmHeader {
            track: TrackId(0x1234_5678_9abc_def0),
            variant: Variant::Enhanced(Preset::Warm),
            engine_rate: 48_000,
            channels: 2,
            geometry: ChunkGeometry::new(100_000, 4096),
            source_hash: 42,
            params_hash: 7,
        }
    }

    #[test]
    fn header_round_trips_and_layout_is_aligned() {
        let h = header();
        let b = h.encode().unwrap();
        let (back, l) = WarmHeader::decode(&b).unwrap();
        assert_eq!(back, h);
        assert_eq!(l.chunk_count, 25);
        assert_eq!(l.presence, 4096);
        assert_eq!(l.checksums % 8, 0);
        assert!(l.checksums >= l.presence + 25);
        assert_eq!(l.pcm % 4096, 0);
        assert!(l.pcm >= l.checksums + 25 * 8);
        assert_eq!(l.file_len % 4096, 0);
        assert!(l.file_len >= l.pcm + 100_000 * 8);
        assert_eq!(h.mismatch(&h), None);
        let other = WarmHeader {
            params_hash: 8,
            ..h
        };
        assert_eq!(h.mismatch(&other), Some("DSP parameters"));
    }

    #[test]
    fn damaged_headers_are_refused() {
        let b = header().encode().unwrap();
        assert_eq!(WarmHeader::decode(&b[..100]), Err(HeaderError::TooShort));
        let mut m = b;
        m[0] = b'X';
        assert_eq!(WarmHeader::decode(&m), Err(HeaderError::BadMagic));
        let mut m = b;
        m[8] = 9;
        assert_eq!(WarmHeader::decode(&m), Err(HeaderError::Version(9)));
        let mut m = b;
        m[16] ^= 1;
        assert_eq!(WarmHeader::decode(&m), Err(HeaderError::Checksum));
        assert!(WarmHeader::decode(&[0u8; HEADER_LEN]).is_err());
    }

    proptest! {
        /// Arbitrary bytes, and arbitrary edits of a valid header (with the checksum fixed up
        /// so the field checks are reached), never panic; whatever decodes re-encodes to the
        /// same bytes.
        #[test]
        fn decode_never_panics(
            edits in proptest::collection::vec((0usize..HEADER_LEN, any::<u8>()), 0..8),
            junk in proptest::collection::vec(any::<u8>(), 0..5000),
        ) {
            let _ = WarmHeader::decode(&junk);
            let mut b = header().encode().unwrap();
            for (at, v) in edits {
                b[at] = v;
            }
            let sum = xxh3_64(&b[..CHECKSUM_AT]);
            b[CHECKSUM_AT..].copy_from_slice(&sum.to_le_bytes());
            if let Ok((h, _)) = WarmHeader::decode(&b) {
                prop_assert_eq!(h.encode().ok(), Some(b));
            }
        }
    }
}

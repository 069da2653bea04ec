//! Opus details the decoder adapter leaves to us: the identification header (`OpusHead`,
//! RFC 7845 §5.1) and packet durations from the TOC byte (RFC 6716 §3.1).
//!
//! Decoding itself is libopus through `symphonia-adapter-libopus`. Everything around it is
//! ours, so that it is applied exactly once however a stream was opened or repositioned:
//!
//! * **Pre-skip.** Symphonia's Ogg demuxer already marks the first `pre_skip` frames for
//!   trimming; the adapter would trim them a second time from whatever packet a fresh decoder
//!   sees first (after every seek, too). We hand the adapter a header with pre-skip zeroed
//!   ([`without_pre_skip`]) and trim through the demuxer (Ogg) or the container offset
//!   (Matroska, see `mkv`).
//! * **Output gain.** The header's Q7.8 dB gain must be applied by the player (libopus's plain
//!   decoder does not); [`OpusHead::gain`] is the linear factor.
//!
//! Hand-written because these are a few fixed-layout bytes that no maintained crate exposes
//! apart from a whole decoder or demuxer.

/// The fields of an `OpusHead` packet we use.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct OpusHead {
    /// Channels in the stream.
    pub channels: u8,
    /// Frames at 48 kHz to discard from the start of the decoded stream.
    pub pre_skip: u16,
    /// Output gain in 1/256 dB.
    pub output_gain_q8: i16,
}

impl OpusHead {
    /// Parses an identification header (`"OpusHead"`, version 0.x); `None` if it is not one.
    pub fn parse(b: &[u8]) -> Option<OpusHead> {
        if b.len() < 19 || &b[..8] != b"OpusHead" || b[8] & 0xF0 != 0 {
            return None;
        }
        Some(OpusHead {
            channels: b[9],
            pre_skip: u16::from_le_bytes([b[10], b[11]]),
            output_gain_q8: i16::from_le_bytes([b[16], b[17]]),
        })
    }

    /// The output gain as a linear factor (1.0 when the header says 0 dB).
    pub fn gain(&self) -> f32 {
        if self.output_gain_q8 == 0 {
            1.0
        } else {
            10f32.powf(f32::from(self.output_gain_q8) / (256.0 * 20.0))
        }
    }
}

/// A copy of the identification header with pre-skip set to 0 (see the module docs).
pub fn without_pre_skip(head: &[u8]) -> Box<[u8]> {
    let mut b: Box<[u8]> = head.into();
    if OpusHead::parse(&b).is_some() {
        b[10] = 0;
        b[11] = 0;
    }
    b
}

/// Frames at 48 kHz a packet decodes to, from its TOC byte (and frame count byte for code 3);
/// `None` for an empty or malformed packet.
pub fn packet_frames(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame size in units of 2.5 ms (120 frames at 48 kHz).
    let quarter_units: u64 = match config {
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    };
    let count = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3F),
    };
    let frames = quarter_units * 120 * count;
    // RFC 6716 §3.2.5: a packet holds at most 120 ms.
    (count > 0 && frames <= 5760).then_some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pre_skip: u16, gain: i16) -> Vec<u8> {
        let mut b = b"OpusHead".to_vec();
        b.push(1);
        b.push(2);
        b.extend_from_slice(&pre_skip.to_le_bytes());
        b.extend_from_slice(&48_000u32.to_le_bytes());
        b.extend_from_slice(&gain.to_le_bytes());
        b.push(0);
        b
    }

    #[test]
    fn reads_the_header_and_zeroes_pre_skip() {
        let h = OpusHead::parse(&head(312, -256 * 6)).unwrap_or_else(|| panic!("head"));
        assert_eq!((h.channels, h.pre_skip), (2, 312));
        assert!((h.gain() - 0.501_187).abs() < 1e-5, "{}", h.gain());
        let zeroed = without_pre_skip(&head(312, 0));
        assert_eq!(OpusHead::parse(&zeroed).map(|h| h.pre_skip), Some(0));
        assert_eq!(OpusHead::parse(b"OpusTags and more bytes"), None);
    }

    #[test]
    fn packet_durations_follow_the_toc() {
        // CELT 20 ms (config 31), one frame.
        assert_eq!(packet_frames(&[31 << 3]), Some(960));
        // SILK 60 ms (config 3), two frames (code 1).
        assert_eq!(packet_frames(&[(3 << 3) | 1]), Some(5760));
        // CELT 2.5 ms (config 16), code 3 with 4 frames.
        assert_eq!(packet_frames(&[(16 << 3) | 3, 4]), Some(480));
        // Hybrid 10 ms (config 12).
        assert_eq!(packet_frames(&[12 << 3]), Some(480));
        assert_eq!(packet_frames(&[]), None);
        // Code 3 claiming 0 frames, or more than 120 ms.
        assert_eq!(packet_frames(&[(31 << 3) | 3, 0]), None);
        assert_eq!(packet_frames(&[(31 << 3) | 3, 7]), None);
    }
}

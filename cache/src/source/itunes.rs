//! iTunes' gapless tag, `iTunSMPB`, for MP3 and MP4 files that carry their encoder delay in
//! nothing else (no LAME header, no edit list).
//!
//! The value is a row of hexadecimal fields: ` 00000000 DELAY PADDING FRAMES ...`. The decoded
//! stream is `DELAY + FRAMES + PADDING` frames long and the track is the `FRAMES` after the
//! `DELAY` (for MP3 the delay already counts the decoder's own 529 frames, as FFmpeg reads
//! it). Values that cannot be right are ignored, as FFmpeg does: a delay over 16 384 frames,
//! no frames, or a count over 2^40.

/// The gapless window an `iTunSMPB` value describes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ItunesGapless {
    /// Frames to drop at the start.
    pub delay: u64,
    /// Frames of padding at the end.
    pub padding: u64,
    /// Frames of the track itself.
    pub frames: u64,
}

/// Parses an `iTunSMPB` value; `None` for anything else.
pub fn parse_smpb(value: &str) -> Option<ItunesGapless> {
    let mut fields = value.split_ascii_whitespace();
    let mut next = || -> Option<u64> {
        let f = fields.next()?;
        if f.len() > 16 {
            return None;
        }
        u64::from_str_radix(f, 16).ok()
    };
    let _reserved = next()?;
    let delay = next()?;
    let padding = next()?;
    let frames = next()?;
    (delay <= 16_384 && frames > 0 && frames < 1 << 40).then_some(ItunesGapless {
        delay,
        padding,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_window_and_refuses_nonsense() {
        // FFmpeg's FATE gapless-itunes.mp3 values.
        let v = " 00000000 00000210 0000086A 0000000000002286 00000000 0000000000000000";
        assert_eq!(
            parse_smpb(v),
            Some(ItunesGapless {
                delay: 0x210,
                padding: 0x86A,
                frames: 0x2286
            })
        );
        assert_eq!(parse_smpb("0 4001 1 1"), None, "priming above 16384");
        assert_eq!(parse_smpb("0 210 86A 0"), None, "no frames");
        assert_eq!(
            parse_smpb("0 210 86A 10000000001"),
            None,
            "count above 2^40"
        );
        assert_eq!(parse_smpb("0 210 86A 00000000000000001"), None, "17 digits");
        assert_eq!(parse_smpb("iTunes"), None);
        assert_eq!(parse_smpb(""), None);
    }
}

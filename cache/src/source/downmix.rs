//! Channel mapping from a source layout to the engine's stereo layout.
//!
//! * mono is copied to both channels at unity gain;
//! * stereo passes through untouched (bit-exact);
//! * anything wider is folded down with the ITU-R BS.775 coefficients
//!   (`Lo = L + 0.7071·C + 0.7071·Ls`, `Ro = R + 0.7071·C + 0.7071·Rs`), LFE dropped,
//!   and the whole matrix is then scaled so that the sum of the absolute coefficients feeding
//!   either output is at most 1: full-scale content in every channel cannot clip.

use symphonia::core::audio::{Channels, Position};

use crate::chunk::ENGINE_CHANNELS;

const MINUS_3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// A fixed `channels_in × 2` mixing matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Downmix {
    /// `(left, right)` gain per input channel, in the decoder's channel order.
    gains: Vec<(f32, f32)>,
    kind: MixKind,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum MixKind {
    Mono,
    Stereo,
    Matrix,
}

impl Downmix {
    /// Builds the mapping for a decoder's channel description.
    pub fn for_channels(channels: &Channels) -> Self {
        let count = channels.count();
        match count {
            0 | 1 => Self {
                gains: vec![(1.0, 1.0)],
                kind: MixKind::Mono,
            },
            2 => Self {
                gains: vec![(1.0, 0.0), (0.0, 1.0)],
                kind: MixKind::Stereo,
            },
            _ => {
                let mut gains = match channels {
                    Channels::Positioned(positions) => positioned_gains(*positions),
                    _ => (0..count).map(discrete_gain).collect(),
                };
                normalise(&mut gains);
                Self {
                    gains,
                    kind: MixKind::Matrix,
                }
            }
        }
    }

    /// Number of input channels this mix expects.
    pub fn channels_in(&self) -> usize {
        self.gains.len()
    }

    /// Maps `frames` interleaved input frames to interleaved stereo, appending to `out`.
    ///
    /// `out` is expected to have spare capacity; it only grows the first time a larger
    /// packet arrives.
    pub fn apply(&self, input: &[f32], out: &mut Vec<f32>) {
        let n_in = self.gains.len();
        match self.kind {
            MixKind::Mono => {
                for &s in input {
                    out.push(s);
                    out.push(s);
                }
            }
            MixKind::Stereo => out.extend_from_slice(input),
            MixKind::Matrix => {
                for frame in input.chunks_exact(n_in) {
                    let (mut l, mut r) = (0.0f32, 0.0f32);
                    for (&s, &(gl, gr)) in frame.iter().zip(&self.gains) {
                        l += s * gl;
                        r += s * gr;
                    }
                    out.push(l);
                    out.push(r);
                }
            }
        }
        debug_assert_eq!(ENGINE_CHANNELS, 2);
    }
}

fn positioned_gains(positions: Position) -> Vec<(f32, f32)> {
    // Channels appear in the decoder's buffer in ascending bit order of their positions.
    (0..64)
        .map(|bit| 1u64 << bit)
        .filter(|&bit| positions.bits() & bit != 0)
        .map(|bit| position_gain(Position::from_bits_truncate(bit)))
        .collect()
}

fn position_gain(p: Position) -> (f32, f32) {
    let left = Position::FRONT_LEFT | Position::FRONT_LEFT_CENTER;
    let right = Position::FRONT_RIGHT | Position::FRONT_RIGHT_CENTER;
    let left_surround = Position::REAR_LEFT
        | Position::SIDE_LEFT
        | Position::TOP_FRONT_LEFT
        | Position::TOP_REAR_LEFT
        | Position::TOP_SIDE_LEFT;
    let right_surround = Position::REAR_RIGHT
        | Position::SIDE_RIGHT
        | Position::TOP_FRONT_RIGHT
        | Position::TOP_REAR_RIGHT
        | Position::TOP_SIDE_RIGHT;
    let lfe = Position::LFE1 | Position::LFE2;
    if left.contains(p) {
        (1.0, 0.0)
    } else if right.contains(p) {
        (0.0, 1.0)
    } else if left_surround.contains(p) {
        (MINUS_3DB, 0.0)
    } else if right_surround.contains(p) {
        (0.0, MINUS_3DB)
    } else if lfe.contains(p) {
        (0.0, 0.0)
    } else {
        // Centre channels (front, rear, top, bottom) go to both sides at -3 dB.
        (MINUS_3DB, MINUS_3DB)
    }
}

/// Channels without positions: the first two are left and right, the rest alternate.
fn discrete_gain(index: usize) -> (f32, f32) {
    match index {
        0 => (1.0, 0.0),
        1 => (0.0, 1.0),
        i if i % 2 == 0 => (MINUS_3DB, 0.0),
        _ => (0.0, MINUS_3DB),
    }
}

fn normalise(gains: &mut [(f32, f32)]) {
    let sum_l: f32 = gains.iter().map(|g| g.0.abs()).sum();
    let sum_r: f32 = gains.iter().map(|g| g.1.abs()).sum();
    let peak = sum_l.max(sum_r);
    if peak > 1.0 {
        for g in gains.iter_mut() {
            g.0 /= peak;
            g.1 /= peak;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_goes_to_both_sides_at_unity() {
        let mix = Downmix::for_channels(&Channels::Positioned(Position::FRONT_CENTER));
        let mut out = Vec::new();
        mix.apply(&[0.5, -0.25], &mut out);
        assert_eq!(out, vec![0.5, 0.5, -0.25, -0.25]);
    }

    #[test]
    fn stereo_is_bit_exact() {
        let mix = Downmix::for_channels(&Channels::Positioned(
            Position::FRONT_LEFT | Position::FRONT_RIGHT,
        ));
        let input = [0.1, -0.2, 0.3, 0.123_456_79];
        let mut out = Vec::new();
        mix.apply(&input, &mut out);
        assert_eq!(out, input);
    }

    #[test]
    fn five_one_follows_bs775_and_cannot_clip() {
        let layout = Position::FRONT_LEFT
            | Position::FRONT_RIGHT
            | Position::FRONT_CENTER
            | Position::LFE1
            | Position::SIDE_LEFT
            | Position::SIDE_RIGHT;
        let mix = Downmix::for_channels(&Channels::Positioned(layout));
        assert_eq!(mix.channels_in(), 6);
        // Full scale in every channel, including LFE: each output reaches exactly 1.0.
        let mut out = Vec::new();
        mix.apply(&[1.0; 6], &mut out);
        assert!(
            (out[0] - 1.0).abs() < 1e-6 && (out[1] - 1.0).abs() < 1e-6,
            "{out:?}"
        );
        // Only the centre channel: equal on both sides, 3 dB below the front channels.
        out.clear();
        mix.apply(&[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], &mut out);
        let front = {
            let mut f = Vec::new();
            mix.apply(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &mut f);
            f[0]
        };
        assert!((out[0] - out[1]).abs() < 1e-7);
        assert!((out[0] / front - MINUS_3DB).abs() < 1e-6);
        // LFE is dropped.
        out.clear();
        mix.apply(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &mut out);
        assert_eq!(out, vec![0.0, 0.0]);
    }
}

//! From the engine's stereo `f32` to what a device takes: channel mapping, sample format
//! conversion with clipping, and TPDF dither for formats of 16 bits or fewer.
//!
//! - **Channels**: 1 channel gets `(L + R) / 2`; 2 channels get L, R; more get L, R on the
//!   first two and silence elsewhere (no upmix: a stereo source on a surround device should
//!   sound like stereo, not like an invented centre channel).
//! - **Clipping**: every sample is clamped to [-1, 1] and NaN becomes 0 before conversion, for
//!   float formats too: an out-of-range or NaN sample must never reach a DAC.
//! - **Scaling**: integers use `x · 2^(bits-1)` then clamp, so -1.0 is the most negative code
//!   and +1.0 clips one code below full scale (the usual asymmetric convention, no gain change
//!   between formats). Unsigned formats are the signed value offset by half the range.
//! - **Dither**: for `i8`/`u8`/`i16`/`u16`, triangular (TPDF) dither of ±1 LSB peak is added
//!   before rounding, which turns the quantisation error into signal-independent noise instead
//!   of distortion on quiet passages. The noise comes from an inline xorshift32 generator:
//!   deterministic, allocation-free, two shifts and xors per value. Exact zeros are not
//!   dithered so digital silence stays digital silence (DACs and receivers that auto-mute on
//!   silence keep working). 24-bit and wider formats are not dithered: their quantisation
//!   floor (−144 dBFS and below) is under any DAC's analogue noise.
//!
//! Runs on: the audio thread. Everything here is allocation-free and branch-light.

use cpal::{I24, U24};

/// A small deterministic PRNG producing TPDF dither values.
#[derive(Debug, Clone)]
pub struct Dither {
    state: u32,
}

impl Default for Dither {
    fn default() -> Self {
        Self::new(0x9E37_79B9)
    }
}

impl Dither {
    /// A generator with the given seed (0 is replaced: xorshift must not start at 0).
    pub fn new(seed: u32) -> Self {
        Self {
            state: if seed == 0 { 0x9E37_79B9 } else { seed },
        }
    }

    /// Next xorshift32 value (Marsaglia 2003).
    #[inline]
    fn next_u32(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        x
    }

    /// Uniform in [0, 1) with 24 bits of resolution.
    #[inline]
    fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Triangular value in (-1, 1) LSB: the difference of two independent uniforms.
    #[inline]
    pub fn tpdf(&mut self) -> f32 {
        self.uniform() - self.uniform()
    }
}

/// Clamps to [-1, 1]; NaN becomes 0.
#[inline]
fn sanitize(x: f32) -> f32 {
    if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) }
}

/// Quantises to a signed integer of `bits` ≤ 16 with TPDF dither; exact 0 (and NaN) stays 0.
#[inline]
fn quantize_dithered(x: f32, bits: u32, dither: &mut Dither) -> i32 {
    let x = sanitize(x);
    if x == 0.0 {
        return 0;
    }
    let scale = (1u32 << (bits - 1)) as f32;
    let v = (x * scale + dither.tpdf()).round();
    v.clamp(-scale, scale - 1.0) as i32
}

/// Quantises to a signed integer of `bits` ≥ 24 without dither (in f64: f32 cannot hold
/// 2^31 − 1 exactly).
#[inline]
fn quantize_wide(x: f32, bits: u32) -> i64 {
    let scale = (1u64 << (bits - 1)) as f64;
    let v = (f64::from(sanitize(x)) * scale).round();
    v.clamp(-scale, scale - 1.0) as i64
}

/// A device sample type the output can write.
pub trait DeviceSample: Copy + Send + 'static {
    /// Converts one engine sample (nominally in [-1, 1]) with clipping and, for formats of
    /// 16 bits or fewer, TPDF dither drawn from `dither`.
    fn from_f32(x: f32, dither: &mut Dither) -> Self;
    /// The value of silence (0, or mid-scale for unsigned formats).
    const SILENCE: Self;
}

impl DeviceSample for f32 {
    #[inline]
    fn from_f32(x: f32, _: &mut Dither) -> Self {
        sanitize(x)
    }
    const SILENCE: Self = 0.0;
}

impl DeviceSample for f64 {
    #[inline]
    fn from_f32(x: f32, _: &mut Dither) -> Self {
        f64::from(sanitize(x))
    }
    const SILENCE: Self = 0.0;
}

impl DeviceSample for i8 {
    #[inline]
    fn from_f32(x: f32, dither: &mut Dither) -> Self {
        quantize_dithered(x, 8, dither) as i8
    }
    const SILENCE: Self = 0;
}

impl DeviceSample for u8 {
    #[inline]
    fn from_f32(x: f32, dither: &mut Dither) -> Self {
        (quantize_dithered(x, 8, dither) + 128) as u8
    }
    const SILENCE: Self = 128;
}

impl DeviceSample for i16 {
    #[inline]
    fn from_f32(x: f32, dither: &mut Dither) -> Self {
        quantize_dithered(x, 16, dither) as i16
    }
    const SILENCE: Self = 0;
}

impl DeviceSample for u16 {
    #[inline]
    fn from_f32(x: f32, dither: &mut Dither) -> Self {
        (quantize_dithered(x, 16, dither) + 32_768) as u16
    }
    const SILENCE: Self = 32_768;
}

impl DeviceSample for I24 {
    #[inline]
    fn from_f32(x: f32, _: &mut Dither) -> Self {
        I24::new_unchecked(quantize_wide(x, 24) as i32)
    }
    const SILENCE: Self = <I24 as cpal::Sample>::EQUILIBRIUM;
}

impl DeviceSample for U24 {
    #[inline]
    fn from_f32(x: f32, _: &mut Dither) -> Self {
        U24::new_unchecked((quantize_wide(x, 24) + 8_388_608) as i32)
    }
    const SILENCE: Self = <U24 as cpal::Sample>::EQUILIBRIUM;
}

impl DeviceSample for i32 {
    #[inline]
    fn from_f32(x: f32, _: &mut Dither) -> Self {
        quantize_wide(x, 32) as i32
    }
    const SILENCE: Self = 0;
}

impl DeviceSample for u32 {
    #[inline]
    fn from_f32(x: f32, _: &mut Dither) -> Self {
        (quantize_wide(x, 32) + (1 << 31)) as u32
    }
    const SILENCE: Self = 1 << 31;
}

impl DeviceSample for i64 {
    #[inline]
    fn from_f32(x: f32, _: &mut Dither) -> Self {
        // f64 holds 53 bits: scale in f64 and let the cast saturate at the top.
        let v = f64::from(sanitize(x)) * 9_223_372_036_854_775_808.0;
        v.round() as i64
    }
    const SILENCE: Self = 0;
}

impl DeviceSample for u64 {
    #[inline]
    fn from_f32(x: f32, dither: &mut Dither) -> Self {
        (i64::from_f32(x, dither) as u64) ^ (1 << 63)
    }
    const SILENCE: Self = 1 << 63;
}

/// Writes the interleaved stereo frames of `stereo` into `out` in a `channels`-channel layout,
/// converting each sample. Writes `min(stereo.len() / 2, out.len() / channels)` frames and
/// returns that count; the rest of `out` is left as it is.
///
/// Runs on: the audio thread (no allocation).
#[inline]
pub fn write_frames<T: DeviceSample>(
    stereo: &[f32],
    out: &mut [T],
    channels: usize,
    dither: &mut Dither,
) -> usize {
    let channels = channels.max(1);
    let frames = (stereo.len() / 2).min(out.len() / channels);
    let stereo = &stereo[..frames * 2];
    let out = &mut out[..frames * channels];
    match channels {
        1 => {
            for (o, lr) in out.iter_mut().zip(stereo.chunks_exact(2)) {
                *o = T::from_f32((lr[0] + lr[1]) * 0.5, dither);
            }
        }
        2 => {
            for (o, &x) in out.iter_mut().zip(stereo) {
                *o = T::from_f32(x, dither);
            }
        }
        _ => {
            for (o, lr) in out.chunks_exact_mut(channels).zip(stereo.chunks_exact(2)) {
                o[0] = T::from_f32(lr[0], dither);
                o[1] = T::from_f32(lr[1], dither);
                o[2..].fill(T::SILENCE);
            }
        }
    }
    frames
}

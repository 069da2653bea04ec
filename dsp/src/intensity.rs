//! Intensity: how much of the enhanced variant the listener hears.
//!
//! The renderer plays `(1 − i)·original + i·enhanced`. The two variants are sample-aligned (the
//! chain compensates its lookahead), so this is a crossfade between correlated signals and
//! needs no reprocessing and no cache entry per intensity: changing it is instant.
//!
//! # Why the mix cannot exceed the ceiling
//!
//! The true peak of a signal is the maximum of its band-limited reconstruction, which is a
//! linear function of the samples; so for a convex combination,
//! `tp((1 − i)·x + i·y) ≤ (1 − i)·tp(x) + i·tp(y) ≤ max(tp(x), tp(y))`. The enhanced variant
//! is held at −1 dBTP by its limiter, so the mix is at or under −1 dBTP wherever the original
//! is, and where the original itself is hotter than the ceiling the mix exceeds it by at most
//! `(1 − i)` times the original's excess — it never adds peak of its own. At `i = 0` the output
//! is the original, bit for bit; at `i = 1` it is the enhanced variant, bit for bit.

/// One sample of the mix.
#[inline(always)]
pub fn mix(original: f32, enhanced: f32, intensity: f32) -> f32 {
    (1.0 - intensity) * original + intensity * enhanced
}

/// Mixes two aligned buffers into `out` at a constant intensity.
pub fn mix_into(original: &[f32], enhanced: &[f32], intensity: f32, out: &mut [f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(original).zip(enhanced) {
        *o = mix(a, b, intensity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_bit_exact_and_the_middle_is_convex() {
        let orig = [0.3f32, -0.9999, 1.2, 1e-30, -0.0];
        let enh = [0.5f32, 0.25, -0.89, 0.7, 0.1];
        let mut out = [0.0f32; 5];
        mix_into(&orig, &enh, 0.0, &mut out);
        assert!(
            out.iter()
                .zip(&orig)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0))
        );
        mix_into(&orig, &enh, 1.0, &mut out);
        assert_eq!(out, enh);
        for i in [0.1f32, 0.5, 0.9] {
            mix_into(&orig, &enh, i, &mut out);
            for ((o, a), b) in out.iter().zip(&orig).zip(&enh) {
                assert!(o.abs() <= a.abs().max(b.abs()) + 1e-6);
            }
        }
    }
}

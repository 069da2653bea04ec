//! True-peak estimation by 4× oversampling (ITU-R BS.1770-4, Annex 2).
//!
//! BS.1770 measures the peak of the reconstructed (continuous) signal by interpolating three
//! extra points between every pair of samples. This uses a 16-tap Hann-windowed sinc per
//! fractional phase (1/4, 1/2, 3/4), each normalised to unity gain at DC; phase 0 is the sample
//! itself. Its memory is finite (16 samples), so it is order-independent by construction.

use std::f64::consts::PI;

use crate::db::fmax;

const TAPS: usize = 16;
const HISTORY: usize = TAPS - 1;
/// Samples after `m` the interpolation needs: the estimator lags its input by this much.
pub const LATENCY: usize = 8;

/// A streaming 4× true-peak estimator for planar stereo.
#[derive(Clone, Debug)]
pub struct TruePeak {
    taps: [[f32; TAPS]; 3],
    /// Σ|tap| of the largest phase: no interpolated point can exceed this × the window's
    /// largest sample.
    gain_bound: f32,
    /// The previous `HISTORY` samples followed by the current block, per channel.
    ext_l: Vec<f32>,
    ext_r: Vec<f32>,
    /// Per-output sums of one phase, per channel.
    acc_l: Vec<f32>,
    acc_r: Vec<f32>,
}

impl TruePeak {
    /// A zeroed estimator for blocks of up to `max_block` samples.
    pub fn new(max_block: usize) -> Self {
        let mut taps = [[0.0f32; TAPS]; 3];
        let half = TAPS as f64 / 2.0 + 0.5;
        for (k, phase) in taps.iter_mut().enumerate() {
            let mu = (k + 1) as f64 / 4.0;
            let mut v = [0.0f64; TAPS];
            for (i, t) in v.iter_mut().enumerate() {
                // Tap i weighs sample m + (i - 7); the interpolated point is at m + mu.
                let d = mu - (i as f64 - (LATENCY as f64 - 1.0));
                let sinc = if d.abs() < 1e-12 {
                    1.0
                } else {
                    (PI * d).sin() / (PI * d)
                };
                let w = 0.5 * (1.0 + (PI * d / half).cos());
                *t = sinc * w;
            }
            let sum: f64 = v.iter().sum();
            for (dst, t) in phase.iter_mut().zip(v) {
                *dst = (t / sum) as f32;
            }
        }
        let gain_bound = taps
            .iter()
            .map(|p| p.iter().map(|t| t.abs()).sum::<f32>())
            .fold(1.0, f32::max);
        Self {
            taps,
            gain_bound,
            ext_l: vec![0.0; HISTORY + max_block],
            ext_r: vec![0.0; HISTORY + max_block],
            acc_l: vec![0.0; max_block],
            acc_r: vec![0.0; max_block],
        }
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.ext_l.fill(0.0);
        self.ext_r.fill(0.0);
    }

    /// Estimates the true peak for a block: `out[i]` (linear, max over both channels) covers
    /// the span from the sample `LATENCY` before input `i` to the next sample. Where the peak
    /// provably cannot exceed `threshold`, `out[i]` is 0 (no interpolation is done: most
    /// samples of most music, which makes the limiter cheap where it has nothing to do).
    pub fn process(&mut self, left: &[f32], right: &[f32], threshold: f32, out: &mut [f32]) {
        let n = left.len();
        debug_assert!(n + HISTORY <= self.ext_l.len() && right.len() == n && out.len() == n);
        self.ext_l[HISTORY..HISTORY + n].copy_from_slice(left);
        self.ext_r[HISTORY..HISTORY + n].copy_from_slice(right);
        let (el, er) = (&self.ext_l[..HISTORY + n], &self.ext_r[..HISTORY + n]);
        let mut block_max = 0.0f32;
        for (a, b) in el.iter().zip(er) {
            block_max = fmax(block_max, fmax(a.abs(), b.abs()));
        }
        if block_max * self.gain_bound <= threshold {
            out.fill(0.0);
        } else {
            for i in 0..n {
                out[i] = fmax(el[i + LATENCY - 1].abs(), er[i + LATENCY - 1].abs());
            }
            // Tap by tap over all the block's outputs at once: each output's sum is still
            // taken in tap order (0 + h0·x0 + h1·x1 + …), so the bits are those of a dot
            // product per output, but the inner loop runs over consecutive outputs, which
            // vectorises (a dot product per output cannot: its additions are ordered).
            let (acc_l, acc_r) = (&mut self.acc_l[..n], &mut self.acc_r[..n]);
            for phase in &self.taps {
                acc_l.fill(0.0);
                acc_r.fill(0.0);
                for (j, &h) in phase.iter().enumerate() {
                    for (a, &x) in acc_l.iter_mut().zip(&el[j..j + n]) {
                        *a += h * x;
                    }
                    for (a, &x) in acc_r.iter_mut().zip(&er[j..j + n]) {
                        *a += h * x;
                    }
                }
                for ((o, a), b) in out.iter_mut().zip(acc_l.iter()).zip(acc_r.iter()) {
                    *o = fmax(*o, fmax(a.abs(), b.abs()));
                }
            }
        }
        // Keep the last HISTORY samples for the next block.
        self.ext_l.copy_within(n..n + HISTORY, 0);
        self.ext_r.copy_within(n..n + HISTORY, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_peak_between_samples() {
        // A sine at fs/4 phased so that every sample sits at ±0.707 of the true peak of 1.0.
        let mut tp = TruePeak::new(400);
        let x: Vec<f32> = (0..400)
            .map(|n| (std::f32::consts::FRAC_PI_2 * n as f32 + std::f32::consts::FRAC_PI_4).sin())
            .collect();
        let mut out = vec![0.0; 400];
        tp.process(&x, &[0.0; 400], 0.0, &mut out);
        let best = out[40..].iter().cloned().fold(0.0f32, f32::max);
        assert!(
            best > 0.98 && best < 1.02,
            "true peak {best}, sample peak 0.707"
        );
        // Below the threshold nothing is computed.
        let mut tp = TruePeak::new(400);
        tp.process(&x, &[0.0; 400], 2.0, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn phase_zero_is_the_sample_itself_delayed_by_the_latency() {
        let mut tp = TruePeak::new(64);
        let mut x = vec![0.0f32; 40];
        x[20] = 0.5;
        let mut out = vec![0.0; 40];
        tp.process(&x, &[0.0; 40], 0.0, &mut out);
        assert!(out[20 + LATENCY] >= 0.5);
        assert!(out[20 + LATENCY - 12] < 0.05);
    }

    #[test]
    fn equals_a_dot_product_per_output_bit_for_bit() {
        // The straightforward form: one dot product per output and phase.
        let reference = |tp: &TruePeak, x: &[f32], y: &[f32]| -> Vec<f32> {
            let ext = |s: &[f32]| [vec![0.0; HISTORY], s.to_vec()].concat();
            let (el, er) = (ext(x), ext(y));
            (0..x.len())
                .map(|i| {
                    let mut m = fmax(el[i + LATENCY - 1].abs(), er[i + LATENCY - 1].abs());
                    for phase in &tp.taps {
                        let (mut sl, mut sr) = (0.0f32, 0.0f32);
                        for j in 0..TAPS {
                            sl += phase[j] * el[i + j];
                            sr += phase[j] * er[i + j];
                        }
                        m = fmax(m, fmax(sl.abs(), sr.abs()));
                    }
                    m
                })
                .collect()
        };
        let x: Vec<f32> = (0..256).map(|i| (i as f32 * 0.37).sin() * 1.1).collect();
        let y: Vec<f32> = (0..256).map(|i| (i as f32 * 1.91).cos() * 0.9).collect();
        let mut tp = TruePeak::new(256);
        let mut out = vec![0.0; 256];
        tp.process(&x, &y, 0.0, &mut out);
        let want = reference(&tp, &x, &y);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&out), bits(&want));
    }

    #[test]
    fn block_splits_do_not_matter() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.9).sin() * 1.2).collect();
        let mut whole = vec![0.0; 1000];
        TruePeak::new(1000).process(&x, &x, 0.5, &mut whole);
        let mut tp = TruePeak::new(300);
        let mut pieces = vec![0.0; 1000];
        let mut pos = 0;
        for len in [1usize, 299, 3, 300, 97, 300] {
            let end = (pos + len).min(1000);
            tp.process(&x[pos..end], &x[pos..end], 0.5, &mut pieces[pos..end]);
            pos = end;
        }
        assert_eq!(whole, pieces);
    }
}

//! A stereo-linked "glue" compressor with finite memory.
//!
//! Classic compressors smooth their gain with one-pole attack/release filters, whose memory is
//! infinite: a chunk produced on its own would need seconds of pre-roll before its envelope
//! matched a front-to-back pass, and would only ever approach it. This one is built from parts
//! whose memory is bounded, so two runs from different states coincide *exactly* after
//! [`Compressor::memory`] samples:
//!
//! 1. detector: mean square of the two channels over a short sliding window (RMS);
//! 2. gain computer: threshold, ratio and soft knee as in Giannoulis, Massberg & Reiss, "Digital
//!    Dynamic Range Compressor Design — A Tutorial and Analysis", JAES 60(6), 2012, eq. (4),
//!    clamped to `max_reduction_db`;
//! 3. attack: the maximum reduction over the next `attack` samples (lookahead), so the gain is
//!    already down when a transient arrives;
//! 4. release: a linear ramp in dB (`release_db_per_s`); any two states meet once the higher
//!    has ramped down to the demanded reduction, at most `max_reduction / release` seconds;
//! 5. smoothing: a moving average over `attack` samples, which turns the attack step into a
//!    ramp that completes exactly when the transient arrives.
//!
//! The output is delayed by `attack` samples (the lookahead); the chain compensates. Processing
//! is in blocks, stage by stage, so the arithmetic stages vectorise; the result does not depend
//! on how a signal is split into blocks.

use serde::{Deserialize, Serialize};

use crate::db::{self, fmax, fmin};
use crate::sliding::{SlidingMax, SlidingMean};

/// Frames per internal block.
pub(crate) const BLOCK: usize = 256;

/// Compressor settings.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompressorParams {
    /// Detector level (dBFS RMS) at which compression starts, relative to the chain's target
    /// loudness (the chain adds the target).
    pub threshold_db: f32,
    /// Input/output slope above the threshold (1 = off).
    pub ratio: f32,
    /// Soft-knee width, dB.
    pub knee_db: f32,
    /// Lookahead/attack time, ms.
    pub attack_ms: f32,
    /// Release speed, dB per second.
    pub release_db_per_s: f32,
    /// RMS detector window, ms.
    pub window_ms: f32,
    /// Most reduction ever applied, dB (also bounds the memory).
    pub max_reduction_db: f32,
}

impl CompressorParams {
    /// Settings that never reduce gain.
    pub const OFF: CompressorParams = CompressorParams {
        threshold_db: 0.0,
        ratio: 1.0,
        knee_db: 0.0,
        attack_ms: 0.0,
        release_db_per_s: 100.0,
        window_ms: 0.0,
        max_reduction_db: 0.0,
    };

    /// True when the compressor cannot change the signal.
    pub fn is_off(&self) -> bool {
        self.ratio <= 1.0 || self.max_reduction_db <= 0.0
    }
}

/// Gain reduction (dB, ≥ 0) for a detector level, per Giannoulis et al. eq. (4).
#[inline]
pub fn gain_reduction_db(level_db: f32, threshold_db: f32, ratio: f32, knee_db: f32) -> f32 {
    let over = level_db - threshold_db;
    let slope = 1.0 - 1.0 / ratio;
    if 2.0 * over <= -knee_db {
        0.0
    } else if 2.0 * over < knee_db {
        let k = over + knee_db / 2.0;
        slope * k * k / (2.0 * knee_db)
    } else {
        slope * over
    }
}

/// The running compressor.
#[derive(Clone, Debug)]
pub struct Compressor {
    threshold_db: f32,
    ratio: f32,
    knee_db: f32,
    max_reduction_db: f32,
    release_per_sample: f32,
    detector: SlidingMean,
    lookahead: SlidingMax,
    smoothing: SlidingMean,
    /// Delay lines (one per channel) realising the lookahead.
    delay_l: Vec<f32>,
    delay_r: Vec<f32>,
    delay_pos: usize,
    release: f32,
    attack: usize,
    window: usize,
    off: bool,
    work: Vec<f32>,
    /// Take the quiet blocks' shortcut (tests compare it with the loop).
    pub(crate) shortcut: bool,
    /// Blocks that took it.
    pub(crate) quiet_blocks: u64,
    last_reduction: f32,
}

impl Compressor {
    /// A compressor at `rate` whose threshold is `target_lufs + params.threshold_db`.
    pub fn new(params: &CompressorParams, target_lufs: f32, rate: u32) -> Self {
        let ms = |v: f32| ((v.max(0.0) * rate as f32 / 1000.0).round() as usize).max(1);
        let attack = if params.is_off() {
            0
        } else {
            ms(params.attack_ms)
        };
        let window = ms(params.window_ms);
        Self {
            threshold_db: target_lufs + params.threshold_db,
            ratio: params.ratio.max(1.0),
            knee_db: params.knee_db.max(1e-3),
            max_reduction_db: params.max_reduction_db.max(0.0),
            release_per_sample: params.release_db_per_s.max(1.0) / rate as f32,
            detector: SlidingMean::new(window),
            lookahead: SlidingMax::new(attack + 1),
            smoothing: SlidingMean::new(attack.max(1)),
            delay_l: vec![0.0; attack],
            delay_r: vec![0.0; attack],
            delay_pos: 0,
            release: 0.0,
            attack,
            window,
            off: params.is_off(),
            work: vec![0.0; BLOCK],
            shortcut: true,
            quiet_blocks: 0,
            last_reduction: 0.0,
        }
    }

    /// Output delay in samples.
    pub fn latency(&self) -> usize {
        self.attack
    }

    /// Samples of history after which two runs coincide exactly.
    pub fn memory(&self) -> usize {
        if self.off {
            return 0;
        }
        let release = (self.max_reduction_db / self.release_per_sample).ceil() as usize;
        self.window + 2 * self.attack + release + 2
    }

    /// The reduction applied to the last sample processed, dB (for meters and tests).
    pub fn last_reduction_db(&self) -> f32 {
        self.last_reduction
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.detector.reset();
        self.lookahead.reset();
        self.smoothing.reset();
        self.delay_l.fill(0.0);
        self.delay_r.fill(0.0);
        self.delay_pos = 0;
        self.release = 0.0;
        self.last_reduction = 0.0;
    }

    /// Compresses planar stereo in place; the output lags the input by `latency()` samples.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        if self.off {
            return;
        }
        for (l, r) in left.chunks_mut(BLOCK).zip(right.chunks_mut(BLOCK)) {
            self.block(l, r);
        }
    }

    fn block(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let g = &mut self.work[..n];
        // Detector: running mean square (serial), then level and static curve.
        for i in 0..n {
            let p = 0.5
                * (f64::from(left[i]) * f64::from(left[i])
                    + f64::from(right[i]) * f64::from(right[i]));
            g[i] = self.detector.push(p) as f32;
        }
        let (t, ratio, knee, max_red) = (
            self.threshold_db,
            self.ratio,
            self.knee_db,
            self.max_reduction_db,
        );
        for v in g.iter_mut() {
            *v = fmin(
                gain_reduction_db(db::power_to_db(*v), t, ratio, knee),
                max_red,
            );
        }
        // Lookahead, linear release, smoothing (serial recurrences).
        let step = self.release_per_sample;
        if self.shortcut
            && self.release == 0.0
            && self.lookahead.holds_only_zeros()
            && self.smoothing.holds_only_zeros()
            && g.iter().all(|&v| v == 0.0)
        {
            // Under the knee and at rest: the loop below would keep everything as it is and
            // give one constant — the same bits, without the serial per-sample work.
            self.quiet_blocks += 1;
            self.lookahead.push_zeros(n as u64);
            self.smoothing.push_zeros(n as u64);
            let reduction = self.smoothing.current() as f32;
            self.last_reduction = reduction;
            g.fill(db::db_to_lin(-reduction));
        } else {
            for v in g.iter_mut() {
                let ahead = self.lookahead.push(*v);
                self.release = fmax(ahead, self.release - step);
                *v = self.smoothing.push(f64::from(self.release)) as f32;
            }
            if let Some(&last) = g.last() {
                self.last_reduction = last;
            }
            for v in g.iter_mut() {
                *v = db::db_to_lin(-*v);
            }
        }
        // Apply to the delayed signal.
        let len = self.delay_l.len();
        for i in 0..n {
            let (dl, dr) = if len == 0 {
                (left[i], right[i])
            } else {
                let p = self.delay_pos;
                let out = (self.delay_l[p], self.delay_r[p]);
                self.delay_l[p] = left[i];
                self.delay_r[p] = right[i];
                self.delay_pos = if p + 1 == len { 0 } else { p + 1 };
                out
            };
            left[i] = dl * g[i];
            right[i] = dr * g[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quiet passages between loud bursts (48 kHz): long enough quiet for every stage to come
    /// to rest, and loud enough bursts to be reduced.
    fn quiet_and_loud(loud: f32) -> (Vec<f32>, Vec<f32>) {
        let quiet = 10f32.powf(-45.0 / 20.0);
        let amp = |i: usize| match i {
            48_000..57_600 | 132_000..146_400 => loud,
            _ => quiet,
        };
        let l = (0..288_000)
            .map(|i| amp(i) * (i as f32 * 0.031).sin())
            .collect();
        let r = (0..288_000)
            .map(|i| amp(i) * (i as f32 * 0.047).cos())
            .collect();
        (l, r)
    }

    fn params() -> CompressorParams {
        CompressorParams {
            threshold_db: -20.0,
            ratio: 4.0,
            knee_db: 6.0,
            attack_ms: 5.0,
            release_db_per_s: 40.0,
            window_ms: 5.0,
            max_reduction_db: 12.0,
        }
    }

    #[test]
    fn static_curve_has_the_right_shape() {
        assert_eq!(gain_reduction_db(-40.0, -20.0, 4.0, 6.0), 0.0);
        assert!((gain_reduction_db(-10.0, -20.0, 4.0, 6.0) - 7.5).abs() < 1e-6);
        // Continuous at the knee edges.
        let lo = gain_reduction_db(-23.0, -20.0, 4.0, 6.0);
        let hi = gain_reduction_db(-17.0, -20.0, 4.0, 6.0);
        assert!(lo.abs() < 1e-6 && (hi - 2.25).abs() < 1e-5);
    }

    #[test]
    fn steady_tone_is_reduced_per_the_curve_and_delayed_by_the_lookahead() {
        let rate = 48_000;
        let mut c = Compressor::new(&params(), 0.0, rate);
        let amp = 10f32.powf(-7.0 / 20.0); // RMS of a sine is amp/√2: -10 dBFS
        // 400 Hz: exactly two periods in the 5 ms detector window, so the RMS does not ripple.
        let w = 2.0 * std::f32::consts::PI * 400.0 / rate as f32;
        let mut l: Vec<f32> = (0..rate as usize)
            .map(|i| amp * (i as f32 * w).sin())
            .collect();
        let input = l.clone();
        let mut r = l.clone();
        c.process(&mut l, &mut r);
        let expected = gain_reduction_db(-10.0, -20.0, 4.0, 6.0);
        assert!(
            (c.last_reduction_db() - expected).abs() < 0.01,
            "{} vs {expected}",
            c.last_reduction_db()
        );
        // Output = input delayed by the lookahead, scaled by the steady gain.
        let lat = c.latency();
        let g = db::db_to_lin(-expected);
        let n = l.len() - 1;
        assert!((l[n] - input[n - lat] * g).abs() < 1e-4);
    }

    #[test]
    fn two_runs_from_different_states_coincide_after_the_memory_whatever_the_blocks() {
        let rate = 44_100;
        let signal: Vec<f32> = (0..80_000)
            .map(|i| (i as f32 * 0.031).sin() * if (i / 3000) % 2 == 0 { 0.9 } else { 0.05 })
            .collect();
        // `a` runs over everything in one go; `b` starts at 20 000 from a zeroed state, fed in
        // odd-sized pieces.
        let mut a = Compressor::new(&params(), 0.0, rate);
        let mut al = signal.clone();
        let mut ar: Vec<f32> = signal.iter().map(|s| -s).collect();
        a.process(&mut al, &mut ar);
        let mut b = Compressor::new(&params(), 0.0, rate);
        let start = 20_000;
        let mut bl = signal[start..].to_vec();
        let mut br: Vec<f32> = bl.iter().map(|s| -s).collect();
        let mut pos = 0;
        for piece in [1usize, 77, 300, 4096, 13].iter().cycle() {
            if pos >= bl.len() {
                break;
            }
            let end = (pos + piece).min(bl.len());
            let (l, r) = (&mut bl[pos..end], &mut br[pos..end]);
            b.process(l, r);
            pos = end;
        }
        let mem = b.memory();
        let worst = (mem..bl.len())
            .map(|i| (bl[i] - al[start + i]).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "still differ by {worst} after {mem} samples");
    }

    #[test]
    fn quiet_blocks_take_a_shortcut_to_the_same_bits() {
        let (l, r) = quiet_and_loud(1.0);
        let run = |shortcut: bool| {
            let mut c = Compressor::new(&params(), 0.0, 48_000);
            c.shortcut = shortcut;
            let (mut l, mut r) = (l.clone(), r.clone());
            // Calls of uneven sizes: blocks end anywhere.
            let mut at = 0;
            for len in [1000usize, 77, 5000, 256, 31_111].into_iter().cycle() {
                let end = (at + len).min(l.len());
                c.process(&mut l[at..end], &mut r[at..end]);
                at = end;
                if at == l.len() {
                    break;
                }
            }
            let bits: Vec<u32> = l.iter().chain(&r).map(|v| v.to_bits()).collect();
            (bits, c.quiet_blocks)
        };
        let (fast, quiet) = run(true);
        let (slow, none) = run(false);
        assert_eq!(none, 0);
        assert!(quiet > 500, "only {quiet} quiet blocks");
        assert!(fast == slow, "the shortcut changed the output");
        // The bursts were compressed (the shortcut did not skip them).
        let mut c = Compressor::new(&params(), 0.0, 48_000);
        let (mut l2, mut r2) = (l.clone(), r.clone());
        c.process(&mut l2[..57_000], &mut r2[..57_000]);
        assert!(c.last_reduction_db() > 3.0, "{}", c.last_reduction_db());
    }
}

//! A true-peak lookahead limiter with finite memory.
//!
//! The required reduction at each sample comes from the 4× true-peak estimate (so inter-sample
//! peaks are caught, not just sample peaks). The applied reduction is that requirement held
//! over a lookahead window and then averaged over the same window; because every average is
//! taken over values that each already cover the sample in question, the smoothed gain is never
//! less than the requirement — the ceiling holds by construction, with a smooth attack.
//! Release is a linear ramp in dB, so two runs from different states coincide exactly after
//! `max_reduction / release` seconds (see the compressor for the same argument).

use crate::compressor::BLOCK;
use crate::db::{self, fmax};
use crate::sliding::{SlidingMax, SlidingMean};
use crate::truepeak::{self, TruePeak};

/// Internal margin below the ceiling: the gain itself varies between samples, which can add a
/// little to inter-sample peaks the estimator saw before the gain was applied.
const MARGIN_DB: f32 = 0.15;
/// Largest reduction, dB; also bounds the release memory.
const MAX_REDUCTION_DB: f32 = 30.0;

/// The running limiter.
#[derive(Clone, Debug)]
pub struct Limiter {
    ceiling_db: f32,
    /// `ceiling_db` as a linear peak: at or below it nothing needs reducing.
    threshold_lin: f32,
    ceiling_lin: f32,
    release_per_sample: f32,
    peak: TruePeak,
    hold: SlidingMax,
    smooth: SlidingMean,
    delay_l: Vec<f32>,
    delay_r: Vec<f32>,
    delay_pos: usize,
    release: f32,
    lookahead: usize,
    work: Vec<f32>,
    /// Take the quiet blocks' shortcut (tests compare it with the loop).
    pub(crate) shortcut: bool,
    /// Blocks that took it.
    pub(crate) quiet_blocks: u64,
}

impl Limiter {
    /// A limiter at `rate` holding true peaks at `ceiling_dbtp`, with `lookahead_ms` of
    /// lookahead and a release of `release_db_per_s`.
    pub fn new(ceiling_dbtp: f32, lookahead_ms: f32, release_db_per_s: f32, rate: u32) -> Self {
        let lookahead = ((lookahead_ms * rate as f32 / 1000.0).round() as usize).max(1);
        let delay = truepeak::LATENCY + lookahead;
        Self {
            ceiling_db: ceiling_dbtp - MARGIN_DB,
            threshold_lin: db::db_to_lin(ceiling_dbtp - MARGIN_DB),
            ceiling_lin: db::db_to_lin(ceiling_dbtp),
            release_per_sample: release_db_per_s.max(1.0) / rate as f32,
            peak: TruePeak::new(BLOCK),
            hold: SlidingMax::new(lookahead + 1),
            smooth: SlidingMean::new(lookahead),
            delay_l: vec![0.0; delay],
            delay_r: vec![0.0; delay],
            delay_pos: 0,
            release: 0.0,
            lookahead,
            work: vec![0.0; BLOCK],
            shortcut: true,
            quiet_blocks: 0,
        }
    }

    /// Output delay in samples.
    pub fn latency(&self) -> usize {
        truepeak::LATENCY + self.lookahead
    }

    /// Samples of history after which two runs coincide exactly.
    pub fn memory(&self) -> usize {
        let release = (MAX_REDUCTION_DB / self.release_per_sample).ceil() as usize;
        2 * truepeak::LATENCY + 2 * self.lookahead + release + 2
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.peak.reset();
        self.hold.reset();
        self.smooth.reset();
        self.delay_l.fill(0.0);
        self.delay_r.fill(0.0);
        self.delay_pos = 0;
        self.release = 0.0;
    }

    /// Limits planar stereo in place; the output lags the input by `latency()` samples.
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        for (l, r) in left.chunks_mut(BLOCK).zip(right.chunks_mut(BLOCK)) {
            self.block(l, r);
        }
    }

    fn block(&mut self, left: &mut [f32], right: &mut [f32]) {
        let n = left.len();
        let g = &mut self.work[..n];
        self.peak.process(left, right, self.threshold_lin, g);
        let (thr, ceil) = (self.threshold_lin, self.ceiling_db);
        for v in g.iter_mut() {
            // Exactly zero at or under the threshold, whichever way the estimate got there.
            *v = if *v <= thr {
                0.0
            } else {
                (db::lin_to_db(*v) - ceil).clamp(0.0, MAX_REDUCTION_DB)
            };
        }
        let step = self.release_per_sample;
        if self.shortcut
            && self.release == 0.0
            && self.hold.holds_only_zeros()
            && self.smooth.holds_only_zeros()
            && g.iter().all(|&v| v == 0.0)
        {
            // Quiet and at rest: every push below would hold 0, release stays 0 and the mean
            // stays where it is, so the gain is one constant — the same bits as the loop,
            // without its serial per-sample work (most blocks of most music).
            self.quiet_blocks += 1;
            self.hold.push_zeros(n as u64);
            self.smooth.push_zeros(n as u64);
            g.fill(db::db_to_lin(-(self.smooth.current() as f32)));
        } else {
            for v in g.iter_mut() {
                let held = self.hold.push(*v);
                self.release = fmax(held, self.release - step);
                *v = db::db_to_lin(-(self.smooth.push(f64::from(self.release)) as f32));
            }
        }
        let len = self.delay_l.len();
        let c = self.ceiling_lin;
        for i in 0..n {
            let p = self.delay_pos;
            let (dl, dr) = (self.delay_l[p], self.delay_r[p]);
            self.delay_l[p] = left[i];
            self.delay_r[p] = right[i];
            self.delay_pos = if p + 1 == len { 0 } else { p + 1 };
            // The clamp is a last resort for input beyond MAX_REDUCTION_DB over the ceiling.
            left[i] = (dl * g[i]).clamp(-c, c);
            right[i] = (dr * g[i]).clamp(-c, c);
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

    #[test]
    fn holds_the_ceiling_on_hot_material_and_passes_quiet_material() {
        let rate = 48_000;
        let mut lim = Limiter::new(-1.0, 2.0, 60.0, rate);
        let mut seed = 7u32;
        let mut l: Vec<f32> = (0..rate as usize)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (seed >> 8) as f32 / 8_388_608.0 - 1.0;
                2.0 * (i as f32 * 0.07).sin() + 0.5 * noise // ~+8 dBFS peaks
            })
            .collect();
        let mut r: Vec<f32> = l.iter().map(|s| -s).collect();
        lim.process(&mut l, &mut r);
        let peak = l.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(db::lin_to_db(peak) <= -1.0 + 1e-3, "{peak}");

        let mut quiet = Limiter::new(-1.0, 2.0, 60.0, rate);
        let lat = quiet.latency();
        let input: Vec<f32> = (0..4000).map(|i| 0.3 * (i as f32 * 0.01).sin()).collect();
        let mut l = input.clone();
        let mut r = input.clone();
        quiet.process(&mut l, &mut r);
        for i in lat..input.len() {
            assert_eq!(l[i], input[i - lat]);
        }
    }

    #[test]
    fn quiet_blocks_take_a_shortcut_to_the_same_bits() {
        let (l, r) = quiet_and_loud(2.0);
        let run = |shortcut: bool| {
            let mut lim = Limiter::new(-1.0, 2.0, 60.0, 48_000);
            lim.shortcut = shortcut;
            let (mut l, mut r) = (l.clone(), r.clone());
            let mut at = 0;
            for len in [1000usize, 77, 5000, 256, 31_111].into_iter().cycle() {
                let end = (at + len).min(l.len());
                lim.process(&mut l[at..end], &mut r[at..end]);
                at = end;
                if at == l.len() {
                    break;
                }
            }
            let bits: Vec<u32> = l.iter().chain(&r).map(|v| v.to_bits()).collect();
            (bits, lim.quiet_blocks, l)
        };
        let (fast, quiet, out) = run(true);
        let (slow, none, _) = run(false);
        assert_eq!(none, 0);
        assert!(quiet > 500, "only {quiet} quiet blocks");
        assert!(fast == slow, "the shortcut changed the output");
        // The bursts (+6 dBFS) were limited under the ceiling.
        let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(peak <= db::db_to_lin(-1.0) && peak > 0.5, "peak {peak}");
    }
}

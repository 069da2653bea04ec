//! Second-order IIR filters from the RBJ Audio EQ Cookbook (Robert Bristow-Johnson, "Cookbook
//! formulae for audio EQ biquad filter coefficients", published as W3C Audio EQ Cookbook,
//! <https://www.w3.org/TR/audio-eq-cookbook/>).
//!
//! Coefficients and state are f64 (transposed direct form II): low shelves at 30 Hz at 96 kHz
//! put poles within 1e-3 of the unit circle, where f32 state would add audible noise. Both
//! channels run in lock-step so the compiler can vectorise them.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

/// One EQ band as a person would describe it.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Band {
    /// Low shelf: `gain_db` below `freq`, with quality `q` (0.707 = Butterworth-like).
    LowShelf { freq: f64, gain_db: f64, q: f64 },
    /// High shelf: `gain_db` above `freq`.
    HighShelf { freq: f64, gain_db: f64, q: f64 },
    /// Bell: `gain_db` around `freq`, bandwidth set by `q`.
    Peak { freq: f64, gain_db: f64, q: f64 },
    /// Second-order high-pass (rumble filter) at `freq`.
    HighPass { freq: f64, q: f64 },
}

impl Band {
    /// True when the band changes nothing (a 0 dB shelf or bell).
    pub fn is_neutral(&self) -> bool {
        match *self {
            Band::LowShelf { gain_db, .. }
            | Band::HighShelf { gain_db, .. }
            | Band::Peak { gain_db, .. } => gain_db == 0.0,
            Band::HighPass { .. } => false,
        }
    }
}

/// Normalised biquad coefficients (a0 = 1).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Coeffs {
    b0: f64,
    b1: f64,
    b2: f64,
    a1: f64,
    a2: f64,
}

impl Coeffs {
    /// The identity filter.
    pub const IDENTITY: Coeffs = Coeffs {
        b0: 1.0,
        b1: 0.0,
        b2: 0.0,
        a1: 0.0,
        a2: 0.0,
    };

    /// Cookbook coefficients for `band` at sample rate `rate`. Frequencies are clamped below
    /// Nyquist so a preset designed at 48 kHz stays valid at 22.05 kHz.
    pub fn design(band: Band, rate: u32) -> Coeffs {
        let fs = f64::from(rate);
        let clamp_f = |f: f64| f.clamp(1.0, 0.45 * fs);
        let (b0, b1, b2, a0, a1, a2) = match band {
            Band::Peak { freq, gain_db, q } => {
                let a = 10f64.powf(gain_db / 40.0);
                let w0 = 2.0 * PI * clamp_f(freq) / fs;
                let alpha = w0.sin() / (2.0 * q);
                let c = w0.cos();
                (
                    1.0 + alpha * a,
                    -2.0 * c,
                    1.0 - alpha * a,
                    1.0 + alpha / a,
                    -2.0 * c,
                    1.0 - alpha / a,
                )
            }
            Band::LowShelf { freq, gain_db, q } => {
                let a = 10f64.powf(gain_db / 40.0);
                let w0 = 2.0 * PI * clamp_f(freq) / fs;
                let alpha = w0.sin() / (2.0 * q);
                let c = w0.cos();
                let k = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) - (a - 1.0) * c + k),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * c),
                    a * ((a + 1.0) - (a - 1.0) * c - k),
                    (a + 1.0) + (a - 1.0) * c + k,
                    -2.0 * ((a - 1.0) + (a + 1.0) * c),
                    (a + 1.0) + (a - 1.0) * c - k,
                )
            }
            Band::HighShelf { freq, gain_db, q } => {
                let a = 10f64.powf(gain_db / 40.0);
                let w0 = 2.0 * PI * clamp_f(freq) / fs;
                let alpha = w0.sin() / (2.0 * q);
                let c = w0.cos();
                let k = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) + (a - 1.0) * c + k),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * c),
                    a * ((a + 1.0) + (a - 1.0) * c - k),
                    (a + 1.0) - (a - 1.0) * c + k,
                    2.0 * ((a - 1.0) - (a + 1.0) * c),
                    (a + 1.0) - (a - 1.0) * c - k,
                )
            }
            Band::HighPass { freq, q } => {
                let w0 = 2.0 * PI * clamp_f(freq) / fs;
                let alpha = w0.sin() / (2.0 * q);
                let c = w0.cos();
                (
                    (1.0 + c) / 2.0,
                    -(1.0 + c),
                    (1.0 + c) / 2.0,
                    1.0 + alpha,
                    -2.0 * c,
                    1.0 - alpha,
                )
            }
        };
        Coeffs {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b2 / a0,
            a1: a1 / a0,
            a2: a2 / a0,
        }
    }

    /// Magnitude response at `freq` Hz, in dB.
    pub fn response_db(&self, freq: f64, rate: u32) -> f64 {
        let w = 2.0 * PI * freq / f64::from(rate);
        let (c1, s1, c2, s2) = (w.cos(), w.sin(), (2.0 * w).cos(), (2.0 * w).sin());
        let num_re = self.b0 + self.b1 * c1 + self.b2 * c2;
        let num_im = -(self.b1 * s1 + self.b2 * s2);
        let den_re = 1.0 + self.a1 * c1 + self.a2 * c2;
        let den_im = -(self.a1 * s1 + self.a2 * s2);
        10.0 * ((num_re * num_re + num_im * num_im) / (den_re * den_re + den_im * den_im)).log10()
    }

    /// Largest pole magnitude: how slowly the filter forgets its state.
    pub fn pole_radius(&self) -> f64 {
        let disc = self.a1 * self.a1 - 4.0 * self.a2;
        if disc < 0.0 {
            self.a2.abs().sqrt()
        } else {
            let s = disc.sqrt();
            ((-self.a1 + s) / 2.0)
                .abs()
                .max(((-self.a1 - s) / 2.0).abs())
        }
    }

    /// Samples until a disturbance of the state has decayed below `1e-7` (−140 dB): the
    /// pre-roll this filter needs for order-independent output.
    pub fn settle_samples(&self) -> usize {
        let r = self.pole_radius();
        if r <= 1e-9 {
            return 2;
        }
        if r >= 1.0 {
            return usize::MAX / 4;
        }
        ((1e-7f64).ln() / r.ln()).ceil() as usize + 2
    }
}

/// A stereo biquad (TDF-II, f64 state).
#[derive(Clone, Debug)]
pub struct Biquad {
    c: Coeffs,
    s1: [f64; 2],
    s2: [f64; 2],
}

impl Biquad {
    /// A filter with zeroed state.
    pub fn new(c: Coeffs) -> Self {
        Self {
            c,
            s1: [0.0; 2],
            s2: [0.0; 2],
        }
    }

    /// Zeroes the state.
    pub fn reset(&mut self) {
        self.s1 = [0.0; 2];
        self.s2 = [0.0; 2];
    }

    /// Filters one stereo frame.
    #[inline]
    pub fn tick(&mut self, x: [f64; 2]) -> [f64; 2] {
        let c = &self.c;
        let mut y = [0.0; 2];
        for ch in 0..2 {
            y[ch] = c.b0 * x[ch] + self.s1[ch];
            self.s1[ch] = c.b1 * x[ch] - c.a1 * y[ch] + self.s2[ch];
            self.s2[ch] = c.b2 * x[ch] - c.a2 * y[ch];
        }
        y
    }

    /// Filters planar stereo in place (f32 samples, f64 arithmetic).
    pub fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        let c = self.c;
        let (mut s1l, mut s2l, mut s1r, mut s2r) = (self.s1[0], self.s2[0], self.s1[1], self.s2[1]);
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let (xl, xr) = (f64::from(*l), f64::from(*r));
            let yl = c.b0 * xl + s1l;
            let yr = c.b0 * xr + s1r;
            s1l = c.b1 * xl - c.a1 * yl + s2l;
            s1r = c.b1 * xr - c.a1 * yr + s2r;
            s2l = c.b2 * xl - c.a2 * yl;
            s2r = c.b2 * xr - c.a2 * yr;
            *l = yl as f32;
            *r = yr as f32;
        }
        self.s1 = [s1l, s1r];
        self.s2 = [s2l, s2r];
    }

    /// Flushes state that has decayed into the subnormal range (which is slow on most CPUs).
    #[inline]
    pub fn flush_denormals(&mut self) {
        for s in self.s1.iter_mut().chain(self.s2.iter_mut()) {
            if s.abs() < 1e-30 {
                *s = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_gain_db(c: Coeffs, freq: f64, rate: u32) -> f64 {
        let mut f = Biquad::new(c);
        let n = rate as usize;
        let (mut pin, mut pout) = (0.0, 0.0);
        for i in 0..n {
            let x = (2.0 * PI * freq * i as f64 / f64::from(rate)).sin();
            let y = f.tick([x, x])[0];
            if i > n / 2 {
                pin += x * x;
                pout += y * y;
            }
        }
        10.0 * (pout / pin).log10()
    }

    #[test]
    fn cookbook_filters_do_what_they_say() {
        let rate = 48_000;
        let peak = Coeffs::design(
            Band::Peak {
                freq: 1000.0,
                gain_db: 6.0,
                q: 1.0,
            },
            rate,
        );
        assert!((tone_gain_db(peak, 1000.0, rate) - 6.0).abs() < 0.05);
        assert!(tone_gain_db(peak, 50.0, rate).abs() < 0.1);
        assert!((peak.response_db(1000.0, rate) - 6.0).abs() < 1e-9);

        let low = Coeffs::design(
            Band::LowShelf {
                freq: 200.0,
                gain_db: -4.0,
                q: 0.707,
            },
            rate,
        );
        assert!((tone_gain_db(low, 30.0, rate) + 4.0).abs() < 0.1);
        assert!(tone_gain_db(low, 5000.0, rate).abs() < 0.05);

        let high = Coeffs::design(
            Band::HighShelf {
                freq: 6000.0,
                gain_db: 3.0,
                q: 0.707,
            },
            rate,
        );
        assert!((tone_gain_db(high, 18_000.0, rate) - 3.0).abs() < 0.1);
        assert!(tone_gain_db(high, 100.0, rate).abs() < 0.05);

        let hp = Coeffs::design(
            Band::HighPass {
                freq: 30.0,
                q: 0.707,
            },
            rate,
        );
        assert!((tone_gain_db(hp, 30.0, rate) + 3.01).abs() < 0.1);
        assert!(tone_gain_db(hp, 1000.0, rate).abs() < 0.01);
    }

    #[test]
    fn neutral_bands_are_the_identity() {
        for band in [
            Band::Peak {
                freq: 1000.0,
                gain_db: 0.0,
                q: 1.0,
            },
            Band::LowShelf {
                freq: 100.0,
                gain_db: 0.0,
                q: 0.707,
            },
            Band::HighShelf {
                freq: 8000.0,
                gain_db: 0.0,
                q: 0.707,
            },
        ] {
            assert!(band.is_neutral());
            let c = Coeffs::design(band, 44_100);
            let mut f = Biquad::new(c);
            for i in 0..1000 {
                let x = ((i * 7919) % 1000) as f64 / 1000.0 - 0.5;
                let y = f.tick([x, -x]);
                assert!((y[0] - x).abs() < 1e-12 && (y[1] + x).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn settle_time_bounds_the_state_memory() {
        let c = Coeffs::design(
            Band::HighPass {
                freq: 25.0,
                q: 0.707,
            },
            48_000,
        );
        let n = c.settle_samples();
        // A state disturbance (an impulse) has decayed below 1e-7 after `n` samples.
        let mut f = Biquad::new(c);
        let mut last = 0.0f64;
        for i in 0..n {
            last = f.tick([if i == 0 { 1.0 } else { 0.0 }; 2])[0];
        }
        assert!(last.abs() < 1e-7, "{last} after {n}");
        assert!(n < 48_000 / 2, "{n} samples is more pre-roll than needed");
    }
}

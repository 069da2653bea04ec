//! Rate conversion in the output stage, for a device that cannot run at the engine rate.
//!
//! The engine rate is fixed for an engine's life — the hot and warm tiers hold chunks at it —
//! but a device that returns after a loss, or a new default device, may only offer another
//! rate. Rather than re-plan the tiers, the device's data callback converts: it pulls
//! engine-rate audio from the renderer and resamples it to the device rate with rubato's
//! asynchronous resampler (septic polynomial interpolation: no FFT, no allocation, a fixed
//! output block), through a block of converted frames it drains across callbacks of any size.
//! Positions and events stay in engine frames; the device hears the same music at its rate,
//! delayed by a few frames of interpolation.
//!
//! Runs on: the device's audio thread (`render`); built on the control side before the stream
//! starts, with every buffer allocated up front.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, FixedAsync, PolynomialDegree, Resampler as _};

/// Converted frames produced per resampler call.
const BLOCK: usize = 256;

/// Converts the renderer's stereo audio from the engine rate to the device rate.
pub(crate) struct RateConverter {
    resampler: Async<f32>,
    /// Engine-rate stereo frames for one call (the most the resampler can ask for).
    input: Box<[f32]>,
    /// One block of device-rate stereo frames, drained from `pos` to `len`.
    block: Box<[f32]>,
    pos: usize,
    len: usize,
}

impl std::fmt::Debug for RateConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateConverter").finish_non_exhaustive()
    }
}

impl RateConverter {
    /// A converter from `from` Hz (the engine) to `to` Hz (the device).
    ///
    /// Runs on: control thread (allocates).
    pub(crate) fn new(from: u32, to: u32) -> Result<Self, String> {
        let resampler = Async::<f32>::new_poly(
            f64::from(to) / f64::from(from.max(1)),
            1.0,
            PolynomialDegree::Septic,
            BLOCK,
            2,
            FixedAsync::Output,
        )
        .map_err(|e| format!("rate conversion {from} → {to} Hz: {e}"))?;
        let max_in = resampler.input_frames_max();
        Ok(RateConverter {
            resampler,
            input: vec![0.0; max_in * 2].into_boxed_slice(),
            block: vec![0.0; BLOCK * 2].into_boxed_slice(),
            pos: 0,
            len: 0,
        })
    }

    /// Fills `out` (interleaved stereo at the device rate), pulling engine-rate audio from
    /// `pull` as the resampler needs it.
    ///
    /// Runs on: the audio thread. No allocation: rubato's polynomial resampler works in the
    /// buffers it was built with, and ours are allocated in `new`.
    pub(crate) fn render(&mut self, out: &mut [f32], mut pull: impl FnMut(&mut [f32])) {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.len && !self.refill(&mut pull) {
                out[done..].fill(0.0);
                return;
            }
            let n = (self.len - self.pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.block[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
    }

    /// Converts one more block; false if the resampler refused (it cannot with the sizes it
    /// was built for; silence rather than a panic on the audio thread).
    fn refill(&mut self, pull: &mut impl FnMut(&mut [f32])) -> bool {
        let need = self.resampler.input_frames_next();
        let Some(input) = self.input.get_mut(..need * 2) else {
            return false;
        };
        pull(input);
        let (Ok(inp), Ok(mut outp)) = (
            InterleavedSlice::new(&*input, 2, need),
            InterleavedSlice::new_mut(&mut self.block[..], 2, BLOCK),
        ) else {
            return false;
        };
        match self.resampler.process_into_buffer(&inp, &mut outp, None) {
            Ok((_, written)) => {
                self.pos = 0;
                self.len = written * 2;
                written > 0
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::TAU;

    use super::*;

    /// A 1 kHz sine at the engine rate, frame by frame.
    fn sine(rate: u32) -> impl FnMut(&mut [f32]) {
        let mut n = 0u64;
        move |out: &mut [f32]| {
            for f in out.chunks_exact_mut(2) {
                let v = (0.5 * (TAU * 1000.0 * n as f64 / f64::from(rate)).sin()) as f32;
                f[0] = v;
                f[1] = -v;
                n += 1;
            }
        }
    }

    #[test]
    fn a_sine_keeps_its_pitch_and_level_at_the_device_rate_without_allocating() {
        let (from, to) = (48_000, 44_100);
        let mut c = RateConverter::new(from, to).unwrap();
        assert_no_alloc::reset_violation_count();
        let mut pull = sine(from);
        // Callbacks of odd sizes, as devices ask for them: 2 s at the device rate.
        let mut out = Vec::new();
        let mut buf = vec![0.0f32; 2 * 1024];
        let sizes = [441usize, 1024, 97, 512, 333];
        let mut i = 0;
        while out.len() < 2 * 2 * to as usize {
            let frames = sizes[i % sizes.len()];
            i += 1;
            let b = &mut buf[..frames * 2];
            assert_no_alloc::assert_no_alloc(|| c.render(b, &mut pull));
            out.extend_from_slice(b);
        }
        assert_eq!(
            assert_no_alloc::violation_count(),
            0,
            "allocated on the audio path"
        );
        // Skip the interpolator's start, then count zero crossings of the left channel over
        // exactly one second at the device rate: 1 kHz → 2000 crossings.
        let left: Vec<f32> = out.chunks_exact(2).map(|f| f[0]).skip(1000).collect();
        let second = &left[..to as usize];
        let crossings = second
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        assert!((1998..=2002).contains(&crossings), "{crossings} crossings");
        let peak = second.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((0.49..0.51).contains(&peak), "peak {peak}");
        // Right is the negated left: the channels stay paired.
        for f in out.chunks_exact(2).skip(1000).take(1000) {
            assert!((f[0] + f[1]).abs() < 1e-6);
        }
    }
}

//! Gain changes that never click: linear ramps, and the crossfade law.
//!
//! Runs on: the audio thread (per frame; no allocation, no branches beyond the ramp's own).

/// Moves `value` one `step` towards `target`, never past it.
#[inline]
fn approach(value: f32, target: f32, step: f32) -> f32 {
    if value < target {
        (value + step).min(target)
    } else if value > target {
        (value - step).max(target)
    } else {
        value
    }
}

/// A linear ramp towards a target at a fixed rate: covers 0 → 1 in `frames` frames.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Ramp {
    pub value: f32,
    pub target: f32,
    pub step: f32,
}

impl Ramp {
    /// Settled at `value`, moving at one full scale per `frames` frames.
    pub fn new(value: f32, frames: f32) -> Self {
        Ramp {
            value,
            target: value,
            step: 1.0 / frames.max(1.0),
        }
    }

    /// The next frame's value.
    #[inline]
    pub fn next(&mut self) -> f32 {
        self.value = approach(self.value, self.target, self.step);
        self.value
    }

    /// True when there is nowhere left to go.
    #[inline]
    pub fn settled(&self) -> bool {
        self.value == self.target
    }
}

/// A ramp that takes the same time whatever the distance (volume, intensity): a new target
/// sets the step so it is reached in `frames` frames.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Smooth {
    pub ramp: Ramp,
    frames: f32,
}

impl Smooth {
    /// Settled at `value`; changes take `frames` frames.
    pub fn new(value: f32, frames: f32) -> Self {
        Smooth {
            ramp: Ramp {
                value,
                target: value,
                step: 0.0,
            },
            frames: frames.max(1.0),
        }
    }

    /// Heads for `target`.
    pub fn set(&mut self, target: f32) {
        if target != self.ramp.target {
            self.ramp.target = target;
            self.ramp.step = (target - self.ramp.value).abs() / self.frames;
        }
    }

    /// The next frame's value.
    #[inline]
    pub fn next(&mut self) -> f32 {
        self.ramp.next()
    }
}

/// Gains (new, old) at fade position `g` (1 → 0 for the old signal) of a crossfade. Seeks and
/// jumps within a track crossfade two takes of the same music, which add in amplitude:
/// constant gain. Two different tracks are uncorrelated, and add in power: constant power.
#[inline]
pub(crate) fn crossfade_gains(g: f32, between_tracks: bool) -> (f32, f32) {
    if between_tracks {
        let a = g * std::f32::consts::FRAC_PI_2;
        (a.cos(), a.sin())
    } else {
        (1.0 - g, g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_reach_their_target_exactly_and_stop() {
        let mut r = Ramp::new(0.0, 4.0);
        r.target = 1.0;
        let v: Vec<f32> = (0..6).map(|_| r.next()).collect();
        assert_eq!(v, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        assert!(r.settled());
        let mut s = Smooth::new(1.0, 2.0);
        s.set(0.0);
        assert_eq!([s.next(), s.next(), s.next()], [0.5, 0.0, 0.0]);
    }

    #[test]
    fn crossfades_keep_gain_or_power() {
        for g in [0.0f32, 0.3, 0.5, 1.0] {
            let (n, o) = crossfade_gains(g, false);
            assert!((n + o - 1.0).abs() < 1e-6);
            let (n, o) = crossfade_gains(g, true);
            assert!((n * n + o * o - 1.0).abs() < 1e-6);
        }
    }
}

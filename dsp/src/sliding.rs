//! Fixed-size sliding-window primitives on preallocated ring buffers: a running maximum and a
//! running mean. They give the compressor and limiter finite memory — an output depends on a
//! known window of input and nothing older — which is what makes chunks order-independent.

/// Maximum over the last `len` pushed values (monotonic deque, O(1) amortised per push).
#[derive(Clone, Debug)]
pub struct SlidingMax {
    values: Vec<f32>,
    stamps: Vec<u64>,
    /// Capacity − 1; the capacity is a power of two so wrapping is a mask, not a division.
    mask: usize,
    head: usize,
    count: usize,
    len: u64,
    now: u64,
}

impl SlidingMax {
    /// A window of `len` (≥ 1) values.
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        let cap = len.next_power_of_two();
        Self {
            values: vec![0.0; cap],
            stamps: vec![0; cap],
            mask: cap - 1,
            head: 0,
            count: 0,
            len: len as u64,
            now: 0,
        }
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.head = 0;
        self.count = 0;
        self.now = 0;
    }

    /// Pushes a value and returns the maximum of the last `len` values (fewer before the
    /// window has filled).
    #[inline]
    pub fn push(&mut self, v: f32) -> f32 {
        let mask = self.mask;
        // Drop from the front what falls out of the window with this push.
        let oldest_allowed = (self.now + 1).saturating_sub(self.len);
        while self.count > 0 && self.stamps[self.head] < oldest_allowed {
            self.head = (self.head + 1) & mask;
            self.count -= 1;
        }
        // Drop from the back everything not larger than the new value.
        while self.count > 0 {
            let back = (self.head + self.count - 1) & mask;
            if self.values[back] <= v {
                self.count -= 1;
            } else {
                break;
            }
        }
        let slot = (self.head + self.count) & mask;
        self.values[slot] = v;
        self.stamps[slot] = self.now;
        self.count += 1;
        self.now += 1;
        self.values[self.head]
    }

    /// True when every value in the window is 0 (or nothing was pushed): for non-negative
    /// inputs, pushing 0 then returns 0.
    pub fn holds_only_zeros(&self) -> bool {
        self.count == 0 || self.values[self.head] == 0.0
    }

    /// The state after pushing `n` (≥ 1) zeros, given [`SlidingMax::holds_only_zeros`]: each
    /// push of 0 drops every 0 before it, which leaves the last one alone. (A fast path for
    /// quiet blocks: the same state as `n` pushes, in O(1).)
    pub fn push_zeros(&mut self, n: u64) {
        debug_assert!(self.holds_only_zeros() && n > 0);
        self.values[self.head] = 0.0;
        self.now += n;
        self.stamps[self.head] = self.now - 1;
        self.count = 1;
    }
}

/// Mean of the last `len` pushed values, zeros before the window has filled.
///
/// The window's sum is kept *exactly*, in fixed point: each value is quantised once (rounded
/// up, to a resolution of at most 2^-40 — far below anything audible) and the integer sum is
/// updated by adding the new value and subtracting the one leaving, with wrapping arithmetic
/// (the sum of what is in the window always fits; intermediate wraps cancel). The mean is
/// therefore a function of the window's contents alone — not of how long the filter has run
/// or where it started — which is what lets two chains started at different points agree
/// bit for bit once their windows hold the same values. (A floating-point running sum keeps
/// a rounding residue of its whole history, and a sample now and then rounds differently.)
///
/// Values are clamped to ±[`SlidingMean::LIMIT`]. Rounding up means the mean is never below
/// the exact mean, which the limiter relies on (its smoothed reduction covers the requirement).
#[derive(Clone, Debug)]
pub struct SlidingMean {
    ring: Vec<i64>,
    pos: usize,
    sum: i64,
    scale: f64,
    /// 1 / (scale × len).
    out_scale: f64,
    /// Every slot written since the last reset (the position has wrapped).
    primed: bool,
}

impl SlidingMean {
    /// The largest magnitude a value may have (larger ones are clamped): a mean square of
    /// samples at +24 dBFS, or a gain reduction of 256 dB.
    pub const LIMIT: f64 = 256.0;

    /// A window of `len` (≥ 1) values.
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        // The window's sum must fit in an i64: len × LIMIT × scale ≤ 2^62.
        let len_bits = usize::BITS - (len - 1).leading_zeros();
        let scale = 2f64.powi(62 - 8 - len_bits as i32);
        Self {
            ring: vec![0; len],
            pos: 0,
            sum: 0,
            scale,
            out_scale: 1.0 / (scale * len as f64),
            primed: false,
        }
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.ring.fill(0);
        self.pos = 0;
        self.sum = 0;
        self.primed = false;
    }

    /// Pushes a value and returns the mean of the window.
    #[inline]
    pub fn push(&mut self, v: f64) -> f64 {
        // Truncation then +1: never below v (NaN becomes 1 quantum, not garbage).
        let q = (v.clamp(-Self::LIMIT, Self::LIMIT) * self.scale) as i64 + 1;
        self.sum = self.sum.wrapping_add(q).wrapping_sub(self.ring[self.pos]);
        self.ring[self.pos] = q;
        self.pos += 1;
        if self.pos == self.ring.len() {
            self.pos = 0;
            self.primed = true;
        }
        (self.sum as f64 * self.out_scale).max(0.0)
    }

    /// For non-negative inputs: true when every value in the window quantised to 0 (every
    /// slot written since the reset, each at least the offset 1, and their sum the length:
    /// all are 1) — pushing 0 then returns [`SlidingMean::current`] unchanged.
    pub fn holds_only_zeros(&self) -> bool {
        self.primed && self.sum == self.ring.len() as i64
    }

    /// What the last push returned, given the window's present contents.
    pub fn current(&self) -> f64 {
        (self.sum as f64 * self.out_scale).max(0.0)
    }

    /// The state after pushing `n` zeros, given [`SlidingMean::holds_only_zeros`]: every slot
    /// keeps its 1, only the position moves (O(1) instead of `n` pushes).
    pub fn push_zeros(&mut self, n: u64) {
        debug_assert!(self.holds_only_zeros());
        self.pos = ((self.pos as u64 + n) % self.ring.len() as u64) as usize;
    }
}

/// A fixed delay line for stereo frames.
#[derive(Clone, Debug)]
pub struct Delay {
    ring: Vec<[f32; 2]>,
    pos: usize,
}

impl Delay {
    /// Delays by `len` frames (0 passes through).
    pub fn new(len: usize) -> Self {
        Self {
            ring: vec![[0.0; 2]; len],
            pos: 0,
        }
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.ring.fill([0.0; 2]);
        self.pos = 0;
    }

    /// Pushes a frame, returns the one pushed `len` frames ago.
    #[inline]
    pub fn push(&mut self, x: [f32; 2]) -> [f32; 2] {
        if self.ring.is_empty() {
            return x;
        }
        let out = self.ring[self.pos];
        self.ring[self.pos] = x;
        self.pos += 1;
        if self.pos == self.ring.len() {
            self.pos = 0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_max_equals_brute_force() {
        let mut seed = 1u32;
        let data: Vec<f32> = (0..5000)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / 16_777_216.0
            })
            .collect();
        for len in [1usize, 2, 7, 64, 301] {
            let mut m = SlidingMax::new(len);
            for (i, &v) in data.iter().enumerate() {
                let got = m.push(v);
                let lo = (i + 1).saturating_sub(len);
                let want = data[lo..=i].iter().cloned().fold(f32::MIN, f32::max);
                assert_eq!(got, want, "len {len} at {i}");
            }
        }
    }

    #[test]
    fn sliding_mean_and_delay() {
        let mut m = SlidingMean::new(4);
        let outs: Vec<f64> = [4.0, 4.0, 4.0, 4.0, 8.0]
            .iter()
            .map(|&v| m.push(v))
            .collect();
        for (o, want) in outs.iter().zip([1.0, 2.0, 3.0, 4.0, 5.0]) {
            assert!(*o >= want && *o - want < 1e-9, "{o} vs {want}");
        }
        let mut d = Delay::new(2);
        assert_eq!(d.push([1.0, 1.0]), [0.0, 0.0]);
        assert_eq!(d.push([2.0, 2.0]), [0.0, 0.0]);
        assert_eq!(d.push([3.0, 3.0]), [1.0, 1.0]);
        assert_eq!(Delay::new(0).push([5.0, 6.0]), [5.0, 6.0]);
    }

    #[test]
    fn sliding_mean_depends_on_the_window_alone_not_on_its_history() {
        // Two means over the same last `len` values, one after a long and loud history, one
        // started fresh on those values: identical bits (a float running sum would differ in
        // the last places).
        let len = 480;
        let mut long = SlidingMean::new(len);
        let mut fresh = SlidingMean::new(len);
        let mut x = 0.123_f64;
        let mut next = || {
            x = (x * 3.9 * (1.0 - x)).clamp(1e-9, 1.0 - 1e-9);
            x * x * 7.0
        };
        let history: Vec<f64> = (0..100_000).map(|_| next()).collect();
        let window: Vec<f64> = (0..len * 3).map(|_| next()).collect();
        for &v in &history {
            long.push(v);
        }
        let (mut a, mut b) = (0.0, 0.0);
        for &v in &window {
            a = long.push(v);
            b = fresh.push(v);
        }
        assert_eq!(a.to_bits(), b.to_bits());
        let exact = window[window.len() - len..].iter().sum::<f64>() / len as f64;
        assert!(a >= exact && a - exact < 1e-9, "{a} vs {exact}");
    }
}

//! Decibel conversions for the per-sample paths, fast and deterministic.
//!
//! The compressor and limiter convert between linear and dB once per sample; `f32::log10` and
//! `powf` would dominate their cost. These use the IEEE-754 exponent and a short polynomial for
//! the mantissa (max error ~2e-6 dB for `lin_to_db`, ~5e-7 relative for `db_to_lin`), which is
//! far inside what a gain computer needs and, being pure arithmetic, gives identical results on
//! every run — a requirement for order-independent chunks.

const LOG10_2_X20: f32 = 6.020_6; // 20·log10(2)
const DB_TO_LOG2: f32 = 0.166_096_4; // log2(10)/20

/// `max` without NaN handling, which compiles to a single instruction (`f32::max` does not);
/// the DSP paths never carry NaN (levels are floored, gains clamped).
#[inline(always)]
pub fn fmax(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// `min` without NaN handling; see [`fmax`].
#[inline(always)]
pub fn fmin(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// Floor for levels: anything quieter is treated as −200 dB.
pub const FLOOR_DB: f32 = -200.0;

/// `20·log10(x)` for `x > 0`; `FLOOR_DB` for zero, negative or non-finite input.
#[inline]
pub fn lin_to_db(x: f32) -> f32 {
    if !(x > 1e-10 && x.is_finite()) {
        return FLOOR_DB;
    }
    fast_log2(x) * LOG10_2_X20
}

/// `10^(db/20)`.
#[inline]
pub fn db_to_lin(db: f32) -> f32 {
    fast_exp2(db * DB_TO_LOG2)
}

/// Power (mean square) to dB: `10·log10(p)`.
#[inline]
pub fn power_to_db(p: f32) -> f32 {
    if !(p > 1e-20 && p.is_finite()) {
        return FLOOR_DB;
    }
    fast_log2(p) * (LOG10_2_X20 * 0.5)
}

/// log2 for positive normal floats: exponent + series on the mantissa.
#[inline]
fn fast_log2(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut exp = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    if m > std::f32::consts::SQRT_2 {
        m *= 0.5;
        exp += 1;
    }
    // log2(m) on [1/√2, √2): with t = (m-1)/(m+1), |t| < 0.172, log2(m) = (2/ln 2)·atanh(t),
    // whose odd series converges fast.
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let series =
        t * (2.885_39 + t2 * (0.961_797 + t2 * (0.577_078 + t2 * (0.412_199 + t2 * 0.320_599))));
    exp as f32 + series
}

/// 2^x: nearest integer into the exponent, the remainder (|f| ≤ ½) by its Taylor series.
#[inline]
fn fast_exp2(x: f32) -> f32 {
    let x = x.clamp(-125.0, 125.0);
    // Round to nearest without `f32::round`, which is a libm call on baseline x86-64.
    let shifted = x + 0.5;
    let t = shifted as i32; // truncates toward zero
    let fl = if (t as f32) > shifted { t - 1 } else { t } as f32;
    let f = x - fl;
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_13 + f * (0.001_333_356 + f * 0.000_154_035)))));
    let scale = f32::from_bits(((fl as i32 + 127) as u32) << 23);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_std_closely() {
        let mut worst_db = 0.0f32;
        let mut x = 1e-9f32;
        while x < 1e4 {
            let exact = 20.0 * x.log10();
            worst_db = worst_db.max((lin_to_db(x) - exact).abs());
            x *= 1.013;
        }
        assert!(worst_db < 1e-4, "lin_to_db error {worst_db} dB");
        let mut worst_rel = 0.0f32;
        let mut db = -150.0f32;
        while db < 60.0 {
            let exact = 10f32.powf(db / 20.0);
            worst_rel = worst_rel.max((db_to_lin(db) / exact - 1.0).abs());
            db += 0.0371;
        }
        assert!(worst_rel < 1e-5, "db_to_lin relative error {worst_rel}");
        assert_eq!(lin_to_db(0.0), FLOOR_DB);
        assert_eq!(lin_to_db(f32::NAN), FLOOR_DB);
        assert!((power_to_db(0.01) + 20.0).abs() < 1e-4);
    }
}

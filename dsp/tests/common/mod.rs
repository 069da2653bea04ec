//! Test material for the DSP tests: deterministic signals with the features mastering acts on.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails
#![allow(dead_code)]

use hearth_dsp::{Analyzer, TrackAnalysis};

/// -90 dBFS: the order-independence tolerance.
pub const TOLERANCE: f32 = 3.2e-5;

/// Something music-like, `seconds` long at `rate`, interleaved stereo: a chord pad, a bass
/// line, a kick with a pitch sweep, noise hats panned apart, and a quiet passage followed by a
/// loud one (so the compressor and limiter have work and rest).
pub fn programme(rate: u32, seconds: f32) -> Vec<f32> {
    let frames = (rate as f32 * seconds) as usize;
    let mut seed = 0x1234_5678u32;
    let mut out = Vec::with_capacity(frames * 2);
    let tau = std::f32::consts::TAU;
    for i in 0..frames {
        let t = i as f32 / rate as f32;
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / 8_388_608.0 - 1.0;
        let beat = (t * 2.0).fract();
        let kick = (-beat * 30.0).exp() * (tau * (50.0 + 80.0 * (-beat * 40.0).exp()) * t).sin();
        let chord: f32 = [220.0f32, 277.2, 329.6]
            .iter()
            .map(|f| (tau * f * t).sin())
            .sum();
        let bass = (tau * 55.0 * (1.0 + (t * 0.5).floor() % 2.0 * 0.5) * t).sin();
        let hats = noise * (-(t * 8.0).fract() * 60.0).exp();
        // Quiet for the first third, then loud with hot peaks.
        let level = if t < seconds / 3.0 { 0.15 } else { 0.9 };
        let l = level * (0.12 * chord + 0.3 * bass + 0.5 * kick + 0.1 * hats);
        let r = level * (0.1 * chord + 0.3 * bass + 0.5 * kick - 0.08 * hats);
        out.push(l);
        out.push(r);
    }
    out
}

/// The full analysis of `audio`.
pub fn analyse(audio: &[f32], rate: u32) -> TrackAnalysis {
    let mut a = Analyzer::new(rate, (audio.len() / 2) as u64, true).unwrap();
    a.feed(audio).unwrap();
    a.finish()
}

/// `audio[start..end)` in frames, zero-padded outside the signal.
pub fn span(audio: &[f32], start: i64, end: i64) -> Vec<f32> {
    let frames = (audio.len() / 2) as i64;
    let mut out = vec![0.0f32; ((end - start) * 2) as usize];
    for f in start.max(0)..end.min(frames) {
        let o = ((f - start) * 2) as usize;
        out[o] = audio[(f * 2) as usize];
        out[o + 1] = audio[(f * 2 + 1) as usize];
    }
    out
}

/// A quiet bed with short, very loud bursts every `period` seconds: the compressor and limiter
/// swing through their whole range and spend most of the time releasing — the hardest case for
/// order independence, because a chunk that starts during a release must reconstruct it.
pub fn bursts(rate: u32, seconds: f32, period: f32) -> Vec<f32> {
    let frames = (rate as f32 * seconds) as usize;
    let tau = std::f32::consts::TAU;
    let mut out = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        let t = i as f32 / rate as f32;
        let phase = (t / period).fract() * period;
        let bed = 0.05 * (tau * 330.0 * t).sin() + 0.04 * (tau * 110.0 * t).sin();
        let burst = if phase < 0.06 {
            1.4 * (tau * 90.0 * t).sin() * (1.0 - phase / 0.06)
        } else {
            0.0
        };
        out.push(bed + burst);
        out.push(0.8 * bed + burst);
    }
    out
}

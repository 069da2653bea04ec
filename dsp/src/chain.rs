//! The mastering chain: loudness gain → EQ → glue compressor → mid/side width → true-peak
//! limiter.
//!
//! A chunk's enhanced audio is a pure function of (analysis, preset, the source samples over
//! `[start − preroll, end + lookahead)`): [`Chain::render`] resets every stage, streams that
//! span through, and keeps only `[start, end)`. Every stage has bounded memory — the compressor
//! and limiter exactly (see their modules), the EQ's IIR filters within −140 dB after their
//! settle time — and `preroll()` covers the sum, so a chunk rendered on its own equals the same
//! samples of a front-to-back pass (which may simply keep streaming with [`Chain::process`]).
//! Nothing is measured per chunk and no state crosses from one chunk to another.
//!
//! The compressor and limiter look ahead; their delay is compensated by reading `lookahead()`
//! frames past the chunk, so the enhanced variant stays sample-aligned with the original.
//! Processing runs stage by stage over blocks of 256 frames so the arithmetic vectorises;
//! the result does not depend on the block boundaries. Subnormal filter state is flushed every
//! block. Preparation (`new`) allocates; `process`,
//! `render` and `reset` do not.

use crate::analysis::TrackAnalysis;
use crate::biquad::{Biquad, Coeffs};
use crate::compressor::Compressor;
use crate::db;
use crate::limiter::Limiter;
use crate::preset::{ChainParams, Preset};

/// The loudness gain is kept within these bounds (dB): silence is not amplified without limit.
pub const MAX_BOOST_DB: f32 = 18.0;
/// Largest cut, dB.
pub const MAX_CUT_DB: f32 = 40.0;

/// Frames per processing block (each stage runs over a block before the next).
const BLOCK: usize = crate::compressor::BLOCK;

/// A prepared chain for one track and preset at one rate.
#[derive(Clone, Debug)]
pub struct Chain {
    gain: f32,
    eq: Vec<Biquad>,
    comp: Compressor,
    width: f32,
    limiter: Limiter,
    preroll: usize,
    params_hash: u64,
    left: Vec<f32>,
    right: Vec<f32>,
}

impl Chain {
    /// The chain for `preset` on a track with `analysis`, at `rate`. `calibration_db` is the
    /// per-(track, preset) correction found by [`crate::calibrate`] (0 before calibration).
    pub fn new(preset: Preset, analysis: &TrackAnalysis, calibration_db: f32, rate: u32) -> Self {
        Self::from_params(
            &preset.params(analysis),
            analysis.integrated_lufs as f32,
            calibration_db,
            rate,
        )
    }

    /// A chain from explicit parameters; `input_lufs` is the track's integrated loudness.
    pub fn from_params(
        params: &ChainParams,
        input_lufs: f32,
        calibration_db: f32,
        rate: u32,
    ) -> Self {
        let gain_db =
            (params.target_lufs - input_lufs + calibration_db).clamp(-MAX_CUT_DB, MAX_BOOST_DB);
        let coeffs: Vec<Coeffs> = params.eq.iter().map(|&b| Coeffs::design(b, rate)).collect();
        let eq_settle: usize = coeffs.iter().map(Coeffs::settle_samples).sum();
        let comp = Compressor::new(&params.compressor, params.target_lufs, rate);
        let limiter = Limiter::new(
            params.ceiling_dbtp,
            params.limiter_lookahead_ms,
            params.limiter_release_db_per_s,
            rate,
        );
        let preroll = eq_settle + comp.memory() + limiter.memory();
        let mut h = Fnv::new();
        h.u32(crate::ANALYSIS_VERSION);
        h.u32(CHAIN_VERSION);
        h.u32(rate);
        h.f32(gain_db);
        h.str(&format!("{params:?}"));
        Self {
            gain: db::db_to_lin(gain_db),
            eq: coeffs.into_iter().map(Biquad::new).collect(),
            comp,
            width: params.width,
            limiter,
            preroll,
            params_hash: h.finish(),
            left: vec![0.0; BLOCK],
            right: vec![0.0; BLOCK],
        }
    }

    /// Frames of input needed before a chunk's first frame.
    pub fn preroll(&self) -> usize {
        self.preroll
    }

    /// Frames of input needed after a chunk's last frame (the compensated lookahead).
    pub fn lookahead(&self) -> usize {
        self.comp.latency() + self.limiter.latency()
    }

    /// A hash of everything that determines the output (parameters, gain, rate, versions):
    /// cached enhanced audio made with a different hash is stale.
    pub fn params_hash(&self) -> u64 {
        self.params_hash
    }

    /// The loudness gain applied before the EQ, dB.
    pub fn gain_db(&self) -> f32 {
        db::lin_to_db(self.gain)
    }

    /// Zeroes every stage's state.
    pub fn reset(&mut self) {
        self.eq.iter_mut().for_each(Biquad::reset);
        self.comp.reset();
        self.limiter.reset();
    }

    /// Streams interleaved stereo frames through the chain: `output[i]` is the processed frame
    /// `lookahead()` frames before `input[i]`. Lengths must match.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        for (x, y) in input.chunks(2 * BLOCK).zip(output.chunks_mut(2 * BLOCK)) {
            let n = self.block(x);
            interleave(&self.left[..n], &self.right[..n], y);
        }
    }

    /// Renders a chunk on its own: `input` holds the source over `[start − preroll(), end +
    /// lookahead())`, `output` receives `[start, end)`. Zero-pad the input where the span
    /// reaches before the track's start or past its end.
    pub fn render(&mut self, input: &[f32], output: &mut [f32]) {
        self.render_with_preroll(input, self.preroll, output);
    }

    /// Like [`Chain::render`] with a pre-roll of `preroll` frames instead of `preroll()` (an
    /// estimate when shorter: calibration uses it).
    pub fn render_with_preroll(&mut self, input: &[f32], preroll: usize, output: &mut [f32]) {
        self.render_unless(input, preroll, output, || false);
    }

    /// Like [`Chain::render_with_preroll`], asking `stop` before every block (256 frames) and
    /// giving up when it says so: false then, and `output` is incomplete. (A filler drops a
    /// chunk this way when a seek needs it more urgently.)
    pub fn render_unless(
        &mut self,
        input: &[f32],
        preroll: usize,
        output: &mut [f32],
        mut stop: impl FnMut() -> bool,
    ) -> bool {
        self.reset();
        let skip = preroll + self.lookahead();
        debug_assert_eq!(input.len(), output.len() + 2 * (preroll + self.lookahead()));
        let mut pos = 0usize; // frames of input consumed
        let mut written = 0usize; // frames of output written
        for x in input.chunks(2 * BLOCK) {
            if stop() {
                return false;
            }
            let n = self.block(x);
            let first = skip.saturating_sub(pos).min(n);
            let take = (n - first).min(output.len() / 2 - written);
            interleave(
                &self.left[first..first + take],
                &self.right[first..first + take],
                &mut output[2 * written..2 * (written + take)],
            );
            written += take;
            pos += n;
        }
        true
    }

    /// Runs one block (≤ BLOCK interleaved frames) through every stage into `left`/`right`.
    fn block(&mut self, input: &[f32]) -> usize {
        let n = input.len() / 2;
        let (l, r) = (&mut self.left[..n], &mut self.right[..n]);
        for (i, f) in input.chunks_exact(2).enumerate() {
            l[i] = f[0] * self.gain;
            r[i] = f[1] * self.gain;
        }
        for f in &mut self.eq {
            f.process(l, r);
        }
        self.comp.process(l, r);
        let w = self.width;
        if w != 1.0 {
            for (a, b) in l.iter_mut().zip(r.iter_mut()) {
                let mid = 0.5 * (*a + *b);
                let side = 0.5 * (*a - *b) * w;
                *a = mid + side;
                *b = mid - side;
            }
        }
        self.limiter.process(l, r);
        self.eq.iter_mut().for_each(Biquad::flush_denormals);
        n
    }
}

fn interleave(left: &[f32], right: &[f32], out: &mut [f32]) {
    for ((o, &a), &b) in out.chunks_exact_mut(2).zip(left).zip(right) {
        o[0] = a;
        o[1] = b;
    }
}

/// Bumped when the chain's processing changes in a way parameters do not capture.
pub const CHAIN_VERSION: u32 = 2;

/// FNV-1a, 64-bit: a stable hash for the parameter fingerprint (std's hasher is not promised
/// to stay the same across Rust versions, and the hash is persisted in cache files).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.bytes(&v.to_bits().to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

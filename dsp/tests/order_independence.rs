//! Enhanced chunks rendered on their own, in any order, with fresh state each, equal one
//! front-to-back pass over the track within -90 dBFS — for every preset — and so join without
//! discontinuities.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use hearth_dsp::{Chain, Preset};
use proptest::prelude::*;

use common::{TOLERANCE, analyse, programme, span};

const RATE: u32 = 44_100;
const CHUNK: usize = 11_025;

struct Fixture {
    audio: Vec<f32>,
    analysis: hearth_dsp::TrackAnalysis,
}

/// Music-like programme followed by loud bursts placed just before chunk boundaries (period =
/// 1.5 chunks), so chunks start in the middle of compressor and limiter releases.
fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let mut audio = programme(RATE, 4.0);
        audio.extend(common::bursts(RATE, 4.0, 1.5 * CHUNK as f32 / RATE as f32));
        let analysis = analyse(&audio, RATE);
        Fixture { audio, analysis }
    })
}

/// One front-to-back streaming pass, latency compensated, per preset.
fn sequential(preset: Preset) -> &'static [f32] {
    static S: std::sync::OnceLock<Vec<Vec<f32>>> = std::sync::OnceLock::new();
    let all = S.get_or_init(|| {
        let f = fixture();
        Preset::ALL
            .iter()
            .map(|&p| {
                let mut chain = Chain::new(p, &f.analysis, 0.7, RATE);
                let la = chain.lookahead();
                let frames = f.audio.len() / 2;
                let input = span(&f.audio, 0, (frames + la) as i64);
                let mut out = vec![0.0; input.len()];
                // Stream in uneven pieces, as a warming filler would.
                let mut pos = 0;
                for piece in [333usize, 4096, 1, 10_000].iter().cycle() {
                    if pos >= input.len() {
                        break;
                    }
                    let end = (pos + piece * 2).min(input.len());
                    chain.process(&input[pos..end], &mut out[pos..end]);
                    pos = end;
                }
                out[la * 2..].to_vec()
            })
            .collect()
    });
    &all[Preset::ALL.iter().position(|&p| p == preset).unwrap_or(0)]
}

fn render_chunk(preset: Preset, k: usize) -> Vec<f32> {
    let f = fixture();
    let mut chain = Chain::new(preset, &f.analysis, 0.7, RATE);
    let frames = f.audio.len() / 2;
    let start = k * CHUNK;
    let end = ((k + 1) * CHUNK).min(frames);
    let input = span(
        &f.audio,
        start as i64 - chain.preroll() as i64,
        (end + chain.lookahead()) as i64,
    );
    let mut out = vec![0.0; (end - start) * 2];
    chain.render(&input, &mut out);
    out
}

fn check(preset: Preset, order: &[usize]) -> Result<(), TestCaseError> {
    let reference = sequential(preset);
    let chunks = (fixture().audio.len() / 2).div_ceil(CHUNK);
    for &k in order {
        let k = k % chunks;
        let got = render_chunk(preset, k);
        let want = &reference[k * CHUNK * 2..k * CHUNK * 2 + got.len()];
        let worst = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        prop_assert!(
            worst <= TOLERANCE,
            "{preset}: chunk {k} differs by {worst:e}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn random_orders_match_one_pass(preset in 0..Preset::ALL.len(), order in proptest::collection::vec(0usize..100, 1..5)) {
        check(Preset::ALL[preset], &order)?;
    }
}

#[test]
fn every_preset_every_chunk_backwards_and_joins_cleanly() {
    let chunks = (fixture().audio.len() / 2).div_ceil(CHUNK);
    for preset in Preset::ALL {
        let order: Vec<usize> = (0..chunks).rev().collect();
        check(preset, &order).unwrap();
        // Joined, the chunks have no step at their boundaries larger than the signal's own.
        let joined: Vec<f32> = (0..chunks).flat_map(|k| render_chunk(preset, k)).collect();
        let step = |i: usize| (joined[2 * i + 2] - joined[2 * i]).abs();
        let frames = joined.len() / 2;
        let max_inside = (0..frames - 1)
            .filter(|i| (i + 1) % CHUNK != 0)
            .map(step)
            .fold(0.0f32, f32::max);
        let max_boundary = (1..chunks)
            .map(|k| step(k * CHUNK - 1))
            .fold(0.0f32, f32::max);
        assert!(
            max_boundary <= max_inside,
            "{preset}: boundary step {max_boundary} > {max_inside}"
        );
    }
}

//! A chain with every stage neutral is the identity; the enhanced variant is sample-aligned
//! with the original (an impulse stays where it was); intensity 0 is the original bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use hearth_dsp::biquad::Band;
use hearth_dsp::compressor::CompressorParams;
use hearth_dsp::intensity::mix_into;
use hearth_dsp::{Chain, ChainParams, Preset};

use common::{TOLERANCE, analyse, programme, span};

const RATE: u32 = 48_000;

fn render_whole(chain: &mut Chain, audio: &[f32]) -> Vec<f32> {
    let frames = audio.len() / 2;
    let input = span(
        audio,
        -(chain.preroll() as i64),
        (frames + chain.lookahead()) as i64,
    );
    let mut out = vec![0.0; audio.len()];
    chain.render(&input, &mut out);
    out
}

#[test]
fn all_stages_neutral_is_the_identity() {
    let audio: Vec<f32> = programme(RATE, 3.0).iter().map(|s| s * 0.5).collect();
    let a = analyse(&audio, RATE);
    let neutral = ChainParams {
        target_lufs: a.integrated_lufs as f32, // no loudness gain
        eq: vec![
            Band::LowShelf {
                freq: 100.0,
                gain_db: 0.0,
                q: 0.707,
            },
            Band::Peak {
                freq: 1000.0,
                gain_db: 0.0,
                q: 1.0,
            },
            Band::HighShelf {
                freq: 8000.0,
                gain_db: 0.0,
                q: 0.707,
            },
        ],
        compressor: CompressorParams::OFF,
        width: 1.0,
        ceiling_dbtp: -1.0,
        limiter_lookahead_ms: 2.0,
        limiter_release_db_per_s: 60.0,
    };
    assert!(
        a.true_peak_dbtp < -1.5,
        "the material must sit under the ceiling"
    );
    let mut chain = Chain::from_params(&neutral, a.integrated_lufs as f32, 0.0, RATE);
    let out = render_whole(&mut chain, &audio);
    let worst = out
        .iter()
        .zip(&audio)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= TOLERANCE,
        "neutral chain differs from its input by {worst:e}"
    );
}

#[test]
fn an_impulse_stays_at_its_sample_in_every_preset() {
    let n = 30_000usize;
    let frames = 60_000usize;
    // A quiet bed (so loudness and compression are defined) plus one impulse.
    let mut audio: Vec<f32> = programme(RATE, frames as f32 / RATE as f32)
        .iter()
        .map(|s| s * 0.02)
        .collect();
    audio[2 * n] = 0.8;
    audio[2 * n + 1] = 0.8;
    let a = analyse(&audio, RATE);
    for preset in Preset::ALL {
        let mut chain = Chain::new(preset, &a, 0.0, RATE);
        let out = render_whole(&mut chain, &audio);
        let peak_at = (0..frames)
            .max_by(|&i, &j| out[2 * i].abs().total_cmp(&out[2 * j].abs()))
            .unwrap_or(0);
        assert_eq!(peak_at, n, "{preset}: impulse moved from {n} to {peak_at}");
    }
}

#[test]
fn intensity_zero_is_the_original_bit_for_bit() {
    let audio = programme(RATE, 1.0);
    let a = analyse(&audio, RATE);
    let mut chain = Chain::new(Preset::Punchy, &a, 0.0, RATE);
    let enhanced = render_whole(&mut chain, &audio);
    let mut out = vec![0.0; audio.len()];
    mix_into(&audio, &enhanced, 0.0, &mut out);
    assert!(
        out.iter()
            .zip(&audio)
            .all(|(a, b)| a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0))
    );
    mix_into(&audio, &enhanced, 1.0, &mut out);
    assert_eq!(out, enhanced);
}

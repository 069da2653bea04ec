//! Golden files for each preset: fixed short signals through the chain, summarised per block
//! (RMS and peak per channel) and compared with the committed summaries within a tolerance.
//!
//! The summaries are regenerated only on purpose, after a deliberate change to the sound:
//! `HEARTH_BLESS=1 cargo test -p hearth-dsp --test golden`, then review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use std::fmt::Write;
use std::path::PathBuf;

use hearth_dsp::{Chain, Preset, TrackAnalysis};

const RATE: u32 = 48_000;
const BLOCK: usize = 1200;
const TOLERANCE: f64 = 2e-4;

/// 1.5 s: a log sweep on the left, a noise burst and a kick on the right, a click train in
/// both, and silence at the end.
fn signal() -> Vec<f32> {
    let frames = (RATE as f32 * 1.5) as usize;
    let tau = std::f32::consts::TAU;
    let mut seed = 99u32;
    let mut out = Vec::with_capacity(2 * frames);
    let mut phase = 0.0f32;
    for i in 0..frames {
        let t = i as f32 / RATE as f32;
        let f = 20.0 * 1000f32.powf((t / 1.2).min(1.0));
        phase += tau * f / RATE as f32;
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / 8_388_608.0 - 1.0;
        let sweep = if t < 1.2 { 0.25 * phase.sin() } else { 0.0 };
        let burst = if (0.3..0.6).contains(&t) {
            0.3 * noise
        } else {
            0.0
        };
        let kick = if t >= 0.8 {
            0.7 * (-(t - 0.8) * 25.0).exp() * (tau * 60.0 * (t - 0.8)).sin()
        } else {
            0.0
        };
        let click = if i % 9600 == 4800 { 0.6 } else { 0.0 };
        out.push(sweep + click);
        out.push(burst + kick + click);
    }
    out
}

fn summary(preset: Preset, analysis: &TrackAnalysis, audio: &[f32]) -> String {
    let mut chain = Chain::new(preset, analysis, 0.0, RATE);
    let frames = audio.len() / 2;
    let input = common::span(
        audio,
        -(chain.preroll() as i64),
        (frames + chain.lookahead()) as i64,
    );
    let mut out = vec![0.0; audio.len()];
    chain.render(&input, &mut out);
    let mut s = String::from("# block left_rms right_rms left_peak right_peak\n");
    for (b, block) in out.chunks(2 * BLOCK).enumerate() {
        let (mut sl, mut sr, mut pl, mut pr) = (0.0f64, 0.0f64, 0.0f32, 0.0f32);
        for f in block.chunks_exact(2) {
            sl += f64::from(f[0]) * f64::from(f[0]);
            sr += f64::from(f[1]) * f64::from(f[1]);
            pl = pl.max(f[0].abs());
            pr = pr.max(f[1].abs());
        }
        let n = (block.len() / 2) as f64;
        let _ = writeln!(
            s,
            "{b} {:.6} {:.6} {:.6} {:.6}",
            (sl / n).sqrt(),
            (sr / n).sqrt(),
            pl,
            pr
        );
    }
    s
}

fn parse(text: &str) -> Vec<Vec<f64>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .collect()
}

#[test]
fn every_preset_matches_its_golden_summary() {
    let audio = signal();
    let analysis = common::analyse(&audio, RATE);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("HEARTH_BLESS").is_some();
    let mut failures = Vec::new();
    for preset in Preset::ALL {
        let got = summary(preset, &analysis, &audio);
        let path = dir.join(format!("{preset}.txt"));
        if bless {
            std::fs::write(&path, &got).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with HEARTH_BLESS=1)", path.display()));
        let (g, w) = (parse(&got), parse(&want));
        assert_eq!(g.len(), w.len(), "{preset}: block count");
        for (b, (gr, wr)) in g.iter().zip(&w).enumerate() {
            for (x, y) in gr.iter().zip(wr) {
                if (x - y).abs() > TOLERANCE {
                    failures.push(format!("{preset} block {b}: got {gr:?}, golden {wr:?}"));
                    break;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! Work stopped half-way and done again ends exactly as work done at once. A filler stops a
//! chunk's chain, or a calibration window, when a seek needs it more urgently (see the cache's
//! `filler::urgency`), and the chunk or window is done again later: bit-identical results keep
//! cached audio the same however often the user seeks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use hearth_dsp::calibrate::{CalibrationWindow, calibration_plan};
use hearth_dsp::{Calibrator, Chain, Fed, Preset};

use common::{analyse, bursts, programme, span};

const RATE: u32 = 44_100;

/// Thirty-six seconds of programme then loud bursts: long enough for the six-window calibration
/// plan, and the compressor and limiter busy.
fn audio() -> Vec<f32> {
    let mut audio = programme(RATE, 24.0);
    audio.extend(bursts(RATE, 12.0, 0.7));
    audio
}

#[test]
fn a_chunk_rendered_after_a_stop_equals_one_rendered_straight() {
    let audio = audio();
    let analysis = analyse(&audio, RATE);
    let mut chain = Chain::new(Preset::Punchy, &analysis, 0.0, RATE);
    let (start, frames) = (5 * RATE as i64, 32_768usize);
    let input = span(
        &audio,
        start - chain.preroll() as i64,
        start + (frames + chain.lookahead()) as i64,
    );
    let preroll = chain.preroll();
    let mut straight = vec![0.0; 2 * frames];
    chain.render(&input, &mut straight);
    for stop_at in [0usize, 1, 7, 40] {
        let mut asked = 0;
        let mut out = vec![0.0; 2 * frames];
        let finished = chain.render_unless(&input, preroll, &mut out, || {
            asked += 1;
            asked > stop_at
        });
        assert!(!finished, "stopped after {stop_at} blocks, yet finished");
        let mut again = vec![0.0; 2 * frames];
        assert!(chain.render_unless(&input, preroll, &mut again, || false));
        assert_eq!(
            again, straight,
            "rendered again after a stop at block {stop_at}"
        );
    }
}

#[test]
fn a_calibration_stopped_in_every_window_equals_an_uninterrupted_one() {
    let audio = audio();
    let analysis = analyse(&audio, RATE);
    let plan = calibration_plan((audio.len() / 2) as u64, RATE);
    assert!(
        plan.len() > 1,
        "the fixture is long enough for a window plan"
    );
    let preset = Preset::Punchy;
    let (preroll, lookahead) = (
        (hearth_dsp::calibrate::PREROLL_MS * u64::from(RATE) / 1000) as usize,
        Chain::new(preset, &analysis, 0.0, RATE).lookahead(),
    );
    let windows: Vec<Vec<f32>> = plan
        .iter()
        .map(|r| {
            span(
                &audio,
                r.start as i64 - preroll as i64,
                (r.end + lookahead as u64) as i64,
            )
        })
        .collect();
    let view = |i: usize| CalibrationWindow {
        audio: &windows[i],
        preroll,
        lookahead,
    };
    let views: Vec<_> = (0..windows.len()).map(view).collect();
    let straight = hearth_dsp::calibrate(preset, &analysis, RATE, &views);

    // Every window is stopped once, after a number of blocks that changes from window to
    // window, then fed again.
    let mut c = Calibrator::new(preset, &analysis, RATE, plan.len());
    let (mut stops, mut fed) = (0, 0usize);
    let interrupted = loop {
        let Some(i) = c.wanted() else {
            break c.result().unwrap();
        };
        let stop_at = 3 + 5 * (fed % 7);
        let mut asked = 0;
        match c.feed_unless(&view(i), || {
            asked += 1;
            asked > stop_at
        }) {
            Fed::Stopped => stops += 1,
            other => panic!("window {i} was not stopped: {other:?}"),
        }
        fed += 1;
        match c.feed_unless(&view(i), || false) {
            Fed::Done(gain) => break gain,
            Fed::More => {}
            Fed::Stopped => panic!("stopped with nothing asking"),
        }
    };
    assert!(stops >= plan.len(), "{stops} stops");
    assert_eq!(
        interrupted.to_bits(),
        straight.to_bits(),
        "{interrupted} vs {straight} dB"
    );
}

//! Test sources for the output tests: a [`Probe`] counts the frames it renders, says which
//! probe rendered last (to prove `stop` gives back the very same object), and plays silence,
//! a sine, or sleeps once to simulate a stalled renderer.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::f64::consts::TAU;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use hearth_engine::output::AudioCallback;

/// What a probe plays.
#[derive(Debug, Clone, Copy)]
pub enum Signal {
    Silence,
    /// `amp · sin(2π · freq · n / rate)` on both channels, `n` counting frames from 0.
    Sine {
        freq: f64,
        amp: f64,
        rate: u32,
    },
    /// Silence, but the `call`-th render (0-based) sleeps `sleep` first.
    StallOnce {
        call: u64,
        sleep: Duration,
    },
}

/// The value frame `n` of the sine takes (shared by the source and the checks).
pub fn sine_at(n: u64, freq: f64, amp: f64, rate: u32) -> f32 {
    (amp * (TAU * freq * n as f64 / f64::from(rate)).sin()) as f32
}

/// Shared view of a probe, kept by the test.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Frames rendered by the probe.
    pub frames: Arc<AtomicU64>,
    /// Render calls.
    pub calls: Arc<AtomicU64>,
    /// Id of the probe that rendered last.
    pub last_id: Arc<AtomicU32>,
}

pub struct Probe {
    id: u32,
    signal: Signal,
    tally: Tally,
}

impl Probe {
    pub fn boxed(id: u32, signal: Signal) -> (Box<dyn AudioCallback>, Tally) {
        let tally = Tally::default();
        let probe = Probe {
            id,
            signal,
            tally: tally.clone(),
        };
        (Box::new(probe), tally)
    }
}

impl AudioCallback for Probe {
    fn render(&mut self, out: &mut [f32]) {
        let start = self.tally.frames.load(Ordering::Relaxed);
        let call = self.tally.calls.fetch_add(1, Ordering::Relaxed);
        match self.signal {
            Signal::Silence => out.fill(0.0),
            Signal::Sine { freq, amp, rate } => {
                for (i, frame) in out.chunks_exact_mut(2).enumerate() {
                    let v = sine_at(start + i as u64, freq, amp, rate);
                    frame[0] = v;
                    frame[1] = v;
                }
            }
            Signal::StallOnce { call: at, sleep } => {
                if call == at {
                    std::thread::sleep(sleep);
                }
                out.fill(0.0);
            }
        }
        self.tally
            .frames
            .fetch_add((out.len() / 2) as u64, Ordering::Relaxed);
        self.tally.last_id.store(self.id, Ordering::Relaxed);
    }
}

/// Asserts that `source` is the probe with `id` behind `tally`: rendering through the returned
/// box moves that probe's counters.
pub fn assert_is_probe(source: &mut Box<dyn AudioCallback>, id: u32, tally: &Tally) {
    tally.last_id.store(0, Ordering::Relaxed);
    let before = tally.frames.load(Ordering::Relaxed);
    let mut buf = [0.0f32; 8];
    source.render(&mut buf);
    assert_eq!(
        tally.last_id.load(Ordering::Relaxed),
        id,
        "a different source came back"
    );
    assert_eq!(tally.frames.load(Ordering::Relaxed), before + 4);
}

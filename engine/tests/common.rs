//! Helpers for the engine's offline tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::path::{Path, PathBuf};

use hearth_cache::Source;
use hearth_engine::{Engine, EngineBuilder, Event, OfflineRenderer};

pub const RATE: u32 = 48_000;
pub const CHUNK: u32 = 8192;
/// The renderer's crossfade (8 ms) in frames at 48 kHz.
pub const XFADE: usize = 384;
/// The transport ramp (10 ms) in frames at 48 kHz.
pub const RAMP: usize = 480;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/fixtures")
        .join(name)
}

pub fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets")
        .join(name)
}

/// An offline engine with its cache in `dir`.
pub fn offline(dir: &Path, enhance: bool) -> (Engine, OfflineRenderer) {
    EngineBuilder::new()
        .rate(RATE)
        .chunk_frames(CHUNK)
        .cache_dir(dir)
        .enhancement(enhance, hearth_dsp::Preset::Warm, 1.0)
        .build_offline()
        .unwrap()
}

/// The whole track at the engine rate, as the pipeline decodes it.
pub fn source(path: &Path) -> Vec<f32> {
    let mut s = Source::open(path, Some(RATE)).unwrap();
    let mut v = vec![0.0; s.frames() as usize * 2];
    s.read(0, &mut v).unwrap();
    v
}

/// Renders `frames` frames in buffers of `buffer` frames.
pub fn render(r: &mut OfflineRenderer, frames: usize, buffer: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; frames * 2];
    for b in out.chunks_mut(buffer * 2) {
        r.render(b);
    }
    out
}

/// Events received so far.
pub fn drain(rx: &crossbeam_channel::Receiver<Event>) -> Vec<Event> {
    rx.try_iter().collect()
}

/// Largest absolute sample-to-sample step, per channel.
pub fn max_step(x: &[f32]) -> f32 {
    x.chunks_exact(2)
        .zip(x.chunks_exact(2).skip(1))
        .map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs()))
        .fold(0.0, f32::max)
}

/// A stereo sine WAV (32-bit float) with a slow swell that starts and ends at zero, so tracks
/// join smoothly; the right channel is the left times `right`. Smooth material: any
/// discontinuity the engine made would stand out by orders of magnitude.
pub fn write_sine(path: &Path, rate: u32, seconds: f32, freq: f32, right: f32) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (rate as f32 * seconds) as usize;
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let env = (std::f32::consts::PI * i as f32 / n as f32).sin();
        let s = 0.5 * env * (std::f32::consts::TAU * freq * t).sin();
        w.write_sample(s).unwrap();
        w.write_sample(right * s).unwrap();
    }
    w.finalize().unwrap();
}

/// A track's enhanced variant, front to back.
pub fn enhanced(path: &Path, preset: hearth_dsp::Preset) -> Vec<f32> {
    let mut s = Source::open(path, Some(RATE)).unwrap();
    let a = hearth_cache::enhance::analyse(&mut s, false).unwrap();
    let c = hearth_cache::enhance::calibrate(&mut s, preset, &a).unwrap();
    let mut chain = hearth_dsp::Chain::new(preset, &a, c, RATE);
    let mut out = Vec::new();
    hearth_cache::enhance::stream_enhanced(&mut s, &mut chain, |_, e, _| {
        out.extend_from_slice(e);
        Ok(())
    })
    .unwrap();
    out
}

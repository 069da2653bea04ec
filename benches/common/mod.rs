//! Helpers shared by the benches: assets, percentiles, criterion's saved medians, and a
//! simulated audio device that pulls buffers in real time.
#![allow(dead_code)] // each bench uses its own subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn asset(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(rel)
}

/// Nearest-rank percentile of `v` (sorted or not); NaN when empty.
pub fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// The median criterion saved for `group/id` in this run, nanoseconds.
pub fn criterion_median_ns(group: &str, id: &str) -> Option<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion")
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let json = std::fs::read_to_string(path).ok()?;
    let at = json.find("\"median\"")?;
    let rest = &json[at..];
    let pe = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let num: String = rest[pe..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-')
        .collect();
    num.parse().ok()
}

/// What the simulated device saw in one callback.
#[derive(Clone, Copy, Debug)]
pub struct Callback {
    /// When the device asked for the buffer.
    pub start: Instant,
    /// When the callback returned it.
    pub end: Instant,
    /// Frames handed to the device before this callback.
    pub frames_before: u64,
}

/// A device that asks `callback` for `buffer` stereo frames every buffer duration at `rate`,
/// on an absolute clock (like the engine's null sink), on its own thread. After each callback
/// it calls `observe` with what happened and the buffer the callback filled (outside the
/// measured time).
///
/// Every player in the side-by-side bench is driven by this same loop, so they all face the
/// same device.
pub struct PacedDevice {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PacedDevice {
    pub fn start(
        rate: u32,
        buffer: usize,
        mut callback: impl FnMut(&mut [f32]) + Send + 'static,
        mut observe: impl FnMut(&Callback, &[f32]) + Send + 'static,
    ) -> PacedDevice {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("bench-device".into())
            .spawn(move || {
                // Scheduled like a device's audio thread, for every engine alike.
                hearth::output::promote_audio_thread();
                let mut out = vec![0.0f32; buffer * 2];
                let mut base = Instant::now();
                let mut since_base: u64 = 0;
                let mut frames: u64 = 0;
                let period = Duration::from_nanos(buffer as u64 * 1_000_000_000 / u64::from(rate));
                while !flag.load(Ordering::Acquire) {
                    let due =
                        base + Duration::from_nanos(since_base * 1_000_000_000 / u64::from(rate));
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    } else if now - due > period {
                        // More than a buffer late: a device would have underrun. Resynchronise
                        // instead of asking for a burst of buffers.
                        base = now;
                        since_base = 0;
                    }
                    let start = Instant::now();
                    callback(&mut out);
                    let end = Instant::now();
                    observe(
                        &Callback {
                            start,
                            end,
                            frames_before: frames,
                        },
                        &out,
                    );
                    frames += buffer as u64;
                    since_base += buffer as u64;
                }
            })
            .unwrap_or_else(|e| panic!("device thread: {e}"));
        PacedDevice {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PacedDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! Shared helpers for the cache crate's integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::path::PathBuf;

/// The committed fixtures directory.
pub fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/fixtures"))
}

/// A fixture by file name.
pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// Every decodable format fixture with the engine rates to test it at: its own rate, and a
/// resampled rate (44.1 -> 48 kHz up, 96 -> 48 kHz down, 48 -> 44.1 kHz down, 22.05 -> 48 up).
pub const FORMATS: &[(&str, &[u32])] = &[
    ("flac16_44k.flac", &[44_100, 48_000]),
    ("flac24_96k.flac", &[96_000, 48_000]),
    ("flac16_48k_mono.flac", &[48_000, 44_100]),
    ("mp3_cbr.mp3", &[44_100, 48_000]),
    ("mp3_vbr.mp3", &[44_100, 48_000]),
    ("mp3_mono.mp3", &[44_100, 48_000]),
    ("vorbis.ogg", &[44_100, 48_000]),
    ("opus.ogg", &[48_000, 44_100]),
    ("wav16.wav", &[44_100, 48_000]),
    ("wav24_48k.wav", &[48_000, 44_100]),
    ("wav_mono.wav", &[22_050, 48_000]),
    ("aiff16.aiff", &[44_100, 48_000]),
    ("aac.m4a", &[44_100, 48_000]),
    ("alac.m4a", &[44_100, 48_000]),
    ("caf_pcm.caf", &[44_100, 48_000]),
    ("surround51.flac", &[48_000, 44_100]),
];

/// -90 dBFS: the order-independence tolerance.
pub const TOLERANCE: f32 = 3.2e-5;

/// Reads a 16- or 24-bit PCM WAV with hound as interleaved f32 (the reference decoder).
pub fn read_wav_pcm(path: &std::path::Path) -> (Vec<f32>, u32, u16) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
    let samples = r
        .samples::<i32>()
        .map(|s| s.unwrap() as f32 / scale)
        .collect();
    (samples, spec.sample_rate, spec.channels)
}

/// A counting global allocator (per test binary), so tests can prove a path allocates nothing.
pub mod alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU64, Ordering};

    thread_local! {
        static COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    static TOTAL: AtomicU64 = AtomicU64::new(0);

    struct Counting;

    // SAFETY: forwards to the system allocator unchanged; only counts calls.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            TOTAL.fetch_add(1, Ordering::Relaxed);
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as our caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as our caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Allocations made so far by the calling thread.
    pub fn count() -> u64 {
        COUNT.with(|c| c.get())
    }
}

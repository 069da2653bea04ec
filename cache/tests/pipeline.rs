//! The decode -> stereo -> resample pipeline, measured on the audio itself: exact lengths,
//! bit-exact lossless decoding, channel mapping, and a resampler that keeps tones where they
//! belong and removes what cannot be represented.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use std::f64::consts::PI;
use std::path::Path;

use hearth_cache::Source;
use hearth_cache::source::resample::BlockResampler;

use common::{FORMATS, fixture, read_wav_pcm};

fn read_all(path: &Path, rate: Option<u32>) -> (Vec<f32>, Source) {
    let mut src = Source::open(path, rate).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = vec![0.0; src.frames() as usize * 2];
    src.read(0, &mut out).unwrap();
    (out, src)
}

/// Lengths, in source frames, from how the fixtures were cut (see assets/fixtures/README.md).
fn expected_frames(name: &str) -> u64 {
    match name {
        "flac24_96k.flac" => 96_000,
        "wav24_48k.wav" | "surround51.flac" => 48_000,
        "aiff16.aiff" | "caf_pcm.caf" => 44_100,
        "flac16_48k_mono.flac" | "opus.ogg" => 96_000,
        "wav_mono.wav" => 44_100,
        _ => 88_200,
    }
}

#[test]
fn every_format_has_its_exact_length_at_source_rate_and_within_one_frame_resampled() {
    for &(name, rates) in FORMATS {
        let native = Source::open(&fixture(name), None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let src_frames = expected_frames(name);
        assert_eq!(
            native.frames(),
            src_frames,
            "{name}: length at the source rate"
        );
        let from = native.info().sample_rate;
        for &rate in rates {
            let s = Source::open(&fixture(name), Some(rate)).unwrap();
            let ideal = src_frames as f64 * f64::from(rate) / f64::from(from);
            assert!(
                (s.frames() as f64 - ideal).abs() <= 1.0,
                "{name} at {rate} Hz: {} frames, ideal {ideal}",
                s.frames()
            );
        }
    }
}

#[test]
fn lossless_formats_decode_bit_exact() {
    // All 16-bit 44.1 kHz stereo fixtures were encoded from the same clip as wav16.wav.
    let (reference, _, _) = read_wav_pcm(&fixture("wav16.wav"));
    for name in [
        "wav16.wav",
        "flac16_44k.flac",
        "alac.m4a",
        "aiff16.aiff",
        "caf_pcm.caf",
    ] {
        let (out, _) = read_all(&fixture(name), None);
        assert_eq!(out.len() % 2, 0);
        assert!(
            out.iter()
                .zip(&reference)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name} is not bit-exact"
        );
    }
    let (reference, _, _) = read_wav_pcm(&fixture("wav24_48k.wav"));
    let (out, _) = read_all(&fixture("wav24_48k.wav"), None);
    assert_eq!(out, reference, "24-bit WAV");
}

#[test]
fn flac_matches_its_own_md5_signature() {
    // FLAC stores the MD5 of the original PCM; re-quantising our f32 output must reproduce it.
    use symphonia::core::checksum::Md5;
    use symphonia::core::io::Monitor;
    for (name, bits, channels) in [
        ("flac16_44k.flac", 16u32, 2usize),
        ("flac24_96k.flac", 24, 2),
    ] {
        let path = fixture(name);
        let bytes = std::fs::read(&path).unwrap();
        // STREAMINFO is the first metadata block: MD5 is its last 16 bytes (offset 8 + 18).
        let md5: [u8; 16] = bytes[8 + 18..8 + 34].try_into().unwrap();
        let (out, _) = read_all(&path, None);
        let scale = (1i64 << (bits - 1)) as f32;
        let mut h = Md5::default();
        for frame in out.chunks_exact(2) {
            for &s in &frame[..channels] {
                let v = (s * scale) as i32;
                h.process_buf_bytes(&v.to_le_bytes()[..bits as usize / 8]);
            }
        }
        assert_eq!(
            h.md5(),
            md5,
            "{name}: decoded PCM does not match the file's MD5"
        );
    }
}

#[test]
fn mono_sources_play_on_both_channels() {
    for name in ["flac16_48k_mono.flac", "wav_mono.wav", "mp3_mono.mp3"] {
        let (out, _) = read_all(&fixture(name), None);
        assert!(out.chunks_exact(2).all(|f| f[0] == f[1]), "{name}");
        assert!(out.iter().any(|&s| s.abs() > 0.01), "{name} is silent");
    }
    let (reference, _, ch) = read_wav_pcm(&fixture("wav_mono.wav"));
    assert_eq!(ch, 1);
    let (out, _) = read_all(&fixture("wav_mono.wav"), None);
    assert!(out.chunks_exact(2).zip(&reference).all(|(f, r)| f[0] == *r));
}

#[test]
fn surround_is_folded_to_stereo_without_clipping() {
    let (out, src) = read_all(&fixture("surround51.flac"), None);
    assert_eq!(src.info().channels, 6);
    let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.05 && peak <= 1.0, "peak {peak}");
    // The side content (BL = -BR) survives as a difference between the outputs.
    let side: f32 = out
        .chunks_exact(2)
        .map(|f| (f[0] - f[1]).abs())
        .sum::<f32>();
    assert!(side / (out.len() / 2) as f32 > 1e-3);
}

fn write_tone(path: &Path, rate: u32, freq: f64, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..(f64::from(rate) * seconds) as u64 {
        let s = (0.5 * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()) as f32;
        w.write_sample(s).unwrap();
        w.write_sample(-s).unwrap();
    }
    w.finalize().unwrap();
}

/// Largest deviation from the ideal tone, away from the track's edges.
fn tone_error(out: &[f32], rate: u32, freq: f64) -> f32 {
    let frames = out.len() / 2;
    let margin = rate as usize / 20;
    (margin..frames - margin)
        .map(|n| {
            let ideal = (0.5 * (2.0 * PI * freq * n as f64 / f64::from(rate)).sin()) as f32;
            (out[2 * n] - ideal)
                .abs()
                .max((out[2 * n + 1] + ideal).abs())
        })
        .fold(0.0, f32::max)
}

#[test]
fn resampling_keeps_tones_in_place_and_in_phase() {
    let dir = tempfile::tempdir().unwrap();
    for (from, to, freq) in [
        (44_100, 48_000, 1000.0),
        (96_000, 48_000, 5000.0),
        (44_100, 48_000, 15_000.0),
    ] {
        let path = dir.path().join(format!("tone_{from}_{freq}.wav"));
        write_tone(&path, from, freq, 1.0);
        let (out, _) = read_all(&path, Some(to));
        let err = tone_error(&out, to, freq);
        // -60 dB relative to the tone: the band-limited resampler reproduces the analytic sine
        // at the new rate, with its delay compensated (any misalignment would show here).
        assert!(err < 0.5e-3, "{from}->{to} {freq} Hz: error {err}");
    }
}

#[test]
fn downsampling_removes_what_the_new_rate_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ultrasonic.wav");
    // 30 kHz at 96 kHz would alias to 18 kHz at 48 kHz without an anti-aliasing filter.
    write_tone(&path, 96_000, 30_000.0, 1.0);
    let (out, _) = read_all(&path, Some(48_000));
    let frames = out.len() / 2;
    let rms = (out[2 * 4800..2 * (frames - 4800)]
        .iter()
        .map(|s| s * s)
        .sum::<f32>()
        / (2 * (frames - 9600)) as f32)
        .sqrt();
    // The tone's RMS was 0.354: demand more than 80 dB of rejection.
    assert!(rms < 0.354e-4, "aliased energy {rms}");
}

#[test]
fn block_resampler_is_allocation_free_after_construction() {
    let mut rs = BlockResampler::new(44_100, 48_000).unwrap();
    let input = vec![0.25f32; rs.block_in() * 2];
    let mut output = vec![0.0f32; rs.block_out() * 2];
    rs.process(&input, &mut output).unwrap();
    let before = common::alloc::count();
    for _ in 0..50 {
        rs.process(&input, &mut output).unwrap();
    }
    assert_eq!(
        common::alloc::count() - before,
        0,
        "allocations while resampling"
    );
}

/// A file deleted while it is open keeps decoding what it was, in any order: restarting the
/// demuxer (a seek back to the start, AAC's fresh decoder per segment) reads through the
/// handle opened first, never the path again.
#[test]
fn a_deleted_file_keeps_decoding_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    for &(name, _) in FORMATS {
        let original = fixture(name);
        let ext = original
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = dir.path().join(format!("copy.{ext}"));
        std::fs::copy(&original, &copy).unwrap();
        let (whole, _) = read_all(&original, Some(48_000));
        let mut src = Source::open(&copy, Some(48_000)).unwrap();
        let frames = src.frames();
        let mut buf = vec![0.0f32; 4096 * 2];
        src.read(frames / 2, &mut buf).unwrap();
        std::fs::remove_file(&copy).unwrap();
        for start in [0, frames / 3, 0, frames - 4096] {
            src.read(start, &mut buf)
                .unwrap_or_else(|e| panic!("{name} after deletion, at {start}: {e}"));
            let at = start as usize * 2;
            assert_eq!(buf[..], whole[at..at + buf.len()], "{name} at {start}");
        }
    }
}

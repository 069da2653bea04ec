//! Channel mapping and sample-format conversion on the way to a device.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use cpal::{I24, U24};
use hearth_engine::output::{DeviceSample, Dither, write_frames};

fn conv<T: DeviceSample>(x: f32) -> T {
    T::from_f32(x, &mut Dither::default())
}

#[test]
fn f32_to_i16_scales_and_clips() {
    assert_eq!(conv::<i16>(0.0), 0);
    assert_eq!(conv::<i16>(-1.0), i16::MIN);
    // +1.0 clips one code below 2^15: the asymmetric convention.
    assert_eq!(conv::<i16>(1.0), i16::MAX);
    assert_eq!(conv::<i16>(1.5), i16::MAX);
    assert_eq!(conv::<i16>(-7.0), i16::MIN);
    assert_eq!(conv::<i16>(f32::INFINITY), i16::MAX);
    assert_eq!(conv::<i16>(f32::NEG_INFINITY), i16::MIN);
    assert_eq!(conv::<i16>(f32::NAN), 0);
    // Half scale lands within a dither step of 16384.
    assert!((i32::from(conv::<i16>(0.5)) - 16_384).abs() <= 1);
}

#[test]
fn unsigned_formats_are_offset_by_half_the_range() {
    assert_eq!(conv::<u8>(0.0), 128);
    assert_eq!(conv::<u8>(1.0), 255);
    assert_eq!(conv::<u8>(-1.0), 0);
    assert_eq!(conv::<u8>(3.0), 255);
    assert_eq!(conv::<u16>(0.0), 32_768);
    assert_eq!(conv::<u16>(1.0), 65_535);
    assert_eq!(conv::<u16>(-1.0), 0);
    assert_eq!(conv::<u16>(-2.0), 0);
    assert_eq!(conv::<U24>(0.0).inner(), 8_388_608);
    assert_eq!(conv::<U24>(-1.0).inner(), 0);
    assert_eq!(conv::<U24>(1.0).inner(), 16_777_215);
    assert_eq!(conv::<u32>(0.0), 1 << 31);
    assert_eq!(conv::<u32>(1.0), u32::MAX);
    assert_eq!(conv::<u64>(0.0), 1 << 63);
    assert_eq!(conv::<u64>(-1.0), 0);
    assert_eq!(<u8 as DeviceSample>::SILENCE, 128);
    assert_eq!(<u16 as DeviceSample>::SILENCE, 32_768);
}

#[test]
fn wide_formats_are_exact_and_undithered() {
    // 24 and 32 bits: no dither, so 0.5 is exactly half scale every time.
    let mut d = Dither::default();
    for _ in 0..100 {
        assert_eq!(I24::from_f32(0.5, &mut d).inner(), 4_194_304);
        assert_eq!(i32::from_f32(0.5, &mut d), 1 << 30);
    }
    assert_eq!(conv::<I24>(1.0).inner(), 8_388_607);
    assert_eq!(conv::<I24>(-1.0).inner(), -8_388_608);
    assert_eq!(conv::<i32>(1.0), i32::MAX);
    assert_eq!(conv::<i32>(-1.0), i32::MIN);
    assert_eq!(conv::<i32>(2.0), i32::MAX);
    assert_eq!(conv::<i64>(-1.0), i64::MIN);
    assert_eq!(conv::<i64>(1.0), i64::MAX);
    // Floats pass through, clipped, NaN silenced.
    assert_eq!(conv::<f32>(0.25), 0.25);
    assert_eq!(conv::<f32>(1.25), 1.0);
    assert_eq!(conv::<f32>(-1.25), -1.0);
    assert_eq!(conv::<f32>(f32::NAN), 0.0);
    assert_eq!(conv::<f64>(-0.125), -0.125);
}

#[test]
fn dither_stays_within_one_lsb_is_unbiased_and_deterministic() {
    let mut d = Dither::new(12_345);
    let mut sum_err = 0.0f64;
    let mut distinct = std::collections::BTreeSet::new();
    let mut sum_quiet = 0.0f64;
    let n = 200_000;
    for i in 0..n {
        // A sweep of values between codes, plus a constant quiet level.
        let x = if i % 2 == 0 {
            ((i as f32) * 0.000_37).sin() * 0.9
        } else {
            0.3 / 32_768.0
        };
        let exact = f64::from(x) * 32_768.0;
        let q = i16::from_f32(x, &mut d);
        let err = f64::from(q) - exact;
        assert!(
            (f64::from(q) - exact.round()).abs() <= 1.0,
            "x {x}: {q} is more than 1 LSB from {}",
            exact.round()
        );
        sum_err += err;
        if i % 2 == 1 {
            distinct.insert(q);
            sum_quiet += f64::from(q);
        }
    }
    // TPDF dither is unbiased: the mean error is a small fraction of an LSB.
    let mean = sum_err / f64::from(n);
    assert!(mean.abs() < 0.01, "mean error {mean} LSB");
    // A level of 0.3 LSB is not simply rounded away to 0: dither spreads it over codes, and
    // the average of those codes is the level.
    assert!(distinct.len() >= 2, "{distinct:?}");
    let quiet_mean = sum_quiet / f64::from(n / 2);
    assert!(
        (quiet_mean - 0.3).abs() < 0.02,
        "0.3 LSB came out as {quiet_mean}"
    );
    // Same seed, same noise.
    let run = |seed| {
        let mut d = Dither::new(seed);
        (0..64)
            .map(|i| i16::from_f32(i as f32 * 1e-3, &mut d))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    // Digital silence stays silent.
    let mut d = Dither::new(1);
    assert!((0..1000).all(|_| i16::from_f32(0.0, &mut d) == 0));
    assert!((0..1000).all(|_| u8::from_f32(0.0, &mut d) == 128));
}

#[test]
fn stereo_maps_to_mono_stereo_and_wider_layouts() {
    let stereo = [0.5f32, 0.25, -1.0, 1.0, 0.125, -0.125];
    let mut d = Dither::default();

    let mut mono = [9.0f32; 3];
    assert_eq!(write_frames(&stereo, &mut mono, 1, &mut d), 3);
    assert_eq!(mono, [0.375, 0.0, 0.0]);

    let mut two = [9.0f32; 6];
    assert_eq!(write_frames(&stereo, &mut two, 2, &mut d), 3);
    assert_eq!(two, stereo);

    // 5.1: L and R on the first two channels, silence on the other four.
    let mut six = [9.0f32; 18];
    assert_eq!(write_frames(&stereo, &mut six, 6, &mut d), 3);
    for (frame, lr) in six.chunks_exact(6).zip(stereo.chunks_exact(2)) {
        assert_eq!(frame, [lr[0], lr[1], 0.0, 0.0, 0.0, 0.0]);
    }
    // Unsigned silence on the extra channels is mid-scale, not 0.
    let mut six_u8 = [0u8; 6];
    write_frames(&[1.0, -1.0], &mut six_u8, 6, &mut d);
    assert_eq!(six_u8, [255, 0, 128, 128, 128, 128]);

    // A shorter device buffer takes what fits and leaves nothing half-written.
    let mut short = [7i16; 5];
    assert_eq!(write_frames(&stereo, &mut short, 2, &mut d), 2);
    assert_eq!(short[4], 7);
}

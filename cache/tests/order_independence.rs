//! Any chunk, produced on its own in any order by a fresh decoder, equals the same frames of a
//! front-to-back pass over the track: for every format fixture, at the source rate and
//! resampled up and down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use hearth_cache::Source;
use proptest::prelude::*;

use common::{FORMATS, TOLERANCE, fixture};

/// Small chunks so the 1-2 s fixtures have many, with boundaries off every codec's grid.
const CHUNK: u32 = 3001;

/// Front-to-back reference, computed once per (fixture, rate).
fn sequential(name: &'static str, rate: u32) -> &'static [f32] {
    type Cache = Mutex<HashMap<(&'static str, u32), &'static [f32]>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry((name, rate)).or_insert_with(|| {
        let mut src =
            Source::open(&fixture(name), Some(rate)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut all = vec![0.0f32; src.frames() as usize * 2];
        // Front to back in pieces that do not line up with the chunks.
        let mut pos = 0usize;
        for piece in all.chunks_mut(2 * 1777) {
            src.read(pos as u64, piece)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            pos += piece.len() / 2;
        }
        assert!(src.report().is_clean(), "{name}: {:?}", src.report());
        Box::leak(all.into_boxed_slice())
    })
}

fn check_order(name: &'static str, rate: u32, order: &[usize]) -> Result<(), TestCaseError> {
    let reference = sequential(name, rate);
    let mut src =
        Source::open(&fixture(name), Some(rate)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let count = (src.frames() as usize).div_ceil(CHUNK as usize);
    let mut chunk = Vec::new();
    for &k in order {
        let k = k % count;
        src.produce_chunk(k as u32, CHUNK, &mut chunk)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let start = k * CHUNK as usize * 2;
        let expected = &reference[start..start + chunk.len()];
        let worst = chunk
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        prop_assert!(
            worst <= TOLERANCE,
            "{name} at {rate} Hz: chunk {k} differs by {worst:e} (order {order:?})"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_chunk_orders_match_front_to_back(
        format in 0..FORMATS.len(),
        resampled in any::<bool>(),
        order in proptest::collection::vec(0usize..1000, 1..12),
    ) {
        let (name, rates) = FORMATS[format];
        check_order(name, rates[usize::from(resampled)], &order)?;
    }
}

/// Every fixture and rate at least once, every chunk, back to front (the worst order for a
/// decoder that only handles forward seeks).
#[test]
fn every_format_every_chunk_backwards() {
    for &(name, rates) in FORMATS {
        for &rate in rates {
            let frames = sequential(name, rate).len() / 2;
            let order: Vec<usize> = (0..frames.div_ceil(CHUNK as usize)).rev().collect();
            check_order(name, rate, &order).unwrap();
        }
    }
}

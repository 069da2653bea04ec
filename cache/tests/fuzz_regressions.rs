//! The fuzz targets' entry points (`hearth_cache::fuzzing`, driven by cargo-fuzz in `fuzz/`)
//! run over the seed corpus and over inputs that once mattered, in the normal suite: hostile
//! bytes must give an error or nothing — never a panic, a hang, or unbounded memory.
//!
//! A crash the fuzzer finds goes here, its input inline (or in `assets/fixtures/` if large).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod common;

use common::fixtures;
use hearth_cache::fuzzing;

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Every fixture under every extension hint, whole, cut short at several points, and with
/// bytes flipped through it.
#[test]
fn decode_survives_the_fixtures_cut_and_flipped() {
    let dir = scratch();
    let mut files: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        for hint in 0..9u8 {
            let mut input = vec![hint];
            input.extend_from_slice(&bytes);
            fuzzing::decode(dir.path(), &input);
        }
        for cut in [1usize, 7, 64, 300, 4096, bytes.len() / 2] {
            let mut input = vec![0u8];
            input.extend_from_slice(&bytes[..cut.min(bytes.len())]);
            fuzzing::decode(dir.path(), &input);
        }
        let mut flipped = bytes.clone();
        for i in (0..flipped.len()).step_by(97) {
            flipped[i] ^= 0x5A;
        }
        let mut input = vec![0u8];
        input.extend_from_slice(&flipped);
        fuzzing::decode(dir.path(), &input);
    }
}

#[test]
fn warm_file_parser_survives_crafted_headers() {
    let dir = scratch();
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![0; 4096],
        vec![0xFF; 5000],
        b"HEARTHWM".to_vec(),
        // Valid headers built by the target, then short, empty, or garbage bodies.
        vec![1, 0, 1, 0, 8, 1, 7, 0, 0, 0, 0],
        vec![1, 0x10, 0, 0x40, 0, 1, 2, 1],
        vec![1, 0xFF, 0xFF, 0xFF, 0xFF, 7, 3, 1, 0xAA, 0x55],
        vec![1, 0, 0, 0, 0, 0, 0, 0],
        {
            let mut v = vec![1, 0x20, 0, 0x00, 0x10, 1, 9, 0];
            v.extend(std::iter::repeat_n(0x01, 3000));
            v
        },
    ];
    for case in cases {
        fuzzing::warm_file(dir.path(), &case);
    }
}

#[test]
fn index_loader_survives_crafted_indexes() {
    let dir = scratch();
    let cases: &[&[u8]] = &[
        b"",
        b"   \n",
        b"{",
        b"null",
        b"[]",
        b"{\"version\":1}",
        b"{\"version\":1,\"next_seq\":0,\"counters\":{},\"tracks\":[]}",
        b"{\"version\":1,\"next_seq\":18446744073709551615,\"counters\":[],\"tracks\":[1,{},null]}",
        b"{\"version\":1,\"next_seq\":0,\"counters\":{},\"tracks\":[{\"id\":1,\"fingerprint\":{}}]}",
        b"{\"version\":99,\"tracks\":[]}",
        b"{\"version\":1,\"next_seq\":0,\"counters\":{\"hot_hits\":-1},\"tracks\":[{\"id\":1},{\"id\":1}]}",
        &[0xFF, 0xFE, 0x00, 0x7B],
    ];
    for case in cases {
        fuzzing::index(dir.path(), case);
    }
}

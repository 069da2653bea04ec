//! Long-file conformance: every format Hearth plays, made by ffmpeg at test time from three
//! minutes of music (the demo looped, with a stretch of digital silence), decoded by Hearth
//! and compared with ffmpeg's own decode of the same file.
//!
//! * `hearth render` (the binary): lossless formats bit-exact over the whole file; lossy ones
//!   aligned at lag 0 (±1 frame), correlated ≥ 0.99, as long as the source (±1 frame, after
//!   gapless trimming), and without a run of ≥ 64 digital-zero frames that ffmpeg's decode
//!   does not have.
//! * The player path (the offline engine with its filler, at the file's own rate): seeks to
//!   seeded random targets in every format, the audio after the crossfade compared with the
//!   reference at the target.
//!
//! The corpus includes what users make of their libraries: ALAC and AAC transcoded by ffmpeg
//! from Ogg Vorbis, whose jittery timestamps ffmpeg copies into the MP4 (the cause of the
//! dropouts once heard in real files).
//!
//! Needs `ffmpeg` (with libmp3lame, libvorbis, libopus) on the PATH, as the README's
//! prerequisites line installs. Generated files live under the target directory, never in
//! the repository.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use hearth::{EngineBuilder, Preset};

/// Frames of the source at 44.1 kHz: 180 s.
const SOURCE_SECONDS: f64 = 180.0;

/// One file of the corpus.
struct Case {
    name: &'static str,
    /// ffmpeg arguments after `-i INPUT`.
    args: &'static [&'static str],
    /// Encode from the Vorbis file instead of the source (a library transcode).
    from_vorbis: bool,
    lossless: bool,
    /// The file's sample rate.
    rate: u32,
}

const CASES: &[Case] = &[
    Case {
        name: "flac16.flac",
        args: &["-c:a", "flac", "-sample_fmt", "s16"],
        from_vorbis: false,
        lossless: true,
        rate: 44_100,
    },
    Case {
        name: "flac24.flac",
        args: &[
            "-ar",
            "48000",
            "-c:a",
            "flac",
            "-sample_fmt",
            "s32",
            "-bits_per_raw_sample",
            "24",
        ],
        from_vorbis: false,
        lossless: true,
        rate: 48_000,
    },
    Case {
        name: "wav16.wav",
        args: &["-c:a", "pcm_s16le"],
        from_vorbis: false,
        lossless: true,
        rate: 44_100,
    },
    Case {
        name: "aiff16.aiff",
        args: &["-c:a", "pcm_s16be"],
        from_vorbis: false,
        lossless: true,
        rate: 44_100,
    },
    Case {
        name: "alac.m4a",
        args: &["-c:a", "alac"],
        from_vorbis: false,
        lossless: true,
        rate: 44_100,
    },
    Case {
        name: "alac_from_vorbis.m4a",
        args: &["-c:a", "alac"],
        from_vorbis: true,
        lossless: true,
        rate: 44_100,
    },
    Case {
        name: "aac.m4a",
        args: &["-c:a", "aac", "-b:a", "192k"],
        from_vorbis: false,
        lossless: false,
        rate: 44_100,
    },
    Case {
        name: "aac_from_vorbis.m4a",
        args: &["-c:a", "aac", "-b:a", "192k"],
        from_vorbis: true,
        lossless: false,
        rate: 44_100,
    },
    Case {
        name: "mp3_cbr.mp3",
        args: &["-c:a", "libmp3lame", "-b:a", "192k"],
        from_vorbis: false,
        lossless: false,
        rate: 44_100,
    },
    Case {
        name: "mp3_vbr.mp3",
        args: &["-c:a", "libmp3lame", "-q:a", "2"],
        from_vorbis: false,
        lossless: false,
        rate: 44_100,
    },
    Case {
        name: "vorbis.ogg",
        args: &["-c:a", "libvorbis", "-q:a", "5"],
        from_vorbis: false,
        lossless: false,
        rate: 44_100,
    },
    Case {
        name: "opus.opus",
        args: &["-c:a", "libopus", "-b:a", "128k"],
        from_vorbis: false,
        lossless: false,
        rate: 48_000,
    },
    Case {
        name: "opus_mono.ogg",
        args: &["-ac", "1", "-c:a", "libopus", "-b:a", "64k"],
        from_vorbis: false,
        lossless: false,
        rate: 48_000,
    },
    Case {
        name: "opus.webm",
        args: &["-c:a", "libopus", "-b:a", "128k"],
        from_vorbis: false,
        lossless: false,
        rate: 48_000,
    },
];

/// The generated corpus: the source and every case, made once per test process.
struct Corpus {
    dir: PathBuf,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let demo = support::asset("demo.flac");
        let source = dir.join("source.wav");
        // The demo looped to three minutes, with 1.5 s of digital silence at 60 s.
        let graph = format!(
            "[0:a]atrim=0:60,asetpts=PTS-STARTPTS[a];\
             anullsrc=r=44100:cl=stereo,atrim=0:1.5[s];\
             [0:a]atrim=60:{end},asetpts=PTS-STARTPTS[b];\
             [a][s][b]concat=n=3:v=0:a=1,aresample=44100[out]",
            end = SOURCE_SECONDS - 1.5
        );
        ffmpeg(&[
            "-stream_loop",
            "5",
            "-i",
            path_str(&demo),
            "-filter_complex",
            &graph,
            "-map",
            "[out]",
            "-c:a",
            "pcm_s16le",
            path_str(&source),
        ]);
        let vorbis = dir.join("intermediate_vorbis.ogg");
        ffmpeg(&[
            "-i",
            path_str(&source),
            "-c:a",
            "libvorbis",
            "-q:a",
            "4",
            path_str(&vorbis),
        ]);
        for case in CASES {
            let input = if case.from_vorbis { &vorbis } else { &source };
            let mut args = vec!["-i", path_str(input)];
            args.extend_from_slice(case.args);
            let out = dir.join(case.name);
            args.push(path_str(&out));
            ffmpeg(&args);
            ffmpeg_decode_to(&out, &reference_path(&out));
        }
        ffmpeg_decode_to(&vorbis, &reference_path(&vorbis));
        Corpus { dir }
    })
}

fn path_str(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display()))
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("ffmpeg is needed for this test (see the README's prerequisites): {e}")
        });
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn reference_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".ffmpeg.f32");
    PathBuf::from(name)
}

/// Decodes `file` with ffmpeg into `raw`: interleaved stereo f32le at the file's rate.
fn ffmpeg_decode_to(file: &Path, raw: &Path) {
    ffmpeg(&[
        "-i",
        path_str(file),
        "-map",
        "0:a:0",
        "-ac",
        "2",
        "-f",
        "f32le",
        path_str(raw),
    ]);
}

/// ffmpeg's decode of a corpus file (made with the corpus).
fn ffmpeg_decode(file: &Path) -> Vec<f32> {
    let bytes = std::fs::read(reference_path(file)).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(path).unwrap();
    let rate = r.spec().sample_rate;
    let v = r.samples::<f32>().collect::<Result<Vec<_>, _>>().unwrap();
    (v, rate)
}

fn frames(x: &[f32]) -> usize {
    x.len() / 2
}

/// Correlation of `a` and `b` (interleaved stereo) over frames `from..to`, `b` shifted by
/// `lag` frames (a[i] against b[i + lag]).
fn correlation(a: &[f32], b: &[f32], from: usize, to: usize, lag: i64) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for i in from..to {
        let j = i as i64 + lag;
        if j < 0 || j as usize >= frames(b) || i >= frames(a) {
            continue;
        }
        for c in 0..2 {
            let x = f64::from(a[i * 2 + c]);
            let y = f64::from(b[j as usize * 2 + c]);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
    }
    if aa == 0.0 && bb == 0.0 {
        return 1.0;
    }
    ab / (aa * bb).sqrt().max(1e-30)
}

/// The lag (in −64..=64 frames) at which `b` best matches `a` over frames `from..to`.
fn best_lag(a: &[f32], b: &[f32], from: usize, to: usize) -> i64 {
    (-64..=64)
        .max_by(|&x, &y| correlation(a, b, from, to, x).total_cmp(&correlation(a, b, from, to, y)))
        .unwrap_or(0)
}

/// Runs of at least `min` frames that are digital zero in `got` but not in `reference` (at
/// the same position), as (start frame, length).
fn zero_runs_not_in(got: &[f32], reference: &[f32], min: usize) -> Vec<(usize, usize)> {
    let n = frames(got).min(frames(reference));
    let mut runs = Vec::new();
    let mut start = None;
    for i in 0..=n {
        let zero_here = i < n
            && got[i * 2] == 0.0
            && got[i * 2 + 1] == 0.0
            && (reference[i * 2] != 0.0 || reference[i * 2 + 1] != 0.0);
        match (zero_here, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= min {
                    runs.push((s, i - s));
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// The checks the issue names for a lossy decode `got` against ffmpeg's `reference`.
fn check_lossy(name: &str, got: &[f32], reference: &[f32], rate: u32) {
    let n = frames(got).min(frames(reference));
    let whole = correlation(got, reference, 0, n, 0);
    assert!(whole >= 0.99, "{name}: correlation {whole:.5} at lag 0");
    for at in [0.2, 0.5, 0.8] {
        let from = (n as f64 * at) as usize;
        let to = from + rate as usize / 4;
        let lag = best_lag(got, reference, from, to);
        assert!(lag.abs() <= 1, "{name}: best lag {lag} frames around {at}");
    }
    let runs = zero_runs_not_in(got, reference, 64);
    assert!(
        runs.is_empty(),
        "{name}: {} runs of digital silence ffmpeg does not have, first {:?}",
        runs.len(),
        runs.first()
    );
}

#[test]
fn every_format_renders_like_ffmpegs_decode_over_three_minutes() {
    let corpus = corpus();
    let cache = tempfile::tempdir().unwrap();
    let source_frames = |rate: u32| (SOURCE_SECONDS * f64::from(rate)).round() as i64;
    let vorbis_frames = frames(&ffmpeg_decode(&corpus.dir.join("intermediate_vorbis.ogg")));
    for case in CASES {
        let file = corpus.dir.join(case.name);
        let out = corpus.dir.join(format!("{}.hearth.wav", case.name));
        let o = support::hearth(cache.path())
            .arg("render")
            .arg(&file)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let (got, rate) = read_wav(&out);
        let _ = std::fs::remove_file(&out);
        assert_eq!(rate, case.rate, "{}: rate", case.name);
        let reference = ffmpeg_decode(&file);
        // Length: the source's, after gapless trimming (a transcode: the Vorbis file's).
        let want = if case.from_vorbis {
            vorbis_frames as i64
        } else {
            source_frames(rate)
        };
        let len = frames(&got) as i64;
        assert!(
            (len - want).abs() <= 1,
            "{}: {len} frames, the source has {want}",
            case.name
        );
        if case.lossless {
            assert_eq!(frames(&got), frames(&reference), "{}: length", case.name);
            let first_diff = got.iter().zip(&reference).position(|(a, b)| a != b);
            assert_eq!(
                first_diff, None,
                "{}: not bit-exact from sample {first_diff:?}",
                case.name
            );
        } else {
            check_lossy(case.name, &got, &reference, rate);
        }
    }
}

#[test]
fn the_player_seeks_into_every_format_like_ffmpegs_decode() {
    let corpus = corpus();
    // The renderer's seek crossfade (8 ms) at the slowest rate, plus margin.
    let settle = |rate: u32| (rate as usize * 10) / 1000;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for case in CASES {
        let file = corpus.dir.join(case.name);
        let reference = ffmpeg_decode(&file);
        let cache = tempfile::tempdir().unwrap();
        let (engine, mut renderer) = EngineBuilder::new()
            .rate(case.rate)
            .cache_dir(cache.path())
            .enhancement(false, Preset::Adaptive, 1.0)
            .warm_ahead(false)
            .build_offline()
            .unwrap();
        engine.enqueue(&file).unwrap();
        engine.play().unwrap();
        let mut buf = vec![0.0f32; 1024 * 2];
        renderer.render(&mut buf);
        let total_ms = (SOURCE_SECONDS * 1000.0) as u64 - 3000;
        for _ in 0..6 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Whole 10 ms steps: an exact frame at every rate used here.
            let ms = (seed % total_ms) / 10 * 10;
            let target = (ms * u64::from(case.rate) / 1000) as usize;
            engine.seek(Duration::from_millis(ms)).unwrap();
            let span = case.rate as usize / 2;
            let mut got = vec![0.0f32; span * 2];
            for b in got.chunks_mut(1024 * 2) {
                renderer.render(b);
            }
            let skip = settle(case.rate);
            let got = &got[skip * 2..];
            let want = &reference[(target + skip) * 2..(target + span) * 2];
            let what = format!("{} seek to {ms} ms", case.name);
            if case.lossless {
                let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
                assert!(
                    first_diff.is_none(),
                    "{what}: differs from the reference at sample {first_diff:?} (best lag {})",
                    best_lag(got, want, 0, frames(got))
                );
            } else {
                let lag = best_lag(got, want, 0, frames(got).min(case.rate as usize / 4));
                assert!(lag.abs() <= 1, "{what}: lag {lag}");
                let c = correlation(got, want, 0, frames(got), 0);
                assert!(c >= 0.99, "{what}: correlation {c:.4}");
                let runs = zero_runs_not_in(got, want, 64);
                assert!(runs.is_empty(), "{what}: digital silence at {runs:?}");
            }
        }
    }
}

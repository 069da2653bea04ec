//! End-to-end tests of `hearth probe` and `hearth render`: what a user sees, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is how a test fails

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hearth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run hearth: {e}"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/fixtures")
        .join(name)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_f32_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let s = r.samples::<f32>().map(|s| s.unwrap()).collect();
    (spec, s)
}

/// Files in `dir` (to prove a failed render left nothing behind).
fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            e.map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn probe_json_describes_the_file() {
    let o = hearth(&[
        "probe",
        "--json",
        fixture("flac24_96k.flac").to_str().unwrap_or_default(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["container"], "flac");
    assert_eq!(v["codec"], "flac");
    assert_eq!(v["sample_rate"], 96_000);
    assert_eq!(v["channels"], 2);
    assert_eq!(v["bits_per_sample"], 24);
    assert_eq!(v["frames"], 96_000);
    assert_eq!(v["duration_seconds"], 1.0);
    assert_eq!(v["tags"]["artist"], "Hearth");

    let o = hearth(&[
        "probe",
        "--json",
        fixture("mp3_cbr.mp3").to_str().unwrap_or_default(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["codec"], "mp3");
    assert_eq!(v["frames"], 88_200, "gapless length");
    assert!(v["gapless"]["delay"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn probe_text_is_readable() {
    let o = hearth(&["probe", fixture("vorbis.ogg").to_str().unwrap_or_default()]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "container:   ogg",
        "codec:       vorbis",
        "sample rate: 44100 Hz",
        "duration:    0:02.000",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn render_at_source_rate_is_bit_exact_and_resampled_is_one_frame_close() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    let o = hearth(&[
        "render",
        fixture("flac16_44k.flac").to_str().unwrap_or_default(),
        "-o",
        out.to_str().unwrap_or_default(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (spec, samples) = read_f32_wav(&out);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 44_100, 32)
    );
    assert_eq!(spec.sample_format, hound::SampleFormat::Float);
    let mut reference = hound::WavReader::open(fixture("wav16.wav")).unwrap();
    let reference: Vec<f32> = reference
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap_or_default()) / 32768.0)
        .collect();
    assert_eq!(samples, reference);

    let o = hearth(&[
        "render",
        fixture("mp3_vbr.mp3").to_str().unwrap_or_default(),
        "-o",
        out.to_str().unwrap_or_default(),
        "--rate",
        "48000",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (spec, samples) = read_f32_wav(&out);
    assert_eq!(spec.sample_rate, 48_000);
    assert!(
        (samples.len() as i64 / 2 - 96_000).abs() <= 1,
        "{} frames",
        samples.len() / 2
    );
    assert_eq!(files_in(dir.path()), vec!["out.wav".to_string()]);
}

/// Each bad input: exit code 2, one line naming the file and the reason, no output file.
#[test]
fn bad_input_is_one_line_exit_2_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.wav");
    let missing = dir.path().join("missing.flac");
    let cases: Vec<(PathBuf, &str)> = vec![
        (missing, "No such file"),
        (fixture(""), "is a directory"),
        (fixture("not_audio.flac"), "not a recognised audio file"),
        (fixture("empty.flac"), "file is empty"),
        (fixture("truncated.flac"), "audio ends at"),
        (fixture("garbage_tail.flac"), "audio ends at"),
        (fixture("garbage_after_header.wav"), "audio ends at"),
        (fixture("ac3.mka"), "unsupported codec: AC-3"),
    ];
    for (path, reason) in cases {
        let p = path.to_str().unwrap_or_default();
        for args in [
            vec!["render", p, "-o", out.to_str().unwrap_or_default()],
            vec!["probe", p],
        ] {
            let o = hearth(&args);
            let err = stderr(&o);
            if args[0] == "probe" && reason == "audio ends at" {
                // Probing does not decode: a damaged body is render's business.
                assert!(o.status.success(), "{args:?}: {err}");
                continue;
            }
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
            assert!(
                err.contains(p.trim_end_matches('/')),
                "{args:?}: does not name the file: {err}"
            );
            assert!(
                err.contains(reason),
                "{args:?}: expected {reason:?} in {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
        assert!(
            files_in(dir.path()).is_empty(),
            "{}: left {:?}",
            path.display(),
            files_in(dir.path())
        );
    }
}

#[test]
fn partial_renders_what_decodes_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("partial.wav");
    let o = hearth(&[
        "render",
        "--partial",
        fixture("truncated.flac").to_str().unwrap_or_default(),
        "-o",
        out.to_str().unwrap_or_default(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning"), "{}", stderr(&o));
    let (_, samples) = read_f32_wav(&out);
    let frames = samples.len() / 2;
    assert!(frames > 20_000 && frames < 88_200, "{frames} frames");
    // What it kept is the start of the real audio, bit for bit.
    let mut reference = hound::WavReader::open(fixture("wav16.wav")).unwrap();
    let reference: Vec<f32> = reference
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap_or_default()) / 32768.0)
        .collect();
    assert_eq!(&samples[..], &reference[..samples.len()]);
}

#[test]
fn bad_flag_values_are_rejected() {
    let o = hearth(&[
        "render",
        fixture("wav16.wav").to_str().unwrap_or_default(),
        "-o",
        "/tmp/x.wav",
        "--rate",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn analyze_reports_loudness_and_render_masters_to_the_preset() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo.flac");
    let o = hearth(&["analyze", "--json", demo.to_str().unwrap_or_default()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lufs = v["integrated_lufs"].as_f64().unwrap_or(0.0);
    assert!((-18.0..-15.0).contains(&lufs), "{v}");
    assert!(v["loudness_range_lu"].as_f64().unwrap_or(0.0) > 5.0);
    assert!(v["true_peak_dbtp"].as_f64().unwrap_or(0.0) > -2.0);
    assert_eq!(v["duration_seconds"], 40.0);
    assert_eq!(
        v["estimate"]["integrated_lufs"], v["integrated_lufs"],
        "the demo is analysed whole"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loud.wav");
    let o = hearth(&[
        "render",
        fixture("vorbis.ogg").to_str().unwrap_or_default(),
        "-o",
        out.to_str().unwrap_or_default(),
        "--preset",
        "loudness",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = hearth(&["analyze", "--json", out.to_str().unwrap_or_default()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lufs = v["integrated_lufs"].as_f64().unwrap_or(0.0);
    assert!(
        (lufs + 18.0).abs() <= 0.5,
        "loudness preset rendered at {lufs} LUFS"
    );
    assert!(v["true_peak_dbtp"].as_f64().unwrap_or(0.0) <= -1.0);

    // Intensity 0 is the original, bit for bit.
    let plain = dir.path().join("plain.wav");
    let zero = dir.path().join("zero.wav");
    let f = fixture("flac16_44k.flac");
    assert!(
        hearth(&[
            "render",
            f.to_str().unwrap_or_default(),
            "-o",
            plain.to_str().unwrap_or_default()
        ])
        .status
        .success()
    );
    let o = hearth(&[
        "render",
        f.to_str().unwrap_or_default(),
        "-o",
        zero.to_str().unwrap_or_default(),
        "--preset",
        "punchy",
        "--intensity",
        "0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_f32_wav(&plain).1, read_f32_wav(&zero).1);

    let o = hearth(&[
        "render",
        f.to_str().unwrap_or_default(),
        "-o",
        zero.to_str().unwrap_or_default(),
        "--preset",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown preset"), "{}", stderr(&o));
    let o = hearth(&[
        "render",
        f.to_str().unwrap_or_default(),
        "-o",
        zero.to_str().unwrap_or_default(),
        "--preset",
        "warm",
        "--intensity",
        "1.5",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

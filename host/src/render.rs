//! `hearth render`: decode a whole file through the pipeline into a 32-bit float WAV.
//!
//! The WAV is written to a temporary file beside the destination and renamed into place only
//! when everything succeeded, so a failed render leaves nothing behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hearth::{ENGINE_CHANNELS, Source};

use crate::cli::RenderArgs;
use crate::failure::{Failure, source_failure};

/// Frames read per step.
const BLOCK: usize = 65_536;

/// Runs `hearth render`.
pub fn run(args: &RenderArgs) -> Result<(), Failure> {
    let summary = render_file(&args.file, &args.output, args.rate, args.partial)?;
    eprintln!(
        "rendered {} -> {} ({} frames at {} Hz, {:.1} s in {:.2} s, {:.0}x real time)",
        args.file.display(),
        args.output.display(),
        summary.frames,
        summary.rate,
        summary.seconds(),
        summary.elapsed.as_secs_f64(),
        summary.seconds() / summary.elapsed.as_secs_f64().max(1e-9),
    );
    Ok(())
}

/// Without a subcommand (until the player exists): render the demo and say where it went.
pub fn render_demo() -> Result<(), Failure> {
    let demo = crate::demo::path()?;
    let out = std::env::temp_dir().join("hearth-demo.wav");
    let summary = render_file(&demo, &out, None, false)?;
    println!(
        "Rendered the demo track ({:.1} s at {} Hz) to {}",
        summary.seconds(),
        summary.rate,
        out.display()
    );
    Ok(())
}

/// What a render produced.
#[derive(Debug)]
pub struct Summary {
    /// Frames written.
    pub frames: u64,
    /// Their rate.
    pub rate: u32,
    /// Wall-clock time taken.
    pub elapsed: Duration,
}

impl Summary {
    fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.rate)
    }
}

/// Renders `input` to `output` at `rate` (the source rate when `None`).
pub fn render_file(
    input: &Path,
    output: &Path,
    rate: Option<u32>,
    partial: bool,
) -> Result<Summary, Failure> {
    let started = Instant::now();
    let mut source = Source::open(input, rate).map_err(|e| source_failure(input, e))?;
    let rate = source.engine_rate();
    let (tmp, mut writer) = create_wav(output, rate)?;
    let result = (|| {
        let total = source.frames();
        let mut buf = vec![0.0f32; BLOCK * ENGINE_CHANNELS];
        let mut pos = 0u64;
        let mut written = 0u64;
        while pos < total {
            let n = (total - pos).min(BLOCK as u64) as usize;
            let block = &mut buf[..n * ENGINE_CHANNELS];
            source
                .read(pos, block)
                .map_err(|e| source_failure(input, e))?;
            // A stream that ended early: keep only what decoded.
            let keep = match source.report().ended_early_at {
                Some(end) => {
                    let end = hearth::time::engine_frames(end, source.info().sample_rate, rate);
                    end.saturating_sub(pos).min(n as u64) as usize
                }
                None => n,
            };
            for &s in &block[..keep * ENGINE_CHANNELS] {
                writer
                    .write_sample(s)
                    .map_err(|e| Failure::other(output.display(), e))?;
            }
            written += keep as u64;
            pos += n as u64;
            if keep < n {
                break;
            }
        }
        check_report(input, &source, partial)?;
        writer
            .finalize()
            .map_err(|e| Failure::other(output.display(), e))?;
        Ok(written)
    })();
    match result {
        Ok(frames) => {
            tmp.persist(output)
                .map_err(|e| Failure::other(output.display(), e.error))?;
            Ok(Summary {
                frames,
                rate,
                elapsed: started.elapsed(),
            })
        }
        // Dropping `tmp` deletes the partial file.
        Err(e) => Err(e),
    }
}

/// Strict by default: a truncated or damaged stream fails the render; `--partial` keeps what
/// decoded and warns.
fn check_report(input: &Path, source: &Source, partial: bool) -> Result<(), Failure> {
    let report = source.report();
    let rate = source.info().sample_rate;
    let err = if let Some(end) = report.ended_early_at {
        Some(hearth::SourceError::Truncated {
            decoded_seconds: end as f64 / f64::from(rate),
            expected_seconds: source.info().duration().as_secs_f64(),
        })
    } else {
        report
            .first_corruption
            .as_ref()
            .map(|(at, reason)| hearth::SourceError::Corrupt {
                at_seconds: *at as f64 / f64::from(rate),
                reason: reason.clone(),
            })
    };
    match err {
        None => Ok(()),
        Some(e) if partial => {
            eprintln!(
                "hearth: warning: {}: {e}; rendered what decoded",
                input.display()
            );
            Ok(())
        }
        Some(e) => Err(Failure::file(
            input,
            format!("{e} (use --partial to render what decodes)"),
        )),
    }
}

type WavWriter = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

fn create_wav(output: &Path, rate: u32) -> Result<(tempfile::NamedTempFile, WavWriter), Failure> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".hearth-render-")
        .suffix(".wav.tmp")
        .tempfile_in(&dir)
        .map_err(|e| Failure::other(format!("cannot write to {}", dir.display()), e))?;
    let file = tmp
        .reopen()
        .map_err(|e| Failure::other(tmp.path().display(), e))?;
    let spec = hound::WavSpec {
        channels: ENGINE_CHANNELS as u16,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let writer = hound::WavWriter::new(std::io::BufWriter::new(file), spec)
        .map_err(|e| Failure::other(output.display(), e))?;
    Ok((tmp, writer))
}

/// `m:ss.mmm` (or `h:mm:ss.mmm`).
pub fn clock(d: Duration) -> String {
    let ms = d.as_millis();
    let (h, m, s, ms) = (
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000,
    );
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("{m}:{s:02}.{ms:03}")
    }
}

//! `hearth render`: decode a whole file through the pipeline into a 32-bit float WAV.
//!
//! The WAV is written to a temporary file beside the destination and renamed into place only
//! when everything succeeded, so a failed render leaves nothing behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hearth::{Chain, ENGINE_CHANNELS, Preset, Source, enhance, intensity};

use crate::cli::RenderArgs;
use crate::failure::{Failure, source_failure};

/// Frames read per step.
const BLOCK: usize = 65_536;

/// Runs `hearth render`: one input to a file, or several into a directory, in parallel.
pub fn run(args: &RenderArgs) -> Result<(), Failure> {
    let options = Options {
        rate: args.rate,
        partial: args.partial,
        preset: args.preset,
        intensity: args.intensity.unwrap_or(1.0),
    };
    if args.inputs.len() == 1 && !args.output.is_dir() {
        let input = &args.inputs[0];
        let summary = render_file(input, &args.output, &options)?;
        eprintln!("{}", summary_line(input, &args.output, &summary, &options));
        return Ok(());
    }
    batch(args, &options)
}

fn summary_line(input: &Path, output: &Path, summary: &Summary, options: &Options) -> String {
    let mastering = match (&summary.mastering, options.preset) {
        (Some(m), Some(p)) => format!(", {p} at intensity {:.2}, {m}", options.intensity),
        _ => String::new(),
    };
    format!(
        "rendered {} -> {} ({} frames at {} Hz, {:.1} s in {:.2} s, {:.0}x real time{mastering})",
        input.display(),
        output.display(),
        summary.frames,
        summary.rate,
        summary.seconds(),
        summary.elapsed.as_secs_f64(),
        summary.seconds() / summary.elapsed.as_secs_f64().max(1e-9),
    )
}

/// Several inputs into a directory (created if missing), `jobs` at a time, with progress.
fn batch(args: &RenderArgs, options: &Options) -> Result<(), Failure> {
    let dir = &args.output;
    std::fs::create_dir_all(dir).map_err(|e| Failure::other(dir.display(), e))?;
    let mut problems = Vec::new();
    let inputs = crate::paths::expand(&args.inputs, &mut problems);
    for p in problems {
        eprintln!("hearth: warning: {p}");
    }
    // Output names from input names; duplicates get a counter.
    let mut seen = std::collections::HashMap::new();
    let jobs_list: Vec<(PathBuf, PathBuf)> = inputs
        .iter()
        .map(|i| {
            let stem = i
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "track".into());
            let n = seen.entry(stem.clone()).or_insert(0u32);
            *n += 1;
            let name = if *n == 1 {
                format!("{stem}.wav")
            } else {
                format!("{stem} ({n}).wav")
            };
            (i.clone(), dir.join(name))
        })
        .collect();
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(2, |n| n.get()),
        usize::from,
    );
    let bar = indicatif::ProgressBar::new(jobs_list.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rendering [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let work = std::sync::Mutex::new(jobs_list.iter().rev().collect::<Vec<_>>());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(jobs_list.len()).max(1) {
            scope.spawn(|| {
                while let Some((input, output)) = work.lock().ok().and_then(|mut w| w.pop()) {
                    bar.set_message(
                        input
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    );
                    match render_file(input, output, options) {
                        Ok(s) => bar.println(summary_line(input, output, &s, options)),
                        Err(e) => {
                            if let Ok(mut f) = failures.lock() {
                                f.push(e.to_string());
                            }
                        }
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let failures = failures.into_inner().unwrap_or_default();
    for f in &failures {
        eprintln!("hearth: {f}");
    }
    eprintln!(
        "rendered {} of {} files into {}",
        jobs_list.len() - failures.len(),
        jobs_list.len(),
        dir.display()
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::BadInput(format!(
            "{} of {} files could not be rendered",
            failures.len(),
            jobs_list.len()
        )))
    }
}

/// How to render.
#[derive(Debug, Clone)]
pub struct Options {
    /// Engine rate; the source's when `None`.
    pub rate: Option<u32>,
    /// Keep what decodes from a damaged file instead of failing.
    pub partial: bool,
    /// Master with this preset.
    pub preset: Option<Preset>,
    /// Mix of the mastered variant (with a preset).
    pub intensity: f32,
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
    /// With a preset: a note on the loudness gain applied.
    pub mastering: Option<String>,
}

impl Summary {
    fn seconds(&self) -> f64 {
        self.frames as f64 / f64::from(self.rate)
    }
}

/// Renders `input` to `output`.
pub fn render_file(input: &Path, output: &Path, options: &Options) -> Result<Summary, Failure> {
    let started = Instant::now();
    let fail = |e| source_failure(input, e);
    let mut source = Source::open(input, options.rate).map_err(fail)?;
    let rate = source.engine_rate();
    let (tmp, mut writer) = create_wav(output, rate)?;
    let mut written = 0u64;
    // Writes a block, cut where the decoded audio ends (a truncated file); false once cut.
    let mut emit = |block: &[f32], decoded_end: Option<u64>| -> Result<bool, std::io::Error> {
        let frames = (block.len() / ENGINE_CHANNELS) as u64;
        let keep = decoded_end.map_or(frames, |end| end.saturating_sub(written).min(frames));
        for &s in &block[..keep as usize * ENGINE_CHANNELS] {
            writer.write_sample(s).map_err(std::io::Error::other)?;
        }
        written += keep;
        Ok(keep == frames)
    };
    let write_err = |e: std::io::Error| Failure::other(output.display(), e);
    let mut mastering = None;
    match options.preset {
        None => {
            let total = source.frames();
            let mut buf = vec![0.0f32; BLOCK * ENGINE_CHANNELS];
            let mut pos = 0u64;
            while pos < total {
                let n = (total - pos).min(BLOCK as u64) as usize;
                let block = &mut buf[..n * ENGINE_CHANNELS];
                source.read(pos, block).map_err(fail)?;
                pos += n as u64;
                if !emit(block, source.decoded_end()).map_err(write_err)? {
                    break;
                }
            }
        }
        Some(preset) => {
            let analysis = enhance::analyse(&mut source, false).map_err(fail)?;
            let calibration = enhance::calibrate(&mut source, preset, &analysis).map_err(fail)?;
            let mut chain = Chain::new(preset, &analysis, calibration, rate);
            mastering = Some(format!(
                "source {:.1} LUFS, gain {:+.1} dB",
                analysis.integrated_lufs,
                chain.gain_db()
            ));
            let mut mixed = Vec::with_capacity(BLOCK * ENGINE_CHANNELS);
            let mut io_error = None;
            let mut cut = false;
            enhance::stream_enhanced(&mut source, &mut chain, |orig, enh, decoded_end| {
                if cut || io_error.is_some() {
                    return Ok(());
                }
                mixed.clear();
                mixed.extend(
                    orig.iter()
                        .zip(enh)
                        .map(|(&o, &e)| intensity::mix(o, e, options.intensity)),
                );
                match emit(&mixed, decoded_end) {
                    Ok(whole) => cut = !whole,
                    Err(e) => io_error = Some(e),
                }
                Ok(())
            })
            .map_err(fail)?;
            if let Some(e) = io_error {
                return Err(write_err(e));
            }
        }
    }
    check_report(input, &source, options.partial)?;
    writer
        .finalize()
        .map_err(|e| Failure::other(output.display(), e))?;
    // Until here, dropping `tmp` on an error path deletes the partial file.
    tmp.persist(output)
        .map_err(|e| Failure::other(output.display(), e.error))?;
    Ok(Summary {
        frames: written,
        rate,
        elapsed: started.elapsed(),
        mastering,
    })
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

//! `hearth analyze FILE [--json]`: loudness per ITU-R BS.1770-4 / EBU R128.
//!
//! Shows the full front-to-back analysis, and beside it the estimate the mastering chain uses
//! (identical for tracks up to 75 s; from fixed windows for longer ones).

use hearth::{Source, TrackAnalysis, enhance};
use serde_json::json;

use crate::cli::AnalyzeArgs;
use crate::failure::{Failure, source_failure};

/// Runs `hearth analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<(), Failure> {
    let fail = |e| source_failure(&args.file, e);
    let mut source = Source::open(&args.file, args.rate).map_err(fail)?;
    let full = enhance::analyse(&mut source, true).map_err(fail)?;
    let estimate = enhance::analyse(&mut source, false).map_err(fail)?;
    if let Some(end) = source.report().ended_early_at {
        eprintln!(
            "hearth: warning: {}: audio ends at {:.3} s of {:.3} s; analysed what decoded",
            args.file.display(),
            end as f64 / f64::from(source.info().sample_rate),
            source.info().duration().as_secs_f64()
        );
    }
    if args.json {
        println!(
            "{}",
            to_json(&args.file.display().to_string(), &full, &estimate)
        );
    } else {
        print!(
            "{}",
            to_text(&args.file.display().to_string(), &full, &estimate)
        );
    }
    Ok(())
}

/// The `--json` object. Keys are an interface: keep them stable.
pub fn to_json(file: &str, full: &TrackAnalysis, estimate: &TrackAnalysis) -> serde_json::Value {
    json!({
        "file": file,
        "integrated_lufs": round(full.integrated_lufs),
        "loudness_range_lu": round(full.loudness_range_lu),
        "true_peak_dbtp": round(full.true_peak_dbtp),
        "sample_peak_dbfs": round(full.sample_peak_dbfs),
        "duration_seconds": full.duration_seconds,
        "rate": full.rate,
        "band_levels_db": full.band_levels_db,
        "side_to_mid_db": full.side_to_mid_db,
        "estimate": {
            "integrated_lufs": round(estimate.integrated_lufs),
            "loudness_range_lu": round(estimate.loudness_range_lu),
            "coverage": estimate.coverage,
        },
    })
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn to_text(file: &str, full: &TrackAnalysis, estimate: &TrackAnalysis) -> String {
    format!(
        "file:               {file}\n\
         integrated:         {:.2} LUFS\n\
         loudness range:     {:.2} LU\n\
         true peak:          {:.2} dBTP\n\
         sample peak:        {:.2} dBFS\n\
         duration:           {:.3} s at {} Hz\n\
         chain's estimate:   {:.2} LUFS, {:.2} LU (from {:.0}% of the track)\n",
        full.integrated_lufs,
        full.loudness_range_lu,
        full.true_peak_dbtp,
        full.sample_peak_dbfs,
        full.duration_seconds,
        full.rate,
        estimate.integrated_lufs,
        estimate.loudness_range_lu,
        estimate.coverage * 100.0,
    )
}

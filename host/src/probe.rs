//! `hearth probe FILE [--json]`: what a file is, without decoding its audio.

use hearth::SourceInfo;
use serde_json::json;

use crate::cli::ProbeArgs;
use crate::failure::{Failure, source_failure};

/// Runs `hearth probe`.
pub fn run(args: &ProbeArgs) -> Result<(), Failure> {
    let info = hearth::probe(&args.file).map_err(|e| source_failure(&args.file, e))?;
    if args.json {
        println!("{}", to_json(&info));
    } else {
        print!("{}", to_text(&info));
    }
    Ok(())
}

/// The `--json` object. Keys are an interface: keep them stable.
pub fn to_json(info: &SourceInfo) -> serde_json::Value {
    let t = &info.tags;
    let other: serde_json::Map<String, serde_json::Value> =
        t.other.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "file": info.path.display().to_string(),
        "container": info.container,
        "codec": info.codec,
        "codec_long": info.codec_long,
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "channel_layout": info.channel_layout,
        "bits_per_sample": info.bits_per_sample,
        "frames": info.frames,
        "duration_seconds": info.duration().as_secs_f64(),
        "gapless": info.gapless_trim.map(|(delay, padding)| json!({"delay": delay, "padding": padding})),
        "tags": {
            "title": t.title, "artist": t.artist, "album": t.album,
            "album_artist": t.album_artist, "date": t.date, "genre": t.genre,
            "track_number": t.track_number, "other": other,
        },
    })
}

fn to_text(info: &SourceInfo) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let d = info.duration();
    let _ = writeln!(s, "file:        {}", info.path.display());
    let _ = writeln!(s, "container:   {}", info.container);
    let _ = writeln!(s, "codec:       {} ({})", info.codec, info.codec_long);
    let _ = writeln!(s, "sample rate: {} Hz", info.sample_rate);
    let _ = writeln!(
        s,
        "channels:    {} ({})",
        info.channels, info.channel_layout
    );
    match info.bits_per_sample {
        Some(b) => _ = writeln!(s, "bit depth:   {b}"),
        None => _ = writeln!(s, "bit depth:   n/a (lossy)"),
    }
    let _ = writeln!(s, "frames:      {}", info.frames);
    let _ = writeln!(
        s,
        "duration:    {} ({:.3} s)",
        crate::render::clock(d),
        d.as_secs_f64()
    );
    if let Some((delay, padding)) = info.gapless_trim {
        let _ = writeln!(
            s,
            "gapless:     trimmed {delay} frames of encoder delay, {padding} of padding"
        );
    }
    let t = &info.tags;
    let named = [
        ("title", &t.title),
        ("artist", &t.artist),
        ("album", &t.album),
        ("album artist", &t.album_artist),
        ("date", &t.date),
        ("genre", &t.genre),
        ("track", &t.track_number),
    ];
    let any = named.iter().any(|(_, v)| v.is_some()) || !t.other.is_empty();
    if any {
        let _ = writeln!(s, "tags:");
        for (k, v) in named {
            if let Some(v) = v {
                let _ = writeln!(s, "  {k}: {v}");
            }
        }
        for (k, v) in &t.other {
            let _ = writeln!(s, "  {k}: {v}");
        }
    }
    s
}

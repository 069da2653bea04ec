//! `hearth devices`: output devices and what they support.
//!
//! The table summarises each device's configuration ranges in one line (an ALSA plugin such
//! as `null` reports one range per channel count and sample format — hundreds of them); the
//! JSON keeps every range.

use std::collections::BTreeSet;

use hearth::output::{DeviceDescription, SupportedConfig};
use serde_json::json;

use crate::cli::DevicesArgs;
use crate::failure::Failure;

/// Runs `hearth devices`.
pub fn run(args: &DevicesArgs, verbose: bool) -> Result<(), Failure> {
    let list = || hearth::output::list_devices().map_err(|e| Failure::other("devices", e));
    // Probing opens every device, and some backends' native libraries print to stderr
    // themselves (libjack: "jack server is not running"), which no handler catches. The
    // answers are in the table; with -v their chatter is kept.
    let devices = if verbose {
        list()?
    } else {
        quiet_stderr(list)?
    };
    if args.json {
        let v: Vec<_> = devices
            .iter()
            .map(|d| {
                json!({
                    "name": d.name, "id": d.id, "default": d.is_default, "error": d.error,
                    "configs": d.configs.iter().map(|c| json!({
                        "channels": c.channels, "min_rate": c.min_rate, "max_rate": c.max_rate,
                        "format": c.sample_format, "buffer": c.buffer_frames.map(|(lo, hi)| json!({"min": lo, "max": hi})),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(());
    }
    if devices.is_empty() {
        println!("no output devices (Hearth plays into the null sink)");
        return Ok(());
    }
    for d in &devices {
        print!("{}", describe(d));
    }
    Ok(())
}

/// A device as two or three lines of the table.
fn describe(d: &DeviceDescription) -> String {
    let mut s = format!(
        "{}{}  [{}]\n",
        d.name,
        if d.is_default { "  (default)" } else { "" },
        d.id
    );
    if let Some(e) = &d.error {
        s.push_str(&format!("    cannot read its configurations: {e}\n"));
        return s;
    }
    if !d.configs.is_empty() {
        s.push_str(&format!("    {}\n", summarise(&d.configs)));
    }
    if let Some(c) = &d.default_config {
        s.push_str(&format!(
            "    prefers {} ch, {} Hz, {}\n",
            c.channels, c.max_rate, c.sample_format
        ));
    }
    s
}

/// Channels, rates, formats and buffer sizes over all of a device's ranges, in one line.
fn summarise(configs: &[SupportedConfig]) -> String {
    let channels: BTreeSet<u16> = configs.iter().map(|c| c.channels).collect();
    let rates: BTreeSet<(u32, u32)> = configs.iter().map(|c| (c.min_rate, c.max_rate)).collect();
    let mut formats: Vec<&str> = Vec::new();
    for c in configs {
        if !formats.contains(&c.sample_format.as_str()) {
            formats.push(&c.sample_format);
        }
    }
    let rates = if rates.iter().all(|(lo, hi)| lo == hi) {
        let list: Vec<String> = rates.iter().map(|(r, _)| r.to_string()).collect();
        format!("{} Hz", list.join(", "))
    } else {
        let lo = rates.iter().map(|r| r.0).min().unwrap_or(0);
        let hi = rates.iter().map(|r| r.1).max().unwrap_or(0);
        format!("{lo}–{hi} Hz")
    };
    let buffer = {
        let known: Vec<(u32, u32)> = configs.iter().filter_map(|c| c.buffer_frames).collect();
        match (
            known.iter().map(|b| b.0).min(),
            known.iter().map(|b| b.1).max(),
        ) {
            (Some(lo), Some(hi)) => format!(", buffer {lo}–{hi} frames"),
            _ => String::new(),
        }
    };
    format!(
        "{} ch, {rates}, {}{buffer}",
        ranges(&channels),
        formats.join(" ")
    )
}

/// `1, 2, 3, 6` as `1–3, 6`.
fn ranges(values: &BTreeSet<u16>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = values.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if end > start + 1 {
            format!("{start}–{end}")
        } else if end == start + 1 {
            format!("{start}, {end}")
        } else {
            start.to_string()
        });
    }
    parts.join(", ")
}

/// Runs `f` with the process's stderr (file descriptor 2) pointed at /dev/null, then restores
/// it. For native libraries that print on their own; Rust's `eprintln!` is silenced too, so
/// only short, quiet calls go in here.
fn quiet_stderr<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
            return f();
        };
        // SAFETY: `dup` on descriptor 2, which exists for the life of the process; the
        // duplicate is ours and is closed below.
        let saved = unsafe { libc::dup(2) };
        if saved < 0 {
            return f();
        }
        // SAFETY: both descriptors are open (`null` lives until the end of this block).
        unsafe { libc::dup2(null.as_raw_fd(), 2) };
        let out = f();
        // SAFETY: `saved` is the open duplicate of the original stderr; restoring it and
        // closing the duplicate leaves descriptor 2 as it was.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
        out
    }
    #[cfg(not(unix))]
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(channels: u16, lo: u32, hi: u32, format: &str) -> SupportedConfig {
        SupportedConfig {
            channels,
            min_rate: lo,
            max_rate: hi,
            sample_format: format.into(),
            buffer_frames: Some((64, 8192)),
        }
    }

    #[test]
    fn hundreds_of_ranges_fold_into_one_line() {
        let mut configs = Vec::new();
        for format in ["i16", "i32", "f32"] {
            for ch in 1..=64 {
                configs.push(cfg(ch, 1, 384_000, format));
            }
        }
        assert_eq!(
            summarise(&configs),
            "1–64 ch, 1–384000 Hz, i16 i32 f32, buffer 64–8192 frames"
        );
    }

    #[test]
    fn discrete_rates_and_channel_counts_are_listed() {
        let configs = vec![
            cfg(2, 44_100, 44_100, "i16"),
            cfg(2, 48_000, 48_000, "i16"),
            cfg(6, 48_000, 48_000, "i32"),
        ];
        assert_eq!(
            summarise(&configs),
            "2, 6 ch, 44100, 48000 Hz, i16 i32, buffer 64–8192 frames"
        );
        let set: BTreeSet<u16> = [1, 2, 3, 4, 6, 8, 9].into_iter().collect();
        assert_eq!(ranges(&set), "1–4, 6, 8, 9");
    }
}

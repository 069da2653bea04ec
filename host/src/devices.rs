//! `hearth devices`: output devices and what they support.

use serde_json::json;

use crate::cli::DevicesArgs;
use crate::failure::Failure;

/// Runs `hearth devices`.
pub fn run(args: &DevicesArgs) -> Result<(), Failure> {
    let devices = hearth::output::list_devices().map_err(|e| Failure::other("devices", e))?;
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
        println!(
            "{}{}  [{}]",
            d.name,
            if d.is_default { "  (default)" } else { "" },
            d.id
        );
        if let Some(e) = &d.error {
            println!("    (cannot read its configurations: {e})");
        }
        for c in &d.configs {
            let buffer = c
                .buffer_frames
                .map(|(lo, hi)| format!(", buffer {lo}–{hi}"))
                .unwrap_or_default();
            println!(
                "    {} ch, {}–{} Hz, {}{buffer}",
                c.channels, c.min_rate, c.max_rate, c.sample_format
            );
        }
    }
    Ok(())
}

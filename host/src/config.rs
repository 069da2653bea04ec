//! The config file (TOML) and how it combines with flags: flag, else config file, else default.
//!
//! Every key is optional and every key is also a flag. The file lives in the platform config
//! directory (`$XDG_CONFIG_HOME/hearth/config.toml` on Linux) unless `--config`/`HEARTH_CONFIG`
//! names another; a missing default file is fine, a missing named file is an error. Unknown
//! keys and bad values are errors that name the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hearth::Preset;
use hearth::output::OutputSpec;
use serde::Deserialize;

use crate::cli::{PlaybackOpts, parse_bytes};
use crate::failure::Failure;

/// The file's keys.
#[derive(Debug, Default, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Default preset.
    pub preset: Option<Preset>,
    /// Default intensity (0.0–1.0).
    pub intensity: Option<f32>,
    /// Enhancement on at start.
    pub enhance: Option<bool>,
    /// Volume at start (0.0–4.0).
    pub volume: Option<f32>,
    /// Cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Cache byte budget: a number of bytes or a string like "2GiB", "500MB".
    pub cache_budget: Option<ByteSize>,
    /// Most tracks kept in the cache.
    pub cache_max_tracks: Option<usize>,
    /// Days a track stays cached without being played.
    pub cache_ttl_days: Option<f64>,
    /// Output: "device", "device:NAME", "null" or "wav:PATH".
    pub output: Option<String>,
    /// Sample rate, Hz.
    pub rate: Option<u32>,
    /// Output buffer, frames.
    pub buffer: Option<u32>,
    /// Crossfade between tracks, seconds (0 = gapless).
    pub crossfade: Option<f64>,
    /// Loudness normalisation: "off", "track" or "album".
    pub normalize: Option<String>,
    /// Bare `hearth` / `hearth play` without paths restarts the saved session (see
    /// `session`) instead of the demo.
    pub resume: Option<bool>,
}

/// Bytes, from a number or a string with a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(s) => parse_bytes(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// The platform directories.
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "hearth").map(|d| d.config_dir().join("config.toml"))
}

/// The platform cache directory for Hearth.
pub fn default_cache_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "hearth")
        .map(|d| d.cache_dir().to_path_buf())
        .unwrap_or_else(|| std::env::temp_dir().join("hearth-cache"))
}

/// Loads the config file: `explicit` must exist; the default path may be missing.
pub fn load(explicit: Option<&Path>) -> Result<(FileConfig, Option<PathBuf>), Failure> {
    let (path, must_exist) = match explicit {
        Some(p) => (p.to_path_buf(), true),
        None => match default_config_path() {
            Some(p) => (p, false),
            None => return Ok((FileConfig::default(), None)),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok((FileConfig::default(), None));
        }
        Err(e) => return Err(Failure::file(&path, e)),
    };
    let cfg = parse(&text).map_err(|e| Failure::file(&path, e))?;
    Ok((cfg, Some(path)))
}

/// Parses and validates config text; errors name the key.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    let cfg: FileConfig = toml::from_str(text).map_err(|e| {
        // toml's messages span lines; keep it to one.
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!("line {line}: {msg}")
            }
            None => msg,
        }
    })?;
    let check = |ok: bool, key: &str, why: String| {
        if ok {
            Ok(())
        } else {
            Err(format!("key `{key}`: {why}"))
        }
    };
    if let Some(v) = cfg.intensity {
        check(
            (0.0..=1.0).contains(&v),
            "intensity",
            format!("{v} is outside 0.0–1.0"),
        )?;
    }
    if let Some(v) = cfg.volume {
        check(
            (0.0..=4.0).contains(&v),
            "volume",
            format!("{v} is outside 0.0–4.0"),
        )?;
    }
    if let Some(v) = cfg.rate {
        check(
            (8000..=384_000).contains(&v),
            "rate",
            format!("{v} Hz is outside 8000–384000"),
        )?;
    }
    if let Some(v) = cfg.buffer {
        check(
            (16..=16384).contains(&v),
            "buffer",
            format!("{v} frames is outside 16–16384"),
        )?;
    }
    if let Some(v) = cfg.crossfade {
        check(
            (0.0..=30.0).contains(&v),
            "crossfade",
            format!("{v} s is outside 0–30"),
        )?;
    }
    if let Some(v) = cfg.cache_ttl_days {
        check(
            v > 0.0 && v.is_finite(),
            "cache_ttl_days",
            format!("{v} is not a positive number of days"),
        )?;
    }
    if let Some(ByteSize(v)) = cfg.cache_budget {
        check(
            v >= 16 << 20,
            "cache_budget",
            format!("{v} bytes is less than 16 MiB"),
        )?;
    }
    if let Some(v) = cfg.cache_max_tracks {
        check(v >= 1, "cache_max_tracks", "must be at least 1".into())?;
    }
    if let Some(o) = &cfg.output {
        parse_output(o).map_err(|e| format!("key `output`: {e}"))?;
    }
    Ok(cfg)
}

/// `device`, `device:NAME`, `null`, `wav:PATH`.
pub fn parse_output(s: &str) -> Result<OutputSpec, String> {
    let (kind, arg) = match s.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (s, None),
    };
    match (kind.trim().to_ascii_lowercase().as_str(), arg) {
        ("device", None) => Ok(OutputSpec::Device { name: None }),
        ("device", Some(name)) if !name.trim().is_empty() => Ok(OutputSpec::Device {
            name: Some(name.trim().to_string()),
        }),
        ("null", None) => Ok(OutputSpec::Null),
        ("wav", Some(path)) if !path.trim().is_empty() => Ok(OutputSpec::Wav(PathBuf::from(path))),
        _ => Err(format!(
            "'{s}' is not an output (use device, device:NAME, null or wav:PATH)"
        )),
    }
}

/// Whether `hearth play` restarts the saved session, and who asked for it (which decides
/// how much is said when there is nothing to restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Start as the command line says.
    Off,
    /// `--resume` on the command line: every reason for not resuming is said in one line.
    Flag,
    /// `resume = true` in the config file: a missing session file is simply a fresh start.
    Config,
}

impl Resume {
    /// The flag (`--resume` → `Some(true)`, `--no-resume` → `Some(false)`) over the config
    /// file's `resume` key over off.
    pub fn resolve(flag: Option<bool>, file: &FileConfig) -> Resume {
        match (flag, file.resume) {
            (Some(true), _) => Resume::Flag,
            (Some(false), _) => Resume::Off,
            (None, Some(true)) => Resume::Config,
            (None, _) => Resume::Off,
        }
    }
}

/// Everything resolved: what the player, the cache tools and the bench use.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Output.
    pub output: OutputSpec,
    /// Engine rate.
    pub rate: Option<u32>,
    /// Buffer frames.
    pub buffer: Option<u32>,
    /// Preset.
    pub preset: Preset,
    /// Intensity.
    pub intensity: f32,
    /// Enhancement on.
    pub enhance: bool,
    /// Volume.
    pub volume: f32,
    /// Track crossfade.
    pub crossfade: Duration,
    /// Loudness normalisation of the original variant.
    pub normalize: hearth::Normalize,
    /// The cache.
    pub cache: hearth::cache::CacheConfig,
    /// The player starts paused (a resumed session that was paused): the terminal UI and the
    /// JSON protocol then do not call `play` at start.
    pub start_paused: bool,
}

impl Settings {
    /// Flags over the config file over defaults.
    pub fn resolve(
        cache_dir: Option<&Path>,
        opts: &PlaybackOpts,
        file: &FileConfig,
    ) -> Result<Settings, Failure> {
        let output = match opts.output.as_deref().or(file.output.as_deref()) {
            Some(s) => parse_output(s).map_err(|e| Failure::BadInput(format!("--output: {e}")))?,
            None => OutputSpec::Device { name: None },
        };
        let dir = cache_dir
            .map(Path::to_path_buf)
            .or_else(|| file.cache_dir.clone())
            .unwrap_or_else(default_cache_dir);
        let mut cache = hearth::cache::CacheConfig::new(dir);
        if let Some(ByteSize(b)) = file.cache_budget {
            cache.budget_bytes = b;
        }
        if let Some(n) = file.cache_max_tracks {
            cache.max_tracks = n;
        }
        if let Some(d) = file.cache_ttl_days {
            cache.ttl = Duration::from_secs_f64(d * 86_400.0);
        }
        let normalize = match (opts.normalize, file.normalize.as_deref()) {
            (Some(n), _) => n,
            (None, Some(s)) => s.parse().map_err(|e: hearth::UnknownNormalize| {
                Failure::BadInput(format!("config `normalize`: {e}"))
            })?,
            (None, None) => hearth::Normalize::Off,
        };
        Ok(Settings {
            output,
            normalize,
            rate: opts.rate.or(file.rate),
            buffer: opts.buffer.or(file.buffer),
            preset: opts.preset.or(file.preset).unwrap_or_default(),
            intensity: opts.intensity.or(file.intensity).unwrap_or(1.0),
            enhance: opts.enhance.or(file.enhance).unwrap_or(true),
            volume: opts.volume.or(file.volume).unwrap_or(1.0),
            crossfade: Duration::from_secs_f64(opts.crossfade.or(file.crossfade).unwrap_or(0.0)),
            cache,
            start_paused: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_config_parses_and_bad_keys_are_named() {
        let cfg = parse("preset = \"warm\"\nintensity = 0.5\ncache_budget = \"1GiB\"\noutput = \"wav:/tmp/x.wav\"\n")
            .unwrap();
        assert_eq!(cfg.preset, Some(Preset::Warm));
        assert_eq!(cfg.cache_budget, Some(ByteSize(1 << 30)));
        let e = parse("presett = \"warm\"").err().unwrap_or_default();
        assert!(e.contains("presett"), "{e}");
        let e = parse("intensity = 1.5").err().unwrap_or_default();
        assert!(e.contains("`intensity`"), "{e}");
        let e = parse("preset = \"loudest\"").err().unwrap_or_default();
        assert!(e.contains("loudest") && e.contains("line 1"), "{e}");
        let e = parse("output = \"speakers\"").err().unwrap_or_default();
        assert!(e.contains("`output`"), "{e}");
        let e = parse("rate = \"fast\"").err().unwrap_or_default();
        assert!(e.contains("rate") || e.contains("line 1"), "{e}");
    }

    #[test]
    fn resume_flag_over_config_over_off() {
        let on = parse("resume = true").unwrap_or_default();
        let off = FileConfig::default();
        assert_eq!(Resume::resolve(None, &on), Resume::Config);
        assert_eq!(Resume::resolve(None, &off), Resume::Off);
        assert_eq!(Resume::resolve(Some(true), &off), Resume::Flag);
        assert_eq!(Resume::resolve(Some(false), &on), Resume::Off);
        assert!(parse("resume = \"yes\"").is_err());
    }

    #[test]
    fn sizes_and_outputs() {
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("500 MB"), Ok(500_000_000));
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_output("null"), Ok(OutputSpec::Null));
        assert_eq!(
            parse_output("device:USB DAC"),
            Ok(OutputSpec::Device {
                name: Some("USB DAC".into())
            })
        );
        assert!(parse_output("wav:").is_err());
    }
}

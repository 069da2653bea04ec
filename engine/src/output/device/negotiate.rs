//! Choosing the device and its configuration, before the engine is built (the engine rate is
//! the device rate): the default host's default output device, or the first whose name or id
//! matches (case-insensitive, exact before substring). Among the device's PCM configurations:
//! the requested rate if supported, else the device's default rate unless that is unusual for
//! music (then 48 kHz, then 44.1 kHz); 2 channels if possible, else the fewest above 2, else
//! mono; the highest-resolution sample format (floats first); the requested buffer size
//! clamped into the supported range, else the backend's default.
//!
//! Runs on: the control thread (and the output supervisor when it reopens a device).

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{
    BufferSize, SampleFormat, StreamConfig, SupportedBufferSize, SupportedStreamConfig,
    SupportedStreamConfigRange,
};

use super::backend;
use crate::output::OutputError;

/// Rates music is normally played at; a default outside these (8 kHz, 384 kHz...) is passed
/// over for 48/44.1 kHz when the device offers them.
const USUAL_RATES: [u32; 6] = [44_100, 48_000, 88_200, 96_000, 176_400, 192_000];
/// Sample formats from most to least preferred: floats (no conversion loss), then integer
/// formats by resolution, signed before unsigned.
const FORMAT_PREFERENCE: [SampleFormat; 12] = [
    SampleFormat::F32,
    SampleFormat::F64,
    SampleFormat::I32,
    SampleFormat::I24,
    SampleFormat::I64,
    SampleFormat::U32,
    SampleFormat::U24,
    SampleFormat::U64,
    SampleFormat::I16,
    SampleFormat::U16,
    SampleFormat::I8,
    SampleFormat::U8,
];

/// A device chosen and configured, not yet opened.
#[derive(Clone)]
pub(crate) struct DeviceChoice {
    pub(crate) device: cpal::Device,
    pub(crate) name: String,
    pub(crate) config: StreamConfig,
    pub(crate) format: SampleFormat,
}

impl std::fmt::Debug for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceChoice")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The result of choosing among a device's configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chosen {
    pub(crate) channels: u16,
    pub(crate) rate: u32,
    pub(crate) format: SampleFormat,
    pub(crate) buffer: BufferSize,
}

/// The device's display name: its description's name, else its id.
pub(super) fn device_name(device: &cpal::Device) -> String {
    match device.description() {
        Ok(d) => d.name().to_owned(),
        Err(_) => device_id(device),
    }
}

/// The device's backend id without the host prefix (ALSA: the PCM name, e.g. "default").
pub(super) fn device_id(device: &cpal::Device) -> String {
    device.id().map(|id| id.id().to_owned()).unwrap_or_default()
}

/// Finds the output device whose name or id matches `wanted`: case-insensitive exact match
/// first, then substring.
///
/// Runs on: control thread.
fn find_device(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, OutputError> {
    let mut devices: Vec<cpal::Device> = host
        .output_devices()
        .map_err(|e| backend("listing output devices", e))?
        .collect();
    if let Some(default) = host.default_output_device()
        && !devices.contains(&default)
    {
        devices.insert(0, default);
    }
    let wanted_lc = wanted.to_lowercase();
    let keys: Vec<(String, String)> = devices
        .iter()
        .map(|d| (device_name(d).to_lowercase(), device_id(d).to_lowercase()))
        .collect();
    let exact = keys
        .iter()
        .position(|(name, id)| *name == wanted_lc || *id == wanted_lc);
    let found = exact.or_else(|| {
        keys.iter()
            .position(|(name, id)| name.contains(&wanted_lc) || id.contains(&wanted_lc))
    });
    match found {
        Some(i) => Ok(devices.swap_remove(i)),
        None => Err(OutputError::DeviceNotFound {
            name: wanted.to_owned(),
            available: devices.iter().map(device_name).collect(),
        }),
    }
}

/// Runs `f` (which calls into the audio backend) with alsa-lib's own error messages sent to
/// the log instead of stderr. alsa-lib prints them itself — eight lines about a missing card 0
/// on a machine without sound hardware, before cpal even returns its error — which would
/// drown the player's one-line notice. The handler is the `alsa` crate's thread-local one, so
/// it applies to this thread's calls only.
pub(super) fn quiet_backend<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_os = "linux")]
    {
        let capture = alsa::Output::local_error_handler().ok();
        let out = f();
        if let Some(c) = capture {
            let text = c.borrow().to_string();
            if !text.trim().is_empty() {
                tracing::debug!(messages = %text.trim(), "alsa-lib");
            }
        }
        out
    }
    #[cfg(not(target_os = "linux"))]
    f()
}

/// The identity (backend id, else name) of the host's default output device right now, to
/// notice when the system's default changes; `None` when there is none. Opens nothing.
///
/// Runs on: the engine's output supervisor, about once a second while it plays on the default
/// device.
pub(crate) fn default_device_id() -> Option<String> {
    quiet_backend(|| {
        let device = cpal::default_host().default_output_device()?;
        let id = device_id(&device);
        Some(if id.is_empty() {
            device_name(&device)
        } else {
            id
        })
    })
}

/// Opens nothing: picks the device and its configuration.
///
/// Runs on: control thread (may take tens of ms: the backend probes the device).
pub(crate) fn negotiate(
    name: Option<&str>,
    rate: Option<u32>,
    buffer_frames: Option<u32>,
) -> Result<DeviceChoice, OutputError> {
    quiet_backend(|| negotiate_loudly(name, rate, buffer_frames))
}

fn negotiate_loudly(
    name: Option<&str>,
    rate: Option<u32>,
    buffer_frames: Option<u32>,
) -> Result<DeviceChoice, OutputError> {
    let host = cpal::default_host();
    let device = match name {
        None => host.default_output_device().ok_or(OutputError::NoDevice)?,
        Some(wanted) => find_device(&host, wanted)?,
    };
    let display = device_name(&device);
    let configs: Vec<SupportedStreamConfigRange> = device
        .supported_output_configs()
        .map_err(|e| backend(&format!("reading the configurations of {display:?}"), e))?
        .collect();
    let default = device.default_output_config().ok();
    let chosen =
        choose_config(&configs, default.as_ref(), rate, buffer_frames).map_err(|what| {
            OutputError::Unsupported {
                device: display.clone(),
                what,
            }
        })?;
    Ok(DeviceChoice {
        device,
        name: display,
        config: StreamConfig {
            channels: chosen.channels,
            sample_rate: chosen.rate,
            buffer_size: chosen.buffer,
        },
        format: chosen.format,
    })
}

/// Chooses rate, channels, format and buffer size among `configs` (see the module docs).
/// Pure, so it can be tested without a device.
pub(crate) fn choose_config(
    configs: &[SupportedStreamConfigRange],
    default: Option<&SupportedStreamConfig>,
    rate: Option<u32>,
    buffer_frames: Option<u32>,
) -> Result<Chosen, String> {
    let usable: Vec<&SupportedStreamConfigRange> = configs
        .iter()
        .filter(|c| c.channels() > 0 && FORMAT_PREFERENCE.contains(&c.sample_format()))
        .collect();
    if usable.is_empty() {
        return Err("any PCM output configuration".to_owned());
    }
    let supports = |r: u32| usable.iter().any(|c| c.contains_rate(r));
    let default_rate = default.map(SupportedStreamConfig::sample_rate);
    let rate = rate
        .filter(|&r| supports(r))
        .or_else(|| default_rate.filter(|r| USUAL_RATES.contains(r) && supports(*r)))
        .or_else(|| [48_000, 44_100].into_iter().find(|&r| supports(r)))
        .or_else(|| default_rate.filter(|&r| supports(r)))
        // Nothing usual: the supported rate nearest 48 kHz.
        .or_else(|| {
            usable
                .iter()
                .map(|c| 48_000u32.clamp(c.min_sample_rate(), c.max_sample_rate()))
                .min_by_key(|r| r.abs_diff(48_000))
        })
        .ok_or_else(|| "any sample rate".to_owned())?;
    let at_rate: Vec<&&SupportedStreamConfigRange> =
        usable.iter().filter(|c| c.contains_rate(rate)).collect();
    // 2 channels; else the fewest above 2 (L/R on the first two); else mono.
    let channels = at_rate
        .iter()
        .map(|c| c.channels())
        .min_by_key(|&ch| match ch {
            2 => (0, 0),
            ch if ch > 2 => (1, ch),
            ch => (2, u16::MAX - ch),
        })
        .ok_or_else(|| format!("{rate} Hz"))?;
    let (config, _) = at_rate
        .iter()
        .filter(|c| c.channels() == channels)
        .filter_map(|c| {
            let rank = FORMAT_PREFERENCE
                .iter()
                .position(|&f| f == c.sample_format())?;
            Some((**c, rank))
        })
        .min_by_key(|&(_, rank)| rank)
        .ok_or_else(|| format!("a sample format at {rate} Hz, {channels} channels"))?;
    let buffer = match (buffer_frames, config.buffer_size()) {
        (None, _) => BufferSize::Default,
        (Some(want), SupportedBufferSize::Range { min, max }) => {
            BufferSize::Fixed(want.clamp((*min).max(1), (*max).max(1)))
        }
        (Some(want), SupportedBufferSize::Unknown) => BufferSize::Fixed(want.max(1)),
    };
    Ok(Chosen {
        channels,
        rate,
        format: config.sample_format(),
        buffer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(ch: u16, min: u32, max: u32, f: SampleFormat) -> SupportedStreamConfigRange {
        SupportedStreamConfigRange::new(
            ch,
            min,
            max,
            SupportedBufferSize::Range { min: 64, max: 4096 },
            f,
        )
    }

    fn pick(
        configs: &[SupportedStreamConfigRange],
        default_rate: Option<u32>,
        rate: Option<u32>,
        buf: Option<u32>,
    ) -> Chosen {
        let default = default_rate.map(|r| {
            SupportedStreamConfig::new(2, r, SupportedBufferSize::Unknown, SampleFormat::F32)
        });
        choose_config(configs, default.as_ref(), rate, buf)
            .unwrap_or_else(|e| panic!("no config: {e}"))
    }

    #[test]
    fn prefers_requested_rate_then_usual_default_then_48k() {
        let c = [range(2, 8_000, 192_000, SampleFormat::F32)];
        assert_eq!(pick(&c, Some(44_100), Some(96_000), None).rate, 96_000);
        assert_eq!(pick(&c, Some(44_100), None, None).rate, 44_100);
        // An odd default (8 kHz) is passed over for 48 kHz.
        assert_eq!(pick(&c, Some(8_000), None, None).rate, 48_000);
        // A requested rate the device lacks falls back to the default.
        let c = [range(2, 44_100, 44_100, SampleFormat::F32)];
        assert_eq!(pick(&c, Some(44_100), Some(48_000), None).rate, 44_100);
        // Only an odd rate: take it.
        let c = [range(2, 22_050, 22_050, SampleFormat::I16)];
        assert_eq!(pick(&c, None, None, None).rate, 22_050);
    }

    #[test]
    fn prefers_stereo_then_fewest_above_two_then_mono() {
        let f = SampleFormat::F32;
        let c = [
            range(1, 48_000, 48_000, f),
            range(2, 48_000, 48_000, f),
            range(6, 48_000, 48_000, f),
        ];
        assert_eq!(pick(&c, None, None, None).channels, 2);
        let c = [
            range(1, 48_000, 48_000, f),
            range(8, 48_000, 48_000, f),
            range(4, 48_000, 48_000, f),
        ];
        assert_eq!(pick(&c, None, None, None).channels, 4);
        let c = [range(1, 48_000, 48_000, f)];
        assert_eq!(pick(&c, None, None, None).channels, 1);
    }

    #[test]
    fn prefers_float_then_resolution_and_skips_dsd() {
        let c = [
            range(2, 48_000, 48_000, SampleFormat::I16),
            range(2, 48_000, 48_000, SampleFormat::I32),
            range(2, 48_000, 48_000, SampleFormat::U8),
        ];
        assert_eq!(pick(&c, None, None, None).format, SampleFormat::I32);
        let c = [
            range(2, 48_000, 48_000, SampleFormat::I16),
            range(2, 48_000, 48_000, SampleFormat::F32),
        ];
        assert_eq!(pick(&c, None, None, None).format, SampleFormat::F32);
        let c = [range(2, 48_000, 48_000, SampleFormat::DsdU8)];
        assert!(choose_config(&c, None, None, None).is_err());
    }

    #[test]
    fn clamps_the_buffer_size_into_the_supported_range() {
        let c = [range(2, 48_000, 48_000, SampleFormat::F32)];
        assert_eq!(pick(&c, None, None, None).buffer, BufferSize::Default);
        assert_eq!(
            pick(&c, None, None, Some(512)).buffer,
            BufferSize::Fixed(512)
        );
        assert_eq!(pick(&c, None, None, Some(16)).buffer, BufferSize::Fixed(64));
        assert_eq!(
            pick(&c, None, None, Some(100_000)).buffer,
            BufferSize::Fixed(4096)
        );
    }
}

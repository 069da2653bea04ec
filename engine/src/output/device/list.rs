//! Listing the output devices and what they support (`hearth devices`).
//!
//! Runs on: the control thread.

use cpal::traits::{DeviceTrait, HostTrait};
use cpal::{SupportedBufferSize, SupportedStreamConfigRange};

use super::backend;
use super::negotiate::{device_id, device_name, quiet_backend};
use crate::output::OutputError;

/// One configuration range a device supports, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedConfig {
    /// Channel count.
    pub channels: u16,
    /// Lowest supported rate, Hz.
    pub min_rate: u32,
    /// Highest supported rate, Hz.
    pub max_rate: u32,
    /// Sample format ("f32", "i16", ...).
    pub sample_format: String,
    /// Supported frames per callback (min, max), if the backend knows.
    pub buffer_frames: Option<(u32, u32)>,
}

/// An output device and what it supports, for `hearth devices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDescription {
    /// Display name (what `OutputSpec::Device { name }` matches first).
    pub name: String,
    /// Backend id (ALSA: the PCM name); also matched by `OutputSpec::Device { name }`.
    pub id: String,
    /// Whether this is the host's default output device.
    pub is_default: bool,
    /// Supported configuration ranges (empty if they could not be read: see `error`).
    pub configs: Vec<SupportedConfig>,
    /// The configuration the device prefers, if it says.
    pub default_config: Option<SupportedConfig>,
    /// Why the configurations could not be read (device busy, gone...).
    pub error: Option<String>,
}

fn describe_range(c: &SupportedStreamConfigRange) -> SupportedConfig {
    SupportedConfig {
        channels: c.channels(),
        min_rate: c.min_sample_rate(),
        max_rate: c.max_sample_rate(),
        sample_format: c.sample_format().to_string(),
        buffer_frames: match c.buffer_size() {
            SupportedBufferSize::Range { min, max } => Some((*min, *max)),
            SupportedBufferSize::Unknown => None,
        },
    }
}

/// Lists the default host's output devices (the default device first) with their supported
/// configurations.
///
/// Runs on: control thread. Slow-ish: the backend opens each device to probe it.
pub fn list_devices() -> Result<Vec<DeviceDescription>, OutputError> {
    quiet_backend(list_devices_loudly)
}

fn list_devices_loudly() -> Result<Vec<DeviceDescription>, OutputError> {
    let host = cpal::default_host();
    let default = host.default_output_device();
    let mut devices: Vec<cpal::Device> = host
        .output_devices()
        .map_err(|e| backend("listing output devices", e))?
        .collect();
    if let Some(default) = &default {
        match devices.iter().position(|d| d == default) {
            Some(i) => {
                let d = devices.remove(i);
                devices.insert(0, d);
            }
            None => devices.insert(0, default.clone()),
        }
    }
    Ok(devices
        .iter()
        .map(|device| {
            let (configs, error) = match device.supported_output_configs() {
                Ok(configs) => (configs.map(|c| describe_range(&c)).collect(), None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            let default_config = device
                .default_output_config()
                .ok()
                .map(|c| SupportedConfig {
                    channels: c.channels(),
                    min_rate: c.sample_rate(),
                    max_rate: c.sample_rate(),
                    sample_format: c.sample_format().to_string(),
                    buffer_frames: match c.buffer_size() {
                        SupportedBufferSize::Range { min, max } => Some((*min, *max)),
                        SupportedBufferSize::Unknown => None,
                    },
                });
            DeviceDescription {
                name: device_name(device),
                id: device_id(device),
                is_default: default.as_ref() == Some(device),
                configs,
                default_config,
                error,
            }
        })
        .collect())
}

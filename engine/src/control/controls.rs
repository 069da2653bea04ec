//! "Latest value wins" parameters the control side sets and the renderer reads: volume,
//! intensity, enhancement on/off, the chosen preset, the track crossfade. Only atomics.
//!
//! Written only by the control side (the setters are visible in `control` alone); read by the
//! renderer at the start of every callback and by the fillers' driver.
//!
//! Runs on: any thread (loads and stores only).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use hearth_dsp::Preset;

/// An f32 in an atomic.
#[derive(Debug, Default)]
struct AtomicF32(AtomicU32);

impl AtomicF32 {
    fn new(v: f32) -> Self {
        Self(AtomicU32::new(v.to_bits()))
    }

    #[inline]
    fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn store(&self, v: f32) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

/// The control side's parameters. See the module docs.
#[derive(Debug)]
pub(crate) struct Controls {
    volume: AtomicF32,
    intensity: AtomicF32,
    enhance: AtomicBool,
    preset: AtomicU8,
    track_crossfade: AtomicU64,
}

impl Controls {
    /// The parameters at start.
    pub fn new(enhance: bool, preset: Preset, intensity: f32, volume: f32) -> Self {
        Self {
            volume: AtomicF32::new(volume),
            intensity: AtomicF32::new(intensity),
            enhance: AtomicBool::new(enhance),
            preset: AtomicU8::new(preset.id()),
            track_crossfade: AtomicU64::new(0),
        }
    }

    /// Output gain, linear.
    #[inline]
    pub fn volume(&self) -> f32 {
        self.volume.load()
    }

    /// Share of the enhanced variant, 0..1.
    #[inline]
    pub fn intensity(&self) -> f32 {
        self.intensity.load()
    }

    /// Enhancement on/off.
    #[inline]
    pub fn enhance(&self) -> bool {
        self.enhance.load(Ordering::Relaxed)
    }

    /// The preset the listener chose.
    #[inline]
    pub fn preset(&self) -> Preset {
        Preset::from_id(self.preset.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// Crossfade between tracks, frames (0 = gapless).
    #[inline]
    pub fn track_crossfade(&self) -> u64 {
        self.track_crossfade.load(Ordering::Relaxed)
    }

    /// Whether the enhanced variant is heard now (on, and intensity above 0).
    pub fn enhanced_audible(&self) -> bool {
        self.enhance() && self.intensity() > 0.0
    }

    pub(in crate::control) fn set_volume(&self, v: f32) {
        self.volume.store(v);
    }

    pub(in crate::control) fn set_intensity(&self, v: f32) {
        self.intensity.store(v);
    }

    pub(in crate::control) fn set_enhance(&self, on: bool) {
        self.enhance.store(on, Ordering::Relaxed);
    }

    pub(in crate::control) fn set_preset(&self, p: Preset) {
        self.preset.store(p.id(), Ordering::Relaxed);
    }

    pub(in crate::control) fn set_track_crossfade(&self, frames: u64) {
        self.track_crossfade.store(frames, Ordering::Relaxed);
    }
}

#[cfg(test)]
impl Controls {
    /// Sets every parameter as the control side would (the renderer's own tests).
    pub(crate) fn set_for_test(&self, enhance: bool, intensity: f32, preset: Preset, volume: f32) {
        self.set_enhance(enhance);
        self.set_intensity(intensity);
        self.set_preset(preset);
        self.set_volume(volume);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let c = Controls::new(true, Preset::Warm, 0.5, 1.0);
        c.set_volume(-1.5);
        assert_eq!(c.volume(), -1.5);
        c.set_intensity(0.0);
        assert!(!c.enhanced_audible());
        c.set_preset(Preset::Punchy);
        assert_eq!(c.preset(), Preset::Punchy);
    }
}

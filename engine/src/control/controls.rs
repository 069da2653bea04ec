//! "Latest value wins" parameters the control side sets and the renderer reads: volume,
//! intensity, enhancement on/off, the chosen preset, the track crossfade, and the loudness
//! normalisation gains of the entries around the playhead. Only atomics.
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

/// Entries whose normalisation gain the renderer can look up at once: the playing one, the
/// next, the one fading out, a jump's target, with room to spare.
pub(crate) const GAIN_SLOTS: usize = 8;

/// The control side's parameters. See the module docs.
#[derive(Debug)]
pub(crate) struct Controls {
    volume: AtomicF32,
    intensity: AtomicF32,
    enhance: AtomicBool,
    preset: AtomicU8,
    track_crossfade: AtomicU64,
    /// Normalisation gains of the original variant, one entry per slot: the entry id's low
    /// 32 bits and the linear gain's `f32` bits packed in one word, so a reader never sees
    /// one entry's id with another's gain. 0 = empty (entry ids start at 1).
    gains: [AtomicU64; GAIN_SLOTS],
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
            gains: Default::default(),
        }
    }

    /// The normalisation gain (linear) of the original variant of `entry`: 1.0 unless the
    /// control side has set one (normalisation off, or not known yet).
    ///
    /// Runs on: the audio thread (at most [`GAIN_SLOTS`] atomic loads).
    #[inline]
    pub fn gain_of(&self, entry: u64) -> f32 {
        let key = entry & 0xFFFF_FFFF;
        for slot in &self.gains {
            let w = slot.load(Ordering::Relaxed);
            if w != 0 && w & 0xFFFF_FFFF == key {
                return f32::from_bits((w >> 32) as u32);
            }
        }
        1.0
    }

    /// Sets the gains: `(entry, linear gain)` for up to [`GAIN_SLOTS`] entries; the others
    /// play at 1.0. An entry keeps its slot while it stays, and stale ones are cleared last,
    /// so the renderer never sees a kept entry's gain go missing mid-update. One writer: the
    /// event pump.
    pub(in crate::control) fn set_gains(&self, gains: &[(u64, f32)]) {
        let key = |w: u64| w & 0xFFFF_FFFF;
        let pack = |e: u64, g: f32| (e & 0xFFFF_FFFF) | (u64::from(g.to_bits()) << 32);
        let wanted = &gains[..gains.len().min(GAIN_SLOTS)];
        let is_wanted = |w: u64| w != 0 && wanted.iter().any(|&(e, _)| e & 0xFFFF_FFFF == key(w));
        for &(e, g) in wanted {
            let current = self
                .gains
                .iter()
                .find(|s| {
                    let w = s.load(Ordering::Relaxed);
                    w != 0 && key(w) == e & 0xFFFF_FFFF
                })
                .or_else(|| {
                    self.gains
                        .iter()
                        .find(|s| !is_wanted(s.load(Ordering::Relaxed)))
                });
            if let Some(slot) = current {
                slot.store(pack(e, g), Ordering::Relaxed);
            }
        }
        for slot in &self.gains {
            if !is_wanted(slot.load(Ordering::Relaxed)) {
                slot.store(0, Ordering::Relaxed);
            }
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

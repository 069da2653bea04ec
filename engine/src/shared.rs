//! State shared between the control side, the renderer and the engine's threads: only atomics.
//!
//! "Latest value wins" parameters (volume, intensity, enhancement, preset) go from the control
//! side to the renderer here; telemetry (position, transport, counters) comes back. Ordered
//! commands (seek, play, next, …) do not: they travel through the command queue.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use hearth_dsp::Preset;

/// Bits of a packed position given to the frame (2^40 frames is 265 days at 48 kHz).
const FRAME_BITS: u32 = 40;
const FRAME_MASK: u64 = (1 << FRAME_BITS) - 1;
/// Queue entry ids are below 2^24; the engine allocates them sequentially (16 million per
/// session).
pub const MAX_ENTRY: u64 = (1 << (64 - FRAME_BITS)) - 1;

/// An f32 in an atomic.
#[derive(Debug, Default)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    /// A new value.
    pub fn new(v: f32) -> Self {
        Self(AtomicU32::new(v.to_bits()))
    }
    /// Reads it.
    #[inline]
    pub fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
    /// Writes it.
    #[inline]
    pub fn store(&self, v: f32) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

/// Transport state as the renderer reports it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Transport {
    /// Nothing loaded or the queue has ended.
    Stopped = 0,
    /// Playing.
    Playing = 1,
    /// Paused (position held).
    Paused = 2,
}

impl Transport {
    fn from_u8(v: u8) -> Transport {
        match v {
            1 => Transport::Playing,
            2 => Transport::Paused,
            _ => Transport::Stopped,
        }
    }
}

/// The shared atomics.
#[derive(Debug)]
pub struct Shared {
    // Control -> renderer.
    /// Output gain, linear.
    pub volume: AtomicF32,
    /// Share of the enhanced variant, 0..1.
    pub intensity: AtomicF32,
    /// Enhancement on/off.
    pub enhance: AtomicBool,
    /// The preset the listener chose (`Preset::id`).
    pub preset: AtomicU8,
    /// Crossfade between tracks, frames (0 = gapless).
    pub track_crossfade: AtomicU64,

    // Renderer -> everyone.
    position: AtomicU64,
    /// The previous track while a track crossfade plays it out (packed like `position`).
    fading: AtomicU64,
    transport: AtomicU8,
    /// The preset the renderer is playing now (lags `preset` until its audio has arrived).
    pub active_preset: AtomicU8,
    /// Generation of the last jump the renderer carried out.
    pub jump_done: AtomicU64,
    /// True while the renderer is waiting for audio it needs (a miss).
    pub buffering: AtomicBool,
    /// Frames of silence played because audio was missing.
    pub miss_frames: AtomicU64,
    /// Render calls.
    pub callbacks: AtomicU64,
    /// Frames rendered.
    pub frames_rendered: AtomicU64,
    /// Hot slots the renderer holds.
    pub held_slots: AtomicU64,
    /// Events dropped because the event queue was full.
    pub dropped_events: AtomicU64,
    /// Times the enhancement mix started moving (a toggle or an intensity change took effect).
    pub mix_changes: AtomicU64,
    /// Times a preset switch started (its crossfade began, or it switched silently).
    pub preset_switches: AtomicU64,
    /// Frames of audio (not silence) played.
    pub audible_frames: AtomicU64,
}

impl Shared {
    /// Defaults: volume 1, intensity 1, enhancement on with `preset`.
    pub fn new(enhance: bool, preset: Preset, intensity: f32, volume: f32) -> Self {
        Self {
            volume: AtomicF32::new(volume),
            intensity: AtomicF32::new(intensity),
            enhance: AtomicBool::new(enhance),
            preset: AtomicU8::new(preset.id()),
            track_crossfade: AtomicU64::new(0),
            position: AtomicU64::new(0),
            fading: AtomicU64::new(0),
            transport: AtomicU8::new(Transport::Stopped as u8),
            active_preset: AtomicU8::new(preset.id()),
            jump_done: AtomicU64::new(0),
            buffering: AtomicBool::new(false),
            miss_frames: AtomicU64::new(0),
            callbacks: AtomicU64::new(0),
            frames_rendered: AtomicU64::new(0),
            held_slots: AtomicU64::new(0),
            dropped_events: AtomicU64::new(0),
            mix_changes: AtomicU64::new(0),
            preset_switches: AtomicU64::new(0),
            audible_frames: AtomicU64::new(0),
        }
    }

    /// The audible position: (queue entry, engine frame). Entry 0 means nothing is loaded.
    pub fn position(&self) -> (u64, u64) {
        let p = self.position.load(Ordering::Acquire);
        (p >> FRAME_BITS, p & FRAME_MASK)
    }

    /// Publishes the position (renderer only).
    #[inline]
    pub fn set_position(&self, entry: u64, frame: u64) {
        self.position.store(
            ((entry & MAX_ENTRY) << FRAME_BITS) | (frame & FRAME_MASK),
            Ordering::Release,
        );
    }

    /// The track being crossfaded out, if any: (queue entry, engine frame); entry 0 = none.
    pub fn fading(&self) -> (u64, u64) {
        let p = self.fading.load(Ordering::Acquire);
        (p >> FRAME_BITS, p & FRAME_MASK)
    }

    /// Publishes the fading track's position (renderer only; entry 0 clears it).
    #[inline]
    pub fn set_fading(&self, entry: u64, frame: u64) {
        self.fading.store(
            ((entry & MAX_ENTRY) << FRAME_BITS) | (frame & FRAME_MASK),
            Ordering::Release,
        );
    }

    /// The transport state.
    pub fn transport(&self) -> Transport {
        Transport::from_u8(self.transport.load(Ordering::Acquire))
    }

    /// Publishes the transport state (renderer only).
    #[inline]
    pub fn set_transport(&self, t: Transport) {
        self.transport.store(t as u8, Ordering::Release);
    }

    /// The preset the listener chose.
    pub fn preset(&self) -> Preset {
        Preset::from_id(self.preset.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// The preset the renderer is playing.
    pub fn active_preset(&self) -> Preset {
        Preset::from_id(self.active_preset.load(Ordering::Relaxed)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_pack_and_unpack() {
        let s = Shared::new(true, Preset::Warm, 1.0, 1.0);
        s.set_position(12_345, 987_654_321);
        assert_eq!(s.position(), (12_345, 987_654_321));
        s.set_position(MAX_ENTRY, FRAME_MASK);
        assert_eq!(s.position(), (MAX_ENTRY, FRAME_MASK));
        let f = AtomicF32::new(0.25);
        f.store(-1.5);
        assert_eq!(f.load(), -1.5);
    }
}

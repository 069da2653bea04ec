//! What the renderer reports: the audible position, the transport state, the preset it plays,
//! the last jump it carried out, and counters. Only atomics.
//!
//! Written only by the renderer (the setters are visible in `audio` alone); read by the control
//! side, the fillers' driver and the event pump.
//!
//! Runs on: any thread (loads and stores only).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use hearth_dsp::Preset;

/// Bits of a packed position given to the frame (2^40 frames is 265 days at 48 kHz).
const FRAME_BITS: u32 = 40;
const FRAME_MASK: u64 = (1 << FRAME_BITS) - 1;
/// Queue entry ids are below 2^24; the engine allocates them sequentially (16 million per
/// session).
pub(crate) const MAX_ENTRY: u64 = (1 << (64 - FRAME_BITS)) - 1;

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

/// A counter the renderer bumps and everyone reads.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    #[inline]
    pub(in crate::audio) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Release);
    }
}

/// The renderer's reports. See the module docs.
#[derive(Debug)]
pub(crate) struct Readings {
    position: AtomicU64,
    fading: AtomicU64,
    transport: AtomicU8,
    active_preset: AtomicU8,
    jump_done: AtomicU64,
    /// Frames of silence played because audio was missing.
    pub miss_frames: Counter,
    /// Render calls.
    pub callbacks: Counter,
    /// Frames rendered.
    pub frames_rendered: Counter,
    /// Events dropped because the event queue was full.
    pub dropped_events: Counter,
    /// Times the enhancement mix started moving (a toggle or an intensity change took effect).
    pub mix_changes: Counter,
    /// Times a preset switch started (its crossfade began, or it switched silently).
    pub preset_switches: Counter,
    /// Frames of audio (not silence) played.
    pub audible_frames: Counter,
}

fn pack(entry: u64, frame: u64) -> u64 {
    ((entry & MAX_ENTRY) << FRAME_BITS) | (frame & FRAME_MASK)
}

fn unpack(p: u64) -> (u64, u64) {
    (p >> FRAME_BITS, p & FRAME_MASK)
}

impl Readings {
    /// Nothing played yet, `preset` active.
    pub fn new(preset: Preset) -> Self {
        Self {
            position: AtomicU64::new(0),
            fading: AtomicU64::new(0),
            transport: AtomicU8::new(Transport::Stopped as u8),
            active_preset: AtomicU8::new(preset.id()),
            jump_done: AtomicU64::new(0),
            miss_frames: Counter::default(),
            callbacks: Counter::default(),
            frames_rendered: Counter::default(),
            dropped_events: Counter::default(),
            mix_changes: Counter::default(),
            preset_switches: Counter::default(),
            audible_frames: Counter::default(),
        }
    }

    /// The audible position: (queue entry, engine frame). Entry 0 means nothing is loaded.
    pub fn position(&self) -> (u64, u64) {
        unpack(self.position.load(Ordering::Acquire))
    }

    /// The track being crossfaded out, if any: (queue entry, engine frame); entry 0 = none.
    pub fn fading(&self) -> (u64, u64) {
        unpack(self.fading.load(Ordering::Acquire))
    }

    /// The transport state.
    pub fn transport(&self) -> Transport {
        Transport::from_u8(self.transport.load(Ordering::Acquire))
    }

    /// The preset the renderer is playing (lags the chosen one until its audio has arrived).
    pub fn active_preset(&self) -> Preset {
        Preset::from_id(self.active_preset.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// Generation of the last jump the renderer carried out.
    pub fn jump_done(&self) -> u64 {
        self.jump_done.load(Ordering::Acquire)
    }

    #[inline]
    pub(in crate::audio) fn set_position(&self, entry: u64, frame: u64) {
        self.position.store(pack(entry, frame), Ordering::Release);
    }

    #[inline]
    pub(in crate::audio) fn set_fading(&self, entry: u64, frame: u64) {
        self.fading.store(pack(entry, frame), Ordering::Release);
    }

    #[inline]
    pub(in crate::audio) fn set_transport(&self, t: Transport) {
        self.transport.store(t as u8, Ordering::Release);
    }

    #[inline]
    pub(in crate::audio) fn set_active_preset(&self, p: Preset) {
        self.active_preset.store(p.id(), Ordering::Relaxed);
    }

    #[inline]
    pub(in crate::audio) fn set_jump_done(&self, generation: u64) {
        self.jump_done.store(generation, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_pack_and_unpack() {
        let r = Readings::new(Preset::Warm);
        r.set_position(12_345, 987_654_321);
        assert_eq!(r.position(), (12_345, 987_654_321));
        r.set_position(MAX_ENTRY, FRAME_MASK);
        assert_eq!(r.position(), (MAX_ENTRY, FRAME_MASK));
        r.callbacks.add(2);
        assert_eq!(r.callbacks.get(), 2);
    }
}

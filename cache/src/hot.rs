//! The hot tier: a fixed pool of preallocated chunk slots in RAM, handed between the filler and
//! the renderer through two bounded lock-free queues.
//!
//! ```text
//!            filled slots (rtrb, SPSC)
//!   filler ─────────────────────────────▶ renderer
//!          ◀─────────────────────────────
//!            returned slots (rtrb, SPSC)
//! ```
//!
//! Every slot is allocated once, when the pool is built; after that slots only move. The
//! renderer side ([`HotConsumer`]) never allocates, frees, locks or touches the warm tier's
//! memory map: it pops filled slots, reads their samples, and pushes them back. Both queues hold
//! the whole pool, so a push can never fail for lack of room (a failed push is a bug, and the
//! slot is kept rather than freed). Each slot carries the key of the chunk it holds (queue
//! entry, chunk, variant): the renderer keeps the slots it wants by key and hands the others
//! straight back, so slots that arrive after a seek made them useless cost nothing.

use crate::chunk::{ENGINE_CHANNELS, Variant};

/// Which chunk a hot slot holds, from the engine's point of view: `entry` names a queue entry
/// (the engine's choice of number), so the same file queued twice has distinct slots.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct HotKey {
    /// The queue entry.
    pub entry: u64,
    /// Chunk index within the track.
    pub index: u32,
    /// Original or enhanced with a preset.
    pub variant: Variant,
}

/// One chunk of interleaved stereo samples and what they are.
#[derive(Debug)]
pub struct Slot {
    /// The chunk held (meaningless while the slot is free).
    pub key: HotKey,
    /// Engine frame of the track at which `samples` starts.
    pub start: u64,
    /// Valid frames in `samples` (the last chunk of a track is shorter).
    pub frames: u32,
    /// Length of the whole track in frames (so the renderer knows where it ends).
    pub track_frames: u64,
    /// How many other variants of this chunk the filler sent in the same breath (the renderer
    /// waits a moment for them; 0 means nothing else is on its way).
    pub companions: u8,
    /// Allocated in full up front, but only written (made resident) the first time the slot
    /// is filled: an idle engine does not occupy its whole hot tier in RAM.
    samples: Vec<f32>,
    capacity: usize,
}

impl Slot {
    fn new(chunk_frames: u32) -> Self {
        Slot {
            key: HotKey {
                entry: 0,
                index: 0,
                variant: Variant::Original,
            },
            start: 0,
            frames: 0,
            track_frames: 0,
            companions: 0,
            samples: Vec::with_capacity(chunk_frames as usize * ENGINE_CHANNELS),
            capacity: chunk_frames as usize * ENGINE_CHANNELS,
        }
    }

    /// The valid samples.
    #[inline]
    pub fn samples(&self) -> &[f32] {
        let n = (self.frames as usize * ENGINE_CHANNELS).min(self.samples.len());
        &self.samples[..n]
    }

    /// The whole buffer, to fill; set `frames` to say how much is valid. Runs on: the filler
    /// (the first call touches the memory; it never reallocates).
    pub fn buffer_mut(&mut self) -> &mut [f32] {
        if self.samples.len() < self.capacity {
            self.samples.resize(self.capacity, 0.0);
        }
        &mut self.samples
    }
}

/// A boxed slot: what travels through the queues (moving it moves a pointer).
pub type SlotBox = Box<Slot>;

/// Sizing of the pool.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct HotConfig {
    /// Frames per chunk (each slot holds one chunk).
    pub chunk_frames: u32,
    /// Number of slots.
    pub slots: usize,
}

/// Fewest slots that cover the renderer's needs: current and next chunk in two variants, a
/// preset change in flight (two more), a pending seek target and its successor (four), and
/// the next track's first chunk (two).
pub const MIN_SLOTS: usize = 12;

impl HotConfig {
    /// As many slots of `chunk_frames` as fit in `budget_bytes`, but at least [`MIN_SLOTS`].
    pub fn with_budget(chunk_frames: u32, budget_bytes: usize) -> Self {
        let slot_bytes = chunk_frames as usize * ENGINE_CHANNELS * std::mem::size_of::<f32>();
        let slots = (budget_bytes / slot_bytes.max(1)).max(MIN_SLOTS);
        Self {
            chunk_frames,
            slots,
        }
    }

    /// Bytes the pool's sample buffers take.
    pub fn bytes(&self) -> usize {
        self.slots * self.chunk_frames as usize * ENGINE_CHANNELS * std::mem::size_of::<f32>()
    }
}

/// Default hot-tier budget: 8 MB.
pub const DEFAULT_HOT_BYTES: usize = 8 * 1000 * 1000;

/// Builds the pool and its queues: the filler keeps the producer side, the renderer the
/// consumer side.
pub fn hot_tier(config: HotConfig) -> (HotProducer, HotConsumer) {
    let n = config.slots.max(1);
    let (to_renderer, from_filler) = rtrb::RingBuffer::new(n);
    let (to_filler, from_renderer) = rtrb::RingBuffer::new(n);
    let free = (0..n)
        .map(|_| Box::new(Slot::new(config.chunk_frames)))
        .collect();
    (
        HotProducer {
            free,
            to_renderer,
            from_renderer,
        },
        HotConsumer {
            from_filler,
            to_filler,
        },
    )
}

/// The filler's side: owns the free slots, sends filled ones, takes back returned ones.
///
/// Runs on: the filler thread.
#[derive(Debug)]
pub struct HotProducer {
    free: Vec<SlotBox>,
    to_renderer: rtrb::Producer<SlotBox>,
    from_renderer: rtrb::Consumer<SlotBox>,
}

impl HotProducer {
    /// Collects slots the renderer has handed back; returns their keys so the caller can
    /// forget they were out.
    pub fn reclaim(&mut self, mut on_return: impl FnMut(&HotKey)) {
        while let Ok(slot) = self.from_renderer.pop() {
            on_return(&slot.key);
            self.free.push(slot);
        }
    }

    /// A free slot to fill, if any.
    pub fn take_free(&mut self) -> Option<SlotBox> {
        self.free.pop()
    }

    /// Puts an unused slot back in the free list.
    pub fn put_back(&mut self, slot: SlotBox) {
        self.free.push(slot);
    }

    /// Sends a filled slot to the renderer.
    pub fn send(&mut self, slot: SlotBox) {
        if let Err(rtrb::PushError::Full(slot)) = self.to_renderer.push(slot) {
            // Cannot happen (the queue holds the whole pool); keep the slot rather than lose it.
            self.free.push(slot);
        }
    }

    /// Free slots right now.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
}

/// The renderer's side: receives filled slots, returns used ones. Allocation-free.
///
/// Runs on: the audio thread.
#[derive(Debug)]
pub struct HotConsumer {
    from_filler: rtrb::Consumer<SlotBox>,
    to_filler: rtrb::Producer<SlotBox>,
}

impl HotConsumer {
    /// The next filled slot, if one is waiting.
    #[inline]
    pub fn receive(&mut self) -> Option<SlotBox> {
        self.from_filler.pop().ok()
    }

    /// Hands a slot back to the filler. Returns the slot if the queue is (impossibly) full, so
    /// the caller keeps it instead of freeing it on the audio thread.
    #[inline]
    pub fn give_back(&mut self, slot: SlotBox) -> Result<(), SlotBox> {
        self.to_filler
            .push(slot)
            .map_err(|rtrb::PushError::Full(s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_circulate_without_loss() {
        let (mut p, mut c) = hot_tier(HotConfig {
            chunk_frames: 64,
            slots: 4,
        });
        assert_eq!(p.free_count(), 4);
        for i in 0..4u32 {
            let mut s = p.take_free().unwrap_or_else(|| panic!("free slot"));
            s.key = HotKey {
                entry: 1,
                index: i,
                variant: Variant::Original,
            };
            s.frames = 64;
            s.buffer_mut().fill(i as f32);
            p.send(s);
        }
        assert!(p.take_free().is_none());
        let mut got = Vec::new();
        while let Some(s) = c.receive() {
            assert!(s.samples().iter().all(|&v| v == s.key.index as f32));
            got.push(s.key.index);
            assert!(c.give_back(s).is_ok());
        }
        assert_eq!(got, vec![0, 1, 2, 3]);
        let mut back = Vec::new();
        p.reclaim(|k| back.push(k.index));
        assert_eq!(back, vec![0, 1, 2, 3]);
        assert_eq!(p.free_count(), 4);
    }

    #[test]
    fn budget_sizing() {
        let c = HotConfig::with_budget(32_768, DEFAULT_HOT_BYTES);
        assert_eq!(c.slots, 30);
        assert!(c.bytes() <= DEFAULT_HOT_BYTES);
        assert_eq!(HotConfig::with_budget(1 << 20, 1024).slots, MIN_SLOTS);
    }
}

//! The slots the renderer holds: a fixed-size table (allocated once, never grows), the
//! renderer's end of the hot tier's queues, and a small memo of recent lookups.
//!
//! Slots come in from the filler and go back to it through the hot tier's lock-free queues;
//! none is ever freed here (a slot that cannot be returned is parked, never dropped).
//!
//! Runs on: the audio thread.

use hearth_cache::Variant;
use hearth_cache::hot::{HotConsumer, HotKey, Slot, SlotBox};
use hearth_dsp::Preset;

/// Indices into the table for one chunk of one entry, per variant.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Lookup {
    pub orig: Option<usize>,
    pub enh: Option<usize>,
    pub enh_next: Option<usize>,
}

/// A few recent lookups, valid until the held slots or the presets change (`epoch`).
#[derive(Copy, Clone, Debug, Default)]
struct Memo {
    entries: [(u64, u32, u64, Lookup); 4],
    next: usize,
}

/// The held-slot table. See the module docs.
#[derive(Debug)]
pub(crate) struct Held {
    hot: HotConsumer,
    slots: Vec<Option<SlotBox>>,
    memo: Memo,
    /// Bumped whenever the held set or the presets looked up change; invalidates the memo.
    epoch: u64,
}

impl Held {
    /// A table of `max` places. Allocates; runs on: the control thread.
    pub fn new(hot: HotConsumer, max: usize) -> Self {
        Held {
            hot,
            slots: (0..max).map(|_| None).collect(),
            memo: Memo::default(),
            epoch: 1,
        }
    }

    /// The next slot the filler sent, if any.
    #[inline]
    pub fn receive(&mut self) -> Option<SlotBox> {
        self.hot.receive()
    }

    /// Keeps `slot`; hands it back to the filler if the table is full.
    pub fn keep(&mut self, slot: SlotBox) {
        match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(slot);
                self.epoch += 1;
            }
            None => self.return_slot(slot),
        }
    }

    /// Hands `slot` back to the filler.
    pub fn return_slot(&mut self, slot: SlotBox) {
        if let Err(slot) = self.hot.give_back(slot) {
            // Impossible (the return queue holds the whole pool), but never free here: park it.
            if let Some(i) = self.slots.iter().position(Option::is_none) {
                self.slots[i] = Some(slot);
            } else {
                std::mem::forget(slot);
            }
        }
    }

    /// Hands the slot at place `i` back to the filler.
    pub fn give_back(&mut self, i: usize) {
        if let Some(slot) = self.slots[i].take() {
            self.epoch += 1;
            self.return_slot(slot);
        }
    }

    /// Hands every slot back.
    pub fn clear(&mut self) {
        for i in 0..self.slots.len() {
            self.give_back(i);
        }
    }

    /// Places in the table.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The key of the slot at place `i`.
    pub fn key(&self, i: usize) -> Option<HotKey> {
        self.slots[i].as_ref().map(|s| s.key)
    }

    /// The slot at place `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&Slot> {
        self.slots.get(i)?.as_deref()
    }

    /// Where a chunk of a variant is held.
    pub fn find(&self, entry: u64, index: u32, variant: Variant) -> Option<usize> {
        self.slots.iter().position(|s| {
            s.as_ref().is_some_and(|s| {
                s.key.entry == entry && s.key.index == index && s.key.variant == variant
            })
        })
    }

    /// Forgets the memo (the presets looked up changed).
    pub fn invalidate(&mut self) {
        self.epoch += 1;
    }

    /// The places of chunk `index` of `entry` in the original, `preset` and `next` variants
    /// (memoised: the held set only changes between frames when a preset switch completes,
    /// which bumps the epoch).
    #[inline]
    pub fn lookup(
        &mut self,
        entry: u64,
        index: u32,
        preset: Preset,
        next: Option<Preset>,
    ) -> Lookup {
        let epoch = self.epoch;
        if let Some(hit) = self
            .memo
            .entries
            .iter()
            .find(|m| m.0 == entry && m.1 == index && m.2 == epoch)
        {
            return hit.3;
        }
        let l = Lookup {
            orig: self.find(entry, index, Variant::Original),
            enh: self.find(entry, index, Variant::Enhanced(preset)),
            enh_next: next.and_then(|p| self.find(entry, index, Variant::Enhanced(p))),
        };
        let slot = self.memo.next;
        self.memo.entries[slot] = (entry, index, epoch, l);
        self.memo.next = (slot + 1) % self.memo.entries.len();
        l
    }
}

//! Urgency: how the control side tells a filler in the middle of a unit of work that something
//! more urgent has arrived (a seek, a jump to another track, a preset change), so that the
//! filler drops the less urgent chunk it is making and serves the new need first.
//!
//! A unit of work is one chunk; a chunk that waits for the chain's pre-roll to be rendered
//! takes 6–14 ms on this project's 2-core reference machine, and a seek arriving just after it
//! began used to wait for all of it. The filler polls the counter between the stages of a
//! chunk (decode, each variant) and between the chain's blocks; only work less urgent than P0
//! is dropped, and what was written to the warm tier on the way stays there.
//!
//! Runs on: raised by the control side (any thread), read by the filler serving the hot tier.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Priority;

/// A counter the control side raises when there is new urgent work. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct Urgency(Arc<AtomicU64>);

impl Urgency {
    /// A new, never raised counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Says there is new urgent work: fillers drop what is less urgent.
    pub fn raise(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    /// How many times it was raised.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Units of work dropped in a row after which the next one runs to its end: news arriving
/// faster than a unit lasts (a seek slider dragged, a script sending seeks) must not starve
/// the chunk after the playhead. A late seek then waits for one unit at most.
pub(super) const MAX_DROPPED_IN_A_ROW: u32 = 2;

/// One unit of work's view of the urgency, asked between its stages: the work stops when news
/// arrived since the filler last read the control side's messages — unless it is P0 work, or
/// the last [`MAX_DROPPED_IN_A_ROW`] units were dropped.
pub(super) struct Interrupt<'a> {
    urgency: &'a Urgency,
    seen: u64,
    droppable: bool,
    fired: Cell<bool>,
}

impl<'a> Interrupt<'a> {
    /// `dropped`: units dropped in a row so far.
    pub fn new(urgency: &'a Urgency, seen: u64, priority: Priority, dropped: u32) -> Self {
        Interrupt {
            urgency,
            seen,
            droppable: priority > Priority::P0 && dropped < MAX_DROPPED_IN_A_ROW,
            fired: Cell::new(false),
        }
    }

    /// True when the work should stop now.
    pub fn now(&self) -> bool {
        let stop = self.droppable && self.urgency.count() != self.seen;
        if stop {
            self.fired.set(true);
        }
        stop
    }

    /// Whether the work was told to stop.
    pub fn fired(&self) -> bool {
        self.fired.get()
    }
}

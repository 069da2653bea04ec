//! The control side's state, behind one lock: the queue, the pending jump, what to warm —
//! and the few operations every part of the control side shares (a jump, telling the renderer
//! which entry comes next, telling the fillers the plan, broadcasting an event).
//!
//! Runs on: the caller's thread (through [`crate::Engine`]) and the event pump.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use hearth_cache::WarmStore;
use hearth_cache::filler::Urgency;
use parking_lot::Mutex;

use super::EngineConfig;
use super::controls::Controls;
use super::queue::{EntryId, EntryStatus, Queue, QueueEntry};
use crate::audio::command::{Command, Jump};
use crate::audio::readings::Readings;
use crate::background::driver::{FillerMsg, Plan, PlanSlot};
use crate::error::EngineError;
use crate::event::Event;

/// Control-side state, behind one lock (never taken on the audio thread).
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub queue: Queue,
    pub generation: u64,
    /// The jump the renderer has not carried out yet.
    pub jump: Option<Jump>,
    /// When each pending jump was asked for (for latency reports).
    pub jump_times: VecDeque<(u64, Instant)>,
    pub warm: Vec<u64>,
    /// The renderer has not been told the current entry's successor yet (its command queue
    /// was full): the pump tells it on its next round.
    pub next_unsent: bool,
    /// Loudness normalisation of the original variant (see `loudness.rs`).
    pub normalize: super::loudness::Normalize,
}

pub(crate) struct Inner {
    pub controls: Arc<Controls>,
    pub readings: Arc<Readings>,
    pub store: Arc<WarmStore>,
    pub rate: u32,
    pub config: EngineConfig,
    pub commands: Mutex<rtrb::Producer<Command>>,
    /// The filler(s): every message goes to each.
    pub filler: Vec<Sender<FillerMsg>>,
    /// The latest plan, read by the fillers' drivers when told it changed.
    pub plans: Arc<PlanSlot>,
    /// Raised with every seek, jump and preset change: the hot filler drops less urgent work.
    pub urgency: Urgency,
    pub control: Mutex<Control>,
    pub subscribers: Mutex<Vec<Sender<Event>>>,
    pub output: Mutex<Option<(crate::output::OutputInfo, Arc<crate::output::OutputStats>)>>,
    /// Why the output is the null sink although a device was asked for.
    pub fallback: Mutex<Option<String>>,
}

impl Inner {
    pub fn command(&self, cmd: Command) -> Result<(), EngineError> {
        self.commands
            .lock()
            .push(cmd)
            .map_err(|_| EngineError::Busy)
    }

    pub fn to_filler(&self, msg: FillerMsg) {
        for tx in &self.filler {
            let _ = tx.send(msg.clone());
        }
    }

    /// Sends `event` to every subscriber (a full subscriber misses it; a gone one is dropped).
    pub fn broadcast(&self, event: Event) {
        let mut subs = self.subscribers.lock();
        subs.retain(|s| match s.try_send(event.clone()) {
            Ok(()) | Err(crossbeam_channel::TrySendError::Full(_)) => true,
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => false,
        });
    }

    pub fn plan(&self, c: &Control) -> Plan {
        Plan {
            order: c
                .queue
                .entries
                .iter()
                .filter(|e| !matches!(e.status, EntryStatus::Failed(_)))
                .map(|e| e.id.0)
                .collect(),
            jump: c.jump,
            warm_ahead: self.config.warm_ahead,
            warm: c.warm.clone(),
        }
    }

    pub fn send_plan(&self, c: &Control) {
        self.plans.publish(self.plan(c));
        self.to_filler(FillerMsg::PlanChanged);
    }

    /// Moves playback to `entry` at `frame`: the filler is told first (so production starts
    /// at once), then the renderer.
    pub fn jump(&self, c: &mut Control, entry: EntryId, frame: u64) -> Result<(), EngineError> {
        c.generation += 1;
        let jump = Jump {
            entry: entry.0,
            frame,
            generation: c.generation,
        };
        c.jump = Some(jump);
        c.jump_times.push_back((c.generation, Instant::now()));
        while c.jump_times.len() > 64 {
            c.jump_times.pop_front();
        }
        c.queue.current = Some(entry);
        self.send_plan(c);
        self.urgency.raise();
        // The target's gain before the renderer makes its voice (it starts at that level).
        self.update_gains(c);
        self.command(Command::Jump(jump))?;
        self.send_next(c);
        Ok(())
    }

    /// Tells the renderer which entry follows the current one (the one home of that
    /// decision is [`crate::control::queue::Queue::after`]). Never dropped: if the renderer's
    /// command queue is full, the pump sends it on its next round.
    pub fn send_next(&self, c: &mut Control) {
        let Some(cur) = c.queue.current else {
            c.next_unsent = false;
            return;
        };
        let cmd = Command::SetNext {
            after: cur.0,
            next: c.queue.after(cur).map(|e| e.0),
        };
        c.next_unsent = self.command(cmd).is_err();
        if c.next_unsent {
            tracing::debug!("command queue full; the next entry is sent again shortly");
        }
    }

    pub fn frames_of(&self, c: &Control, entry: EntryId) -> Option<u64> {
        c.queue
            .get(entry)
            .and_then(QueueEntry::meta)
            .map(|m| m.frames)
    }
}

/// The notice for playing into the null sink because the device could not be opened.
pub(crate) fn fallback_notice(reason: &str) -> String {
    format!(
        "no audio device ({reason}); playing into the null sink and trying the device every 0.5 s"
    )
}

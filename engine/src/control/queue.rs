//! The play queue, as the control side keeps it, and the one rule for which entry plays next
//! ([`next_playable`]: the first one after, skipping those that cannot be played).
//!
//! Runs on: the caller's thread and the event pump (under the control lock); the fillers'
//! driver applies [`next_playable`] to the order it was sent.

use std::path::PathBuf;
use std::time::Duration;

use hearth_cache::{SourceInfo, TrackId};

/// Identifies one entry of the queue (the same file queued twice has two entries).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub u64);

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What is known about a track once its file has been opened.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackMeta {
    /// The file as the container and codec describe it, tags included.
    pub info: SourceInfo,
    /// Length in engine frames.
    pub frames: u64,
    /// Length.
    pub duration: Duration,
    /// Content identity in the cache.
    pub track: TrackId,
}

/// Where an entry stands.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryStatus {
    /// Not opened yet.
    Pending,
    /// Opened: playable.
    Ready(Box<TrackMeta>),
    /// Cannot be played; skipped.
    Failed(String),
}

/// One entry of the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueEntry {
    /// Its id.
    pub id: EntryId,
    /// The file.
    pub path: PathBuf,
    /// What is known.
    pub status: EntryStatus,
}

impl QueueEntry {
    /// The metadata, once ready.
    pub fn meta(&self) -> Option<&TrackMeta> {
        match &self.status {
            EntryStatus::Ready(m) => Some(m),
            _ => None,
        }
    }
}

/// The ordered queue and the entry playing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Queue {
    pub entries: Vec<QueueEntry>,
    /// The entry the listener is on (playing, paused, or about to play).
    pub current: Option<EntryId>,
    next_id: u64,
}

impl Queue {
    pub fn push(&mut self, path: PathBuf) -> EntryId {
        self.next_id += 1;
        let id = EntryId(self.next_id);
        self.entries.push(QueueEntry {
            id,
            path,
            status: EntryStatus::Pending,
        });
        id
    }

    pub fn position_of(&self, id: EntryId) -> Option<usize> {
        self.entries.iter().position(|e| e.id == id)
    }

    pub fn get(&self, id: EntryId) -> Option<&QueueEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn get_mut(&mut self, id: EntryId) -> Option<&mut QueueEntry> {
        self.entries.iter_mut().find(|e| e.id == id)
    }

    /// The first playable entry after `id` (failed entries are skipped).
    pub fn after(&self, id: EntryId) -> Option<EntryId> {
        let order: Vec<u64> = self.entries.iter().map(|e| e.id.0).collect();
        next_playable(&order, id.0, |e| {
            self.get(EntryId(e))
                .is_some_and(|q| matches!(q.status, EntryStatus::Failed(_)))
        })
        .map(EntryId)
    }

    /// The first playable entry before `id`.
    pub fn before(&self, id: EntryId) -> Option<EntryId> {
        let i = self.position_of(id)?;
        self.entries[..i]
            .iter()
            .rev()
            .find(|e| !matches!(e.status, EntryStatus::Failed(_)))
            .map(|e| e.id)
    }

    /// The first playable entry.
    pub fn first(&self) -> Option<EntryId> {
        self.entries
            .iter()
            .find(|e| !matches!(e.status, EntryStatus::Failed(_)))
            .map(|e| e.id)
    }
}

/// The entry that plays after `entry` in `order`: the first one after it that `cannot_play`
/// does not rule out; `None` at the end (or if `entry` is not in `order`).
pub(crate) fn next_playable(
    order: &[u64],
    entry: u64,
    cannot_play: impl Fn(u64) -> bool,
) -> Option<u64> {
    let i = order.iter().position(|&e| e == entry)?;
    order[i + 1..].iter().copied().find(|&e| !cannot_play(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_skips_failed_entries() {
        let mut q = Queue::default();
        let a = q.push("a".into());
        let b = q.push("b".into());
        let c = q.push("c".into());
        assert_eq!(q.after(a), Some(b));
        if let Some(e) = q.get_mut(b) {
            e.status = EntryStatus::Failed("bad".into());
        }
        assert_eq!(q.after(a), Some(c));
        assert_eq!(q.before(c), Some(a));
        assert_eq!(q.after(c), None);
        assert_eq!(q.first(), Some(a));
    }
}

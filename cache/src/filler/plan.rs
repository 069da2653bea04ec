//! Which chunks are needed, most urgent first: the hot tier's needs (P0, P1, the next track's
//! first chunk) from the demand and what the renderer holds, and the warm tier's (P2–P4) from
//! what the warm files lack.
//!
//! Runs on: the filler threads.

use super::stream::STREAM_SEGMENT;
use super::track::EntryState;
use super::{Filler, Need, Priority};
use crate::chunk::{TrackId, Variant};
use crate::hot::HotKey;

impl Filler {
    pub(super) fn chunk_of(&self, entry: u64, frame: u64) -> Option<(u32, u32)> {
        match self.entries.get(&entry) {
            Some(EntryState::Open(t)) => Some((t.geometry.chunk_of(frame), t.geometry.count())),
            // Not open yet: the chunk index follows from the chunk size alone; the count is
            // unknown until the file is open.
            Some(EntryState::Closed(_)) => Some((
                (frame / u64::from(self.config.chunk_frames)) as u32,
                u32::MAX,
            )),
            _ => None,
        }
    }

    /// Chunks the renderer needs that are not in a hot slot, most urgent first.
    pub(super) fn hot_needs(&self) -> Vec<Need> {
        let variants = self.variants();
        let mut needs = Vec::new();
        let audible = self.demand.enhanced_audible;
        let push = |needs: &mut Vec<Need>, priority: Priority, entry, index, count: u32| {
            if index >= count {
                return;
            }
            let missing: Vec<Variant> = variants
                .iter()
                .copied()
                .filter(|&variant| {
                    !self.outstanding.contains(&HotKey {
                        entry,
                        index,
                        variant,
                    })
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            if audible {
                // Both go out together: the renderer waits a moment for the enhanced one.
                needs.push(Need {
                    priority,
                    entry,
                    index,
                    variants: missing,
                    to_hot: true,
                });
                return;
            }
            // Enhancement is not audible: the original (cheap) first; the enhanced variants,
            // kept hot for an instant toggle, one priority lower.
            let (orig, enhanced): (Vec<Variant>, Vec<Variant>) =
                missing.into_iter().partition(|v| *v == Variant::Original);
            if !orig.is_empty() {
                needs.push(Need {
                    priority,
                    entry,
                    index,
                    variants: orig,
                    to_hot: true,
                });
            }
            if !enhanced.is_empty() {
                needs.push(Need {
                    priority: priority.lower(),
                    entry,
                    index,
                    variants: enhanced,
                    to_hot: true,
                });
            }
        };
        let d = &self.demand;
        let mut last_chunk_playing = false;
        if let Some(j) = d.jump
            && let Some((k, n)) = self.chunk_of(j.entry, j.frame)
        {
            push(&mut needs, Priority::P0, j.entry, k, n);
        }
        if let Some(p) = d.playing
            && let Some((k, n)) = self.chunk_of(p.entry, p.frame)
        {
            push(&mut needs, Priority::P0, p.entry, k, n);
            push(&mut needs, Priority::P1, p.entry, k + 1, n);
            last_chunk_playing = n != u32::MAX && k + 1 >= n;
        }
        if let Some(j) = d.jump
            && let Some((k, n)) = self.chunk_of(j.entry, j.frame)
        {
            push(&mut needs, Priority::P1, j.entry, k + 1, n);
        }
        if let Some(f) = d.fading
            && let Some((k, n)) = self.chunk_of(f.entry, f.frame)
        {
            push(&mut needs, Priority::P1, f.entry, k, n);
            push(&mut needs, Priority::P1, f.entry, k + 1, n);
        }
        if let Some(next) = d.next {
            let priority = if last_chunk_playing {
                Priority::P0
            } else {
                Priority::P3
            };
            push(&mut needs, priority, next, 0, u32::MAX);
        }
        needs.sort_by_key(|n| n.priority);
        needs
    }

    /// Chunks to write to the warm tier only.
    pub(super) fn warm_needs(&mut self) -> Vec<Need> {
        let mut needs = Vec::new();
        let variants = self.variants();
        let d = self.demand.clone();
        let mut candidates: Vec<(Priority, u64, u64)> = Vec::new();
        if d.warm_ahead {
            if let Some(p) = d.playing.or(d.jump) {
                candidates.push((Priority::P2, p.entry, p.frame));
            }
            if let Some(next) = d.next {
                candidates.push((Priority::P3, next, 0));
            }
        }
        for &e in &d.warm {
            if !self.warmed.contains(&e) {
                candidates.push((Priority::P4, e, 0));
            }
        }
        for (priority, entry, from) in candidates {
            if priority == Priority::P4 {
                // One warming-list entry open at a time: the one being warmed.
                self.warming = Some(entry);
            }
            let within = if priority == Priority::P4 {
                self.warm_range
            } else {
                None
            };
            let makeable = self.makeable(entry, &variants);
            if let Some(index) = self.next_cold_chunk(entry, from, within, &makeable) {
                needs.push(Need {
                    priority,
                    entry,
                    index,
                    variants: makeable,
                    to_hot: false,
                });
                break;
            }
            if priority == Priority::P4
                && makeable.len() == variants.len()
                && !self.store.status().is_degraded()
            {
                self.warmed.insert(entry);
                self.warming = None;
                self.close_unneeded();
            }
        }
        needs
    }

    /// Of `variants`, those this filler can make for `entry` now: all of them, except for a
    /// helper (see `Filler::set_share`) while the analysis and calibration an enhanced variant
    /// needs are neither done nor in the store — it warms its segments' originals meanwhile
    /// (the enhanced variant then reads them back instead of decoding again).
    fn makeable(&mut self, entry: u64, variants: &[Variant]) -> Vec<Variant> {
        if !self.helper() || !self.ensure_open(entry) {
            return variants.to_vec();
        }
        let Some(EntryState::Open(t)) = self.entries.get(&entry) else {
            return variants.to_vec();
        };
        let analysed = t.analysis.is_some() || self.store.analysis(t.track).is_some();
        variants
            .iter()
            .copied()
            .filter(|v| match v {
                Variant::Original => true,
                Variant::Enhanced(p) => {
                    analysed
                        && (t.calibration.contains_key(p)
                            || self.store.calibration(t.track, *p).is_some())
                }
            })
            .collect()
    }

    /// The first chunk of `entry` (forward from `from`, then from the start; only chunks in
    /// `within` if given) missing from the warm tier in any of `variants`; opens the entry if
    /// needed. `None` when all are there, or the warm tier cannot take more.
    pub(super) fn next_cold_chunk(
        &mut self,
        entry: u64,
        from: u64,
        within: Option<(u32, u32)>,
        variants: &[Variant],
    ) -> Option<u32> {
        if self.store.status().is_degraded() {
            return None;
        }
        if !self.ensure_open(entry) {
            return None;
        }
        let share = self.share;
        let EntryState::Open(t) = self.entries.get_mut(&entry)? else {
            return None;
        };
        let n = t.geometry.count();
        if n == 0 {
            return None;
        }
        let start = t.geometry.chunk_of(from).max(t.warm_cursor.min(n));
        let (lo, hi) = within.map_or((0, n), |(a, b)| (a.min(n), b.min(n)));
        let mine = |c: &u32| share.is_none_or(|(k, of)| (c / STREAM_SEGMENT) % of == k);
        let order = (start..n)
            .chain(0..start)
            .filter(|k| (lo..hi).contains(k))
            .filter(mine);
        for k in order {
            let missing = variants.iter().any(|v| match t.warm.get(v) {
                Some(Some(f)) => !f.is_present(k),
                // Not opened yet: assume missing (the first serve opens it).
                None => true,
                // Could not be created (degraded or too big): nothing to do.
                Some(None) => false,
            });
            if missing {
                return Some(k);
            }
        }
        if within.is_none() {
            t.warm_cursor = n;
        }
        None
    }

    /// Pins the tracks the renderer is using, so eviction leaves them alone.
    pub(super) fn pin_needed(&mut self) {
        let d = &self.demand;
        let entries = [
            d.playing.map(|p| p.entry),
            d.jump.map(|j| j.entry),
            d.next,
            d.fading.map(|f| f.entry),
        ];
        let tracks: Vec<TrackId> = entries
            .iter()
            .flatten()
            .filter_map(|e| match self.entries.get(e) {
                Some(EntryState::Open(t)) => Some(t.track),
                _ => None,
            })
            .collect();
        self.store.set_pins(&tracks);
    }
}

//! Chunks for the hot tier: a need is served from the warm tier when the chunk is there (a
//! memcpy, checksum verified), otherwise produced — decoded, resampled and mastered from one
//! read of the source — and written to the warm tier on the way.
//!
//! Runs on: the filler thread serving the hot tier (or an offline engine's only filler).

use std::sync::Arc;
use std::time::Instant;

use super::track::{EntryState, chain_for, open_warm_files};
use super::urgency::Interrupt;
use super::{Filler, FillerEvent, Need, Origin, Step};
use crate::chunk::{ENGINE_CHANNELS, Variant};
use crate::enhance::read_span_unless;
use crate::error::SourceError;
use crate::hot::{HotKey, SlotBox};

impl Filler {
    /// Serves a need, or does the work it waits for. `None` when nothing could be done for it
    /// (no free slot, entry unplayable), so the caller tries the next need.
    pub(super) fn serve(&mut self, need: Need, prepare: bool) -> Option<Step> {
        let entry = need.entry;
        if !self.ensure_open(entry) {
            // An unplayable entry was reported once, when it failed to open.
            return None;
        }
        // Enhanced variants need the analysis and the preset's calibration first. The variants
        // that are ready go out now (the original must not wait for an analysis); the work the
        // others wait for is the next step.
        let mut need = need;
        let blocked = need.variants.iter().find_map(|&v| match v {
            Variant::Enhanced(p) if !self.enhanced_ready(entry, p) => Some(p),
            _ => None,
        });
        if let Some(preset) = blocked {
            if need.to_hot {
                need.variants.retain(
                    |&v| !matches!(v, Variant::Enhanced(p) if !self.enhanced_ready(entry, p)),
                );
            }
            if !need.to_hot || need.variants.is_empty() {
                if !prepare {
                    return None;
                }
                return self.prepare_enhanced(entry, preset, need.priority);
            }
        }
        if need.to_hot && self.hot.as_ref().map_or(0, |h| h.free_count()) < need.variants.len() {
            return None;
        }
        match self.fill(&need) {
            Ok(step) => Some(step),
            Err(e) => {
                tracing::warn!(entry, error = %e, "cannot produce a chunk");
                self.events.push(FillerEvent::TrackFailed {
                    entry,
                    error: e.to_string(),
                });
                self.entries.insert(entry, EntryState::Failed);
                Some(Step::Failed { entry })
            }
        }
    }

    pub(super) fn fill(&mut self, need: &Need) -> Result<Step, SourceError> {
        if need.to_hot {
            let step = self.fill_hot(need);
            self.count_preemption(need.priority, matches!(step, Ok(Step::Preempted { .. })));
            step
        } else {
            self.warm_streaming(need)
        }
    }

    /// Fills a chunk's variants into hot slots: from the warm tier where present, else by
    /// producing them (all from one read of the source) and writing them to the warm tier too.
    pub(super) fn fill_hot(&mut self, need: &Need) -> Result<Step, SourceError> {
        let Some(hot) = self.hot.as_mut() else {
            return Ok(Step::Idle);
        };
        let fill_started = Instant::now();
        let store = Arc::clone(&self.store);
        let rate = self.config.engine_rate;
        let Some(EntryState::Open(t)) = self.entries.get_mut(&need.entry) else {
            return Ok(Step::Idle);
        };
        let range = t.geometry.range(need.index);
        let frames = (range.end - range.start) as usize;
        let samples = frames * ENGINE_CHANNELS;
        open_warm_files(t, &store, &need.variants, rate);
        // First the warm tier.
        let mut filled: Vec<(Variant, Origin, SlotBox)> = Vec::new();
        let mut to_produce = Vec::new();
        for &v in &need.variants {
            let warm = t.warm.get(&v).cloned().flatten();
            if let Some(file) = warm.as_ref().filter(|f| f.is_present(need.index)) {
                let Some(mut slot) = hot.take_free() else {
                    break;
                };
                match file.read_chunk(need.index, &mut slot.buffer_mut()[..samples]) {
                    Ok(true) => {
                        store.record_warm_hit();
                        filled.push((v, Origin::Warm, slot));
                        continue;
                    }
                    // Missing after all (failed its checksum): produce it.
                    _ => hot.put_back(slot),
                }
            }
            to_produce.push(v);
        }
        // Then produce what is missing, all variants from one read of the source — unless
        // something more urgent arrives meanwhile (asked before the decode, before each
        // variant and between the chain's blocks): then the chunk is dropped, its slots go
        // back, and the next step serves the new need. What reached the warm tier stays.
        let (seen, in_a_row) = (self.urgency_seen, self.dropped_in_a_row);
        let interrupt = Interrupt::new(&self.urgency, seen, need.priority, in_a_row);
        let preempted = || interrupt.now();
        let preempt = |hot: &mut crate::hot::HotProducer,
                       filled: Vec<(Variant, Origin, SlotBox)>| {
            filled
                .into_iter()
                .for_each(|(_, _, slot)| hot.put_back(slot));
            tracing::debug!(
                entry = need.entry,
                index = need.index,
                priority = ?need.priority,
                "dropped a chunk for more urgent work"
            );
            Ok(Step::Preempted {
                priority: need.priority,
                entry: need.entry,
                index: need.index,
            })
        };
        if !to_produce.is_empty() {
            if preempted() {
                return preempt(hot, filled);
            }
            let started = Instant::now();
            let (preroll, lookahead) =
                to_produce
                    .iter()
                    .fold((0usize, 0usize), |(p, l), v| match v {
                        Variant::Original => (p, l),
                        Variant::Enhanced(preset) => {
                            let c = chain_for(t, *preset, rate);
                            (p.max(c.preroll()), l.max(c.lookahead()))
                        }
                    });
            let span_start = range.start as i64 - preroll as i64;
            let end = range.end + lookahead as u64;
            let Some(span) = read_span_unless(&mut t.source, span_start, end, preempted)? else {
                return preempt(hot, filled);
            };
            self.span = span;
            for &v in &to_produce {
                if preempted() {
                    return preempt(hot, filled);
                }
                let out: &mut Vec<f32> = &mut self.scratch;
                out.clear();
                out.resize(samples, 0.0);
                match v {
                    Variant::Original => {
                        out.copy_from_slice(
                            &self.span
                                [preroll * ENGINE_CHANNELS..(preroll + frames) * ENGINE_CHANNELS],
                        );
                    }
                    Variant::Enhanced(p) => {
                        let chain = chain_for(t, p, rate);
                        let (cp, cl) = (chain.preroll(), chain.lookahead());
                        let from = (preroll - cp) * ENGINE_CHANNELS;
                        let to = (preroll + frames + cl) * ENGINE_CHANNELS;
                        if !chain.render_unless(&self.span[from..to], cp, out, preempted) {
                            return preempt(hot, filled);
                        }
                    }
                }
                if let Some(Some(file)) = t.warm.get(&v)
                    && let Err(e) = file.write_chunk(need.index, out)
                {
                    tracing::debug!(error = %e, "warm write failed");
                }
                if let Some(mut slot) = hot.take_free() {
                    slot.buffer_mut()[..samples].copy_from_slice(out);
                    filled.push((v, Origin::Produced, slot));
                }
            }
            // Needed now and in neither tier: a miss. (Warming ahead is not.)
            store.record_miss();
            store.record_production(started.elapsed());
            if !t.damaged_reported && !t.source.report().is_clean() {
                t.damaged_reported = true;
                let r = t.source.report();
                let message = match (r.ended_early_at, &r.first_corruption) {
                    (Some(end), _) => format!(
                        "audio ends at {:.3} s of {:.3} s",
                        end as f64 / f64::from(t.source.info().sample_rate),
                        t.source.info().duration().as_secs_f64()
                    ),
                    (None, Some((at, why))) => format!(
                        "corrupt audio at {:.3} s: {why}",
                        *at as f64 / f64::from(t.source.info().sample_rate)
                    ),
                    _ => String::from("damaged audio"),
                };
                self.events.push(FillerEvent::TrackDamaged {
                    entry: need.entry,
                    message,
                });
            }
        }
        // Progress for every variant written.
        for (v, origin, _) in &filled {
            if *origin == Origin::Produced
                && let Some(Some(file)) = t.warm.get(v)
            {
                self.events.push(FillerEvent::CacheProgress {
                    entry: need.entry,
                    track: t.track,
                    variant: *v,
                    present: file.present_count(),
                    total: t.geometry.count(),
                });
            }
        }
        let track_frames = t.geometry.total_frames;
        tracing::debug!(
            entry = need.entry,
            index = need.index,
            ms = fill_started.elapsed().as_secs_f64() * 1e3,
            "filled"
        );
        let mut sent = Vec::new();
        let companions = filled.len().saturating_sub(1) as u8;
        for (v, origin, mut slot) in filled {
            let key = HotKey {
                entry: need.entry,
                index: need.index,
                variant: v,
            };
            slot.key = key;
            slot.start = range.start;
            slot.frames = frames as u32;
            slot.track_frames = track_frames;
            slot.companions = companions;
            self.outstanding.insert(key);
            hot.send(slot);
            sent.push((v, origin));
        }
        Ok(Step::Served {
            priority: need.priority,
            entry: need.entry,
            index: need.index,
            variants: sent,
        })
    }
}

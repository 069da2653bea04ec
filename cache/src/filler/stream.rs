//! Warming front to back: chunks written to the warm tier only, produced by a stream that
//! reads the source once and keeps every preset's chain running (see [`Stream`]).
//!
//! Runs on: the filler threads (the background one in a real-time engine).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use hearth_dsp::Preset;

use super::track::{EntryState, chain_for, open_warm_files};
use super::{Filler, FillerEvent, Need, Priority, Step};
use crate::chunk::ChunkGeometry;
use crate::chunk::{ENGINE_CHANNELS, Variant};
use crate::error::SourceError;
use crate::source::Source;
use crate::warm::WarmFile;

/// Front-to-back production for warming: the source is read once, sequentially, and every
/// preset's chain keeps streaming instead of re-reading its pre-roll for each chunk (which
/// would cost more than the chunk itself). Equal, within the chain's tolerance, to producing
/// each chunk on its own — the chain has finite memory.
///
/// Streams are anchored to segments of [`STREAM_SEGMENT`] chunks: a stream (re)starts only
/// at a segment's first chunk, from a fresh chain with its pre-roll, and warming a chunk
/// in the middle of a segment with no stream there first streams from the segment's start.
/// So a warmed chunk is the same bytes however warming went — front to back in one go, or
/// resumed after a crash, a seek or an eviction from any chunk — which is what lets a
/// cache interrupted at any moment finish bit-identical to one that never was. (The IIR
/// filters of the EQ converge only within rounding: without anchors, a stream started at
/// chunk 17 and one started at chunk 0 differ in the last bit of a sample now and then.)
pub(super) struct Stream {
    /// The chunk this stream produces next.
    next_index: u32,
    /// Source frames read and not yet consumed, starting at engine frame `buf_start`.
    buf: Vec<f32>,
    buf_start: u64,
    /// Input frames each preset's chain has consumed (exclusive end, engine frames).
    fed: HashMap<Preset, u64>,
}

/// Chunks per stream segment (see [`Stream`]): a fresh pre-roll every 16 chunks (about 11 s
/// at 48 kHz) costs about a tenth more chain work than one endless stream, and resuming in
/// the middle of a segment at most 15 chunks of chain work again.
pub(super) const STREAM_SEGMENT: u32 = 16;

impl Filler {
    /// Warms chunk `need.index` front to back: continues the stream when it is the next chunk,
    /// else starts one there. Only variants missing from the warm tier are written.
    pub(super) fn warm_streaming(&mut self, need: &Need) -> Result<Step, SourceError> {
        let segment_start = need.index - need.index % STREAM_SEGMENT;
        if segment_start != need.index && !self.stream_continues(need) {
            // Stream from the segment's start (writing whatever of it is missing on the way).
            for index in segment_start..need.index {
                self.warm_streaming(&Need {
                    index,
                    ..need.clone()
                })?;
            }
        }
        let store = Arc::clone(&self.store);
        let rate = self.config.engine_rate;
        let Some(EntryState::Open(t)) = self.entries.get_mut(&need.entry) else {
            return Ok(Step::Idle);
        };
        open_warm_files(t, &store, &need.variants, rate);
        let range = t.geometry.range(need.index);
        let frames = (range.end - range.start) as usize;
        let presets: Vec<Preset> = need
            .variants
            .iter()
            .filter_map(|v| match v {
                Variant::Enhanced(p) => Some(*p),
                Variant::Original => None,
            })
            .collect();
        let continuing = !need.index.is_multiple_of(STREAM_SEGMENT)
            && t.stream.as_ref().is_some_and(|s| {
                s.next_index == need.index && presets.iter().all(|p| s.fed.contains_key(p))
            });
        let started = Instant::now();
        let mut outputs: Vec<(Variant, Vec<f32>)> = Vec::new();
        let lookahead = presets
            .iter()
            .map(|&p| chain_for(t, p, rate).lookahead())
            .max()
            .unwrap_or(0) as u64;
        if continuing {
            let Some(stream) = t.stream.as_mut() else {
                return Ok(Step::Idle);
            };
            // Read what the chains need beyond what is buffered: up to end + lookahead.
            let have_end = stream.buf_start + (stream.buf.len() / ENGINE_CHANNELS) as u64;
            let want_end = range.end + lookahead;
            if want_end > have_end {
                let mut more = vec![0.0f32; (want_end - have_end) as usize * ENGINE_CHANNELS];
                read_input(
                    &mut t.source,
                    &t.warm,
                    &t.geometry,
                    have_end as i64,
                    &mut more,
                )?;
                stream.buf.extend_from_slice(&more);
            }
            let at = |f: u64| (f - stream.buf_start) as usize * ENGINE_CHANNELS;
            outputs.push((
                Variant::Original,
                stream.buf[at(range.start)..at(range.end)].to_vec(),
            ));
            for &p in &presets {
                let fed = stream.fed.get(&p).copied().unwrap_or(0);
                let chain = t.chains.get_mut(&p);
                let Some(chain) = chain else { continue };
                let la = chain.lookahead() as u64;
                let input = &stream.buf[at(fed)..at(range.end + la)];
                let mut out = vec![0.0f32; input.len()];
                chain.process(input, &mut out);
                stream.fed.insert(p, range.end + la);
                outputs.push((Variant::Enhanced(p), out));
            }
            // Keep only what the chains have not consumed yet (and nothing before this chunk's end).
            let keep_from = range.end;
            let cut = at(keep_from);
            stream.buf.drain(..cut);
            stream.buf_start = keep_from;
            stream.next_index = need.index + 1;
        } else {
            let preroll = presets
                .iter()
                .map(|&p| chain_for(t, p, rate).preroll())
                .max()
                .unwrap_or(0);
            let span_start = range.start as i64 - preroll as i64;
            let span_frames = (range.end + lookahead) as i64 - span_start;
            let mut span = vec![0.0f32; span_frames.max(0) as usize * ENGINE_CHANNELS];
            read_input(&mut t.source, &t.warm, &t.geometry, span_start, &mut span)?;
            let at = |f: u64| ((f as i64 - span_start) as usize) * ENGINE_CHANNELS;
            outputs.push((
                Variant::Original,
                span[at(range.start)..at(range.end)].to_vec(),
            ));
            let mut fed = HashMap::new();
            for &p in &presets {
                let chain = chain_for(t, p, rate);
                let (cp, cl) = (chain.preroll() as u64, chain.lookahead() as u64);
                let mut out = vec![0.0f32; frames * ENGINE_CHANNELS];
                let from =
                    ((range.start as i64 - cp as i64) - span_start) as usize * ENGINE_CHANNELS;
                chain.render(&span[from..at(range.end + cl)], &mut out);
                fed.insert(p, range.end + cl);
                outputs.push((Variant::Enhanced(p), out));
            }
            t.stream = Some(Stream {
                next_index: need.index + 1,
                buf: span[at(range.end)..].to_vec(),
                buf_start: range.end,
                fed,
            });
        }
        store.record_production(started.elapsed());
        let mut written = Vec::new();
        for (v, data) in &outputs {
            if !need.variants.contains(v) {
                continue;
            }
            if let Some(Some(file)) = t.warm.get(v) {
                if file.is_present(need.index) {
                    continue;
                }
                if let Err(e) = file.write_chunk(need.index, data) {
                    tracing::debug!(error = %e, "warm write failed");
                    continue;
                }
                written.push(*v);
                self.events.push(FillerEvent::CacheProgress {
                    entry: need.entry,
                    track: t.track,
                    variant: *v,
                    present: file.present_count(),
                    total: t.geometry.count(),
                });
            }
        }
        if need.priority == Priority::P2 {
            t.warm_cursor = need.index + 1;
        }
        Ok(Step::Warmed {
            priority: need.priority,
            entry: need.entry,
            index: need.index,
            variants: written,
        })
    }

    /// Whether the entry's stream is positioned at `need` with every preset it asks for.
    pub(super) fn stream_continues(&self, need: &Need) -> bool {
        let Some(EntryState::Open(t)) = self.entries.get(&need.entry) else {
            return false;
        };
        t.stream.as_ref().is_some_and(|s| {
            s.next_index == need.index
                && need.variants.iter().all(|v| match v {
                    Variant::Enhanced(p) => s.fed.contains_key(p),
                    Variant::Original => true,
                })
        })
    }
}

/// Source frames from `start` (negative: silence before the track) into `out`: copied from the
/// warm tier's original variant when every chunk they touch is there — the original *is* the
/// decoded source, so the samples are the same, for a copy instead of a decode — else decoded.
/// (Warming a track on several threads writes originals ahead of the enhanced variant, and a
/// track played unenhanced is warmed in the original only: the enhanced variant then costs no
/// second decode.)
fn read_input(
    source: &mut Source,
    warm: &HashMap<Variant, Option<Arc<WarmFile>>>,
    geometry: &ChunkGeometry,
    start: i64,
    out: &mut [f32],
) -> Result<(), SourceError> {
    if let Some(Some(original)) = warm.get(&Variant::Original)
        && copy_original(original, geometry, start, out)
    {
        return Ok(());
    }
    // Silence before the track's start, then the decoded frames (zeros past its end).
    let skip = ((-start).max(0) as usize * ENGINE_CHANNELS).min(out.len());
    out[..skip].fill(0.0);
    if skip < out.len() {
        source.read(start.max(0) as u64, &mut out[skip..])?;
    }
    Ok(())
}

/// Copies frames `[start, start + out.len() / 2)` out of the warm original; false (and `out`
/// unspecified) unless every chunk they touch is present and reads back intact.
fn copy_original(file: &WarmFile, geometry: &ChunkGeometry, start: i64, out: &mut [f32]) -> bool {
    let end = start + (out.len() / ENGINE_CHANNELS) as i64;
    let (first, last) = (
        start.max(0) as u64,
        end.clamp(0, geometry.total_frames as i64) as u64,
    );
    out.fill(0.0);
    if first >= last {
        return true;
    }
    let chunks = geometry.chunk_of(first)..=geometry.chunk_of(last - 1);
    if !chunks.clone().all(|i| file.is_present(i)) {
        return false;
    }
    let mut chunk = Vec::new();
    for index in chunks {
        let range = geometry.range(index);
        chunk.resize((range.end - range.start) as usize * ENGINE_CHANNELS, 0.0);
        if !matches!(file.read_chunk(index, &mut chunk), Ok(true)) {
            return false;
        }
        let (from, to) = (range.start.max(first), range.end.min(last));
        let src = (from - range.start) as usize * ENGINE_CHANNELS;
        let dst = (from as i64 - start) as usize * ENGINE_CHANNELS;
        let n = (to - from) as usize * ENGINE_CHANNELS;
        out[dst..dst + n].copy_from_slice(&chunk[src..src + n]);
    }
    true
}

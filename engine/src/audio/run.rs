//! Steady runs: stretches of frames where nothing structural happens (every lookahead inside
//! its chunk, no track end, no crossfade to start, no pause or stop fade, no preset switch),
//! rendered with the per-frame decisions and lookups taken once — in a loop the compiler
//! vectorises when every gain is constant. A run computes exactly what frame-by-frame
//! rendering (`Renderer::next_frame`) would, frame for frame.
//!
//! Runs on: the audio thread.

use super::held::{Held, Lookup};
use super::ramp::{Ramp, crossfade_gains};
use super::renderer::Renderer;
use super::voice::Voice;

/// One voice's audio for a run (see `Renderer::run_len`): the original and the enhanced
/// variant (the original again when there is none), from the voice's position on.
struct RunSource<'a> {
    orig: &'a [f32],
    enh: &'a [f32],
    /// `enh` is the original again (no enhanced variant here): it takes the normalisation
    /// gain too, as in `voice_frame`.
    enh_is_orig: bool,
}

impl<'a> RunSource<'a> {
    /// The voice's samples, with its lookahead targets set as `voice_frame` sets them inside
    /// one chunk (the audio ahead is there).
    fn new(held: &'a Held, l: Lookup, v: &mut Voice) -> Option<Self> {
        let o = held.get(l.orig?)?;
        let e = l.enh.and_then(|i| held.get(i));
        v.track_frames = o.track_frames;
        v.ready.target = 1.0;
        v.enhanced.target = if l.enh.is_some() { 1.0 } else { 0.0 };
        let off = usize::try_from(v.frame.checked_sub(o.start)?).ok()? * 2;
        let orig = o.samples().get(off..)?;
        let enh = match e {
            Some(e) => e.samples().get(off..)?,
            None => orig,
        };
        Some(RunSource {
            orig,
            enh,
            enh_is_orig: e.is_none(),
        })
    }

    /// Frame `k` of the run, computed as `voice_frame` computes it.
    #[inline]
    fn frame(&self, v: &mut Voice, k: usize, mix: f32) -> [f32; 2] {
        let ready = v.ready.next();
        let enh_gain = v.enhanced.next();
        let g = v.norm.next();
        let (ol, or) = (self.orig[2 * k] * g, self.orig[2 * k + 1] * g);
        let e = if self.enh_is_orig {
            [ol, or]
        } else {
            [self.enh[2 * k], self.enh[2 * k + 1]]
        };
        let m = mix * enh_gain;
        [
            (ol + (e[0] - ol) * m) * ready,
            (or + (e[1] - or) * m) * ready,
        ]
    }
}

impl Renderer {
    /// How many of the next `max` frames form a *run*: the voices (the playing one and, during
    /// a crossfade, the old one) read from chunks they hold, and nothing structural is due
    /// within the run — every lookahead stays inside its chunk, no track end, no track
    /// crossfade to start, no pause or stop fade, no preset switch. Gains may ramp. 0 when the
    /// next frame is not part of one.
    ///
    /// A run renders with [`Renderer::render_run`], which computes exactly what
    /// [`Renderer::next_frame`] would, frame for frame — the same operations in the same
    /// order — with the per-frame decisions and lookups taken once for the run.
    pub(super) fn run_len(&mut self, max: usize) -> usize {
        if self.preset_switching || self.stop_pending || self.transport_gain.target == 0.0 {
            return 0;
        }
        let Some(v) = self.voice else { return 0 };
        let mut n = self.voice_run(&v);
        if let Some(old) = self.old {
            n = n.min(self.voice_run(&old));
        } else if self.track_crossfade > 0 {
            let track_frames = self.voice_track_frames(&v);
            n = n.min(
                track_frames
                    .saturating_sub(self.track_crossfade)
                    .saturating_sub(v.frame),
            );
        }
        n.min(max as u64) as usize
    }

    /// The track length a voice will know once it reads its slot.
    pub(super) fn voice_track_frames(&mut self, v: &Voice) -> u64 {
        self.lookup(v.entry, v.frame)
            .orig
            .and_then(|i| self.held.get(i))
            .map_or(v.track_frames, |s| s.track_frames)
    }

    /// Frames `v` can play from the slots it holds with every lookahead decision unchanged.
    pub(super) fn voice_run(&mut self, v: &Voice) -> u64 {
        if v.stalled {
            return 0;
        }
        let l = self.lookup(v.entry, v.frame);
        let Some(slot) = l.orig.and_then(|i| self.held.get(i)) else {
            return 0;
        };
        let track_frames = slot.track_frames;
        if v.frame < slot.start || v.frame >= track_frames {
            return 0;
        }
        let chunk_end = (v.frame / self.chunk_frames + 1) * self.chunk_frames;
        let mut limit = chunk_end
            .min(track_frames)
            .saturating_sub(self.lookahead)
            .min(slot.start + u64::from(slot.frames));
        if let Some(e) = l.enh.and_then(|i| self.held.get(i)) {
            limit = limit.min(e.start + u64::from(e.frames));
        }
        limit.saturating_sub(v.frame)
    }

    /// Renders (the start of) a run found by [`Renderer::run_len`] into `out`; returns the
    /// frames rendered — fewer than asked when the old voice's fade ends inside the run.
    pub(super) fn render_run(&mut self, out: &mut [f32]) -> usize {
        let Some(mut v) = self.voice else { return 0 };
        let mut old = self.old;
        let la = self.lookup(v.entry, v.frame);
        let lb = old.map(|o| self.lookup(o.entry, o.frame));
        let held = &self.held;
        let Some(a) = RunSource::new(held, la, &mut v) else {
            return 0;
        };
        let b = match (old.as_mut(), lb) {
            (Some(o), Some(lb)) => match RunSource::new(held, lb, o) {
                Some(b) => Some(b),
                None => return 0,
            },
            _ => None,
        };
        let settled = |r: &Ramp| r.value == r.target;
        if b.is_none()
            && settled(&self.transport_gain)
            && self.mix.ramp.settled()
            && self.volume.ramp.settled()
            && settled(&v.ready)
            && settled(&v.enhanced)
            && v.norm.ramp.settled()
        {
            // Every gain constant: the same arithmetic as below, in a loop the compiler can
            // vectorise (the common case: plain playback).
            let n = out.len() / 2;
            let (o, e) = (&a.orig[..2 * n], &a.enh[..2 * n]);
            let m = self.mix.ramp.value * v.enhanced.value;
            let ready = v.ready.value;
            let vol = self.volume.ramp.value * self.transport_gain.value;
            // The original's normalisation gain; the enhanced signal takes it only when it is
            // the original again (× 1.0 is exact, so normalisation off changes no bit).
            let g = v.norm.ramp.value;
            let gz = if a.enh_is_orig { g } else { 1.0 };
            for ((y, x), z) in out
                .chunks_exact_mut(2)
                .zip(o.chunks_exact(2))
                .zip(e.chunks_exact(2))
            {
                let (x0, x1) = (x[0] * g, x[1] * g);
                let (z0, z1) = (z[0] * gz, z[1] * gz);
                y[0] = ((x0 + (z0 - x0) * m) * ready) * vol;
                y[1] = ((x1 + (z1 - x1) * m) * ready) * vol;
            }
            v.frame += n as u64;
            self.audible += n as u64;
            self.voice = Some(v);
            return n;
        }
        let between_tracks = self.old_between_tracks;
        let mut done = 0;
        for y in out.chunks_exact_mut(2) {
            let gain = self.transport_gain.next();
            let mix = self.mix.next();
            let mut frame = a.frame(&mut v, done, mix);
            if let (Some(o), Some(b)) = (old.as_mut(), b.as_ref()) {
                let g = self.old_gain.next();
                let s = b.frame(o, done, mix);
                let (g_new, g_old) = crossfade_gains(g, between_tracks);
                frame[0] = frame[0] * g_new + s[0] * g_old;
                frame[1] = frame[1] * g_new + s[1] * g_old;
            }
            let vol = self.volume.next() * gain;
            y[0] = frame[0] * vol;
            y[1] = frame[1] * vol;
            done += 1;
            if old.is_some() && self.old_gain.settled() {
                // `next_frame` drops the old voice after the frame its fade ends on.
                self.old = None;
                old = None;
                break;
            }
        }
        v.frame += done as u64;
        self.audible += done as u64;
        self.voice = Some(v);
        if let Some(mut o) = old {
            o.frame += done as u64;
            self.old = Some(o);
        }
        done
    }
}

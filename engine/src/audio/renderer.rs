//! The renderer: the only code on the audio thread.
//!
//! [`Renderer::render`] fills the output from the hot slots it holds. It never allocates,
//! frees, locks, blocks, logs or makes a system call: commands arrive through an SPSC queue,
//! parameters through atomics, slots through the hot tier's queues (and go back the same way,
//! never dropped here), events leave through another SPSC queue, telemetry through atomics.
//! Everything it keeps is allocated in [`Renderer::new`].
//!
//! Every change is click-free. Seeks and jumps crossfade (constant gain: the two signals are
//! the same music, so their amplitudes add), as do enhancement toggles, intensity changes and
//! preset switches (the variants are sample-aligned, so those are crossfades between
//! correlated signals too); pause, resume and stop ramp; volume is smoothed. Audio that is not
//! there yet is never waited for: a seek keeps playing the old position until the target
//! arrives; playback that runs into a missing chunk fades out just before it (the renderer
//! looks a few milliseconds ahead), counts the miss, and fades back in when the chunk comes.
//!
//! Runs on: the audio thread (the device callback, a paced sink thread, or an offline loop).

use std::sync::Arc;

use hearth_cache::Variant;
use hearth_cache::hot::HotConsumer;
use hearth_dsp::Preset;

use super::command::{COMMAND_QUEUE, Command};
use super::held::{Held, Lookup};
use super::ramp::{Ramp, Smooth, crossfade_gains};
use super::readings::{Readings, Transport};
use super::voice::{PendingJump, Voice};
use crate::control::controls::Controls;
use crate::event::RtEvent;

/// Crossfade for seeks, jumps, enhancement and preset switches, ms.
pub const CROSSFADE_MS: f32 = 8.0;
/// Pause/resume/stop ramp, ms.
pub const TRANSPORT_MS: f32 = 10.0;
/// Volume smoothing, ms.
pub const VOLUME_MS: f32 = 20.0;
/// How far ahead the renderer checks that audio is there, ms (it fades out over this much
/// before a missing chunk).
pub const LOOKAHEAD_MS: f32 = 4.0;
/// How long a jump waits for the enhanced variant once the original is there, ms: about one
/// callback, so two slots the filler sent together are taken together. A track that is not
/// analysed yet starts with the original and brings enhancement in gently when it arrives
/// (see `ARRIVAL_FADE_MS`) rather than making the listener wait for the analysis.
pub const JUMP_ENHANCED_WAIT_MS: f32 = 12.0;
/// Fade-in of the enhanced variant when it arrives after a voice started without it, ms: long
/// enough to sound like the mastering easing in, not like a jump in level.
pub const ARRIVAL_FADE_MS: f32 = 250.0;

/// Frames rendered one by one before the renderer looks for a steady run again.
const SLOW_RUN: usize = 16;

/// Everything the renderer reads from and writes to (see the `audio` module docs).
pub(crate) struct RendererIo {
    /// Its end of the hot tier.
    pub hot: HotConsumer,
    /// Ordered commands from the control side.
    pub commands: rtrb::Consumer<Command>,
    /// Events for the pump.
    pub events: rtrb::Producer<RtEvent>,
    /// Parameters from the control side.
    pub controls: Arc<Controls>,
    /// Its reports.
    pub readings: Arc<Readings>,
}

/// The audio-thread half of the engine. See the module docs.
pub struct Renderer {
    pub(super) commands: rtrb::Consumer<Command>,
    pub(super) events: rtrb::Producer<RtEvent>,
    pub(super) controls: Arc<Controls>,
    pub(super) readings: Arc<Readings>,
    /// The slots held (and the renderer's end of the hot tier).
    pub(super) held: Held,
    pub(super) chunk_frames: u64,
    pub(super) transport: Transport,
    pub(super) transport_gain: Ramp,
    /// Rewind to the start of the track once the stop fade has finished.
    pub(super) stop_pending: bool,
    pub(super) voice: Option<Voice>,
    pub(super) old: Option<Voice>,
    pub(super) old_gain: Ramp,
    /// True when `old` is the previous track (a track crossfade), not a seek's old position.
    pub(super) old_between_tracks: bool,
    /// Track crossfade length in frames (0: gapless).
    pub(super) track_crossfade: u64,
    pub(super) jump: Option<PendingJump>,
    pub(super) next: Option<(u64, Option<u64>)>,
    pub(super) mix: Smooth,
    pub(super) volume: Smooth,
    /// How long a normalisation gain change takes, frames.
    pub(super) norm_frames: f32,
    pub(super) preset: Preset,
    pub(super) preset_next: Option<Preset>,
    pub(super) preset_fade: Ramp,
    pub(super) lookahead: u64,
    pub(super) crossfade_frames: f32,
    pub(super) arrival_frames: f32,
    pub(super) jump_wait: u64,
    pub(super) queue_ended: bool,
    /// True while crossfading from `preset` to `preset_next`.
    pub(super) preset_switching: bool,
    /// Frames of audio (not silence) played since the last publish.
    pub(super) audible: u64,
    /// Render steady runs in one go (off only to test that they change nothing).
    pub(super) steady: bool,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("transport", &self.transport)
            .field("voice", &self.voice.map(|v| (v.entry, v.frame)))
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// A renderer at `rate` for chunks of `chunk_frames`, holding at most `max_held` slots.
    /// Allocates everything it will ever need. Runs on: the control thread.
    pub(crate) fn new(io: RendererIo, rate: u32, chunk_frames: u32, max_held: usize) -> Self {
        let RendererIo {
            hot,
            commands,
            events,
            controls,
            readings,
        } = io;
        let ms = |v: f32| v * rate as f32 / 1000.0;
        let intensity = controls.intensity();
        let on = controls.enhance();
        let preset = controls.preset();
        Renderer {
            commands,
            events,
            held: Held::new(hot, max_held),
            chunk_frames: u64::from(chunk_frames.max(1)),
            transport: Transport::Stopped,
            transport_gain: Ramp::new(0.0, ms(TRANSPORT_MS)),
            stop_pending: false,
            voice: None,
            old: None,
            old_gain: Ramp::new(0.0, ms(CROSSFADE_MS)),
            old_between_tracks: false,
            track_crossfade: 0,
            jump: None,
            next: None,
            mix: Smooth::new(if on { intensity } else { 0.0 }, ms(CROSSFADE_MS)),
            volume: Smooth::new(controls.volume(), ms(VOLUME_MS)),
            norm_frames: ms(VOLUME_MS),
            preset,
            preset_next: None,
            preset_fade: Ramp::new(0.0, ms(CROSSFADE_MS)),
            lookahead: ms(LOOKAHEAD_MS).ceil() as u64,
            crossfade_frames: ms(CROSSFADE_MS),
            arrival_frames: ms(ARRIVAL_FADE_MS),
            jump_wait: ms(JUMP_ENHANCED_WAIT_MS) as u64,
            queue_ended: false,
            preset_switching: false,
            audible: 0,
            steady: true,
            controls,
            readings,
        }
    }

    /// Fills `out` (interleaved stereo) with the next `out.len() / 2` frames.
    ///
    /// Runs on: the audio thread. Never allocates, frees, locks, blocks or logs.
    pub fn render(&mut self, out: &mut [f32]) {
        let frames = out.len() / 2;
        self.take_commands();
        self.take_params();
        self.take_slots();
        self.try_jump(frames as u64);
        self.begin_preset_switch();
        let mut i = 0;
        while i < frames {
            let n = if self.steady {
                self.run_len(frames - i)
            } else {
                0
            };
            if n > 0 {
                i += self.render_run(&mut out[2 * i..2 * (i + n)]);
                continue;
            }
            // Something is moving (a ramp, a crossfade, a chunk edge ahead): frame by frame
            // for a while before looking for a steady run again.
            let end = (i + SLOW_RUN).min(frames);
            for frame in out[2 * i..2 * end].chunks_exact_mut(2) {
                let [l, r] = self.next_frame();
                frame[0] = l;
                frame[1] = r;
            }
            i = end;
        }
        out[frames * 2..].fill(0.0);
        self.release_unneeded();
        self.publish(frames as u64);
    }

    /// Test hook: render every frame on the general path (see `steady_run`).
    pub(crate) fn set_steady_runs(&mut self, on: bool) {
        self.steady = on;
    }

    pub(super) fn emit(&mut self, e: RtEvent) {
        if self.events.push(e).is_err() {
            self.readings.dropped_events.add(1);
        }
    }

    pub(super) fn take_commands(&mut self) {
        // Bounded: at most the queue's capacity per callback.
        for _ in 0..COMMAND_QUEUE {
            let Ok(cmd) = self.commands.pop() else { break };
            match cmd {
                Command::Play => {
                    if self.voice.is_some() || self.jump.is_some() {
                        self.set_transport(Transport::Playing);
                    }
                    self.stop_pending = false;
                    self.transport_gain.target = 1.0;
                }
                Command::Pause => {
                    if self.transport == Transport::Playing {
                        self.set_transport(Transport::Paused);
                    }
                    self.transport_gain.target = 0.0;
                }
                Command::Stop => {
                    self.set_transport(Transport::Stopped);
                    self.transport_gain.target = 0.0;
                    self.stop_pending = true;
                }
                Command::Jump(jump) => {
                    self.jump = Some(PendingJump { jump, waited: 0 });
                    self.queue_ended = false;
                }
                Command::SetNext { after, next } => self.next = Some((after, next)),
                Command::Clear => {
                    self.voice = None;
                    self.old = None;
                    self.jump = None;
                    self.next = None;
                    self.set_transport(Transport::Stopped);
                    self.transport_gain = Ramp {
                        value: 0.0,
                        target: 0.0,
                        ..self.transport_gain
                    };
                    self.held.clear();
                }
            }
        }
    }

    /// A new voice's normalisation gain for `entry`: at its value at once (a track starts at
    /// its level), smoothed over [`VOLUME_MS`] when it changes later.
    pub(super) fn norm_of(&self, entry: u64) -> Smooth {
        Smooth::new(self.controls.gain_of(entry), self.norm_frames)
    }

    pub(super) fn set_transport(&mut self, t: Transport) {
        if self.transport != t {
            self.transport = t;
            self.readings.set_transport(t);
            self.emit(RtEvent::Transport { state: t });
        }
    }

    pub(super) fn take_params(&mut self) {
        self.track_crossfade = self.controls.track_crossfade();
        let on = self.controls.enhance();
        let intensity = self.controls.intensity().clamp(0.0, 1.0);
        let target = if on { intensity } else { 0.0 };
        if target != self.mix.ramp.target {
            // Telemetry for latency measurements: the mix starts moving in this callback.
            self.readings.mix_changes.add(1);
        }
        self.mix.set(target);
        self.volume.set(self.controls.volume().clamp(0.0, 4.0));
        if let Some(v) = self.voice.as_mut() {
            v.norm.set(self.controls.gain_of(v.entry));
        }
        if let Some(o) = self.old.as_mut() {
            o.norm.set(self.controls.gain_of(o.entry));
        }
        let wanted = self.controls.preset();
        if self.preset_switching {
            // Finish the switch in progress first; a newer choice is picked up after it.
            return;
        }
        let next = (wanted != self.preset).then_some(wanted);
        if next != self.preset_next {
            self.preset_next = next;
            self.held.invalidate();
        }
    }

    pub(super) fn variants_wanted(&self) -> [Option<Variant>; 3] {
        [
            Some(Variant::Original),
            Some(Variant::Enhanced(self.preset)),
            self.preset_next.map(Variant::Enhanced),
        ]
    }

    /// True when a slot with this key is worth holding.
    pub(super) fn wanted(&self, entry: u64, index: u32, variant: Variant) -> bool {
        if !self.variants_wanted().contains(&Some(variant)) {
            return false;
        }
        let c = self.chunk_frames;
        let near = |v: &Voice| {
            v.entry == entry && (index as u64 == v.frame / c || index as u64 == v.frame / c + 1)
        };
        self.voice.as_ref().is_some_and(near)
            || self.old.as_ref().is_some_and(near)
            || self.jump.is_some_and(|p| {
                let j = p.jump;
                j.entry == entry && (index as u64 == j.frame / c || index as u64 == j.frame / c + 1)
            })
            || (index == 0 && self.successor().is_some_and(|n| n == entry))
    }

    /// The entry after the playing one, if the control side has said.
    pub(super) fn successor(&self) -> Option<u64> {
        let v = self.voice?;
        match self.next {
            Some((after, next)) if after == v.entry => next,
            _ => None,
        }
    }

    pub(super) fn take_slots(&mut self) {
        while let Some(slot) = self.held.receive() {
            let k = slot.key;
            if !self.wanted(k.entry, k.index, k.variant)
                || self.held.find(k.entry, k.index, k.variant).is_some()
            {
                self.held.return_slot(slot);
            } else {
                self.held.keep(slot);
            }
        }
    }

    pub(super) fn release_unneeded(&mut self) {
        for i in 0..self.held.len() {
            if let Some(k) = self.held.key(i)
                && !self.wanted(k.entry, k.index, k.variant)
            {
                self.held.give_back(i);
            }
        }
    }

    /// The held slots for `frame` of `entry`, per variant.
    #[inline]
    pub(super) fn lookup(&mut self, entry: u64, frame: u64) -> Lookup {
        let index = (frame / self.chunk_frames) as u32;
        self.held
            .lookup(entry, index, self.preset, self.preset_next)
    }

    /// Whether the audio at `frame` of `entry` is held (original, and enhanced).
    pub(super) fn have(&mut self, entry: u64, frame: u64) -> (bool, bool) {
        let l = self.lookup(entry, frame);
        (l.orig.is_some(), self.enhanced_playable(l))
    }

    /// Whether the enhanced signal can sound here. While a preset switch crossfades, that
    /// takes both presets' audio: where the new one is missing (after a seek, or ahead at a
    /// chunk edge) the enhanced signal fades out to the original instead, and fades back in
    /// when the chunk arrives — rather than dropping the new preset's share in one frame and
    /// bringing it back in one frame when the switch completes (a click, found by the soak).
    #[inline]
    pub(super) fn enhanced_playable(&self, l: Lookup) -> bool {
        l.enh.is_some() && (!self.preset_switching || l.enh_next.is_some())
    }

    /// One output frame.
    #[inline]
    pub(super) fn next_frame(&mut self) -> [f32; 2] {
        let gain = self.transport_gain.next();
        if gain == 0.0 && self.transport_gain.target == 0.0 {
            if self.stop_pending {
                self.stop_pending = false;
                if let Some(v) = self.voice.as_mut() {
                    v.frame = 0;
                }
                self.old = None;
            }
            return [0.0; 2];
        }
        let mix = self.mix.next();
        let preset_p = if self.preset_switching {
            let p = self.preset_fade.next();
            if p >= 1.0
                && let Some(next) = self.preset_next
            {
                // The new preset's audio is now the whole enhanced signal: this frame already
                // plays it as `enh` (the lookup changes with the epoch).
                self.finish_preset_switch(next);
                0.0
            } else {
                p
            }
        } else {
            0.0
        };
        self.maybe_start_track_crossfade();
        let mut out = [0.0f32; 2];
        if let Some(mut v) = self.voice {
            let s = self.voice_frame(&mut v, mix, preset_p, true);
            self.voice = Some(v);
            out = s;
        }
        if let Some(mut old) = self.old {
            let g = self.old_gain.next();
            let s = self.voice_frame(&mut old, mix, preset_p, false);
            let (g_new, g_old) = crossfade_gains(g, self.old_between_tracks);
            out[0] = out[0] * g_new + s[0] * g_old;
            out[1] = out[1] * g_new + s[1] * g_old;
            self.old = if self.old_gain.settled() {
                None
            } else {
                Some(old)
            };
        }
        let vol = self.volume.next() * gain;
        [out[0] * vol, out[1] * vol]
    }

    /// The next frame of a voice, advancing it; handles track ends, misses and readiness.
    #[inline]
    pub(super) fn voice_frame(
        &mut self,
        v: &mut Voice,
        mix: f32,
        preset_p: f32,
        audible: bool,
    ) -> [f32; 2] {
        // Track end: continue gaplessly into the successor, or end the queue.
        if v.frame >= v.track_frames {
            if !audible {
                return [0.0; 2];
            }
            match self.successor() {
                Some(next) if self.have(next, 0).0 => {
                    let ended = v.entry;
                    let enh = self.have(next, 0).1;
                    *v = Voice::new(
                        next,
                        0,
                        self.lookahead as f32,
                        self.crossfade_frames,
                        v.ready.value > 0.0,
                        enh && v.enhanced.value > 0.0,
                        self.norm_of(next),
                    );
                    v.enhanced.target = if enh { 1.0 } else { 0.0 };
                    if let Some(i) = self.lookup(next, 0).orig
                        && let Some(s) = self.held.get(i)
                    {
                        v.track_frames = s.track_frames;
                    }
                    self.emit(RtEvent::TrackEnded { entry: ended });
                    self.emit(RtEvent::TrackStarted { entry: next });
                }
                Some(_) => {
                    self.miss(v);
                    return [0.0; 2];
                }
                None => {
                    if !self.queue_ended && self.next.is_some_and(|(after, _)| after == v.entry) {
                        self.queue_ended = true;
                        self.emit(RtEvent::TrackEnded { entry: v.entry });
                        self.emit(RtEvent::QueueEnded);
                        self.set_transport(Transport::Stopped);
                        self.transport_gain.target = 0.0;
                    }
                    return [0.0; 2];
                }
            }
        }
        let l = self.lookup(v.entry, v.frame);
        let Some(oi) = l.orig else {
            if audible {
                self.miss(v);
            }
            return [0.0; 2];
        };
        if v.stalled {
            v.stalled = false;
            self.emit(RtEvent::Recovered { entry: v.entry });
        }
        // Look ahead: fade out before a chunk that is missing, and before the enhanced variant
        // runs out; fade back in when they are there.
        let ahead = v.frame + self.lookahead;
        let enh_here = self.enhanced_playable(l);
        let (orig_ahead, enh_ahead) = if ahead >= v.track_frames {
            match self.successor() {
                Some(n) => self.have(n, 0),
                None => (true, enh_here),
            }
        } else if ahead / self.chunk_frames == v.frame / self.chunk_frames {
            (true, enh_here)
        } else {
            self.have(v.entry, ahead)
        };
        v.ready.target = if orig_ahead { 1.0 } else { 0.0 };
        v.enhanced.target = if enh_here && enh_ahead { 1.0 } else { 0.0 };
        let ready = v.ready.next();
        let enh_gain = v.enhanced.next();
        let Some(slot) = self.held.get(oi) else {
            return [0.0; 2];
        };
        v.track_frames = slot.track_frames;
        let off = ((v.frame - slot.start) as usize) * 2;
        let s = slot.samples();
        let g = v.norm.next();
        let (ol, or) = (s[off] * g, s[off + 1] * g);
        let mut e = [ol, or];
        if let Some(ei) = l.enh
            && let Some(es) = self.held.get(ei)
        {
            let es = es.samples();
            e = [es[off], es[off + 1]];
            if preset_p > 0.0
                && let Some(ni) = l.enh_next
                && let Some(ns) = self.held.get(ni)
            {
                let ns = ns.samples();
                e[0] += (ns[off] - e[0]) * preset_p;
                e[1] += (ns[off + 1] - e[1]) * preset_p;
            }
        }
        let m = mix * enh_gain;
        v.frame += 1;
        if audible {
            self.audible += 1;
        }
        [
            (ol + (e[0] - ol) * m) * ready,
            (or + (e[1] - or) * m) * ready,
        ]
    }

    pub(super) fn miss(&mut self, v: &mut Voice) {
        self.readings.miss_frames.add(1);
        if !v.stalled {
            v.stalled = true;
            v.ready.value = 0.0;
            self.emit(RtEvent::Buffering {
                entry: v.entry,
                frame: v.frame,
            });
        }
    }

    pub(super) fn publish(&mut self, frames: u64) {
        if let Some(v) = self.voice {
            self.readings
                .set_position(v.entry, v.frame.min(v.track_frames));
        }
        match self.old {
            Some(o) if self.old_between_tracks => self
                .readings
                .set_fading(o.entry, o.frame.min(o.track_frames)),
            _ => self.readings.set_fading(0, 0),
        }
        if self.audible > 0 {
            self.readings.audible_frames.add(self.audible);
            self.audible = 0;
        }
        self.readings.callbacks.add(1);
        self.readings.frames_rendered.add(frames);
    }
}

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
use std::sync::atomic::Ordering;

use hearth_cache::Variant;
use hearth_cache::hot::{HotConsumer, SlotBox};
use hearth_dsp::Preset;

use crate::command::Command;
use crate::event::RtEvent;
use crate::shared::{Shared, Transport};

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

/// A linear ramp towards a target, one step per frame.
#[derive(Copy, Clone, Debug)]
struct Ramp {
    value: f32,
    target: f32,
    step: f32,
}

impl Ramp {
    fn new(value: f32, frames: f32) -> Self {
        Ramp {
            value,
            target: value,
            step: 1.0 / frames.max(1.0),
        }
    }

    #[inline]
    fn next(&mut self) -> f32 {
        if self.value < self.target {
            self.value = (self.value + self.step).min(self.target);
        } else if self.value > self.target {
            self.value = (self.value - self.step).max(self.target);
        }
        self.value
    }

    fn settled(&self) -> bool {
        self.value == self.target
    }
}

/// Frames rendered one by one before the renderer looks for a steady run again.
const SLOW_RUN: usize = 16;

/// A gain ramp whose step scales with the distance to cover (volume, intensity).
#[derive(Copy, Clone, Debug)]
struct Smooth {
    value: f32,
    target: f32,
    step: f32,
    frames: f32,
}

impl Smooth {
    fn new(value: f32, frames: f32) -> Self {
        Smooth {
            value,
            target: value,
            step: 0.0,
            frames: frames.max(1.0),
        }
    }

    fn set(&mut self, target: f32) {
        if target != self.target {
            self.target = target;
            self.step = (target - self.value).abs() / self.frames;
        }
    }

    #[inline]
    fn next(&mut self) -> f32 {
        if self.value < self.target {
            self.value = (self.value + self.step).min(self.target);
        } else if self.value > self.target {
            self.value = (self.value - self.step).max(self.target);
        }
        self.value
    }
}

/// A stream of one entry's audio: where it is and how ready its data is.
#[derive(Copy, Clone, Debug)]
struct Voice {
    entry: u64,
    frame: u64,
    /// Track length in frames once a slot has said (u64::MAX until then).
    track_frames: u64,
    /// 1 while the original's audio is there (lookahead), fades to 0 before a gap.
    ready: Ramp,
    /// 1 while the enhanced variant is there, fades to 0 before it runs out.
    enhanced: Ramp,
    stalled: bool,
}

impl Voice {
    fn new(
        entry: u64,
        frame: u64,
        lookahead: f32,
        crossfade: f32,
        ready: bool,
        enhanced: bool,
    ) -> Self {
        let mut r = Ramp::new(if ready { 1.0 } else { 0.0 }, lookahead);
        r.target = r.value;
        let mut e = Ramp::new(if enhanced { 1.0 } else { 0.0 }, crossfade);
        e.target = e.value;
        Voice {
            entry,
            frame,
            track_frames: u64::MAX,
            ready: r,
            enhanced: e,
            stalled: false,
        }
    }
}

#[derive(Copy, Clone, Debug)]
struct PendingJump {
    entry: u64,
    frame: u64,
    generation: u64,
    waited: u64,
}

/// Indices into `held` for one position of one entry, per variant.
#[derive(Copy, Clone, Debug, Default)]
struct Lookup {
    orig: Option<usize>,
    enh: Option<usize>,
    enh_next: Option<usize>,
}

/// One voice's audio for a run (see `Renderer::run_len`): the original and the enhanced
/// variant (the original again when there is none), from the voice's position on.
struct RunSource<'a> {
    orig: &'a [f32],
    enh: &'a [f32],
}

impl<'a> RunSource<'a> {
    /// The voice's samples, with its lookahead targets set as `voice_frame` sets them inside
    /// one chunk (the audio ahead is there).
    fn new(held: &'a [Option<SlotBox>], l: Lookup, v: &mut Voice) -> Option<Self> {
        let o = held.get(l.orig?)?.as_ref()?;
        let e = l.enh.and_then(|i| held.get(i)?.as_ref());
        v.track_frames = o.track_frames;
        v.ready.target = 1.0;
        v.enhanced.target = if l.enh.is_some() { 1.0 } else { 0.0 };
        let off = usize::try_from(v.frame.checked_sub(o.start)?).ok()? * 2;
        let orig = o.samples().get(off..)?;
        let enh = match e {
            Some(e) => e.samples().get(off..)?,
            None => orig,
        };
        Some(RunSource { orig, enh })
    }

    /// Frame `k` of the run, computed as `voice_frame` computes it.
    #[inline]
    fn frame(&self, v: &mut Voice, k: usize, mix: f32) -> [f32; 2] {
        let ready = v.ready.next();
        let enh_gain = v.enhanced.next();
        let (ol, or) = (self.orig[2 * k], self.orig[2 * k + 1]);
        let e = [self.enh[2 * k], self.enh[2 * k + 1]];
        let m = mix * enh_gain;
        [
            (ol + (e[0] - ol) * m) * ready,
            (or + (e[1] - or) * m) * ready,
        ]
    }
}

/// A few recent lookups, valid until the held slots or the presets change (`epoch`).
#[derive(Copy, Clone, Debug, Default)]
struct Memo {
    entries: [(u64, u32, u64, Lookup); 4],
    next: usize,
}

/// The audio-thread half of the engine. See the module docs.
pub struct Renderer {
    hot: HotConsumer,
    commands: rtrb::Consumer<Command>,
    events: rtrb::Producer<RtEvent>,
    shared: Arc<Shared>,
    /// Slots held, in a fixed-size table (never grows).
    held: Vec<Option<SlotBox>>,
    chunk_frames: u64,
    transport: Transport,
    transport_gain: Ramp,
    /// Rewind to the start of the track once the stop fade has finished.
    stop_pending: bool,
    voice: Option<Voice>,
    old: Option<Voice>,
    old_gain: Ramp,
    /// True when `old` is the previous track (a track crossfade), not a seek's old position.
    old_between_tracks: bool,
    /// Track crossfade length in frames (0: gapless).
    track_crossfade: u64,
    jump: Option<PendingJump>,
    next: Option<(u64, Option<u64>)>,
    mix: Smooth,
    volume: Smooth,
    preset: Preset,
    preset_next: Option<Preset>,
    preset_fade: Ramp,
    lookahead: u64,
    crossfade_frames: f32,
    arrival_frames: f32,
    jump_wait: u64,
    queue_ended: bool,
    /// True while crossfading from `preset` to `preset_next`.
    preset_switching: bool,
    /// Frames of audio (not silence) played since the last publish.
    audible: u64,
    memo: Memo,
    /// Bumped whenever `held` or the wanted presets change; invalidates `memo`.
    epoch: u64,
    /// Render steady runs in one go (off only to test that they change nothing).
    steady: bool,
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
    pub(crate) fn new(
        hot: HotConsumer,
        commands: rtrb::Consumer<Command>,
        events: rtrb::Producer<RtEvent>,
        shared: Arc<Shared>,
        rate: u32,
        chunk_frames: u32,
        max_held: usize,
    ) -> Self {
        let ms = |v: f32| v * rate as f32 / 1000.0;
        let intensity = shared.intensity.load();
        let on = shared.enhance.load(Ordering::Relaxed);
        let preset = shared.preset();
        Renderer {
            hot,
            commands,
            events,
            held: (0..max_held).map(|_| None).collect(),
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
            volume: Smooth::new(shared.volume.load(), ms(VOLUME_MS)),
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
            memo: Memo::default(),
            epoch: 1,
            steady: true,
            shared,
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

    fn emit(&mut self, e: RtEvent) {
        if self.events.push(e).is_err() {
            self.shared.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn take_commands(&mut self) {
        // Bounded: at most the queue's capacity per callback.
        for _ in 0..crate::command::COMMAND_QUEUE {
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
                Command::Jump {
                    entry,
                    frame,
                    generation,
                } => {
                    self.jump = Some(PendingJump {
                        entry,
                        frame,
                        generation,
                        waited: 0,
                    });
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
                    for i in 0..self.held.len() {
                        self.give_back(i);
                    }
                }
            }
        }
    }

    fn set_transport(&mut self, t: Transport) {
        if self.transport != t {
            self.transport = t;
            self.shared.set_transport(t);
            self.emit(RtEvent::Transport { state: t });
        }
    }

    fn take_params(&mut self) {
        self.track_crossfade = self.shared.track_crossfade.load(Ordering::Relaxed);
        let on = self.shared.enhance.load(Ordering::Relaxed);
        let intensity = self.shared.intensity.load().clamp(0.0, 1.0);
        let target = if on { intensity } else { 0.0 };
        if target != self.mix.target {
            // Telemetry for latency measurements: the mix starts moving in this callback.
            self.shared.mix_changes.fetch_add(1, Ordering::Release);
        }
        self.mix.set(target);
        self.volume.set(self.shared.volume.load().clamp(0.0, 4.0));
        let wanted = self.shared.preset();
        if self.preset_switching {
            // Finish the switch in progress first; a newer choice is picked up after it.
            return;
        }
        let next = (wanted != self.preset).then_some(wanted);
        if next != self.preset_next {
            self.preset_next = next;
            self.epoch += 1;
        }
    }

    fn variants_wanted(&self) -> [Option<Variant>; 3] {
        [
            Some(Variant::Original),
            Some(Variant::Enhanced(self.preset)),
            self.preset_next.map(Variant::Enhanced),
        ]
    }

    /// True when a slot with this key is worth holding.
    fn wanted(&self, entry: u64, index: u32, variant: Variant) -> bool {
        if !self.variants_wanted().contains(&Some(variant)) {
            return false;
        }
        let c = self.chunk_frames;
        let near = |v: &Voice| {
            v.entry == entry && (index as u64 == v.frame / c || index as u64 == v.frame / c + 1)
        };
        self.voice.as_ref().is_some_and(near)
            || self.old.as_ref().is_some_and(near)
            || self.jump.is_some_and(|j| {
                j.entry == entry && (index as u64 == j.frame / c || index as u64 == j.frame / c + 1)
            })
            || (index == 0 && self.successor().is_some_and(|n| n == entry))
    }

    /// The entry after the playing one, if the control side has said.
    fn successor(&self) -> Option<u64> {
        let v = self.voice?;
        match self.next {
            Some((after, next)) if after == v.entry => next,
            _ => None,
        }
    }

    fn take_slots(&mut self) {
        while let Some(slot) = self.hot.receive() {
            let k = slot.key;
            if !self.wanted(k.entry, k.index, k.variant)
                || self.find(k.entry, k.index, k.variant).is_some()
            {
                self.return_slot(slot);
                continue;
            }
            match self.held.iter().position(Option::is_none) {
                Some(i) => {
                    self.held[i] = Some(slot);
                    self.epoch += 1;
                }
                None => self.return_slot(slot),
            }
        }
    }

    fn return_slot(&mut self, slot: SlotBox) {
        if let Err(slot) = self.hot.give_back(slot) {
            // Impossible (the return queue holds the whole pool), but never free here: park it.
            if let Some(i) = self.held.iter().position(Option::is_none) {
                self.held[i] = Some(slot);
            } else {
                std::mem::forget(slot);
            }
        }
    }

    fn give_back(&mut self, i: usize) {
        if let Some(slot) = self.held[i].take() {
            self.epoch += 1;
            self.return_slot(slot);
        }
    }

    fn release_unneeded(&mut self) {
        for i in 0..self.held.len() {
            let keep = match &self.held[i] {
                Some(s) => self.wanted(s.key.entry, s.key.index, s.key.variant),
                None => true,
            };
            if !keep {
                self.give_back(i);
            }
        }
        let n = self.held.iter().filter(|s| s.is_some()).count();
        self.shared.held_slots.store(n as u64, Ordering::Relaxed);
    }

    fn find(&self, entry: u64, index: u32, variant: Variant) -> Option<usize> {
        self.held.iter().position(|s| {
            s.as_ref().is_some_and(|s| {
                s.key.entry == entry && s.key.index == index && s.key.variant == variant
            })
        })
    }

    /// The held slots for `frame` of `entry`, per variant (memoised: the held set only
    /// changes between frames when a preset switch completes, which bumps the epoch).
    #[inline]
    fn lookup(&mut self, entry: u64, frame: u64) -> Lookup {
        let index = (frame / self.chunk_frames) as u32;
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
            enh: self.find(entry, index, Variant::Enhanced(self.preset)),
            enh_next: self
                .preset_next
                .and_then(|p| self.find(entry, index, Variant::Enhanced(p))),
        };
        let slot = self.memo.next;
        self.memo.entries[slot] = (entry, index, epoch, l);
        self.memo.next = (slot + 1) % self.memo.entries.len();
        l
    }

    /// Whether the audio at `frame` of `entry` is held (original, and enhanced).
    fn have(&mut self, entry: u64, frame: u64) -> (bool, bool) {
        let l = self.lookup(entry, frame);
        (l.orig.is_some(), self.enhanced_playable(l))
    }

    /// Whether the enhanced signal can sound here. While a preset switch crossfades, that
    /// takes both presets' audio: where the new one is missing (after a seek, or ahead at a
    /// chunk edge) the enhanced signal fades out to the original instead, and fades back in
    /// when the chunk arrives — rather than dropping the new preset's share in one frame and
    /// bringing it back in one frame when the switch completes (a click, found by the soak).
    #[inline]
    fn enhanced_playable(&self, l: Lookup) -> bool {
        l.enh.is_some() && (!self.preset_switching || l.enh_next.is_some())
    }

    fn try_jump(&mut self, frames: u64) {
        let Some(mut j) = self.jump else { return };
        let (orig, enh) = self.have(j.entry, j.frame);
        let need_enhanced = self.mix.target > 0.0;
        // Wait for the enhanced variant only if the filler said it is coming with the original.
        let coming = self
            .lookup(j.entry, j.frame)
            .orig
            .and_then(|i| self.held[i].as_ref())
            .is_some_and(|s| s.companions > 0);
        let ready = orig && (enh || !need_enhanced || !coming || j.waited >= self.jump_wait);
        if !ready {
            if orig {
                j.waited += frames;
            }
            self.jump = Some(j);
            return;
        }
        let audible = self.transport_gain.value > 0.0;
        if audible && self.old.is_some() {
            // A crossfade is still running (a track crossfade, or a seek a moment ago): both
            // voices are in use, and dropping the fading one would click. Finish it within a
            // crossfade time, then jump (a callback or two later; found by the soak).
            let quick = 1.0 / self.crossfade_frames;
            if self.old_gain.step < quick {
                self.old_gain.step = quick;
            }
            self.jump = Some(j);
            return;
        }
        self.jump = None;
        let same_entry = self.voice.is_some_and(|v| v.entry == j.entry);
        // Enhancement that is not here yet eases in when it arrives (see ARRIVAL_FADE_MS).
        let fade = if enh {
            self.crossfade_frames
        } else {
            self.arrival_frames
        };
        let mut voice = Voice::new(j.entry, j.frame, self.lookahead as f32, fade, true, enh);
        if let Some(i) = self.lookup(j.entry, j.frame).orig
            && let Some(s) = &self.held[i]
        {
            voice.track_frames = s.track_frames;
        }
        if audible && let Some(old) = self.voice {
            self.old = Some(old);
            self.old_between_tracks = false;
            self.old_gain = Ramp {
                value: 1.0,
                target: 0.0,
                step: 1.0 / self.crossfade_frames,
            };
        } else {
            self.old = None;
        }
        self.voice = Some(voice);
        self.queue_ended = false;
        self.stop_pending = false;
        if !same_entry {
            self.emit(RtEvent::TrackStarted { entry: j.entry });
        }
        self.shared.jump_done.store(j.generation, Ordering::Release);
        self.emit(RtEvent::JumpDone {
            entry: j.entry,
            frame: j.frame,
            generation: j.generation,
        });
        if self.transport == Transport::Stopped && self.transport_gain.target > 0.0 {
            self.set_transport(Transport::Playing);
        }
    }

    /// Starts the crossfade to a new preset once its audio is here (instantly when the
    /// enhanced variant is not audible).
    fn begin_preset_switch(&mut self) {
        let Some(next) = self.preset_next else { return };
        if self.preset_switching {
            return;
        }
        let Some(v) = self.voice else {
            self.shared.preset_switches.fetch_add(1, Ordering::Release);
            self.finish_preset_switch(next);
            return;
        };
        if self.mix.value == 0.0 && self.mix.target == 0.0 {
            self.shared.preset_switches.fetch_add(1, Ordering::Release);
            self.finish_preset_switch(next);
        } else if self.lookup(v.entry, v.frame).enh_next.is_some() {
            self.preset_switching = true;
            self.shared.preset_switches.fetch_add(1, Ordering::Release);
            self.preset_fade = Ramp {
                value: 0.0,
                target: 1.0,
                step: 1.0 / self.crossfade_frames,
            };
        }
    }

    fn finish_preset_switch(&mut self, next: Preset) {
        self.preset = next;
        self.preset_next = None;
        self.preset_switching = false;
        self.preset_fade = Ramp {
            value: 0.0,
            target: 0.0,
            ..self.preset_fade
        };
        self.epoch += 1;
        self.shared
            .active_preset
            .store(next.id(), Ordering::Relaxed);
        self.emit(RtEvent::PresetActive { preset: next });
    }

    /// With a track crossfade configured: when the playing track is that close to its end and
    /// the next one's start is here, the next one starts under it.
    #[inline]
    fn maybe_start_track_crossfade(&mut self) {
        let xf = self.track_crossfade;
        if xf == 0 || self.old.is_some() || self.jump.is_some() {
            return;
        }
        let Some(v) = self.voice else { return };
        if v.track_frames == u64::MAX || v.frame >= v.track_frames || v.frame + xf < v.track_frames
        {
            return;
        }
        let Some(next) = self.successor() else { return };
        let (orig, enh) = self.have(next, 0);
        if !orig {
            return;
        }
        let remaining = (v.track_frames - v.frame).max(1) as f32;
        self.old = Some(v);
        self.old_gain = Ramp {
            value: 1.0,
            target: 0.0,
            step: 1.0 / remaining,
        };
        self.old_between_tracks = true;
        let mut voice = Voice::new(
            next,
            0,
            self.lookahead as f32,
            self.crossfade_frames,
            true,
            enh,
        );
        if let Some(i) = self.lookup(next, 0).orig
            && let Some(s) = &self.held[i]
        {
            voice.track_frames = s.track_frames;
        }
        self.voice = Some(voice);
        self.emit(RtEvent::TrackEnded { entry: v.entry });
        self.emit(RtEvent::TrackStarted { entry: next });
    }

    /// One output frame.
    #[inline]
    fn next_frame(&mut self) -> [f32; 2] {
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
            // Seeks and jumps crossfade two takes of the same music: constant gain. Two
            // different tracks are uncorrelated: constant power.
            let (g_new, g_old) = if self.old_between_tracks {
                let a = g * std::f32::consts::FRAC_PI_2;
                (a.cos(), a.sin())
            } else {
                (1.0 - g, g)
            };
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

    /// How many of the next `max` frames form a *run*: the voices (the playing one and, during
    /// a crossfade, the old one) read from chunks they hold, and nothing structural is due
    /// within the run — every lookahead stays inside its chunk, no track end, no track
    /// crossfade to start, no pause or stop fade, no preset switch. Gains may ramp. 0 when the
    /// next frame is not part of one.
    ///
    /// A run renders with [`Renderer::render_run`], which computes exactly what
    /// [`Renderer::next_frame`] would, frame for frame — the same operations in the same
    /// order — with the per-frame decisions and lookups taken once for the run.
    fn run_len(&mut self, max: usize) -> usize {
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
    fn voice_track_frames(&mut self, v: &Voice) -> u64 {
        self.lookup(v.entry, v.frame)
            .orig
            .and_then(|i| self.held[i].as_ref())
            .map_or(v.track_frames, |s| s.track_frames)
    }

    /// Frames `v` can play from the slots it holds with every lookahead decision unchanged.
    fn voice_run(&mut self, v: &Voice) -> u64 {
        if v.stalled {
            return 0;
        }
        let l = self.lookup(v.entry, v.frame);
        let Some(slot) = l.orig.and_then(|i| self.held[i].as_ref()) else {
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
        if let Some(e) = l.enh.and_then(|i| self.held[i].as_ref()) {
            limit = limit.min(e.start + u64::from(e.frames));
        }
        limit.saturating_sub(v.frame)
    }

    /// Renders (the start of) a run found by [`Renderer::run_len`] into `out`; returns the
    /// frames rendered — fewer than asked when the old voice's fade ends inside the run.
    fn render_run(&mut self, out: &mut [f32]) -> usize {
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
            && self.mix.value == self.mix.target
            && self.volume.value == self.volume.target
            && settled(&v.ready)
            && settled(&v.enhanced)
        {
            // Every gain constant: the same arithmetic as below, in a loop the compiler can
            // vectorise (the common case: plain playback).
            let n = out.len() / 2;
            let (o, e) = (&a.orig[..2 * n], &a.enh[..2 * n]);
            let m = self.mix.value * v.enhanced.value;
            let ready = v.ready.value;
            let vol = self.volume.value * self.transport_gain.value;
            for ((y, x), z) in out
                .chunks_exact_mut(2)
                .zip(o.chunks_exact(2))
                .zip(e.chunks_exact(2))
            {
                y[0] = ((x[0] + (z[0] - x[0]) * m) * ready) * vol;
                y[1] = ((x[1] + (z[1] - x[1]) * m) * ready) * vol;
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
                // As in `next_frame`: constant gain within a track, constant power between.
                let (g_new, g_old) = if between_tracks {
                    let a = g * std::f32::consts::FRAC_PI_2;
                    (a.cos(), a.sin())
                } else {
                    (1.0 - g, g)
                };
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

    /// The next frame of a voice, advancing it; handles track ends, misses and readiness.
    #[inline]
    fn voice_frame(&mut self, v: &mut Voice, mix: f32, preset_p: f32, audible: bool) -> [f32; 2] {
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
                    );
                    v.enhanced.target = if enh { 1.0 } else { 0.0 };
                    if let Some(i) = self.lookup(next, 0).orig
                        && let Some(s) = &self.held[i]
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
            self.shared.buffering.store(false, Ordering::Relaxed);
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
        let Some(slot) = self.held[oi].as_ref() else {
            return [0.0; 2];
        };
        v.track_frames = slot.track_frames;
        let off = ((v.frame - slot.start) as usize) * 2;
        let s = slot.samples();
        let (ol, or) = (s[off], s[off + 1]);
        let mut e = [ol, or];
        if let Some(ei) = l.enh
            && let Some(es) = self.held[ei].as_ref()
        {
            let es = es.samples();
            e = [es[off], es[off + 1]];
            if preset_p > 0.0
                && let Some(ni) = l.enh_next
                && let Some(ns) = self.held[ni].as_ref()
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

    fn miss(&mut self, v: &mut Voice) {
        self.shared.miss_frames.fetch_add(1, Ordering::Relaxed);
        if !v.stalled {
            v.stalled = true;
            v.ready.value = 0.0;
            self.shared.buffering.store(true, Ordering::Relaxed);
            self.emit(RtEvent::Buffering {
                entry: v.entry,
                frame: v.frame,
            });
        }
    }

    fn publish(&mut self, frames: u64) {
        if let Some(v) = self.voice {
            self.shared
                .set_position(v.entry, v.frame.min(v.track_frames));
        }
        match self.old {
            Some(o) if self.old_between_tracks => {
                self.shared.set_fading(o.entry, o.frame.min(o.track_frames))
            }
            _ => self.shared.set_fading(0, 0),
        }
        if self.audible > 0 {
            self.shared
                .audible_frames
                .fetch_add(self.audible, Ordering::Release);
            self.audible = 0;
        }
        self.shared.callbacks.fetch_add(1, Ordering::Relaxed);
        self.shared
            .frames_rendered
            .fetch_add(frames, Ordering::Relaxed);
    }
}

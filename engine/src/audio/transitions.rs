//! Moves between places in the audio: a jump (seek or track change) once the target's audio
//! is here, the crossfade to a new preset once its audio is here, and a track crossfade near
//! the end of a track. Each starts a crossfade; none ever waits.
//!
//! Runs on: the audio thread.

use super::ramp::Ramp;
use super::readings::Transport;
use super::renderer::Renderer;
use super::voice::Voice;
use crate::event::RtEvent;
use hearth_dsp::Preset;

impl Renderer {
    pub(super) fn try_jump(&mut self, frames: u64) {
        let Some(mut pending) = self.jump else { return };
        let j = pending.jump;
        let (orig, enh) = self.have(j.entry, j.frame);
        let need_enhanced = self.mix.ramp.target > 0.0;
        // Wait for the enhanced variant only if the filler said it is coming with the original.
        let coming = self
            .lookup(j.entry, j.frame)
            .orig
            .and_then(|i| self.held.get(i))
            .is_some_and(|s| s.companions > 0);
        let ready = orig && (enh || !need_enhanced || !coming || pending.waited >= self.jump_wait);
        if !ready {
            if orig {
                pending.waited += frames;
            }
            self.jump = Some(pending);
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
            self.jump = Some(pending);
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
        let norm = self.norm_of(j.entry);
        let mut voice = Voice::new(
            j.entry,
            j.frame,
            self.lookahead as f32,
            fade,
            true,
            enh,
            norm,
        );
        if let Some(i) = self.lookup(j.entry, j.frame).orig
            && let Some(s) = self.held.get(i)
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
        self.readings.set_jump_done(j.generation);
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
    pub(super) fn begin_preset_switch(&mut self) {
        let Some(next) = self.preset_next else { return };
        if self.preset_switching {
            return;
        }
        let Some(v) = self.voice else {
            self.readings.preset_switches.add(1);
            self.finish_preset_switch(next);
            return;
        };
        if self.mix.ramp.value == 0.0 && self.mix.ramp.target == 0.0 {
            self.readings.preset_switches.add(1);
            self.finish_preset_switch(next);
        } else if self.lookup(v.entry, v.frame).enh_next.is_some() {
            self.preset_switching = true;
            self.readings.preset_switches.add(1);
            self.preset_fade = Ramp {
                value: 0.0,
                target: 1.0,
                step: 1.0 / self.crossfade_frames,
            };
        }
    }

    pub(super) fn finish_preset_switch(&mut self, next: Preset) {
        self.preset = next;
        self.preset_next = None;
        self.preset_switching = false;
        self.preset_fade = Ramp {
            value: 0.0,
            target: 0.0,
            ..self.preset_fade
        };
        self.held.invalidate();
        self.readings.set_active_preset(next);
        self.emit(RtEvent::PresetActive { preset: next });
    }

    /// With a track crossfade configured: when the playing track is that close to its end and
    /// the next one's start is here, the next one starts under it.
    #[inline]
    pub(super) fn maybe_start_track_crossfade(&mut self) {
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
            self.norm_of(next),
        );
        if let Some(i) = self.lookup(next, 0).orig
            && let Some(s) = self.held.get(i)
        {
            voice.track_frames = s.track_frames;
        }
        self.voice = Some(voice);
        self.emit(RtEvent::TrackEnded { entry: v.entry });
        self.emit(RtEvent::TrackStarted { entry: next });
    }
}

//! The renderer on its own: hand-made slots with known samples (no files, no decoder, no
//! filler), commands pushed as the control side would, and the output checked sample by sample.

use std::sync::Arc;

use hearth_cache::Variant;
use hearth_cache::hot::{HotConfig, HotKey, HotProducer, hot_tier};
use hearth_dsp::Preset;

use super::command::{COMMAND_QUEUE, Command, Jump};
use super::readings::{Readings, Transport};
use super::renderer::{CROSSFADE_MS, Renderer, RendererIo, TRANSPORT_MS};
use crate::control::controls::Controls;
use crate::event::RtEvent;

const RATE: u32 = 48_000;
const CHUNK: u32 = 1024;
/// The seek/toggle/preset crossfade and the transport ramp, in frames at 48 kHz.
const XFADE: usize = (CROSSFADE_MS * RATE as f32 / 1000.0) as usize;
const RAMP: usize = (TRANSPORT_MS * RATE as f32 / 1000.0) as usize;

struct Rig {
    renderer: Renderer,
    hot: HotProducer,
    commands: rtrb::Producer<Command>,
    events: rtrb::Consumer<RtEvent>,
    controls: Arc<Controls>,
    readings: Arc<Readings>,
    generation: u64,
}

/// Sample `frame` of `entry`'s original: a slow ramp, different per entry, so every frame says
/// where it came from.
fn original(entry: u64, frame: u64) -> f32 {
    entry as f32 * 0.1 + frame as f32 * 1e-5
}

fn rig(enhance: bool) -> Rig {
    let (hot, consumer) = hot_tier(HotConfig {
        chunk_frames: CHUNK,
        slots: 16,
    });
    let (commands, cmd_rx) = rtrb::RingBuffer::new(COMMAND_QUEUE);
    let (ev_tx, events) = rtrb::RingBuffer::new(64);
    let controls = Arc::new(Controls::new(enhance, Preset::Warm, 1.0, 1.0));
    let readings = Arc::new(Readings::new(Preset::Warm));
    let renderer = Renderer::new(
        RendererIo {
            hot: consumer,
            commands: cmd_rx,
            events: ev_tx,
            controls: Arc::clone(&controls),
            readings: Arc::clone(&readings),
        },
        RATE,
        CHUNK,
        16,
    );
    Rig {
        renderer,
        hot,
        commands,
        events,
        controls,
        readings,
        generation: 0,
    }
}

impl Rig {
    fn command(&mut self, c: Command) {
        assert!(self.commands.push(c).is_ok());
    }

    fn jump(&mut self, entry: u64, frame: u64) {
        self.generation += 1;
        let generation = self.generation;
        self.command(Command::Jump(Jump {
            entry,
            frame,
            generation,
        }));
    }

    /// Sends chunk `index` of `entry` (a track of `track_frames`) in `variant`, each sample
    /// `value(frame)`.
    fn send(
        &mut self,
        entry: u64,
        index: u32,
        variant: Variant,
        track_frames: u64,
        value: impl Fn(u64) -> f32,
    ) {
        self.hot.reclaim(|_| {});
        let mut slot = self
            .hot
            .take_free()
            .unwrap_or_else(|| panic!("no free slot"));
        let start = u64::from(index) * u64::from(CHUNK);
        let frames = (track_frames - start).min(u64::from(CHUNK));
        for (k, s) in slot.buffer_mut()[..frames as usize * 2]
            .chunks_exact_mut(2)
            .enumerate()
        {
            s.fill(value(start + k as u64));
        }
        slot.key = HotKey {
            entry,
            index,
            variant,
        };
        slot.start = start;
        slot.frames = frames as u32;
        slot.track_frames = track_frames;
        slot.companions = 0;
        self.hot.send(slot);
    }

    fn send_original(&mut self, entry: u64, index: u32, track_frames: u64) {
        self.send(entry, index, Variant::Original, track_frames, |f| {
            original(entry, f)
        });
    }

    /// Renders `frames` frames in callbacks of 256; returns the left channel.
    fn render(&mut self, frames: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; frames * 2];
        for b in out.chunks_mut(512) {
            self.renderer.render(b);
        }
        out.chunks_exact(2)
            .map(|f| {
                assert_eq!(f[0], f[1], "the slots are the same on both channels");
                f[0]
            })
            .collect()
    }

    fn events(&mut self) -> Vec<RtEvent> {
        std::iter::from_fn(|| self.events.pop().ok()).collect()
    }

    /// Starts entry 1 (chunks 0 and 1 present) and plays through the fade-in.
    fn playing(&mut self, track_frames: u64) -> Vec<f32> {
        self.jump(1, 0);
        self.send_original(1, 0, track_frames);
        self.send_original(1, 1, track_frames);
        self.command(Command::Play);
        self.render(512)
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn plays_the_slots_it_holds_after_a_fade_in() {
    let mut r = rig(false);
    let out = r.playing(10 * u64::from(CHUNK));
    assert_eq!(r.readings.transport(), Transport::Playing);
    assert!(out[0].abs() < original(1, 0) / 10.0, "fades in: {}", out[0]);
    for (t, &v) in out.iter().enumerate().skip(RAMP + 1) {
        assert!(close(v, original(1, t as u64)), "frame {t}: {v}");
    }
    assert_eq!(r.readings.position(), (1, 512));
}

#[test]
fn a_seek_crossfades_into_the_exact_target() {
    let mut r = rig(false);
    r.playing(10 * u64::from(CHUNK));
    let target = 5 * u64::from(CHUNK) + 300;
    r.send_original(1, 5, 10 * u64::from(CHUNK));
    r.send_original(1, 6, 10 * u64::from(CHUNK));
    r.jump(1, target);
    let out = r.render(1024);
    // Constant-gain crossfade: the old position and the target add to one while it lasts ...
    let (old0, new0) = (original(1, 512), original(1, target));
    assert!(out[0] > old0 && out[0] < new0, "{} not between", out[0]);
    // ... then exactly the target, frame for frame.
    for (k, &v) in out.iter().enumerate().skip(XFADE + 1) {
        assert!(close(v, original(1, target + k as u64)), "frame {k}: {v}");
    }
    assert!(
        r.events()
            .iter()
            .any(|e| matches!(e, RtEvent::JumpDone { frame, .. } if *frame == target))
    );
    assert_eq!(r.readings.jump_done(), r.generation);
}

#[test]
fn a_seek_whose_audio_is_missing_keeps_playing_until_it_arrives() {
    let mut r = rig(false);
    r.playing(10 * u64::from(CHUNK));
    r.jump(1, 7 * u64::from(CHUNK));
    let before = r.render(256);
    for (k, &v) in before.iter().enumerate() {
        assert!(close(v, original(1, 512 + k as u64)), "frame {k}: {v}");
    }
    r.send_original(1, 7, 10 * u64::from(CHUNK));
    let after = r.render(512);
    assert!(close(after[511], original(1, 7 * u64::from(CHUNK) + 511)));
}

#[test]
fn an_enhancement_toggle_crossfades_to_the_enhanced_variant_at_once() {
    let mut r = rig(false);
    let track = 10 * u64::from(CHUNK);
    for i in 0..2 {
        r.send(1, i, Variant::Enhanced(Preset::Warm), track, |_| 0.5);
    }
    r.playing(track);
    r.controls.set_for_test(true, 1.0, Preset::Warm, 1.0);
    let out = r.render(1024);
    let orig = |k: usize| original(1, 512 + k as u64);
    assert!(out[0] > orig(0), "moves in the first frame: {}", out[0]);
    assert!(out[XFADE / 2] < 0.5 && out[XFADE / 2] > orig(XFADE / 2));
    assert!(out[XFADE + 1..].iter().all(|&v| close(v, 0.5)));
    assert_eq!(r.readings.mix_changes.get(), 1);
}

#[test]
fn a_preset_switch_waits_for_its_audio_then_crossfades() {
    let mut r = rig(true);
    let track = 10 * u64::from(CHUNK);
    for i in 0..2 {
        r.send(1, i, Variant::Enhanced(Preset::Warm), track, |_| 0.5);
    }
    r.playing(track);
    r.controls.set_for_test(true, 1.0, Preset::Punchy, 1.0);
    let waiting = r.render(256);
    assert!(
        waiting.iter().all(|&v| close(v, 0.5)),
        "keeps the old preset"
    );
    assert_eq!(r.readings.active_preset(), Preset::Warm);
    for i in 0..2 {
        r.send(1, i, Variant::Enhanced(Preset::Punchy), track, |_| 0.75);
    }
    let out = r.render(512);
    assert!(out[1] > 0.5 && out[1] < 0.75, "crossfading: {}", out[1]);
    assert!(out[XFADE + 1..].iter().all(|&v| close(v, 0.75)));
    assert_eq!(r.readings.active_preset(), Preset::Punchy);
    assert!(r.events().iter().any(|e| matches!(
        e,
        RtEvent::PresetActive {
            preset: Preset::Punchy
        }
    )));
}

#[test]
fn a_missing_chunk_fades_out_before_it_and_playback_recovers_when_it_comes() {
    let mut r = rig(false);
    let track = 10 * u64::from(CHUNK);
    r.playing(track);
    // Chunk 2 never sent: play into the gap.
    let out = r.render(2048);
    let gap = 2 * CHUNK as usize - 512;
    assert!(close(out[100], original(1, 612)));
    assert!(
        out[gap - 1].abs() < 1e-3,
        "faded out before the gap: {}",
        out[gap - 1]
    );
    assert!(out[gap..].iter().all(|&v| v == 0.0), "silence in the gap");
    assert!(r.readings.miss_frames.get() > 0);
    assert!(
        r.events()
            .iter()
            .any(|e| matches!(e, RtEvent::Buffering { entry: 1, .. }))
    );
    r.send_original(1, 2, track);
    r.send_original(1, 3, track);
    let back = r.render(1024);
    assert!(
        r.events()
            .iter()
            .any(|e| matches!(e, RtEvent::Recovered { entry: 1 }))
    );
    // It resumes where it stopped (the frame it lacked), fading back in.
    let resumed = back.iter().position(|&v| v != 0.0).unwrap_or(usize::MAX);
    assert!(resumed < 256, "resumed late: {resumed}");
    assert!(close(
        back[1023],
        original(1, 2048 + (1023 - resumed) as u64)
    ));
}

#[test]
fn a_gapless_join_has_no_gap_and_no_overlap() {
    let mut r = rig(false);
    let first = u64::from(CHUNK) + 476;
    r.playing(first);
    r.command(Command::SetNext {
        after: 1,
        next: Some(2),
    });
    r.send_original(2, 0, 4 * u64::from(CHUNK));
    // Only the next track's first chunk is held before it starts (what the filler sends).
    let mut out = r.render(1280);
    r.send_original(2, 1, 4 * u64::from(CHUNK));
    out.extend(r.render(768));
    // Frames 512.. of entry 1 up to its end, then entry 2 from its first frame.
    for (k, &v) in out.iter().enumerate() {
        let t = 512 + k as u64;
        let want = if t < first {
            original(1, t)
        } else {
            original(2, t - first)
        };
        assert!(close(v, want), "frame {t}: {v}, want {want}");
    }
    let events = r.events();
    assert!(events.contains(&RtEvent::TrackEnded { entry: 1 }));
    assert!(events.contains(&RtEvent::TrackStarted { entry: 2 }));
    assert_eq!(r.readings.position().0, 2);
}

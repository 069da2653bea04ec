//! Hearth demo track: "Embers at Dusk", an original piece synthesised from scratch.
//!
//! Key D minor, 120 BPM, 4/4, 20 bars = 40 s, looping i–VI–III–VII (Dm–B♭–F–C).
//!
//! | bars  | time    | section                                                              |
//! |-------|---------|----------------------------------------------------------------------|
//! | 0–3   | 0–8 s   | intro: detuned saw pad opens up, soft off-beat hats                  |
//! | 4–7   | 8–16 s  | build: filtered saw bass, four-on-the-floor kick, snare roll, riser  |
//! | 8–13  | 16–28 s | full: FM lead with vibrato and ping-pong delay, syncopated drums     |
//! | 14–17 | 28–36 s | breakdown: lead an octave down, long bass notes, kick + roll return  |
//! | 18–19 | 36–40 s | ending: final hit (kick, crash, chord) ringing out under a fade      |
//!
//! Output: stereo, 44.1 kHz, 16-bit WAV, sample peak normalised to -1 dBFS.
//! Deterministic: all noise comes from an inline xorshift PRNG with a fixed seed.
//!
//! Usage: `cargo run --example make_demo -- OUT.wav`

use std::f32::consts::{PI, TAU};

const SR: f32 = 44_100.0;
const BEAT: f32 = 60.0 / 120.0;
const BAR: f32 = 4.0 * BEAT;
/// One sixteenth note.
const STEP: f32 = BEAT / 4.0;
const BARS: usize = 20;
const PEAK_DBFS: f32 = -1.0;

/// Per bar of the progression: bass root and pad voicing (MIDI notes).
const PROGRESSION: [(u8, [u8; 3]); 4] = [
    (38, [62, 65, 69]), // Dm
    (34, [58, 62, 65]), // B♭
    (41, [60, 65, 69]), // F
    (36, [60, 64, 67]), // C
];

/// Pad oscillators per chord tone: (detune in semitones, pan).
const PAD_SPREAD: [(f32, f32); 3] = [(-0.1, -0.6), (0.0, 0.0), (0.1, 0.6)];

/// Bass offsets (semitones above the root) for the eight eighth notes of a bar.
const BASS_RIFF: [u8; 8] = [0, 0, 12, 0, 0, 12, 7, 0];

/// The four-bar lead phrase, played legato: MIDI notes and their lengths in sixteenths.
const MELODY_NOTES: [u8; 18] = [
    69, 74, 76, 77, 76, 74, 77, 74, 72, 69, 72, 77, 81, 79, 76, 72, 76, 74,
];
const MELODY_STEPS: [u32; 18] = [4, 2, 2, 6, 2, 8, 4, 4, 4, 4, 2, 2, 4, 6, 2, 4, 2, 2];

/// xorshift64 PRNG: tiny, fast and reproducible.
struct Rng(u64);

impl Rng {
    /// White noise in [-1, 1).
    fn noise(&mut self) -> f32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Attack/decay/sustain/release envelope (times in seconds, sustain as a level).
struct Adsr {
    a: f32,
    d: f32,
    s: f32,
    r: f32,
}

impl Adsr {
    const fn new(a: f32, d: f32, s: f32, r: f32) -> Self {
        Self { a, d, s, r }
    }

    /// Level at `t` seconds after note-on for a note held `hold` seconds.
    fn at(&self, t: f32, hold: f32) -> f32 {
        let held = |t: f32| {
            let decayed = self.s + (1.0 - self.s) * (1.0 - (t - self.a) / self.d).max(0.0);
            if t < self.a { t / self.a } else { decayed }
        };
        let release = (1.0 - (t - hold).max(0.0) / self.r).max(0.0);
        held(t.clamp(0.0, hold)) * release
    }
}

/// Band-limited (polyBLEP) sawtooth oscillator.
#[derive(Default)]
struct Saw {
    phase: f32,
}

impl Saw {
    fn next(&mut self, freq: f32) -> f32 {
        let dt = freq / SR;
        let t = self.phase;
        let blep = if t < dt {
            let x = t / dt;
            2.0 * x - x * x - 1.0
        } else if t > 1.0 - dt {
            let x = (t - 1.0) / dt;
            x * x + 2.0 * x + 1.0
        } else {
            0.0
        };
        self.phase = (self.phase + dt).fract();
        2.0 * t - 1.0 - blep
    }
}

/// Topology-preserving state-variable filter; returns (lowpass, bandpass, highpass).
#[derive(Default)]
struct Svf {
    ic1: f32,
    ic2: f32,
}

impl Svf {
    fn process(&mut self, x: f32, cutoff: f32, q: f32) -> (f32, f32, f32) {
        let g = (PI * cutoff.clamp(20.0, SR * 0.45) / SR).tan();
        let k = 1.0 / q;
        let a1 = 1.0 / (1.0 + g * (g + k));
        let (a2, a3) = (g * a1, g * g * a1);
        let v3 = x - self.ic2;
        let v1 = a1 * self.ic1 + a2 * v3;
        let v2 = self.ic2 + a2 * self.ic1 + a3 * v3;
        self.ic1 = 2.0 * v1 - self.ic1;
        self.ic2 = 2.0 * v2 - self.ic2;
        (v2, v1, x - k * v1 - v2)
    }
}

/// Stereo mix bus plus a mono effect send feeding the ping-pong delay.
struct Mixer {
    l: Vec<f32>,
    r: Vec<f32>,
    send: Vec<f32>,
}

impl Mixer {
    fn new(frames: usize) -> Self {
        let silence = vec![0.0; frames];
        let (l, r, send) = (silence.clone(), silence.clone(), silence);
        Self { l, r, send }
    }

    /// Adds `x` at frame `i` with constant-power panning (`pan` in -1..=1) and a send amount.
    fn add(&mut self, i: usize, x: f32, pan: f32, send: f32) {
        if i < self.l.len() {
            let angle = (pan + 1.0) * PI / 4.0;
            self.l[i] += x * angle.cos();
            self.r[i] += x * angle.sin();
            self.send[i] += x * send;
        }
    }

    /// Ping-pong delay (dotted eighth) with damped feedback, mixed back into the bus.
    fn ping_pong(&mut self, delay: f32, feedback: f32, wet: f32) {
        let d = frames(delay);
        let n = self.l.len();
        let (mut wl, mut wr) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut damp = 0.0f32;
        for i in d..n {
            damp += 0.35 * (self.send[i - d] + feedback * wr[i - d] - damp);
            wl[i] = damp;
            wr[i] = wl[i - d];
        }
        for i in 0..n {
            self.l[i] += wet * wl[i];
            self.r[i] += wet * wr[i];
        }
    }
}

fn frames(secs: f32) -> usize {
    (secs * SR).round() as usize
}

fn hz(midi: u8) -> f32 {
    440.0 * 2f32.powf((f32::from(midi) - 69.0) / 12.0)
}

/// Kick: sine swept from ~170 Hz down to 48 Hz plus a short noise click.
fn kick(mix: &mut Mixer, rng: &mut Rng, at: f32, gain: f32) {
    let start = frames(at);
    let mut phase = 0.0f32;
    for n in 0..frames(0.5) {
        let t = n as f32 / SR;
        phase = (phase + TAU * (48.0 + 120.0 * (-t / 0.035).exp()) / SR) % TAU;
        let body = phase.sin() * (-t / 0.22).exp();
        let click = 0.3 * rng.noise() * (-t / 0.003).exp();
        mix.add(start + n, gain * (body + click), 0.0, 0.0);
    }
}

/// Snare: two decaying tones plus band-passed noise.
fn snare(mix: &mut Mixer, rng: &mut Rng, at: f32, gain: f32) {
    let start = frames(at);
    let mut bp = Svf::default();
    for n in 0..frames(0.3) {
        let t = n as f32 / SR;
        let tone = 0.6 * (TAU * 185.0 * t).sin() * (-t / 0.04).exp()
            + 0.3 * (TAU * 330.0 * t).sin() * (-t / 0.03).exp();
        let noise = 1.5 * bp.process(rng.noise(), 2500.0, 1.0).1 * (-t / 0.08).exp();
        mix.add(start + n, gain * (tone + 0.7 * noise), -0.1, 0.05);
    }
}

/// Band-passed noise burst, just right of centre: closed/open hi-hats and crash cymbals.
fn noise_hit(mix: &mut Mixer, rng: &mut Rng, at: f32, gain: f32, decay: f32, cutoff: f32) {
    let start = frames(at);
    let mut bp = Svf::default();
    for n in 0..frames(decay * 4.0) {
        let t = n as f32 / SR;
        let x = 2.0 * bp.process(rng.noise(), cutoff, 1.5).1 * (-t / decay).exp();
        mix.add(start + n, gain * x, 0.1, 0.0);
    }
}

/// Rising band-passed noise sweep leading into a section.
fn riser(mix: &mut Mixer, rng: &mut Rng, from: f32, to: f32, gain: f32) {
    let start = frames(from);
    let mut bp = Svf::default();
    let len = to - from;
    for n in 0..frames(len) {
        let p = n as f32 / SR / len;
        let x = bp.process(rng.noise(), 300.0 * 25f32.powf(p), 2.0).1;
        mix.add(start + n, gain * p * p * x, -0.3, 0.4);
    }
}

/// Bass: saw plus sine, through a resonant low-pass with a plucky cutoff envelope.
fn bass_note(mix: &mut Mixer, at: f32, dur: f32, midi: u8, gain: f32, cutoff: f32) {
    let env = Adsr::new(0.005, 0.15, 0.7, 0.08);
    let (start, f) = (frames(at), hz(midi));
    let (mut osc, mut filt) = (Saw::default(), Svf::default());
    for n in 0..frames(dur + env.r) {
        let t = n as f32 / SR;
        let x = 0.6 * osc.next(f) + 0.5 * (TAU * f * t).sin();
        let fc = cutoff * (1.0 + 4.0 * (-t / 0.07).exp());
        let y = (1.5 * filt.process(x, fc, 1.3).0).tanh();
        mix.add(start + n, gain * env.at(t, dur) * y, 0.0, 0.0);
    }
}

/// Pad: each chord tone is three detuned saws spread across the stereo field, darkened
/// by a slowly swept 4-pole low-pass.
fn pad_chord(mix: &mut Mixer, at: f32, dur: f32, notes: [u8; 3], gain: f32, cutoff: f32) {
    let env = Adsr::new(0.7, 0.5, 0.8, 1.0);
    let start = frames(at);
    for (k, &midi) in notes.iter().enumerate() {
        for (j, &(detune, pan)) in PAD_SPREAD.iter().enumerate() {
            let f = hz(midi) * 2f32.powf(detune / 12.0);
            let pan = if k == 1 { -pan } else { pan };
            let phase = ((k * 3 + j) as f32 * 0.137).fract();
            let mut osc = Saw { phase };
            let (mut lp1, mut lp2) = (Svf::default(), Svf::default()); // 4-pole low-pass
            for n in 0..frames(dur + env.r) {
                let t = n as f32 / SR;
                let fc = cutoff * (1.0 + 0.3 * (TAU * 0.25 * (at + t)).sin());
                let y = lp2.process(lp1.process(osc.next(f), fc, 0.8).0, fc, 0.6).0;
                mix.add(start + n, gain * env.at(t, dur) * y, pan, 0.25);
            }
        }
    }
}

/// Lead: two-operator FM voice with delayed vibrato; brightness follows the envelope.
fn lead_note(mix: &mut Mixer, at: f32, dur: f32, midi: u8, gain: f32, send: f32) {
    let env = Adsr::new(0.01, 0.2, 0.6, 0.25);
    let (start, f) = (frames(at), hz(midi));
    let mut phase = 0.0f32;
    for n in 0..frames(dur + env.r) {
        let t = n as f32 / SR;
        let vibrato = 1.0 + 0.006 * (TAU * 5.5 * t).sin() * (t / 0.4).min(1.0);
        phase = (phase + TAU * f * vibrato / SR) % TAU;
        let e = env.at(t, dur);
        let x = (phase + 1.3 * e * (2.0 * phase).sin()).sin();
        mix.add(start + n, gain * e * x, 0.2, send);
    }
}

/// Closed hi-hat.
fn hat(mix: &mut Mixer, rng: &mut Rng, at: f32, gain: f32) {
    noise_hit(mix, rng, at, gain, 0.02, 8000.0);
}

/// One bar of the eighth-note bass riff.
fn bass_bar(mix: &mut Mixer, t0: f32, root: u8, gain: f32, cutoff: f32) {
    for (e, offset) in BASS_RIFF.iter().enumerate() {
        let at = t0 + 2.0 * e as f32 * STEP;
        bass_note(mix, at, 1.6 * STEP, root + offset, gain, cutoff);
    }
}

/// A snare roll over the second half of a bar, getting louder.
fn snare_roll(mix: &mut Mixer, rng: &mut Rng, t0: f32, from: f32, to: f32) {
    for s in 0..8 {
        let at = t0 + (8 + s) as f32 * STEP;
        snare(mix, rng, at, from + (to - from) * s as f32 / 7.0);
    }
}

/// Schedules every note of the piece onto the mixer.
fn compose(mix: &mut Mixer, rng: &mut Rng) {
    for bar in 0..BARS {
        let t0 = bar as f32 * BAR;
        let (root, chord) = PROGRESSION[bar % 4];
        let step = |s: usize| t0 + s as f32 * STEP;
        let p = (bar % 4) as f32 / 3.0; // progress through the current four-bar block
        match bar {
            0..=3 => {
                // intro
                pad_chord(mix, t0, BAR, chord, 0.045 + 0.02 * p, 500.0 + 1000.0 * p);
                for s in [2, 6, 10, 14].into_iter().filter(|_| bar >= 2) {
                    hat(mix, rng, step(s), 0.02 + 0.015 * p);
                }
            }
            4..=7 => {
                // build
                pad_chord(mix, t0, BAR, chord, 0.055, 1500.0 + 1000.0 * p);
                bass_bar(mix, t0, root, 0.35, 150.0 + 250.0 * p);
                for s in [0, 4, 8, 12] {
                    kick(mix, rng, step(s), 0.55 + 0.2 * p);
                    hat(mix, rng, step(s + 2), 0.04);
                }
                if bar == 6 {
                    snare(mix, rng, step(4), 0.3);
                    snare(mix, rng, step(12), 0.3);
                }
                if bar == 7 {
                    snare_roll(mix, rng, t0, 0.12, 0.33);
                    riser(mix, rng, t0, t0 + BAR, 0.25);
                }
            }
            8..=13 => {
                // full section
                pad_chord(mix, t0, BAR, chord, 0.045, 3500.0);
                bass_bar(mix, t0, root, 0.42, 500.0);
                for s in [0, 4, 8, 12] {
                    kick(mix, rng, step(s), 0.75);
                }
                kick(mix, rng, step(10), 0.4); // syncopated ghost kick
                snare(mix, rng, step(4), 0.45);
                snare(mix, rng, step(12), 0.45);
                for s in [0, 2, 4, 6, 8, 10, 12] {
                    hat(mix, rng, step(s), if s % 4 == 2 { 0.05 } else { 0.03 });
                }
                noise_hit(mix, rng, step(14), 0.04, 0.12, 7000.0); // open hat
                if bar == 8 || bar == 12 {
                    noise_hit(mix, rng, t0, 0.08, 0.3, 5000.0); // crash
                }
            }
            14..=17 => {
                // breakdown
                pad_chord(mix, t0, BAR, chord, 0.055, 1200.0 + 600.0 * p);
                bass_note(mix, t0, BAR - STEP, root, 0.3, 220.0);
                for s in [2, 6, 10, 14] {
                    hat(mix, rng, step(s), 0.025);
                }
                if bar == 17 {
                    for s in [0, 4, 8, 12] {
                        kick(mix, rng, step(s), 0.6);
                    }
                    snare_roll(mix, rng, t0, 0.1, 0.38);
                }
            }
            18 => {
                // ending: final hit
                kick(mix, rng, t0, 1.0);
                noise_hit(mix, rng, t0, 0.1, 0.5, 5000.0); // crash
                pad_chord(mix, t0, 1.5, chord, 0.07, 2500.0);
                bass_note(mix, t0, 1.5, root, 0.45, 400.0);
                lead_note(mix, t0, 1.5, 74, 0.2, 0.5);
            }
            _ => {}
        }
    }
    // Lead melody: the phrase twice in the full section (the second time cut to two bars),
    // then an octave lower and softer, drowned in delay, through the breakdown.
    for (bar, bars, transpose, gain, send) in [
        (8, 4, 0, 0.22, 0.3),
        (12, 2, 0, 0.22, 0.3),
        (14, 4, 12, 0.16, 0.6),
    ] {
        let mut s = 0;
        for (midi, len) in MELODY_NOTES.into_iter().zip(MELODY_STEPS) {
            if s < bars * 16 {
                let at = bar as f32 * BAR + s as f32 * STEP;
                let dur = 0.9 * len as f32 * STEP;
                lead_note(mix, at, dur, midi - transpose, gain, send);
            }
            s += len;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args().nth(1).ok_or("usage: make_demo OUT.wav")?;
    let total = BARS as f32 * BAR;
    let mut mix = Mixer::new(frames(total));
    let mut rng = Rng(0x4845_4152_5448_2026); // "HEARTH" 2026
    compose(&mut mix, &mut rng);
    mix.ping_pong(3.0 * STEP, 0.45, 0.5);

    // Fade the final chord out over the last 2.5 s, then normalise the sample peak.
    let fade_from = frames(total - 2.5);
    let fade_len = (mix.l.len() - fade_from) as f32;
    for i in fade_from..mix.l.len() {
        let g = 0.5 + 0.5 * (PI * (i - fade_from) as f32 / fade_len).cos();
        mix.l[i] *= g;
        mix.r[i] *= g;
    }
    let samples = mix.l.iter().chain(&mix.r);
    let peak = samples.fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = 10f32.powf(PEAK_DBFS / 20.0) / peak.max(1e-9);

    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: SR as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&out, spec)?;
    for (l, r) in mix.l.iter().zip(&mix.r) {
        for x in [l, r] {
            writer.write_sample((x * scale * 32767.0).round() as i16)?;
        }
    }
    writer.finalize()?;
    println!("wrote {out}: {total} s, peak before normalising {peak:.3}");
    Ok(())
}

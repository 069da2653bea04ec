//! A voice: one entry's audio being played, with the readiness ramps that fade it out before
//! missing audio and back in when it arrives; and a jump waiting for its audio.
//!
//! Runs on: the audio thread.

use super::command::Jump;
use super::ramp::{Ramp, Smooth};

/// A stream of one entry's audio: where it is and how ready its data is.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Voice {
    pub entry: u64,
    pub frame: u64,
    /// Track length in frames once a slot has said (u64::MAX until then).
    pub track_frames: u64,
    /// 1 while the original's audio is there (lookahead), fades to 0 before a gap.
    pub ready: Ramp,
    /// 1 while the enhanced variant is there, fades to 0 before it runs out.
    pub enhanced: Ramp,
    /// The loudness normalisation gain of the original variant (1.0: none), smoothed like the
    /// volume when it changes mid-track.
    pub norm: Smooth,
    pub stalled: bool,
}

impl Voice {
    pub fn new(
        entry: u64,
        frame: u64,
        lookahead: f32,
        crossfade: f32,
        ready: bool,
        enhanced: bool,
        norm: Smooth,
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
            norm,
            stalled: false,
        }
    }
}

/// A jump the renderer has been asked for and is waiting to carry out (for its audio).
#[derive(Copy, Clone, Debug)]
pub(crate) struct PendingJump {
    pub jump: Jump,
    /// Frames waited for the enhanced variant once the original is here.
    pub waited: u64,
}

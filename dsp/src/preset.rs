//! The mastering presets: their names and their parameters.
//!
//! Every preset is a documented set of numbers (see [`Preset::params`] and the README):
//! a loudness target, EQ bands, compressor settings and a stereo width, followed by the same
//! true-peak limiter (ceiling −1 dBTP). `adaptive` derives its EQ and compression from the
//! track analysis; `loudness` only levels the track to −18 LUFS (the ReplayGain 2.0 reference).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::analysis::BAND_CENTRES;
use crate::analysis::TrackAnalysis;
use crate::biquad::Band;
use crate::compressor::CompressorParams;

/// A mastering preset.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// EQ and compression derived from the track analysis.
    #[default]
    Adaptive,
    /// Light touch: a little glue, gentle air.
    Gentle,
    /// Fuller low-mids, softened top.
    Warm,
    /// Presence and air lifted.
    Bright,
    /// Tighter low end, firmer compression for punch.
    Punchy,
    /// Wide, open, little compression: concert recordings.
    Live,
    /// No colouring: a constant per-track gain to -18 LUFS and the true-peak safety limiter.
    Loudness,
}

impl Preset {
    /// Every preset, in the order the player cycles through them.
    pub const ALL: [Preset; 7] = [
        Preset::Adaptive,
        Preset::Gentle,
        Preset::Warm,
        Preset::Bright,
        Preset::Punchy,
        Preset::Live,
        Preset::Loudness,
    ];

    /// The preset's name as used on the command line, in config files and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Adaptive => "adaptive",
            Preset::Gentle => "gentle",
            Preset::Warm => "warm",
            Preset::Bright => "bright",
            Preset::Punchy => "punchy",
            Preset::Live => "live",
            Preset::Loudness => "loudness",
        }
    }

    /// A stable small number for compact keys (cache file names, atomics).
    pub const fn id(self) -> u8 {
        match self {
            Preset::Adaptive => 0,
            Preset::Gentle => 1,
            Preset::Warm => 2,
            Preset::Bright => 3,
            Preset::Punchy => 4,
            Preset::Live => 5,
            Preset::Loudness => 6,
        }
    }

    /// The inverse of [`Preset::id`].
    pub const fn from_id(id: u8) -> Option<Preset> {
        match id {
            0 => Some(Preset::Adaptive),
            1 => Some(Preset::Gentle),
            2 => Some(Preset::Warm),
            3 => Some(Preset::Bright),
            4 => Some(Preset::Punchy),
            5 => Some(Preset::Live),
            6 => Some(Preset::Loudness),
            _ => None,
        }
    }

    /// The next preset in [`Preset::ALL`], wrapping around.
    pub fn next(self) -> Preset {
        let i = Self::ALL.iter().position(|&p| p == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// The previous preset in [`Preset::ALL`], wrapping around.
    pub fn previous(self) -> Preset {
        let i = Self::ALL.iter().position(|&p| p == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A preset name that is not one of [`Preset::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown preset '{name}' (expected one of: adaptive, gentle, warm, bright, punchy, live, loudness)"
)]
pub struct UnknownPreset {
    /// What was asked for.
    pub name: String,
}

impl FromStr for Preset {
    type Err = UnknownPreset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == wanted)
            .ok_or(UnknownPreset {
                name: s.to_string(),
            })
    }
}

/// Everything the chain needs to know to process a track: the preset, made concrete.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainParams {
    /// Integrated loudness the output is levelled to, LUFS.
    pub target_lufs: f32,
    /// EQ bands, applied in order.
    pub eq: Vec<Band>,
    /// Glue compressor (threshold relative to the target).
    pub compressor: CompressorParams,
    /// Stereo width: side gain (1 = unchanged, 0 = mono).
    pub width: f32,
    /// Limiter ceiling, dBTP.
    pub ceiling_dbtp: f32,
    /// Limiter lookahead, ms.
    pub limiter_lookahead_ms: f32,
    /// Limiter release, dB/s.
    pub limiter_release_db_per_s: f32,
}

/// The ceiling every preset's limiter holds.
pub const CEILING_DBTP: f32 = -1.0;

const fn comp(
    threshold_db: f32,
    ratio: f32,
    knee_db: f32,
    attack_ms: f32,
    release_db_per_s: f32,
    window_ms: f32,
    max_reduction_db: f32,
) -> CompressorParams {
    CompressorParams {
        threshold_db,
        ratio,
        knee_db,
        attack_ms,
        release_db_per_s,
        window_ms,
        max_reduction_db,
    }
}

fn shelf_lo(freq: f64, gain_db: f64) -> Band {
    Band::LowShelf {
        freq,
        gain_db,
        q: 0.707,
    }
}
fn shelf_hi(freq: f64, gain_db: f64) -> Band {
    Band::HighShelf {
        freq,
        gain_db,
        q: 0.707,
    }
}
fn bell(freq: f64, gain_db: f64, q: f64) -> Band {
    Band::Peak { freq, gain_db, q }
}
fn rumble(freq: f64) -> Band {
    Band::HighPass { freq, q: 0.707 }
}

/// Octave-band balance of a well-balanced master (dB relative to the total): roughly pink up
/// to 250 Hz, then falling about 3 dB per octave. `adaptive` nudges a track halfway towards it.
pub const REFERENCE_BALANCE_DB: [f32; 10] = [
    -14.0, -8.0, -6.0, -6.0, -8.0, -11.0, -14.0, -17.0, -21.0, -27.0,
];

impl Preset {
    /// The preset's parameters for a track. Only `adaptive` looks at the analysis.
    pub fn params(self, analysis: &TrackAnalysis) -> ChainParams {
        let base = |target_lufs: f32, eq: Vec<Band>, compressor: CompressorParams, width: f32| {
            ChainParams {
                target_lufs,
                eq,
                compressor,
                width,
                ceiling_dbtp: CEILING_DBTP,
                limiter_lookahead_ms: 2.0,
                limiter_release_db_per_s: 60.0,
            }
        };
        match self {
            // Light touch: a breath of air and low end, barely-there glue.
            Preset::Gentle => base(
                -16.0,
                vec![shelf_lo(80.0, 0.5), shelf_hi(10_000.0, 1.0)],
                comp(4.0, 1.5, 8.0, 15.0, 20.0, 10.0, 6.0),
                1.05,
            ),
            // Fuller low end and low mids, softened top, moderate glue.
            Preset::Warm => base(
                -14.0,
                vec![
                    shelf_lo(120.0, 2.0),
                    bell(300.0, 1.0, 0.9),
                    shelf_hi(7_000.0, -1.5),
                ],
                comp(3.0, 2.0, 8.0, 12.0, 25.0, 10.0, 8.0),
                1.0,
            ),
            // Presence and air lifted, low mids cleaned, a little wider.
            Preset::Bright => base(
                -14.0,
                vec![
                    rumble(25.0),
                    bell(250.0, -1.0, 1.0),
                    bell(3_000.0, 1.5, 0.9),
                    shelf_hi(8_000.0, 2.5),
                ],
                comp(3.0, 2.0, 6.0, 10.0, 30.0, 8.0, 8.0),
                1.1,
            ),
            // Tight low end, mud cut, firmer and faster compression, loudest target.
            Preset::Punchy => base(
                -12.0,
                vec![
                    rumble(28.0),
                    Band::LowShelf {
                        freq: 90.0,
                        gain_db: 1.5,
                        q: 0.8,
                    },
                    bell(350.0, -1.5, 1.0),
                    bell(2_500.0, 1.0, 0.9),
                ],
                comp(1.0, 3.0, 6.0, 8.0, 40.0, 5.0, 10.0),
                1.05,
            ),
            // Concert recordings: open and wide, rumble removed, very light compression.
            Preset::Live => base(
                -15.0,
                vec![rumble(30.0), bell(200.0, -1.0, 0.8), shelf_hi(9_000.0, 1.0)],
                comp(5.0, 1.3, 10.0, 20.0, 15.0, 20.0, 4.0),
                1.2,
            ),
            // Level matching only: no colour at all.
            Preset::Loudness => base(-18.0, Vec::new(), CompressorParams::OFF, 1.0),
            Preset::Adaptive => adaptive(analysis, base),
        }
    }
}

/// `adaptive`: halfway towards [`REFERENCE_BALANCE_DB`] in four regions (each correction
/// clamped to a few dB), compression chosen by loudness range (dense tracks are left nearly
/// alone, very dynamic ones get a gentle ratio), and a touch of width unless the track is
/// essentially mono.
fn adaptive(
    a: &TrackAnalysis,
    base: impl Fn(f32, Vec<Band>, CompressorParams, f32) -> ChainParams,
) -> ChainParams {
    let have_bands = a.band_levels_db.len() == BAND_CENTRES.len();
    // Tilt of the track against the reference, each region relative to the 500 Hz–1 kHz core.
    let diff = |bands: &[usize]| -> f32 {
        if !have_bands {
            return 0.0;
        }
        let avg = |idx: &[usize], v: &dyn Fn(usize) -> f32| {
            idx.iter().map(|&i| v(i)).sum::<f32>() / idx.len() as f32
        };
        let track = |i: usize| a.band_levels_db[i];
        let reference = |i: usize| REFERENCE_BALANCE_DB[i];
        let core = [4usize, 5];
        (avg(bands, &track) - avg(&core, &track))
            - (avg(bands, &reference) - avg(&core, &reference))
    };
    let correct = |d: f32, lo: f32, hi: f32| f64::from((-0.5 * d).clamp(lo, hi));
    let mut eq = Vec::new();
    let low = diff(&[0, 1, 2]);
    if have_bands && low > 8.0 {
        eq.push(rumble(22.0));
    }
    eq.push(shelf_lo(100.0, correct(low, -3.0, 3.0)));
    eq.push(bell(350.0, correct(diff(&[3, 4]), -2.5, 2.0), 0.9));
    eq.push(bell(3_000.0, correct(diff(&[6, 7]), -2.0, 2.5), 0.9));
    eq.push(shelf_hi(9_000.0, correct(diff(&[8, 9]), -2.0, 3.0)));
    eq.retain(|b| !b.is_neutral());
    let lra = a.loudness_range_lu;
    let compressor = if lra > 15.0 {
        comp(5.0, 1.4, 10.0, 15.0, 20.0, 10.0, 6.0)
    } else if lra > 7.0 {
        comp(3.0, 2.0, 8.0, 12.0, 25.0, 10.0, 8.0)
    } else {
        comp(4.0, 1.5, 8.0, 12.0, 25.0, 10.0, 4.0)
    };
    let width = if a.side_to_mid_db < -25.0 { 1.0 } else { 1.08 };
    base(-14.0, eq, compressor, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_cycling_round_trip() {
        for p in Preset::ALL {
            assert_eq!(p.name().parse::<Preset>(), Ok(p));
            assert_eq!(Preset::from_id(p.id()), Some(p));
            assert_eq!(p.next().previous(), p);
        }
        assert_eq!(Preset::Loudness.next(), Preset::Adaptive);
        assert!("nope".parse::<Preset>().is_err());
        assert_eq!(" Warm ".parse::<Preset>(), Ok(Preset::Warm));
    }

    #[test]
    fn every_target_is_in_range_and_loudness_is_colourless() {
        let a = crate::analysis::tests::flat_analysis();
        for p in Preset::ALL {
            let params = p.params(&a);
            if p == Preset::Loudness {
                assert_eq!(params.target_lufs, -18.0);
                assert!(params.eq.is_empty() && params.compressor.is_off() && params.width == 1.0);
            } else {
                assert!((-16.0..=-12.0).contains(&params.target_lufs), "{p}");
            }
            assert_eq!(params.ceiling_dbtp, -1.0);
        }
    }

    #[test]
    fn adaptive_follows_the_analysis() {
        let mut dark = crate::analysis::tests::flat_analysis();
        // Much less top end than the reference: adaptive lifts the air shelf.
        dark.band_levels_db = REFERENCE_BALANCE_DB.to_vec();
        dark.band_levels_db[8] -= 6.0;
        dark.band_levels_db[9] -= 6.0;
        let p = Preset::Adaptive.params(&dark);
        let air = p.eq.iter().find_map(|b| match b {
            Band::HighShelf { gain_db, .. } => Some(*gain_db),
            _ => None,
        });
        assert_eq!(air, Some(3.0));
        // A reference-balanced track gets no EQ at all.
        let mut balanced = dark.clone();
        balanced.band_levels_db = REFERENCE_BALANCE_DB.to_vec();
        assert!(Preset::Adaptive.params(&balanced).eq.is_empty());
        // Dynamic material gets a gentler ratio than average material.
        let mut dynamic = balanced.clone();
        dynamic.loudness_range_lu = 20.0;
        assert!(
            Preset::Adaptive.params(&dynamic).compressor.ratio
                < Preset::Adaptive.params(&balanced).compressor.ratio
        );
    }
}

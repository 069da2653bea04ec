//! The mastering presets: names and identities.
//!
//! Parameters of each preset live with the chain; this module only names them so the rest of
//! Hearth (cache keys, CLI, config) can refer to a preset without knowing its internals.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
}

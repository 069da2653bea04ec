//! Loudness normalisation of the original variant: which gain each entry plays at.
//!
//! `track` brings every track to −18 LUFS (the ReplayGain 2.0 reference); `album` gives all
//! tracks of an album one gain (same album and album-artist tags, else the same folder), so
//! they keep their relative levels. A gain comes from the file's ReplayGain or `R128_*` tags
//! when it has them, else from Hearth's own analysis of the track (album: the tracks'
//! analyses combined, energy-weighted by length — refined as more of them are analysed). No
//! gain pushes the true peak over −1 dBTP: it is reduced instead, as mpv and MPD do. The
//! enhanced variant is not touched (its chain has its own loudness target).
//!
//! The gains of the entries around the playhead (playing, next, fading, a jump's target) go to
//! the renderer through [`Controls`](super::controls::Controls)' gain table; it smooths changes
//! like the volume. With normalisation off the table is empty and every sample plays as it
//! did, bit for bit.
//!
//! Runs on: the event pump's thread (`update_gains`, a few times a second and on changes) and
//! the control side (`Engine::set_normalize`).

use std::path::Path;

use hearth_cache::Tags;
use hearth_dsp::TrackAnalysis;

use super::controls::GAIN_SLOTS;
use super::queue::{EntryId, QueueEntry, next_playable};
use super::state::{Control, Inner};

/// The ReplayGain 2.0 reference loudness, LUFS.
pub const TARGET_LUFS: f64 = -18.0;
/// The highest true peak a gain may bring the original to, dBTP.
pub const PEAK_CEILING_DBTP: f64 = -1.0;
/// `R128_*_GAIN` tags are relative to −23 LUFS (EBU R128); ReplayGain 2.0's are to −18.
const R128_TO_RG2_DB: f64 = 5.0;

/// How loudness is normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Normalize {
    /// Not at all (the default): the original plays as it is, bit for bit.
    #[default]
    Off,
    /// Each track to −18 LUFS.
    Track,
    /// Each album to −18 LUFS, its tracks keeping their relative levels.
    Album,
}

impl Normalize {
    /// `off`, `track` or `album`.
    pub fn name(self) -> &'static str {
        match self {
            Normalize::Off => "off",
            Normalize::Track => "track",
            Normalize::Album => "album",
        }
    }
}

impl std::fmt::Display for Normalize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A mode name that is none of `off`, `track`, `album`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown normalisation {0:?} (off, track or album)")]
pub struct UnknownNormalize(pub String);

impl std::str::FromStr for Normalize {
    type Err = UnknownNormalize;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(Normalize::Off),
            "track" => Ok(Normalize::Track),
            "album" => Ok(Normalize::Album),
            _ => Err(UnknownNormalize(s.to_owned())),
        }
    }
}

/// A loudness and a peak, from tags or an analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Level {
    /// The gain to −18 LUFS, dB.
    gain_db: f64,
    /// The (true, else sample) peak before the gain, dBTP; `None` when unknown.
    peak_db: Option<f64>,
}

/// `"-6.20 dB"` → −6.2.
fn parse_db(s: &str) -> Option<f64> {
    let s = s.trim();
    let s = s
        .strip_suffix("dB")
        .or_else(|| s.strip_suffix("db"))
        .unwrap_or(s);
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The level a file's tags give for `scope` (`TRACK` or `ALBUM`).
fn tag_level(tags: &Tags, scope: &str) -> Option<Level> {
    let peak_db = tags
        .get(&format!("REPLAYGAIN_{scope}_PEAK"))
        .and_then(|p| p.trim().parse::<f64>().ok())
        .filter(|p| p.is_finite() && *p > 0.0)
        .map(|p| 20.0 * p.log10());
    if let Some(g) = tags
        .get(&format!("REPLAYGAIN_{scope}_GAIN"))
        .and_then(parse_db)
    {
        return Some(Level {
            gain_db: g,
            peak_db,
        });
    }
    // R128_*_GAIN: a Q7.8 integer, dB × 256, to −23 LUFS.
    let q = tags
        .get(&format!("R128_{scope}_GAIN"))?
        .trim()
        .parse::<i32>()
        .ok()?;
    Some(Level {
        gain_db: f64::from(q) / 256.0 + R128_TO_RG2_DB,
        peak_db,
    })
}

/// The level an analysis gives (`None` for silence).
fn analysed_level(a: &TrackAnalysis) -> Option<Level> {
    (a.integrated_lufs.is_finite() && a.integrated_lufs > -70.0).then(|| Level {
        gain_db: TARGET_LUFS - a.integrated_lufs,
        peak_db: Some(a.true_peak_dbtp).filter(|p| p.is_finite()),
    })
}

/// Several tracks' analyses as one: loudness energy-weighted by length, the highest peak.
fn combined(analyses: &[TrackAnalysis]) -> Option<Level> {
    let mut energy = 0.0;
    let mut seconds = 0.0;
    let mut peak: Option<f64> = None;
    for a in analyses {
        if !(a.integrated_lufs.is_finite() && a.integrated_lufs > -70.0) {
            continue;
        }
        let d = a.duration_seconds.max(1e-3);
        energy += d * 10f64.powf(a.integrated_lufs / 10.0);
        seconds += d;
        if a.true_peak_dbtp.is_finite() {
            peak = Some(peak.map_or(a.true_peak_dbtp, |p: f64| p.max(a.true_peak_dbtp)));
        }
    }
    (seconds > 0.0).then(|| Level {
        gain_db: TARGET_LUFS - 10.0 * (energy / seconds).log10(),
        peak_db: peak,
    })
}

/// The linear gain for `level`: to −18 LUFS, reduced so the peak stays at or under −1 dBTP.
fn linear(level: Level) -> f32 {
    let mut db = level.gain_db;
    if let Some(p) = level.peak_db {
        db = db.min(PEAK_CEILING_DBTP - p);
    }
    10f64.powf(db / 20.0) as f32
}

/// Which album an entry belongs to: its album and album-artist (else artist) tags, else its
/// folder.
fn album_key(e: &QueueEntry) -> String {
    let tags = e.meta().map(|m| &m.info.tags);
    match tags.and_then(|t| t.album.as_deref()) {
        Some(album) if !album.trim().is_empty() => {
            let artist = tags
                .and_then(|t| t.album_artist.as_deref().or(t.artist.as_deref()))
                .unwrap_or("");
            format!("tags\u{0}{}\u{0}{}", album.trim(), artist.trim())
        }
        _ => format!(
            "dir\u{0}{}",
            e.path.parent().unwrap_or(Path::new("")).display()
        ),
    }
}

impl Inner {
    /// The gain `entry` plays at under `mode`, when known.
    fn gain_for(&self, c: &Control, mode: Normalize, entry: EntryId) -> Option<f32> {
        let e = c.queue.get(entry)?;
        let meta = e.meta()?;
        let tags = &meta.info.tags;
        let level = match mode {
            Normalize::Off => return None,
            Normalize::Track => tag_level(tags, "TRACK").or_else(|| {
                self.store
                    .analysis(meta.track)
                    .and_then(|a| analysed_level(&a))
            }),
            Normalize::Album => tag_level(tags, "ALBUM").or_else(|| {
                let key = album_key(e);
                let analyses: Vec<TrackAnalysis> = c
                    .queue
                    .entries
                    .iter()
                    .filter(|o| o.meta().is_some() && album_key(o) == key)
                    .filter_map(|o| o.meta().and_then(|m| self.store.analysis(m.track)))
                    .collect();
                combined(&analyses)
            }),
        }?;
        Some(linear(level))
    }

    /// Recomputes the gains of the entries around the playhead and hands them to the
    /// renderer.
    pub fn update_gains(&self, c: &Control) {
        let mode = c.normalize;
        if mode == Normalize::Off {
            self.controls.set_gains(&[]);
            return;
        }
        let (playing, _) = self.readings.position();
        let (fading, _) = self.readings.fading();
        let order: Vec<u64> = c.queue.entries.iter().map(|e| e.id.0).collect();
        let mut entries: Vec<u64> = Vec::with_capacity(GAIN_SLOTS);
        let mut add = |e: u64| {
            if e != 0 && !entries.contains(&e) && entries.len() < GAIN_SLOTS {
                entries.push(e);
            }
        };
        add(playing);
        add(fading);
        if let Some(cur) = c.queue.current {
            add(cur.0);
        }
        if let Some(j) = c.jump {
            add(j.entry);
        }
        for anchor in [playing, c.queue.current.map_or(0, |e| e.0)] {
            if let Some(n) = next_playable(&order, anchor, |e| {
                c.queue
                    .get(EntryId(e))
                    .is_some_and(|q| matches!(q.status, super::queue::EntryStatus::Failed(_)))
            }) {
                add(n);
            }
        }
        let gains: Vec<(u64, f32)> = entries
            .iter()
            .filter_map(|&e| self.gain_for(c, mode, EntryId(e)).map(|g| (e, g)))
            .collect();
        self.controls.set_gains(&gains);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        Tags {
            other: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Tags::default()
        }
    }

    fn analysis(lufs: f64, peak: f64, seconds: f64) -> TrackAnalysis {
        TrackAnalysis {
            version: 0,
            rate: 48_000,
            integrated_lufs: lufs,
            loudness_range_lu: 5.0,
            true_peak_dbtp: peak,
            sample_peak_dbfs: peak,
            duration_seconds: seconds,
            coverage: 1.0,
            band_levels_db: Vec::new(),
            side_to_mid_db: -20.0,
        }
    }

    fn db(g: f32) -> f64 {
        20.0 * f64::from(g).log10()
    }

    #[test]
    fn tags_give_the_gain_and_the_peak_limits_it() {
        let t = tags(&[
            ("REPLAYGAIN_TRACK_GAIN", "-6.20 dB"),
            ("REPLAYGAIN_TRACK_PEAK", "0.5"),
            ("R128_ALBUM_GAIN", "-512"),
        ]);
        let track = tag_level(&t, "TRACK").unwrap();
        assert!((db(linear(track)) - -6.2).abs() < 1e-4);
        // R128: −2 dB to −23 LUFS is +3 dB to −18.
        let album = tag_level(&t, "ALBUM").unwrap();
        assert!((album.gain_db - 3.0).abs() < 1e-9);
        // +8 dB on a −6 dBFS peak would reach +2: held to −1 dBTP.
        let loud = Level {
            gain_db: 8.0,
            peak_db: Some(-6.0),
        };
        assert!((db(linear(loud)) - 5.0).abs() < 1e-4);
    }

    #[test]
    fn analyses_give_the_gain_and_albums_combine_by_energy() {
        let quiet = analysis(-32.0, -15.0, 60.0);
        let loud = analysis(-18.0, -1.0, 60.0);
        assert!((analysed_level(&quiet).unwrap().gain_db - 14.0).abs() < 1e-9);
        let album = combined(&[quiet.clone(), loud]).unwrap();
        // Equal lengths: 10·log10((10^-3.2 + 10^-1.8)/2) ≈ −20.85 LUFS → +2.85 dB, and the
        // louder track's peak (−1 dBTP) caps the gain at 0.
        assert!((album.gain_db - 2.85).abs() < 0.01, "{album:?}");
        assert_eq!(album.peak_db, Some(-1.0));
        assert!(db(linear(album)).abs() < 1e-4);
        assert!(combined(&[analysis(-120.0, -120.0, 10.0)]).is_none());
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [Normalize::Off, Normalize::Track, Normalize::Album] {
            assert_eq!(m.name().parse::<Normalize>().unwrap(), m);
        }
        assert!("loud".parse::<Normalize>().is_err());
    }
}

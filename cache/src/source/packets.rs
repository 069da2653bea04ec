//! One track's packets, in order, and repositioning them.
//!
//! Most demuxers seek well: symphonia's accurate seek lands on the packet holding the target,
//! whatever was read before. Its Matroska reader does not: it places a cue's cluster at a
//! wrong timestamp and skips the whole cluster, and it keeps blocks it buffered before a seek.
//! For such containers [`Packets`] seeks by reading: it decides where decoding starts by a rule
//! that depends on the target alone — the last packet that starts at or before it — and gets
//! there by re-serving packets it has just handed out (the anchored segments of `decoder` step
//! back a pre-roll at every anchor), by reading forward, or by restarting the demuxer and
//! reading from the top (about 0.75 ms per minute of Opus in WebM on this machine class).
//!
//! Runs on: whichever thread decodes the source (filler, control for probing).

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatReader, SeekMode, SeekTo};
use symphonia::core::packet::Packet;
use symphonia::core::units::Timestamp;

use super::open::restart_demuxer;
use super::placement::Placement;
use crate::error::SourceError;

/// How many frames of packets handed out are kept for re-serving, beyond the pre-roll.
const HISTORY_MARGIN: i64 = 16_384;

/// The packets of one track.
pub(super) struct Packets {
    format: Box<dyn FormatReader>,
    /// Restarts read a duplicate of this handle (see `Decoder::file`).
    file: File,
    path: PathBuf,
    track_id: u32,
    scan: Option<Scan>,
}

/// State for seeking by reading.
#[derive(Default)]
struct Scan {
    /// Packets to hand out before reading the demuxer again, with their timeline starts.
    pending: VecDeque<(i64, Packet)>,
    /// Packets handed out (or passed over), contiguous up to the demuxer's position.
    history: VecDeque<(i64, Packet)>,
    /// Frames of history to keep behind the latest packet.
    keep: i64,
    /// Nothing was read since the demuxer (re)started.
    fresh: bool,
}

impl Packets {
    /// Wraps a freshly opened demuxer. `scan_preroll` (frames) turns on seeking by reading,
    /// keeping enough history to step back that far without a restart.
    pub fn new(
        format: Box<dyn FormatReader>,
        file: File,
        path: &Path,
        track_id: u32,
        scan_preroll: Option<u64>,
    ) -> Self {
        Self {
            format,
            file,
            path: path.to_path_buf(),
            track_id,
            scan: scan_preroll.map(|p| Scan {
                keep: i64::try_from(p).unwrap_or(i64::MAX / 2) * 2 + HISTORY_MARGIN,
                fresh: true,
                ..Scan::default()
            }),
        }
    }

    /// The next packet of the track; `Ok(None)` at the end. Errors are the demuxer's, for the
    /// caller to record and step over.
    pub fn next(&mut self, placement: &Placement) -> Result<Option<Packet>, SymError> {
        if let Some(scan) = &mut self.scan {
            scan.fresh = false;
            if let Some((start, p)) = scan.pending.pop_front() {
                scan.remember(start, p.clone());
                return Ok(Some(p));
            }
        }
        let Some(p) = self.read_demuxer()? else {
            return Ok(None);
        };
        if let Some(scan) = &mut self.scan {
            scan.remember(placement.start_of(&p), p.clone());
        }
        Ok(Some(p))
    }

    fn read_demuxer(&mut self) -> Result<Option<Packet>, SymError> {
        loop {
            match self.format.next_packet()? {
                Some(p) if p.track_id == self.track_id => return Ok(Some(p)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// Starts again from the first packet with a fresh demuxer.
    pub fn restart(&mut self) -> Result<(), SourceError> {
        self.format = restart_demuxer(&self.file, &self.path)?;
        if let Some(scan) = &mut self.scan {
            scan.pending.clear();
            scan.history.clear();
            scan.fresh = true;
        }
        Ok(())
    }

    /// Repositions so the next packet starts at or before timeline frame `target` (and is the
    /// last such packet when seeking by reading). False when the demuxer cannot seek there.
    pub fn seek(&mut self, target: u64, placement: &Placement) -> Result<bool, SourceError> {
        let target_frame = i64::try_from(target).unwrap_or(i64::MAX);
        let Some(scan) = &mut self.scan else {
            let to = SeekTo::Timestamp {
                ts: Timestamp::new(placement.seek_ts(target)),
                track_id: self.track_id,
            };
            return match self.format.seek(SeekMode::Accurate, to) {
                Ok(_) => Ok(true),
                Err(SymError::IoError(e)) if e.kind() != io::ErrorKind::UnexpectedEof => {
                    Err(SourceError::Io(e))
                }
                Err(_) => Ok(false),
            };
        };
        let from_history = scan
            .history
            .front()
            .is_some_and(|(s, _)| *s <= target_frame);
        if from_history {
            // Re-serve from the last packet at or before the target.
            let idx = scan.history.partition_point(|(s, _)| *s <= target_frame) - 1;
            let tail: Vec<_> = scan.history.drain(idx..).collect();
            for item in tail.into_iter().rev() {
                scan.pending.push_front(item);
            }
        } else if !scan.fresh {
            self.restart()?;
        }
        self.advance_to(target_frame, placement)?;
        Ok(true)
    }

    /// Passes over packets until the next one handed out is the last that starts at or
    /// before `target`.
    fn advance_to(&mut self, target: i64, placement: &Placement) -> Result<(), SourceError> {
        loop {
            let Some(scan) = &mut self.scan else {
                return Ok(());
            };
            if scan.pending.len() < 2 {
                match self.read_demuxer() {
                    Ok(Some(p)) => {
                        let start = placement.start_of(&p);
                        if let Some(scan) = &mut self.scan {
                            scan.pending.push_back((start, p));
                        }
                        continue;
                    }
                    Err(SymError::IoError(e)) if e.kind() != io::ErrorKind::UnexpectedEof => {
                        return Err(SourceError::Io(e));
                    }
                    // The end, or damage: decoding from here records it.
                    Ok(None) | Err(_) => return Ok(()),
                }
            }
            if scan.pending.get(1).is_some_and(|(s, _)| *s <= target) {
                if let Some((start, p)) = scan.pending.pop_front() {
                    scan.remember(start, p);
                }
            } else {
                return Ok(());
            }
        }
    }
}

impl Scan {
    fn remember(&mut self, start: i64, p: Packet) {
        self.history.push_back((start, p));
        while self
            .history
            .front()
            .is_some_and(|(s, _)| start.saturating_sub(*s) > self.keep)
        {
            self.history.pop_front();
        }
    }
}

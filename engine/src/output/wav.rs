//! The WAV recorder sink: records exactly what a listener would have heard, in real time.
//!
//! The pacing thread (see `paced.rs`, named "hearth-wav-sink") renders like a device and pushes
//! each block into a lock-free [`rtrb`] ring sized for a few seconds; a writer thread
//! ("hearth-wav-writer") drains the ring into a 32-bit float stereo WAV with `hound`. File I/O
//! thus never delays the pacing clock: a slow disk costs frames (counted in
//! [`OutputStats::frames_dropped`](super::OutputStats::frames_dropped), warned about once), not
//! underruns of the rendering.
//!
//! The file is written to a hidden temporary file beside the target and renamed onto the
//! target path only when the sink stops cleanly, after the header is final and the data is
//! synced: a crash leaves no half-written file at the final path, and readers of the final
//! path never see a file still growing. A write error ends the recording: the writer sends
//! [`OutputNotice::Lost`] (the engine falls back to another sink) and the temporary file is
//! removed.
//!
//! Runs on: `RingSink::consume` on the pacing thread (one ring write, atomics); the writer loop
//! on the writer thread; `WavFile::create`/`finish` on the control thread.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::paced::BlockSink;
use super::stats::OutputStats;
use super::{OutputError, OutputNotice};

/// Seconds of audio the ring between the pacing and writer threads holds.
const RING_SECONDS: usize = 4;
/// How long the writer sleeps when the ring is empty: an eighth of the ring's span would do;
/// 20 ms keeps the ring nearly empty and `stop` quick.
const WRITER_IDLE: Duration = Duration::from_millis(20);

/// The pacing side: pushes whole stereo frames into the ring, counts what does not fit.
pub(crate) struct RingSink {
    ring: rtrb::Producer<f32>,
}

impl BlockSink for RingSink {
    fn consume(&mut self, stereo: &[f32], stats: &OutputStats) {
        // Whole frames only, so a partial push never swaps left and right in the file.
        let fits = stereo.len().min(self.ring.slots() & !1);
        if self.ring.push_entire_slice(&stereo[..fits]).is_err() {
            // Cannot happen: `fits` ≤ free slots and only this thread pushes.
            stats.add_frames_dropped((stereo.len() / 2) as u64);
            return;
        }
        let dropped = (stereo.len() - fits) / 2;
        if dropped > 0 {
            stats.add_frames_dropped(dropped as u64);
        }
    }
}

/// A recording in progress: the writer thread and the paths.
#[derive(Debug)]
pub(crate) struct WavFile {
    writer: JoinHandle<Result<u64, OutputError>>,
    temp: PathBuf,
    target: PathBuf,
}

/// The temporary file beside `target`: hidden, and named after the process so two recorders
/// of the same target do not write into one file.
fn temp_path(target: &Path) -> Result<PathBuf, OutputError> {
    let name = target.file_name().ok_or_else(|| OutputError::Io {
        path: target.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
    })?;
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".part-{}", std::process::id()));
    Ok(target.with_file_name(temp))
}

impl WavFile {
    /// Creates the temporary file, the ring and the writer thread. Returns the pacing side of
    /// the ring and the recording.
    ///
    /// Runs on: control thread.
    pub(crate) fn create(
        target: &Path,
        rate: u32,
        stats: Arc<OutputStats>,
        notices: Sender<OutputNotice>,
    ) -> Result<(RingSink, WavFile), OutputError> {
        let temp = temp_path(target)?;
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let file = File::create(&temp).map_err(|source| OutputError::Io {
            path: temp.clone(),
            source,
        })?;
        let wav = hound::WavWriter::new(BufWriter::with_capacity(1 << 16, file), spec).map_err(
            |source| OutputError::Wav {
                path: temp.clone(),
                source,
            },
        );
        let wav = match wav {
            Ok(wav) => wav,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e);
            }
        };
        let (producer, consumer) = rtrb::RingBuffer::new(rate as usize * 2 * RING_SECONDS);
        let writer_temp = temp.clone();
        let spawned = thread::Builder::new()
            .name("hearth-wav-writer".to_owned())
            .spawn(move || writer_loop(wav, consumer, &writer_temp, &stats, &notices));
        match spawned {
            Ok(writer) => Ok((
                RingSink { ring: producer },
                WavFile {
                    writer,
                    temp,
                    target: target.to_path_buf(),
                },
            )),
            Err(source) => {
                let _ = std::fs::remove_file(&temp);
                Err(OutputError::Thread(source))
            }
        }
    }

    /// Ends the recording without publishing it: waits for the writer (whose ring producer
    /// must be gone) and removes the temporary file.
    ///
    /// Runs on: control thread.
    pub(crate) fn discard(self) {
        let _ = self.writer.join();
        let _ = std::fs::remove_file(&self.temp);
    }

    /// Waits for the writer to drain the ring (the pacing thread must be stopped first: its
    /// end of the ring going away is the writer's signal), then moves the file into place.
    /// Returns the number of frames written. On any error the temporary file is removed.
    ///
    /// Runs on: control thread. Takes as long as writing the last few blocks.
    pub(crate) fn finish(self) -> Result<u64, OutputError> {
        let result = match self.writer.join() {
            Ok(result) => result,
            Err(_) => Err(OutputError::Backend(
                "the WAV writer thread panicked".to_owned(),
            )),
        };
        let result = result.and_then(|frames| {
            std::fs::rename(&self.temp, &self.target)
                .map(|()| frames)
                .map_err(|source| OutputError::Io {
                    path: self.target.clone(),
                    source,
                })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        result
    }
}

/// The writer thread: drains the ring into the file until the pacing side is gone and the ring
/// is empty, then finalises the header and syncs the data.
fn writer_loop(
    mut wav: hound::WavWriter<BufWriter<File>>,
    mut ring: rtrb::Consumer<f32>,
    temp: &Path,
    stats: &OutputStats,
    notices: &Sender<OutputNotice>,
) -> Result<u64, OutputError> {
    let wav_err = |source| OutputError::Wav {
        path: temp.to_path_buf(),
        source,
    };
    let mut samples: u64 = 0;
    let mut warned = false;
    let result = loop {
        // Read `abandoned` before `slots`: once the producer is gone nothing more arrives, so
        // an empty ring seen after that is final.
        let abandoned = ring.is_abandoned();
        let n = ring.slots();
        if n == 0 {
            if abandoned {
                break Ok(());
            }
            thread::sleep(WRITER_IDLE);
            continue;
        }
        let Ok(chunk) = ring.read_chunk(n) else {
            continue;
        };
        let (a, b) = chunk.as_slices();
        let written = a
            .iter()
            .chain(b)
            .try_for_each(|&s| wav.write_sample(s))
            .map_err(wav_err);
        chunk.commit_all();
        samples += n as u64;
        if let Err(e) = written {
            if !abandoned {
                // Still recording: tell the engine this sink is gone so it can fall back.
                // (While stopping, the error reaches the caller of `finish` instead.)
                let _ = notices.try_send(OutputNotice::Lost {
                    reason: e.to_string(),
                });
            }
            break Err(e);
        }
        if !warned && stats.frames_dropped() > 0 {
            warned = true;
            tracing::warn!(
                path = %temp.display(),
                "WAV writer fell behind: frames dropped (see OutputStats::frames_dropped)"
            );
        }
    };
    let result = result
        .and_then(|()| wav.finalize().map_err(wav_err))
        .and_then(|()| {
            // The header is final; make the data durable before the rename publishes it.
            File::open(temp)
                .and_then(|f| f.sync_all())
                .map_err(|source| OutputError::Io {
                    path: temp.to_path_buf(),
                    source,
                })
        });
    match result {
        Ok(()) => Ok(samples / 2),
        Err(e) => {
            tracing::error!(error = %e, "WAV recording failed");
            Err(e)
        }
    }
}

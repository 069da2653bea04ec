//! Errors of the cache crate, split by what failed.

pub use crate::warm::header::HeaderError;
use std::io;

/// Why a source file cannot be (fully) turned into audio.
///
/// The messages are written for a person; callers add the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The file could not be opened (missing, permissions, ...).
    #[error("cannot open: {0}")]
    Open(#[source] io::Error),
    /// The path names a directory.
    #[error("is a directory, not an audio file")]
    IsDirectory,
    /// The file has no bytes.
    #[error("file is empty")]
    Empty,
    /// No demuxer recognised the bytes.
    #[error("not a recognised audio file{0}")]
    UnknownFormat(String),
    /// The container holds no audio track.
    #[error("no audio track in the file")]
    NoAudioTrack,
    /// The container was recognised but no decoder exists for its codec.
    #[error("unsupported codec: {codec} (container: {container})")]
    UnsupportedCodec {
        /// The codec's name, as far as it is known.
        codec: String,
        /// The container's name.
        container: String,
    },
    /// The stream's parameters are outside what Hearth accepts (resource limits included).
    #[error("unsupported stream: {0}")]
    Unsupported(String),
    /// The audio data is damaged: a packet failed to decode.
    #[error("corrupt audio data at {at_seconds:.3} s: {reason}")]
    Corrupt {
        /// Where (source time) the first damaged packet starts.
        at_seconds: f64,
        /// The decoder's description.
        reason: String,
    },
    /// The audio data ends before the length the file announces.
    #[error(
        "audio ends at {decoded_seconds:.3} s of the {expected_seconds:.3} s the file announces (truncated or damaged)"
    )]
    Truncated {
        /// How much decoded.
        decoded_seconds: f64,
        /// How much the header promised.
        expected_seconds: f64,
    },
    /// Decoding stopped making progress (a hostile or broken stream).
    #[error("decoding made no progress after {packets} packets")]
    NoProgress {
        /// Packets read without producing audio.
        packets: u64,
    },
    /// Reading the file failed part-way.
    #[error("read error: {0}")]
    Io(#[source] io::Error),
    /// The resampler could not be built for this rate pair.
    #[error("cannot resample {from} Hz to {to} Hz: {reason}")]
    Resampler {
        /// Source rate.
        from: u32,
        /// Engine rate.
        to: u32,
        /// rubato's description.
        reason: String,
    },
}

impl SourceError {
    /// True for errors about the file itself (missing, not audio, unsupported, damaged), as
    /// opposed to transient I/O trouble.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, SourceError::Io(_))
    }
}

/// Why a warm-tier operation did not happen.
///
/// Every variant is something the caller may ignore: the cache is an optimisation, and a
/// failed put or a missed get only means the chunk is produced again. The chunk-level variants
/// (everything but [`CacheError::Io`]) do not allocate, so the filler can report them cheaply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The store is degraded (cache directory missing, read-only, full or deleted); nothing is
    /// written until it recovers.
    #[error("the warm cache is unavailable; not writing")]
    Degraded,
    /// The file was evicted, cleaned or replaced; ask the store for the current one.
    #[error("the warm file was removed from the cache")]
    Retired,
    /// A chunk index past the end of the track.
    #[error("chunk {index} is out of range (the track has {count} chunks)")]
    ChunkOutOfRange {
        /// The index asked for.
        index: u32,
        /// Chunks in the track.
        count: u32,
    },
    /// A buffer whose length is not the chunk's length × channels.
    #[error("chunk {index} holds {expected} samples, the buffer has {got}")]
    WrongLength {
        /// The chunk.
        index: u32,
        /// Samples in the chunk (frames × channels).
        expected: usize,
        /// Samples in the buffer.
        got: usize,
    },
    /// A warm file's header is damaged or describes a different track, variant or layout.
    #[error("bad warm file header: {0}")]
    BadHeader(#[from] HeaderError),
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("create", "map", ...).
        op: &'static str,
        /// On which file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl CacheError {
    /// Wraps an I/O error with what was being done and to which file.
    pub fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        CacheError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

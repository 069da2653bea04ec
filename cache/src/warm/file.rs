//! One warm file: one variant of one track as a memory-mapped file of chunks.
//!
//! [`WarmFile`] is the chunk-level half of the warm tier: it writes chunks into the map and
//! copies them out, with the ordering that makes a chunk visible only once it is whole:
//!
//! - write: copy the PCM into the map → store its checksum → set the presence byte (Release);
//! - read: load the presence byte (Acquire) → copy the PCM out → verify the checksum. A chunk
//!   that fails is marked absent again (it will be produced again) and never returned.
//!
//! The file layout is in [`crate::warm::header`]; the mapping and its `unsafe` in [`crate::warm::mmap`].
//! Files are created whole: under a temporary name, preallocated (`posix_fallocate`, so stores
//! into the map can never hit ENOSPC), header written, then linked to their final name, so no
//! process ever sees a half-made file under a cache name. Files are never truncated (another
//! process may have them mapped); they are unlinked, and mappings of unlinked files stay valid.
//!
//! **Memory and disk.** A chunk's pages are released from the process's resident set as soon
//! as it has been written or copied out (the page cache keeps them), so a warm file costs the
//! player no memory beyond the chunk being copied. A file the store removes (evicted, cleaned,
//! replaced) is unmapped at once, whoever still holds the `WarmFile`: its disk space returns
//! when the name goes, not when the last holder lets go. Every access to the mapping happens
//! under a read lock on it; removal takes the write lock, waiting out copies in flight.
//!
//! Runs on: the filler thread(s) (`write_chunk`, `read_chunk`) and the control thread
//! (progress). `Send + Sync`; shared as `Arc<WarmFile>` handed out by [`crate::WarmStore`].

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;
use xxhash_rust::xxh3::xxh3_64;

use crate::chunk::ChunkGeometry;
use crate::error::{CacheError, HeaderError};
use crate::warm::header::{HEADER_LEN, WarmHeader, WarmLayout};
use crate::warm::mmap::{self, Region};
use crate::warm::stats::Counters;

const ABSENT: u8 = 0;
const PRESENT: u8 = 1;

/// State a warm file shares with the store that handed it out.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// True while the store is degraded: writes are refused.
    pub degraded: AtomicBool,
    /// The store's statistics (corrupt chunks are counted there too).
    pub counters: Counters,
    /// Chunks present in files closed since the store last looked (files close when their
    /// last holder lets go, which the store does not see): the index learns their progress
    /// from here.
    pub closed: parking_lot::Mutex<Vec<((crate::chunk::TrackId, crate::chunk::Variant), u32)>>,
}

/// What [`WarmFile::check_chunk`] found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ChunkCheck {
    /// Not marked present.
    Absent,
    /// Present and its checksum matches.
    Good,
    /// Marked present, but the PCM does not match its checksum.
    BadChecksum,
    /// The presence byte holds neither 0 nor 1.
    BadMark(u8),
    /// A writer of this process holds the chunk right now.
    Busy,
}

/// One variant of one track, memory-mapped. See the module docs for the protocol.
#[derive(Debug)]
pub struct WarmFile {
    header: WarmHeader,
    layout: WarmLayout,
    /// The mapping; `None` once the file was retired (unmapped).
    region: RwLock<Option<Region>>,
    path: Option<PathBuf>,
    /// Device and inode of the file when it was mapped, to notice it being replaced.
    identity: Option<(u64, u64)>,
    shared: Arc<Shared>,
    retired: AtomicBool,
    corrupt: AtomicU64,
    /// When `still_linked` was last checked (store clock, ms).
    linked_checked_ms: AtomicU64,
}

impl WarmFile {
    /// Creates `path` for `header`: a temporary file is preallocated, gets the header, and is
    /// hard-linked to `path` (which fails with `AlreadyExists` if another thread or process
    /// made it first; the caller then opens theirs). On any failure nothing is left behind.
    pub(crate) fn create(
        path: &Path,
        header: &WarmHeader,
        shared: Arc<Shared>,
    ) -> Result<WarmFile, CacheError> {
        let layout = header.layout()?;
        let bytes = header.encode()?;
        let tmp = super::temp_name(path);
        let made = (|| -> Result<File, CacheError> {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| CacheError::io("create", &tmp, e))?;
            mmap::preallocate(&file, layout.file_len)
                .map_err(|e| CacheError::io("preallocate", &tmp, e))?;
            write_all_at(&file, &bytes, 0).map_err(|e| CacheError::io("write header", &tmp, e))?;
            fs::hard_link(&tmp, path).map_err(|e| CacheError::io("link", path, e))?;
            Ok(file)
        })();
        // The temporary name is never needed again, whether or not the link succeeded.
        let _ = fs::remove_file(&tmp);
        drop(made?);
        // Map it through its final name, so the mapping is known by it (in /proc/PID/maps a
        // file opened through its vanished temporary name looks deleted when it is not).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| CacheError::io("open", path, e))?;
        WarmFile::map(file, path, *header, layout, shared)
    }

    /// Opens an existing warm file. With `expected`, a header describing anything else is a
    /// [`HeaderError::Mismatch`]; without, any valid header is accepted (verify, reconcile).
    pub(crate) fn open(
        path: &Path,
        expected: Option<&WarmHeader>,
        shared: Arc<Shared>,
    ) -> Result<WarmFile, CacheError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| CacheError::io("open", path, e))?;
        let (header, layout) = read_header(&file, path)?;
        if let Some(why) = expected.and_then(|e| header.mismatch(e)) {
            return Err(HeaderError::Mismatch(why).into());
        }
        // Files made here are allocated in full, but one copied in sparsely (or restored from
        // a backup) may have holes, and a store into a hole on a full disk is a SIGBUS. On an
        // allocated file this is a cheap no-op.
        mmap::preallocate(&file, layout.file_len)
            .map_err(|e| CacheError::io("preallocate", path, e))?;
        WarmFile::map(file, path, header, layout, shared)
    }

    fn map(
        file: File,
        path: &Path,
        header: WarmHeader,
        layout: WarmLayout,
        shared: Arc<Shared>,
    ) -> Result<WarmFile, CacheError> {
        let identity = identity(&file);
        let region =
            Region::map_file(file, layout.region()).map_err(|e| CacheError::io("map", path, e))?;
        Ok(WarmFile {
            header,
            layout,
            region: RwLock::new(Some(region)),
            path: Some(path.to_path_buf()),
            identity,
            shared,
            retired: AtomicBool::new(false),
            corrupt: AtomicU64::new(0),
            linked_checked_ms: AtomicU64::new(0),
        })
    }

    /// A warm file on an anonymous map (no file): for tests, Miri and benchmarks of the chunk
    /// protocol alone.
    pub fn anonymous(header: WarmHeader) -> Result<WarmFile, CacheError> {
        let layout = header.layout()?;
        let region = Region::anonymous(layout.region())
            .map_err(|e| CacheError::io("map", Path::new("(anonymous)"), e))?;
        Ok(WarmFile {
            header,
            layout,
            region: RwLock::new(Some(region)),
            path: None,
            identity: None,
            shared: Arc::default(),
            retired: AtomicBool::new(false),
            corrupt: AtomicU64::new(0),
            linked_checked_ms: AtomicU64::new(0),
        })
    }

    /// What the file holds.
    pub fn header(&self) -> &WarmHeader {
        &self.header
    }

    /// How the track is cut into chunks.
    pub fn geometry(&self) -> ChunkGeometry {
        self.header.geometry
    }

    /// Chunks in the track.
    pub fn chunk_count(&self) -> u32 {
        self.layout.chunk_count
    }

    /// Bytes the file occupies on disk (its length; it is fully preallocated).
    pub fn file_len(&self) -> u64 {
        self.layout.file_len
    }

    /// Bytes a warm file for `geometry` with `channels` channels occupies, or `None` if no file
    /// can describe it.
    pub fn file_len_for(geometry: ChunkGeometry, channels: u16) -> Option<u64> {
        WarmLayout::of(geometry, channels).ok().map(|l| l.file_len)
    }

    /// The file's path (`None` for an anonymous file).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// True once the store has removed the file (evicted, cleaned, or its source changed):
    /// it is unmapped, holds nothing, and refuses writes. Ask the store for the current file.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Unmaps the file (waiting for copies in flight) and refuses everything from now on.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.region.write().take();
    }

    /// True while the file is mapped (not retired).
    pub fn is_mapped(&self) -> bool {
        self.region.read().is_some()
    }

    /// True when chunk `index` is marked present (its checksum is checked on read).
    pub fn is_present(&self, index: u32) -> bool {
        let region = self.region.read();
        let Some(r) = region.as_ref() else {
            return false;
        };
        self.mark(r, index)
            .is_some_and(|m| m.load(Ordering::Acquire) == PRESENT)
    }

    /// Chunks marked present.
    pub fn present_count(&self) -> u32 {
        self.presence().iter().filter(|&&p| p).count() as u32
    }

    /// One flag per chunk: marked present or not (the TUI's cache map).
    pub fn presence(&self) -> Vec<bool> {
        let region = self.region.read();
        let Some(r) = region.as_ref() else {
            return vec![false; self.chunk_count() as usize];
        };
        (0..self.chunk_count())
            .map(|i| {
                self.mark(r, i)
                    .is_some_and(|m| m.load(Ordering::Acquire) == PRESENT)
            })
            .collect()
    }

    /// Chunks this file found corrupt (and marked absent) since it was opened.
    pub fn corrupt_chunks(&self) -> u64 {
        self.corrupt.load(Ordering::Relaxed)
    }

    fn mark<'r>(&self, region: &'r Region, index: u32) -> Option<&'r std::sync::atomic::AtomicU8> {
        if index >= self.chunk_count() {
            return None;
        }
        region.atomic_u8(self.layout.presence_at(index))
    }

    fn checksum<'r>(&self, region: &'r Region, index: u32) -> Option<&'r AtomicU64> {
        if index >= self.chunk_count() {
            return None;
        }
        region.atomic_u64(self.layout.checksum_at(index))
    }

    fn check_len(&self, index: u32, len: usize) -> Result<(), CacheError> {
        let count = self.chunk_count();
        if index >= count {
            return Err(CacheError::ChunkOutOfRange { index, count });
        }
        let expected = self.geometry().len(index) as usize * usize::from(self.header.channels);
        if len != expected {
            return Err(CacheError::WrongLength {
                index,
                expected,
                got: len,
            });
        }
        Ok(())
    }

    /// Copies chunk `index` into `out` (its length × channels samples). `Ok(false)` when the
    /// chunk is absent, being written by another thread, or failed its checksum (then it is
    /// marked absent, counted, and `out` is zeroed: corrupt samples are never returned).
    ///
    /// Runs on: the filler. Allocation-free; may page-fault on the map.
    pub fn read_chunk(&self, index: u32, out: &mut [f32]) -> Result<bool, CacheError> {
        self.check_len(index, out.len())?;
        let region = self.region.read();
        let Some(r) = region.as_ref() else {
            return Ok(false);
        };
        let (Some(mark), Some(sum)) = (self.mark(r, index), self.checksum(r, index)) else {
            return Ok(false);
        };
        let Some(slot) = r.read_slot(index as usize) else {
            return Ok(false);
        };
        if mark.load(Ordering::Acquire) != PRESENT {
            return Ok(false);
        }
        let copied = slot.copy_out(0, out);
        r.release_slot(index as usize);
        if !copied {
            return Ok(false);
        }
        // Verified on the copy (hot in cache) rather than the map: one pass over the map.
        if xxh3_64(mmap::f32_bytes(out)) == sum.load(Ordering::Relaxed) {
            return Ok(true);
        }
        out.fill(0.0);
        // Still under the read lock: no writer of this process can have refilled the chunk,
        // and only one reader wins the exchange, so each corruption is counted once.
        if mark
            .compare_exchange(PRESENT, ABSENT, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.corrupt.fetch_add(1, Ordering::Relaxed);
            self.shared.counters.corrupt_chunk();
            tracing::warn!(
                file = ?self.path,
                chunk = index,
                "warm chunk failed its checksum; dropped and will be produced again"
            );
        }
        Ok(false)
    }

    /// Writes chunk `index` (its length × channels samples): PCM, then checksum, then the
    /// presence mark (Release). A chunk already present is left as it is (chunks are a pure
    /// function of their key), and so is one another thread is writing right now.
    ///
    /// Fails (harmlessly: the chunk simply is not cached) when the store is degraded or the
    /// file was retired. Runs on: the filler. Allocation-free; stores into a preallocated
    /// map, so it cannot fail for lack of disk space.
    pub fn write_chunk(&self, index: u32, data: &[f32]) -> Result<(), CacheError> {
        self.check_len(index, data.len())?;
        if self.is_retired() {
            return Err(CacheError::Retired);
        }
        if self.shared.degraded.load(Ordering::Relaxed) {
            return Err(CacheError::Degraded);
        }
        let region = self.region.read();
        let Some(r) = region.as_ref() else {
            return Err(CacheError::Retired);
        };
        let (Some(mark), Some(sum)) = (self.mark(r, index), self.checksum(r, index)) else {
            return Ok(());
        };
        let Some(slot) = r.write_slot(index as usize) else {
            return Ok(());
        };
        if mark.load(Ordering::Acquire) == PRESENT {
            return Ok(());
        }
        if slot.copy_in(0, data) {
            sum.store(xxh3_64(mmap::f32_bytes(data)), Ordering::Relaxed);
            mark.store(PRESENT, Ordering::Release);
        }
        r.release_slot(index as usize);
        Ok(())
    }

    /// Checks chunk `index` without changing anything (for `verify`).
    pub fn check_chunk(&self, index: u32, scratch: &mut Vec<f32>) -> ChunkCheck {
        let region = self.region.read();
        let Some(r) = region.as_ref() else {
            return ChunkCheck::Absent;
        };
        let (Some(mark), Some(sum)) = (self.mark(r, index), self.checksum(r, index)) else {
            return ChunkCheck::Absent;
        };
        let Some(slot) = r.read_slot(index as usize) else {
            return ChunkCheck::Busy;
        };
        match mark.load(Ordering::Acquire) {
            ABSENT => return ChunkCheck::Absent,
            PRESENT => {}
            other => return ChunkCheck::BadMark(other),
        }
        let n = self.geometry().len(index) as usize * usize::from(self.header.channels);
        scratch.clear();
        scratch.resize(n, 0.0);
        let copied = slot.copy_out(0, scratch);
        r.release_slot(index as usize);
        if copied && xxh3_64(mmap::f32_bytes(scratch)) == sum.load(Ordering::Relaxed) {
            ChunkCheck::Good
        } else {
            ChunkCheck::BadChecksum
        }
    }

    /// Marks chunk `index` absent (verify's repair). Waits for this process's writer, if any.
    pub fn clear_chunk(&self, index: u32) {
        let region = self.region.read();
        let Some(r) = region.as_ref() else {
            return;
        };
        if let Some(mark) = self.mark(r, index) {
            let _slot = r.write_slot(index as usize);
            mark.store(ABSENT, Ordering::Release);
        }
    }

    /// True when the file's path still names the file this maps (not deleted or replaced).
    pub(crate) fn still_linked(&self) -> bool {
        let Some(path) = &self.path else {
            return true;
        };
        match fs::metadata(path) {
            Ok(m) => self.identity.is_none() || meta_identity(&m) == self.identity,
            Err(_) => false,
        }
    }

    /// [`WarmFile::still_linked`], but checked at most once per `every` (by the store's clock,
    /// `now_ms`); in between, assumed true.
    pub(crate) fn still_linked_every(&self, now_ms: u64, every: std::time::Duration) -> bool {
        let last = self.linked_checked_ms.load(Ordering::Relaxed);
        if now_ms.abs_diff(last) < every.as_millis() as u64 {
            return true;
        }
        self.linked_checked_ms.store(now_ms, Ordering::Relaxed);
        self.still_linked()
    }
}

impl Drop for WarmFile {
    fn drop(&mut self) {
        if self.path.is_some() && self.is_mapped() {
            let present = self.present_count();
            let key = (self.header.track, self.header.variant);
            self.shared.closed.lock().push((key, present));
        }
    }
}

/// Reads and validates the header of an open file, and that its length matches the layout.
pub(crate) fn read_header(
    file: &File,
    path: &Path,
) -> Result<(WarmHeader, WarmLayout), CacheError> {
    let len = file
        .metadata()
        .map_err(|e| CacheError::io("stat", path, e))?
        .len();
    if len < HEADER_LEN as u64 {
        return Err(HeaderError::TooShort.into());
    }
    let mut b = [0u8; HEADER_LEN];
    read_exact_at(file, &mut b, 0).map_err(|e| CacheError::io("read header", path, e))?;
    let (header, layout) = WarmHeader::decode(&b)?;
    if layout.file_len != len {
        return Err(HeaderError::Length {
            expected: layout.file_len,
            actual: len,
        }
        .into());
    }
    Ok((header, layout))
}

fn identity(file: &File) -> Option<(u64, u64)> {
    file.metadata().ok().and_then(|m| meta_identity(&m))
}

#[cfg(unix)]
fn meta_identity(m: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn meta_identity(_m: &fs::Metadata) -> Option<(u64, u64)> {
    None
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, at)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, at)
}

#[cfg(not(unix))]
fn write_all_at(file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(buf)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(at))?;
    f.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{TrackId, Variant};

    fn header(total: u64, chunk: u32) -> WarmHeader {
        WarmHeader {
            track: TrackId(1),
            variant: Variant::Original,
            engine_rate: 48_000,
            channels: 2,
            geometry: ChunkGeometry::new(total, chunk),
            source_hash: 2,
            params_hash: 0,
        }
    }

    fn chunk(f: &WarmFile, i: u32, seed: f32) -> Vec<f32> {
        let n = f.geometry().len(i) as usize * 2;
        (0..n).map(|k| seed + k as f32 * 0.001).collect()
    }

    /// Runs under Miri (`cargo +nightly miri test -p hearth-cache warm::`): the whole chunk
    /// protocol on an anonymous map, with writers and readers on several threads.
    #[test]
    fn chunk_protocol_on_an_anonymous_map() {
        let f = Arc::new(WarmFile::anonymous(header(40, 16)).unwrap());
        assert_eq!(f.chunk_count(), 3);
        let mut out = vec![0.0; 32];
        assert!(!f.read_chunk(0, &mut out).unwrap());
        assert!(matches!(
            f.read_chunk(0, &mut out[..30]),
            Err(CacheError::WrongLength { .. })
        ));
        assert!(matches!(
            f.write_chunk(3, &[]),
            Err(CacheError::ChunkOutOfRange { .. })
        ));
        let last = chunk(&f, 2, 5.0);
        assert_eq!(last.len(), 16, "the last chunk is 8 frames");
        f.write_chunk(2, &last).unwrap();
        let mut got = vec![0.0; 16];
        assert!(f.read_chunk(2, &mut got).unwrap());
        assert_eq!(got, last);
        assert_eq!(f.presence(), vec![false, false, true]);

        let threads: Vec<_> = (0..2)
            .map(|t| {
                let f = Arc::clone(&f);
                std::thread::spawn(move || {
                    let mut out = vec![0.0; 32];
                    for i in 0..2 {
                        let want = chunk(&f, i, 1.0 + i as f32);
                        if t == 0 {
                            f.write_chunk(i, &want).unwrap();
                        }
                        // Either absent or exactly the written chunk, never torn.
                        if f.read_chunk(i, &mut out).unwrap() {
                            assert_eq!(out, want);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap_or_else(|_| panic!("thread panicked"));
        }
        assert_eq!(f.present_count(), 3);
        assert_eq!(f.check_chunk(0, &mut Vec::new()), ChunkCheck::Good);
        f.clear_chunk(0);
        assert_eq!(f.check_chunk(0, &mut Vec::new()), ChunkCheck::Absent);
        f.retire();
        assert!(matches!(f.write_chunk(0, &out), Err(CacheError::Retired)));
    }

    #[test]
    fn a_corrupt_checksum_is_detected_cleared_and_counted_once() {
        let f = WarmFile::anonymous(header(32, 16)).unwrap();
        let data = chunk(&f, 1, 3.0);
        f.write_chunk(1, &data).unwrap();
        // Damage the stored checksum (the PCM is only reachable through a real file; the
        // store's integration tests flip PCM bytes on disk).
        {
            let region = f.region.read();
            if let Some(sum) = region.as_ref().and_then(|r| f.checksum(r, 1)) {
                sum.fetch_xor(1, Ordering::Relaxed);
            }
        }
        assert_eq!(f.check_chunk(1, &mut Vec::new()), ChunkCheck::BadChecksum);
        let mut out = vec![9.0; 32];
        assert!(!f.read_chunk(1, &mut out).unwrap());
        assert!(
            out.iter().all(|&x| x == 0.0),
            "corrupt samples are never returned"
        );
        assert!(!f.is_present(1));
        assert!(!f.read_chunk(1, &mut out).unwrap());
        assert_eq!(f.corrupt_chunks(), 1);
        assert_eq!(f.shared.counters.snapshot().corrupt_chunks, 1);
        // Produced again, it is served again.
        f.write_chunk(1, &data).unwrap();
        assert!(f.read_chunk(1, &mut out).unwrap());
        assert_eq!(out, data);
    }
}

//! The warm tier's memory map, and the two OS calls that guard it: the only `unsafe` in the
//! crate (`lib.rs` denies `unsafe_code` everywhere else).
//!
//! A [`Region`] is a shared, writable mapping of a whole warm file (or an anonymous region in
//! tests). It never hands out a Rust reference to plain bytes of the map, because other
//! processes sharing the cache directory may write the same pages at any moment. Instead it
//! offers exactly three kinds of access, each safe to call from any thread:
//!
//! - atomic views (`AtomicU8`, `AtomicU64`) into the *atomics area* (presence flags and
//!   checksums), which is only ever accessed atomically;
//! - copies in and out of a fixed-size *slot* (one chunk of PCM), each under an in-process
//!   per-slot reader/writer lock word, so that within this process a slot is never written
//!   while it is being read or written by another thread (no data race in Rust's model). For
//!   a file, the copies are `pwrite`/`pread` on the file rather than stores and loads through
//!   the map: the page cache is the same memory either way (a shared mapping is coherent with
//!   it), but a copy through the map takes a page fault per 4 KiB (a fresh page of a
//!   preallocated file is zeroed first, then overwritten) and leaves the pages charged to the
//!   process until released — a system call copies a whole chunk in one go and maps nothing
//!   (profiled: 13 % of a track's warm went to faulting the map in; ~4 % after);
//! - nothing else: the header is written with `pwrite` before the file is mapped and read with
//!   `pread`, so it never goes through the map.
//!
//! Writes by *other processes* are outside Rust's memory model, as for any shared memory: a
//! copy may see them half-done. That is what the per-chunk checksum is for: the warm tier
//! verifies every chunk it copies out.
//!
//! The OS calls: [`preallocate`] (`posix_fallocate`), so the file's blocks exist before it is
//! mapped and a store into the map can never hit ENOSPC (which would be a SIGBUS), and
//! [`DirLock`] (`flock`), the advisory lock around index read-modify-write.
//!
//! Runs on: the filler and control threads. Never the audio thread (it never touches the map).

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[cfg(unix)]
use memmap2::UncheckedAdvice;
use memmap2::{Advice, MmapOptions, MmapRaw};

// The file format is little-endian and PCM is copied as raw `f32` bytes.
#[cfg(not(target_endian = "little"))]
compile_error!("the warm-tier file format stores little-endian f32 and is copied verbatim");

/// Where things live in a region. Validated once by [`Region::new`]; every access is checked
/// against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegionLayout {
    /// Start of the atomics area (the end of the header).
    pub atomics_start: usize,
    /// Start of the first slot (the end of the atomics area).
    pub slots_start: usize,
    /// Bytes from one slot's start to the next.
    pub slot_stride: usize,
    /// Number of slots. The last one may be shorter than the stride (up to `total_len`).
    pub slot_count: usize,
    /// Bytes in the region.
    pub total_len: usize,
}

impl RegionLayout {
    fn check(&self) -> Result<(), &'static str> {
        if self.atomics_start > self.slots_start || self.slots_start > self.total_len {
            return Err("areas out of order");
        }
        if self.slot_count > 0 {
            if self.slot_stride == 0 {
                return Err("zero slot stride");
            }
            let last = (self.slot_count - 1)
                .checked_mul(self.slot_stride)
                .and_then(|o| o.checked_add(self.slots_start))
                .ok_or("slot offsets overflow")?;
            if last >= self.total_len {
                return Err("slots past the end");
            }
        }
        Ok(())
    }

    /// Byte range of slot `i` (clamped to the region).
    fn slot(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.slot_count {
            return None;
        }
        let start = self.slots_start + i * self.slot_stride;
        let end = start.saturating_add(self.slot_stride).min(self.total_len);
        Some((start, end))
    }
}

/// Readers count up from 0; a writer holds `WRITER`.
const WRITER: u32 = u32::MAX;

/// A shared mapping with checked, race-free in-process access (see the module docs).
#[derive(Debug)]
pub(crate) struct Region {
    map: MmapRaw,
    layout: RegionLayout,
    /// A shared file mapping (not an anonymous test region): its pages can be released.
    file_backed: bool,
    /// The mapped file, for slot copies by `pwrite`/`pread` (see the module docs); `None` for
    /// an anonymous region, copied through the map. Closed with the region.
    #[cfg(unix)]
    file: Option<File>,
    /// One reader/writer lock word per slot. In-process only: another process's writes are
    /// caught by the checksums, not by these.
    locks: Box<[AtomicU32]>,
}

impl Region {
    /// Maps `file` (which must already be `layout.total_len` bytes long and fully allocated)
    /// shared and writable, and advises random access: the warm tier reads whole chunks at
    /// arbitrary offsets, and readahead made a cold fault 27× slower (DESIGN.md).
    pub(crate) fn map_file(file: File, layout: RegionLayout) -> io::Result<Region> {
        layout.check().map_err(invalid)?;
        let len = file.metadata()?.len();
        if len < layout.total_len as u64 {
            // Touching a page past the end of the file would be a SIGBUS.
            return Err(invalid("file shorter than its layout"));
        }
        if layout.total_len == 0 {
            return Err(invalid("empty region"));
        }
        let map = MmapOptions::new().len(layout.total_len).map_raw(&file)?;
        // Advice is a hint; a kernel that refuses it still maps correctly.
        let _ = map.advise(Advice::Random);
        Ok(Region::new(map, layout, Some(file)))
    }

    /// An anonymous private region of `layout.total_len` zero bytes (tests, Miri).
    pub(crate) fn anonymous(layout: RegionLayout) -> io::Result<Region> {
        layout.check().map_err(invalid)?;
        if layout.total_len == 0 {
            return Err(invalid("empty region"));
        }
        let map = MmapOptions::new().len(layout.total_len).map_anon()?;
        Ok(Region::new(MmapRaw::from(map), layout, None))
    }

    fn new(map: MmapRaw, layout: RegionLayout, file: Option<File>) -> Region {
        let locks = (0..layout.slot_count).map(|_| AtomicU32::new(0)).collect();
        Region {
            map,
            layout,
            file_backed: file.is_some(),
            #[cfg(unix)]
            file,
            locks,
        }
    }

    /// Drops the pages of slot `i` from this process's resident set, so a warm file that has
    /// been written or read is not charged to the player's memory: the page cache keeps the
    /// data (and writes back what was stored), and the next copy faults it back in from there.
    /// File-backed mappings only (an anonymous region would lose its contents). The pages at
    /// the slot's edges may be shared with its neighbours' (released too: harmless, for the
    /// same reason); the page holding the atomics area's end is left alone.
    ///
    /// Call it holding the slot's lock (a `SlotRead` or `SlotWrite`).
    #[cfg(unix)]
    pub(crate) fn release_slot(&self, i: usize) {
        if !self.file_backed {
            return;
        }
        let Some((start, end)) = self.layout.slot(i) else {
            return;
        };
        let page = page_size();
        let first_free_page = self.layout.slots_start.next_multiple_of(page);
        let from = (start / page * page).max(first_free_page);
        if end <= from {
            return;
        }
        // SAFETY: `from..end` lies inside the mapping (the layout was checked against its
        // length). The mapping is shared and backed by a file, so MADV_DONTNEED only removes
        // the pages from this process's page tables: their contents stay in the page cache
        // (dirty data included) and any later access faults the same bytes back in. No Rust
        // reference to plain bytes of the map exists (copies go through raw pointers), and the
        // atomics that do hold references live below `first_free_page`, outside the range.
        let _ = unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, from, end - from)
        };
    }

    /// Elsewhere the pages stay resident until the file is closed.
    #[cfg(not(unix))]
    pub(crate) fn release_slot(&self, _i: usize) {}

    /// The byte at `offset` of the atomics area, as an atomic.
    pub(crate) fn atomic_u8(&self, offset: usize) -> Option<&AtomicU8> {
        if offset < self.layout.atomics_start || offset >= self.layout.slots_start {
            return None;
        }
        // SAFETY: `offset` is inside the mapping (checked above against the layout, which
        // `Region::new`'s callers validated against the mapping's length). The mapping lives
        // as long as `self`, so the reference cannot outlive it. `AtomicU8` has alignment 1
        // and the same size as `u8`. The atomics area is only ever accessed through atomic
        // views in this process (the slots and the header are disjoint from it), so there is
        // no mixed atomic/non-atomic access.
        Some(unsafe { &*self.map.as_ptr().add(offset).cast::<AtomicU8>() })
    }

    /// The 8 bytes at `offset` of the atomics area (which must be 8-aligned), as an atomic.
    pub(crate) fn atomic_u64(&self, offset: usize) -> Option<&AtomicU64> {
        let end = offset.checked_add(8)?;
        if offset < self.layout.atomics_start || end > self.layout.slots_start {
            return None;
        }
        // SAFETY: computing an address inside the mapping (bounds checked above) is fine.
        let p = unsafe { self.map.as_ptr().add(offset) };
        if !(p as usize).is_multiple_of(std::mem::align_of::<AtomicU64>()) {
            return None;
        }
        // SAFETY: the 8 bytes are inside the mapping and suitably aligned (checked above), the
        // mapping outlives the reference (it is tied to `&self`), and the atomics area is only
        // ever accessed atomically in this process (see `atomic_u8`).
        Some(unsafe { &*p.cast::<AtomicU64>() })
    }

    /// Locks slot `i` for reading; `None` if a writer holds it (or `i` is out of range).
    pub(crate) fn read_slot(&self, i: usize) -> Option<SlotRead<'_>> {
        let lock = self.locks.get(i)?;
        let mut s = lock.load(Ordering::Relaxed);
        loop {
            if s >= WRITER - 1 {
                return None;
            }
            match lock.compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(SlotRead { region: self, i }),
                Err(now) => s = now,
            }
        }
    }

    /// Locks slot `i` for writing, waiting for readers (their copies take microseconds);
    /// `None` if another writer holds it (or `i` is out of range).
    pub(crate) fn write_slot(&self, i: usize) -> Option<SlotWrite<'_>> {
        let lock = self.locks.get(i)?;
        let mut spins = 0u32;
        loop {
            match lock.compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Some(SlotWrite { region: self, i }),
                Err(WRITER) => return None,
                Err(_) => {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }

    fn slot_range(&self, i: usize, offset: usize, len: usize) -> Option<usize> {
        let (start, end) = self.layout.slot(i)?;
        let from = start.checked_add(offset)?;
        if from.checked_add(len)? > end {
            return None;
        }
        Some(from)
    }
}

/// A read lock on one slot. Dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct SlotRead<'a> {
    region: &'a Region,
    i: usize,
}

impl SlotRead<'_> {
    /// Copies `out.len()` samples from byte `offset` of the slot; false if out of bounds.
    pub(crate) fn copy_out(&self, offset: usize, out: &mut [f32]) -> bool {
        let n = std::mem::size_of_val(out);
        let Some(from) = self.region.slot_range(self.i, offset, n) else {
            return false;
        };
        #[cfg(unix)]
        if let Some(file) = &self.region.file {
            use std::os::unix::fs::FileExt;
            // The read lock keeps this process's writers out, as for a copy through the map.
            return file.read_exact_at(f32_bytes_mut(out), from as u64).is_ok();
        }
        // SAFETY: `from..from + n` lies inside the mapping (checked by `slot_range`). `out` is
        // a separate allocation: no Rust reference into the map exists, so they cannot
        // overlap. This thread holds the slot's read lock, so no thread of this process writes
        // these bytes meanwhile. `f32` accepts any bit pattern, so the copy is always a valid
        // value (the caller verifies the checksum for writes by other processes).
        unsafe {
            ptr::copy_nonoverlapping(
                self.region.map.as_ptr().add(from),
                out.as_mut_ptr().cast::<u8>(),
                n,
            );
        }
        true
    }
}

impl Drop for SlotRead<'_> {
    fn drop(&mut self) {
        if let Some(lock) = self.region.locks.get(self.i) {
            lock.fetch_sub(1, Ordering::Release);
        }
    }
}

/// The write lock on one slot. Dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct SlotWrite<'a> {
    region: &'a Region,
    i: usize,
}

impl SlotWrite<'_> {
    /// Copies `data` to byte `offset` of the slot; false if out of bounds.
    pub(crate) fn copy_in(&self, offset: usize, data: &[f32]) -> bool {
        let n = std::mem::size_of_val(data);
        let Some(to) = self.region.slot_range(self.i, offset, n) else {
            return false;
        };
        #[cfg(unix)]
        if let Some(file) = &self.region.file {
            use std::os::unix::fs::FileExt;
            // Into the preallocated blocks (`preallocate`), so it cannot fail for lack of
            // space; any other failure leaves the chunk unmarked, i.e. not cached.
            return file.write_all_at(f32_bytes(data), to as u64).is_ok();
        }
        // SAFETY: `to..to + n` lies inside the writable mapping (checked by `slot_range`).
        // `data` is a separate allocation (no Rust reference into the map exists). This thread
        // holds the slot's exclusive write lock, so no other thread of this process reads or
        // writes these bytes meanwhile. The file's blocks were preallocated before mapping, so
        // the stores cannot fault for lack of space.
        unsafe {
            ptr::copy_nonoverlapping(
                data.as_ptr().cast::<u8>(),
                self.region.map.as_mut_ptr().add(to),
                n,
            );
        }
        true
    }
}

impl Drop for SlotWrite<'_> {
    fn drop(&mut self) {
        if let Some(lock) = self.region.locks.get(self.i) {
            lock.store(0, Ordering::Release);
        }
    }
}

/// The bytes of a sample buffer, as stored in a warm file (little-endian `f32`), for
/// checksumming.
pub(crate) fn f32_bytes(samples: &[f32]) -> &[u8] {
    // SAFETY: the pointer and length describe exactly the memory of `samples`, which stays
    // borrowed for the result's lifetime; `u8` has alignment 1 and every byte of an `f32` is
    // initialised (no padding). On little-endian targets (the only ones this compiles for)
    // these are the bytes of the file format.
    unsafe {
        std::slice::from_raw_parts(
            samples.as_ptr().cast::<u8>(),
            std::mem::size_of_val(samples),
        )
    }
}

/// The bytes of a sample buffer, writable (for reading a slot into it).
#[cfg(unix)]
fn f32_bytes_mut(samples: &mut [f32]) -> &mut [u8] {
    // SAFETY: the pointer and length describe exactly the memory of `samples`, which stays
    // mutably borrowed (so not otherwise accessed) for the result's lifetime; `u8` has
    // alignment 1, and any bytes written through the result form a valid `f32` (every bit
    // pattern is one).
    unsafe {
        std::slice::from_raw_parts_mut(
            samples.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(samples),
        )
    }
}

/// The system's page size (4 KiB when it cannot be asked).
fn page_size() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: `sysconf` only reads its integer argument.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            return n as usize;
        }
    }
    4096
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Makes sure `file`'s first `len` bytes are allocated on disk, so that stores into a mapping
/// of it can never fail for lack of space (a SIGBUS). Fails with the OS error (ENOSPC, EROFS,
/// EACCES, ...) when they cannot be.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| invalid("file too large"))?;
    if len == 0 {
        return Ok(());
    }
    loop {
        // SAFETY: `posix_fallocate` only reads its integer arguments; the descriptor is valid
        // for the duration of the call because `file` is borrowed.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            // It returns the error number rather than setting errno.
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

/// Makes sure `file`'s first `len` bytes are allocated on disk by writing zeros (platforms
/// without `posix_fallocate`): slower, but equally safe for the mapping.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub(crate) fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file;
    let zeros = vec![0u8; 1 << 20];
    f.seek(SeekFrom::Start(0))?;
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_data()
}

/// An exclusive advisory lock (`flock`) on an open file, released on drop. Two Hearth
/// processes sharing a cache directory (a player and `hearth cache warm`) take it around every
/// read-modify-write of the index so neither loses the other's updates.
#[derive(Debug)]
pub(crate) struct DirLock {
    #[cfg_attr(not(unix), allow(dead_code))]
    file: File,
}

impl DirLock {
    /// Takes the lock, retrying for up to `wait`: `Ok(None)` if another process still holds
    /// it then.
    #[cfg(unix)]
    pub(crate) fn lock(file: File, wait: Duration) -> io::Result<Option<DirLock>> {
        use std::os::fd::AsRawFd;
        let deadline = Instant::now() + wait;
        loop {
            // SAFETY: `flock` only reads its integer arguments; the descriptor is owned by
            // `file`, which is alive for the call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Some(DirLock { file }));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EWOULDBLOCK) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Some(libc::EWOULDBLOCK) => return Ok(None),
                _ => return Err(e),
            }
        }
    }

    /// Platforms without `flock`: no inter-process lock (the index merge still keeps most
    /// concurrent updates; see `index`).
    #[cfg(not(unix))]
    pub(crate) fn lock(file: File, _wait: Duration) -> io::Result<Option<DirLock>> {
        Ok(Some(DirLock { file }))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: as in `try_lock`; closing the file would release the lock anyway, this
            // just makes the release explicit and immediate.
            unsafe {
                libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn layout() -> RegionLayout {
        RegionLayout {
            atomics_start: 16,
            slots_start: 64,
            slot_stride: 32,
            slot_count: 3,
            total_len: 64 + 32 * 2 + 16,
        }
    }

    /// Runs under Miri (`cargo +nightly miri test -p hearth-cache mmap::`): atomic views,
    /// bounds, and slot copies racing across threads on an anonymous map.
    #[test]
    fn atomic_views_and_slot_copies_on_an_anonymous_map() {
        let r = Region::anonymous(layout()).unwrap();
        assert!(r.atomic_u8(15).is_none(), "header is not atomics");
        assert!(r.atomic_u8(64).is_none(), "slots are not atomics");
        assert!(r.atomic_u64(60).is_none(), "straddles the slots");
        assert!(r.atomic_u64(17).is_none(), "misaligned");
        let flag = r.atomic_u8(16).unwrap_or_else(|| panic!("flag"));
        let sum = r.atomic_u64(24).unwrap_or_else(|| panic!("sum"));
        flag.store(1, Ordering::Release);
        sum.store(0xdead_beef, Ordering::Relaxed);
        assert_eq!(r.atomic_u8(16).map(|a| a.load(Ordering::Acquire)), Some(1));
        assert_eq!(
            r.atomic_u64(24).map(|a| a.load(Ordering::Relaxed)),
            Some(0xdead_beef)
        );

        // The last slot is 16 bytes (4 samples), the others 32 (8 samples).
        let w = r.write_slot(2).unwrap_or_else(|| panic!("lock"));
        assert!(!w.copy_in(0, &[1.0; 5]), "past the region's end");
        assert!(w.copy_in(0, &[1.0, 2.0, 3.0, 4.0]));
        assert!(r.write_slot(2).is_none(), "one writer at a time");
        assert!(r.read_slot(2).is_none(), "no reading while written");
        drop(w);
        let mut out = [0.0f32; 4];
        let rd = r.read_slot(2).unwrap_or_else(|| panic!("lock"));
        assert!(rd.copy_out(0, &mut out));
        assert!(!rd.copy_out(4, &mut out), "past the slot's end");
        drop(rd);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
        assert!(r.read_slot(3).is_none() && r.write_slot(3).is_none());

        // Writers and readers of the same slots on several threads: a reader sees either a
        // whole old or a whole new slot, never a mix.
        let r = Arc::new(r);
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || {
                    for k in 0..20 {
                        let v = (t * 100 + k) as f32;
                        if let Some(w) = r.write_slot(k % 2) {
                            assert!(w.copy_in(0, &[v; 8]));
                        }
                        if let Some(rd) = r.read_slot(k % 2) {
                            let mut out = [0.0f32; 8];
                            assert!(rd.copy_out(0, &mut out));
                            assert!(out.iter().all(|&x| x == out[0]), "torn slot: {out:?}");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap_or_else(|_| panic!("thread panicked"));
        }
    }

    #[test]
    fn layouts_that_do_not_fit_are_refused() {
        let mut l = layout();
        l.slot_count = 4;
        assert!(Region::anonymous(l).is_err());
        let mut l = layout();
        l.slots_start = l.total_len + 1;
        assert!(Region::anonymous(l).is_err());
    }

    #[test]
    fn f32_bytes_are_little_endian_samples() {
        assert_eq!(f32_bytes(&[1.0f32]), 1.0f32.to_le_bytes());
    }
}

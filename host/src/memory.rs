//! How the process's heap returns memory: glibc malloc tuned for a player that runs for hours.
//!
//! The fillers allocate large, short-lived buffers (decoded blocks, resampler and analysis
//! buffers of a few hundred KiB) on several threads. With glibc's defaults each thread gets an
//! arena of its own, and the mmap threshold rises after the first large free, so such
//! buffers come from the arenas and stay there as fragments: anonymous memory climbs for the
//! first dozens of tracks to a high-water mark that depends on timing (measured: 23–37 MiB
//! after a 30-track session, 9.5–20 MiB above the fifth track). A fixed mmap threshold
//! returns every large buffer to the system when freed, two arenas bound the per-thread
//! copies, and a low trim threshold gives back the top of the heap: the same session then
//! holds 8–17 MiB.
//!
//! Nothing here runs on the audio thread (which never allocates); `mallopt` is called once,
//! before any thread starts. Other platforms' allocators return memory on their own.
//!
//! Runs on: the main thread, at start-up.

/// Tunes the allocator (glibc on Linux; nothing elsewhere).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
        const TRIM_THRESHOLD: libc::c_int = 128 * 1024;
        const ARENAS: libc::c_int = 2;
        // SAFETY: `mallopt` only changes malloc's parameters; it is called from `main` before
        // any other thread exists, so no allocation is in progress concurrently. A refused
        // setting returns 0 and leaves the default, which is correct, only less frugal.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

//! When the cache directory cannot be used (read-only, full, deleted): degrade once, keep
//! serving what is open, refuse writes, and re-check the directory at most every
//! [`RETRY_INTERVAL`] — playback never stops because the cache failed.
//!
//! Runs on: the control and filler threads (under the store's lock).

use super::*;

impl WarmStore {
    /// Makes every disk write fail as if the directory were read-only (test hook for the
    /// degradation paths when tests run as root, where `chmod` does not stop writes).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn set_fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::Relaxed);
    }

    pub(super) fn check_writes(&self) -> io::Result<()> {
        #[cfg(any(test, feature = "fault-injection"))]
        if self.fail_writes.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::ReadOnlyFilesystem,
                "read-only file system (injected)",
            ));
        }
        Ok(())
    }

    pub(super) fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.check_writes()?;
        match fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    pub(super) fn reason(&self, inner: &Inner) -> Option<String> {
        match &inner.status {
            StoreStatus::Healthy => None,
            StoreStatus::Degraded { reason } => Some(reason.clone()),
        }
    }

    pub(super) fn degrade(&self, inner: &mut Inner, reason: String) {
        if !inner.status.is_degraded() {
            tracing::warn!("warm cache degraded, decoding on demand: {reason}");
        }
        inner.status = StoreStatus::Degraded { reason };
        inner.last_probe_ms = self.clock.now_ms();
        self.shared.degraded.store(true, Ordering::Relaxed);
    }

    /// True when the directory is usable; a degraded store re-probes it at most every
    /// [`RETRY_INTERVAL`] and, when it works again, reconciles and becomes healthy.
    pub(super) fn available(&self, inner: &mut Inner) -> bool {
        if !inner.status.is_degraded() {
            return true;
        }
        let now = self.clock.now_ms();
        let retry = RETRY_INTERVAL.as_millis() as u64;
        // `abs_diff`: a clock that jumped backwards also allows a retry.
        if inner.last_probe_ms != 0 && now.abs_diff(inner.last_probe_ms) < retry {
            return false;
        }
        inner.last_probe_ms = now.max(1);
        if let Err(e) = self.probe(inner.need_bytes) {
            inner.status = StoreStatus::Degraded {
                reason: format!("cache directory unusable: {e}"),
            };
            return false;
        }
        tracing::info!("warm cache usable again");
        inner.status = StoreStatus::Healthy;
        inner.need_bytes = 0;
        self.shared.degraded.store(false, Ordering::Relaxed);
        self.reconcile(inner);
        !inner.status.is_degraded()
    }

    /// Checks the directory can hold files: creates it if missing, then allocates a probe
    /// file of `need` bytes (at least a page, at most 1 GiB) and removes it.
    pub(super) fn probe(&self, need: u64) -> io::Result<()> {
        self.check_writes()?;
        fs::create_dir_all(&self.warm_dir)?;
        let path = self
            .config
            .dir
            .join(format!(".probe.{}", std::process::id()));
        let result = (|| {
            let f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            mmap::preallocate(&f, need.clamp(4096, 1 << 30))
        })();
        let _ = fs::remove_file(&path);
        result
    }

    /// The inter-process index lock, or `None` (going ahead unlocked) if the lock file cannot
    /// be opened or another process holds it for longer than [`LOCK_WAIT`]: a stuck process
    /// must not stop this one.
    pub(super) fn lock_dir(&self) -> Option<DirLock> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock_path)
            .ok()?;
        match DirLock::lock(file, LOCK_WAIT) {
            Ok(Some(lock)) => Some(lock),
            Ok(None) => {
                tracing::warn!("cache index lock held by another process; going ahead");
                None
            }
            Err(e) => {
                tracing::debug!("cannot lock the cache index: {e}");
                None
            }
        }
    }
}

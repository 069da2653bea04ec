//! Disk held by warm files that are gone from the cache directory but still open or mapped by
//! some process: their blocks are not free until the last holder lets go. The store unmaps a
//! file it removes at once, so this should be zero; `hearth cache stats` shows it, and the
//! long-session tests hold the player to it.
//!
//! Linux only (read from `/proc/PID/maps` and `/proc/PID/fd` of every process this user can
//! see); `None` elsewhere.
//!
//! Runs on: the control thread.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Files removed from the warm directory but still held, and their bytes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unlinked {
    /// Distinct files.
    pub files: usize,
    /// Their bytes (what they keep from being freed on disk).
    pub bytes: u64,
}

/// What the processes this user can see hold of files once in `warm_dir` and no longer there.
#[cfg(target_os = "linux")]
pub fn held_by_processes(warm_dir: &Path) -> Option<Unlinked> {
    use std::os::unix::fs::MetadataExt;
    let dir = warm_dir.to_str()?;
    let live: HashSet<u64> = std::fs::read_dir(warm_dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok().map(|m| m.ino()))
                .collect()
        })
        .unwrap_or_default();
    let mut held: HashMap<u64, u64> = HashMap::new();
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = proc_entry.file_name();
        if !pid
            .to_str()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let base = proc_entry.path();
        if let Ok(maps) = std::fs::read_to_string(base.join("maps")) {
            for line in maps.lines() {
                // address perms offset dev inode pathname
                let mut f = line.split_whitespace();
                let (Some(range), Some(_), Some(_), Some(_), Some(inode)) =
                    (f.next(), f.next(), f.next(), f.next(), f.next())
                else {
                    continue;
                };
                let path: String = f.collect::<Vec<_>>().join(" ");
                let Ok(inode) = inode.parse::<u64>() else {
                    continue;
                };
                if !path.starts_with(dir) || live.contains(&inode) {
                    continue;
                }
                let len = range
                    .split_once('-')
                    .and_then(|(a, b)| {
                        Some(u64::from_str_radix(b, 16).ok()? - u64::from_str_radix(a, 16).ok()?)
                    })
                    .unwrap_or(0);
                let e = held.entry(inode).or_default();
                *e = (*e).max(len);
            }
        }
        if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                if !target.to_str().is_some_and(|t| t.starts_with(dir)) {
                    continue;
                }
                if let Ok(m) = std::fs::metadata(fd.path())
                    && !live.contains(&m.ino())
                {
                    let e = held.entry(m.ino()).or_default();
                    *e = (*e).max(m.len());
                }
            }
        }
    }
    Some(Unlinked {
        files: held.len(),
        bytes: held.values().sum(),
    })
}

/// Not measured off Linux.
#[cfg(not(target_os = "linux"))]
pub fn held_by_processes(_warm_dir: &Path) -> Option<Unlinked> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_removed_file_still_open_is_counted_until_closed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.hwt");
        std::fs::write(&p, vec![7u8; 8192]).unwrap();
        let kept = std::fs::File::open(&p).unwrap();
        std::fs::write(dir.path().join("b.hwt"), b"live").unwrap();
        assert_eq!(held_by_processes(dir.path()), Some(Unlinked::default()));
        std::fs::remove_file(&p).unwrap();
        assert_eq!(
            held_by_processes(dir.path()),
            Some(Unlinked {
                files: 1,
                bytes: 8192
            })
        );
        drop(kept);
        assert_eq!(held_by_processes(dir.path()), Some(Unlinked::default()));
    }
}

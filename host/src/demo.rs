//! The bundled demo track: an original piece synthesised by `assets/tools/make_demo.rs`.
//!
//! It is embedded in the binary, so `hearth` has something to play wherever it is installed.
//! Inside a checkout the file in `assets/` is used directly; elsewhere the embedded copy is
//! written once to the cache directory.

use std::path::PathBuf;

use crate::failure::Failure;

const DEMO_FLAC: &[u8] = include_bytes!("../../assets/demo.flac");

/// A path to the demo track on disk.
pub fn path() -> Result<PathBuf, Failure> {
    let in_repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/demo.flac"));
    if in_repo.is_file() {
        return Ok(in_repo);
    }
    let dir = std::env::temp_dir().join("hearth");
    let path = dir.join("demo.flac");
    let current = std::fs::metadata(&path).map(|m| m.len() == DEMO_FLAC.len() as u64);
    if !matches!(current, Ok(true)) {
        std::fs::create_dir_all(&dir).map_err(|e| Failure::other(dir.display(), e))?;
        let tmp = dir.join(format!("demo.flac.{}.tmp", std::process::id()));
        std::fs::write(&tmp, DEMO_FLAC).map_err(|e| Failure::other(tmp.display(), e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Failure::other(path.display(), e))?;
    }
    Ok(path)
}

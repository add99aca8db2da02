//! Writing outputs atomically: a temporary name in the same folder, then a
//! rename, so a crash never leaves half a file under the final name.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Problems with the output path (exit code 7).
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output exists and `--force` was not given.
    #[error("{0} already exists; pass --force to overwrite it")]
    Exists(PathBuf),
    /// The output's folder cannot be written.
    #[error("cannot write to the folder {0}")]
    Unwritable(PathBuf, #[source] std::io::Error),
}

/// Fails unless `path` is free or `force` is set; checks the folder is writable.
pub fn check_writable(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(OutputError::Exists(path.to_path_buf()).into());
    }
    let dir = parent(path);
    let probe = tempfile::Builder::new()
        .prefix(".vidstega-write-check")
        .tempfile_in(&dir)
        .map_err(|e| OutputError::Unwritable(dir.clone(), e))?;
    drop(probe);
    Ok(())
}

/// The folder holding `path` (`.` for a bare file name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The temporary name `path` is written under before the rename (hidden,
/// same folder, same extension so the container is the same).
pub fn partial_name(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match path.extension() {
        Some(ext) => parent(path).join(format!(".{stem}.partial.{}", ext.to_string_lossy())),
        None => parent(path).join(format!(".{stem}.partial")),
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".vidstega-")
        .tempfile_in(parent(path))
        .with_context(|| format!("cannot create a file next to {}", path.display()))?;
    std::fs::write(tmp.path(), bytes).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot move the result to {}", path.display()))?;
    Ok(())
}

//! Writing outputs atomically: a temporary name in the same folder, then a
//! rename, so a crash never leaves half a file under the final name. Also
//! the checks that keep an output from destroying an input, and the lock
//! that keeps two embeds from sharing one work folder.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
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
    /// The output is a folder (`--force` does not help).
    #[error("the output {0} is a folder, not a file: give the name of a file to write (it may be inside that folder)")]
    IsFolder(PathBuf),
    /// The output is the input itself, maybe through a link (`--force` does
    /// not help: writing it would destroy the input).
    #[error(
        "the output {output} is the input {input} itself{how}: writing it would destroy the input \
         (even with --force); choose another output name"
    )]
    SameAsInput {
        /// The output as given.
        output: PathBuf,
        /// The input as given.
        input: PathBuf,
        /// How they are the same file (` (a link to it)`), or nothing.
        how: &'static str,
    },
    /// Another `vidstega embed` holds the lock of this output's work folder.
    #[error(
        "another vidstega embed{} is already writing {output}: wait for it to finish, or stop it \
         (running the same command again then resumes its work)",
        .pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Busy {
        /// The output.
        output: PathBuf,
        /// The other run's process id, as it recorded it.
        pid: Option<u32>,
    },
    /// A binary message would be printed on a terminal.
    #[error(
        "the message is binary (not UTF-8 text) and standard output is a terminal: write it to a file \
         with -o FILE (or pass --force to print it anyway)"
    )]
    BinaryToTerminal,
}

/// Fails unless `path` is free or `force` is set, and is not a folder;
/// checks the folder is writable.
pub fn check_writable(path: &Path, force: bool) -> Result<()> {
    refuse_folder(path)?;
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

/// Fails when `path` is an existing folder (or a link to one).
pub fn refuse_folder(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(OutputError::IsFolder(path.to_path_buf()).into());
    }
    Ok(())
}

/// Fails when `output` names the same file as `input`: the same path
/// (`./x` and `x`), a symbolic link to it, or a hard link (the same device
/// and inode).
pub fn refuse_same_file(input: &Path, output: &Path) -> Result<()> {
    let same = |how| -> Result<()> {
        Err(OutputError::SameAsInput {
            output: output.to_path_buf(),
            input: input.to_path_buf(),
            how,
        }
        .into())
    };
    // The output's folder resolved, its own name kept: a dangling or
    // not-yet-existing output can still equal the input's path.
    let canonical_output = std::fs::canonicalize(parent(output))
        .ok()
        .zip(output.file_name())
        .map(|(dir, name)| dir.join(name));
    if let (Ok(i), Some(o)) = (std::fs::canonicalize(input), &canonical_output) {
        if i == *o {
            return same("");
        }
    }
    if let (Ok(i), Ok(o)) = (std::fs::metadata(input), std::fs::metadata(output)) {
        if (i.dev(), i.ino()) == (o.dev(), o.ino()) {
            let linked = std::fs::symlink_metadata(output).is_ok_and(|m| m.file_type().is_symlink());
            return same(if linked {
                " (a symbolic link to it)"
            } else {
                " (a hard link to it)"
            });
        }
    }
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

/// Writes `bytes` to `path` atomically. Without `force`, an output that
/// appeared meanwhile (another run writing the same file) is left alone and
/// reported as existing.
pub fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".vidstega-")
        .tempfile_in(parent(path))
        .with_context(|| format!("cannot create a file next to {}", path.display()))?;
    std::fs::write(tmp.path(), bytes).with_context(|| format!("cannot write {}", path.display()))?;
    if force {
        tmp.persist(path)
            .with_context(|| format!("cannot move the result to {}", path.display()))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::Error::new(OutputError::Exists(path.to_path_buf()))
            } else {
                anyhow::Error::new(e.error).context(format!("cannot move the result to {}", path.display()))
            }
        })?;
    }
    Ok(())
}

/// The name of the lock file inside a work folder.
pub const LOCK_NAME: &str = "lock";

/// An advisory lock (`flock`) on `lock` inside a work folder, held while an
/// embed uses the folder; the kernel releases it when the process ends,
/// however it ends. The file holds the holder's process id.
#[derive(Debug)]
pub struct WorkLock {
    _file: File,
}

impl WorkLock {
    /// Creates `work` if needed and takes its lock, or fails at once with
    /// [`OutputError::Busy`] naming the run that holds it.
    pub fn acquire(work: &Path, output: &Path) -> Result<WorkLock> {
        let path = work.join(LOCK_NAME);
        // A run that finishes removes its folder, lock file included, while
        // it holds the lock: a file locked after that is no longer the one
        // at `path`, and the lock is taken again on a new one.
        for _ in 0..10 {
            std::fs::create_dir_all(work).with_context(|| format!("cannot create {}", work.display()))?;
            let mut file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("cannot create {}", path.display())))
                }
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(OutputError::Busy {
                        output: output.to_path_buf(),
                        pid: text.trim().parse().ok(),
                    }
                    .into());
                }
                Err(TryLockError::Error(e)) => {
                    return Err(anyhow::Error::new(e).context(format!("cannot lock {}", path.display())))
                }
            }
            let held = file.metadata()?;
            let current = std::fs::metadata(&path);
            if !current.is_ok_and(|m| (m.dev(), m.ino()) == (held.dev(), held.ino())) {
                continue;
            }
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            return Ok(WorkLock { _file: file });
        }
        anyhow::bail!("cannot lock {}: it keeps being removed", path.display())
    }
}

//! A folder as an object store.
//!
//! Keys are relative paths (`jobs/abc/segments/00001.mkv`). Writes go to a
//! temporary file in the same folder tree and are renamed into place, so a
//! reader never sees half an object and a crash leaves no partial object
//! under its final key.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use vidstega_pipeline::{MediaSource, ObjectStore, PipelineError, Result};

/// An object store in a local folder.
#[derive(Clone, Debug)]
pub struct FolderStore {
    root: PathBuf,
}

fn store_err(message: String, source: std::io::Error) -> PipelineError {
    let retryable = matches!(
        source.kind(),
        std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    );
    PipelineError::Store {
        message,
        retryable,
        source: Some(Box::new(source)),
    }
}

impl FolderStore {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join(".tmp"))
            .map_err(|e| store_err(format!("cannot create the store folder {}", root.display()), e))?;
        Ok(FolderStore { root })
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding `key`.
    pub fn path(&self, key: &str) -> Result<PathBuf> {
        let rel = Path::new(key);
        let valid = !key.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, Component::Normal(s) if s != ".tmp"));
        if !valid {
            return Err(PipelineError::InvalidInput(format!(
                "object key {key:?} is not a relative path of plain names"
            )));
        }
        Ok(self.root.join(rel))
    }

    /// Makes `key` refer to a file outside the store without copying it (a
    /// symbolic link), as when a local user's video is the job's source.
    pub fn link_external(&self, key: &str, file: &Path) -> Result<()> {
        let dest = self.path(key)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| store_err(format!("cannot create {}", parent.display()), e))?;
        }
        let target =
            fs::canonicalize(file).map_err(|e| store_err(format!("cannot resolve {}", file.display()), e))?;
        match fs::symlink_metadata(&dest) {
            Ok(_) => fs::remove_file(&dest).map_err(|e| store_err(format!("cannot replace {key}"), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(store_err(format!("cannot stat {key}"), e)),
        }
        link(&target, &dest).map_err(|e| store_err(format!("cannot link {key} to {}", target.display()), e))
    }

    fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::NamedTempFile::new_in(self.root.join(".tmp")).map_err(|e| {
            store_err(
                format!("cannot create a temporary file in {}", self.root.display()),
                e,
            )
        })
    }

    fn place(&self, tmp: tempfile::TempPath, key: &str) -> Result<()> {
        let dest = self.path(key)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| store_err(format!("cannot create {}", parent.display()), e))?;
        }
        tmp.persist(&dest)
            .map_err(|e| store_err(format!("cannot store {key}"), e.error))?;
        Ok(())
    }
}

#[cfg(unix)]
fn link(target: &Path, dest: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, dest)
}

#[cfg(not(unix))]
fn link(target: &Path, dest: &Path) -> std::io::Result<()> {
    fs::hard_link(target, dest).or_else(|_| fs::copy(target, dest).map(|_| ()))
}

impl ObjectStore for FolderStore {
    fn media_source(&self, key: &str) -> Result<MediaSource> {
        // A linked file is read (and named in errors) by its own path.
        let path = self.path(key)?;
        Ok(MediaSource::Path(fs::canonicalize(&path).unwrap_or(path)))
    }

    fn size(&self, key: &str) -> Result<Option<u64>> {
        match fs::metadata(self.path(key)?) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_err(format!("cannot stat {key}"), e)),
        }
    }

    fn read_range(&self, key: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let mut f =
            fs::File::open(self.path(key)?).map_err(|e| store_err(format!("cannot open {key}"), e))?;
        let len = f
            .metadata()
            .map_err(|e| store_err(format!("cannot stat {key}"), e))?
            .len();
        if range.start > range.end || range.end > len {
            return Err(PipelineError::InvalidInput(format!(
                "bytes {}..{} are outside {key} ({len} bytes)",
                range.start, range.end
            )));
        }
        f.seek(SeekFrom::Start(range.start))
            .map_err(|e| store_err(format!("cannot seek {key}"), e))?;
        let mut buf = vec![0; (range.end - range.start) as usize];
        f.read_exact(&mut buf)
            .map_err(|e| store_err(format!("cannot read {key}"), e))?;
        Ok(buf)
    }

    fn read_all(&self, key: &str) -> Result<Vec<u8>> {
        fs::read(self.path(key)?).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PipelineError::InvalidInput(format!("object {key} does not exist"))
            } else {
                store_err(format!("cannot read {key}"), e)
            }
        })
    }

    fn write_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let mut tmp = self.temp_file()?;
        tmp.write_all(bytes)
            .and_then(|_| tmp.as_file().sync_data())
            .map_err(|e| store_err(format!("cannot write {key}"), e))?;
        self.place(tmp.into_temp_path(), key)
    }

    fn put_file(&self, key: &str, file: &Path) -> Result<()> {
        let dest = self.path(key)?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| store_err(format!("cannot create {}", parent.display()), e))?;
        }
        if fs::rename(file, &dest).is_ok() {
            return Ok(());
        }
        // Another filesystem: copy through a temporary file, then rename.
        let tmp = self.temp_file()?;
        fs::copy(file, tmp.path())
            .map_err(|e| store_err(format!("cannot copy {} to {key}", file.display()), e))?;
        self.place(tmp.into_temp_path(), key)?;
        fs::remove_file(file).map_err(|e| store_err(format!("cannot remove {}", file.display()), e))
    }

    fn put_stream(&self, key: &str, reader: &mut dyn std::io::Read) -> Result<u64> {
        let mut tmp = self.temp_file()?;
        let n = std::io::copy(reader, &mut tmp).map_err(|e| store_err(format!("cannot write {key}"), e))?;
        tmp.as_file()
            .sync_data()
            .map_err(|e| store_err(format!("cannot write {key}"), e))?;
        self.place(tmp.into_temp_path(), key)?;
        Ok(n)
    }

    fn delete(&self, key: &str) -> Result<()> {
        match fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(store_err(format!("cannot delete {key}"), e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    if path != root.join(".tmp") {
                        walk(&path, root, out)?;
                    }
                } else if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
            Ok(())
        }
        let mut all = Vec::new();
        walk(&self.root, &self.root, &mut all).map_err(|e| store_err(format!("cannot list {prefix}"), e))?;
        all.retain(|k| k.starts_with(prefix));
        all.sort();
        Ok(all)
    }
}

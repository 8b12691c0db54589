//! Durable file writes: every file selectllm writes (datasets, reports, plots, checkpoints,
//! embedding caches, downloads) goes through [`write_atomic`], so a reader never sees half a
//! file and a crash or power loss leaves either the old file or the new one.
//!
//! The bytes go to a temporary file in the same folder (so the rename cannot cross file
//! systems), which is flushed to disk (`fsync`), renamed over the target, and then the folder
//! itself is flushed so the rename is durable too.
//!
//! [`locate`] says where selectllm finds what it reads (data, cache and encoder folders).

pub mod locate;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that failed, with the file it failed on (the target, its folder or the temporary).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl WriteError {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
        move |source| WriteError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `bytes` to `path` atomically and durably, creating its folder when missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |tmp| {
        let mut f = File::create(tmp)?;
        f.write_all(bytes)
    })
}

/// [`write_atomic`] for a writer that wants a path (a library that saves to a file): `write`
/// creates the temporary file it is given; the rest is the same.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(WriteError::at(dir))?;
    let name = path
        .file_name()
        .ok_or_else(|| WriteError {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
        })?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = write(&tmp)
        .and_then(|()| File::options().write(true).open(&tmp)?.sync_all())
        .map_err(WriteError::at(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(WriteError::at(path)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir).map_err(WriteError::at(dir))
}

/// Flushes a folder's entries (the rename) to disk. Folders cannot be opened for this on
/// Windows, where a rename is durable once it returns.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub/out.json");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.json"], "no temporary file is left");
    }

    #[test]
    fn a_failed_writer_leaves_the_old_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("w.bin");
        write_atomic(&path, b"old").expect("write");
        let e = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .expect_err("the writer failed");
        assert!(e.to_string().contains("disk full"), "{e}");
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
        let e =
            write_atomic(&dir.path().join("missing/../w.bin/x"), b"x").expect_err("under a file");
        assert!(e.to_string().contains("w.bin"), "{e}");
    }
}

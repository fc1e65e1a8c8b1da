//! Entry files on disk: read one, write one atomically, clear a directory. No Python here.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::keys::{FilePattern, TEMP_RANDOM_LEN, TEMP_SUFFIX};

/// The whole entry at `path`, or `None` when there is nothing to load there.
///
/// Missing files, directories and unreadable files are misses, as in Jinja (no
/// exists-then-open race: the open itself decides). A symlink planted at an entry's name is
/// never followed: the entry is treated as missing and will be replaced by a real file.
pub fn read_entry(path: &Path) -> Result<Option<Vec<u8>>> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(err) if is_miss(&err) => return Ok(None),
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
            log::warn!("ignoring cache entry {}: it is a symlink", path.display());
            return Ok(None);
        }
        Err(err) => return Err(Error::io(path, err)),
    };
    let mut data = Vec::new();
    if let Ok(meta) = file.metadata() {
        data.reserve_exact(meta.len() as usize);
    }
    match file.read_to_end(&mut data) {
        Ok(_) => Ok(Some(data)),
        Err(err) if is_miss(&err) => Ok(None),
        Err(err) => Err(Error::io(path, err)),
    }
}

fn is_miss(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::PermissionDenied
    )
}

/// Write `data` to `path` so that no reader ever sees a partial entry: a private (0600) temp
/// file next to it, named after it with a `.tmp` suffix, then a rename over it. On any error
/// the temp file is removed.
///
/// A failed rename is not an error, as in Jinja: another process may have run `clear()`, which
/// can remove the temp file when the pattern matches it. It is logged.
pub fn write_entry(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let prefix = path.file_name().unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(prefix)
        .rand_bytes(TEMP_RANDOM_LEN)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|err| Error::io(dir, err))?;
    // NamedTempFile removes the file when dropped, so every early return cleans up. A failed
    // write (disk full, file size limit) names the entry, which is what the user knows.
    tmp.write_all(data).map_err(|err| Error::io(path, err))?;
    if let Err(err) = tmp.persist(path) {
        if err.error.kind() == ErrorKind::NotFound {
            log::debug!(
                "cache entry {} not stored: cleared while it was written",
                path.display()
            );
        } else {
            log::warn!(
                "could not move cache entry into place at {}: {}",
                path.display(),
                err.error
            );
        }
    }
    Ok(())
}

/// Remove every entry of `pattern` in `dir`, and temp files that killed writers left behind;
/// files that vanish or resist are skipped, as in Jinja. Returns how many entries were removed.
pub fn clear(dir: &Path, pattern: &FilePattern) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(|err| Error::io(dir, err))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if pattern.matches(name) {
            if fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        } else if pattern.matches_temp(name) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_then_read_leaves_only_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("__jinja2_k.cache");
        write_entry(&path, b"one").unwrap();
        write_entry(&path, b"two").unwrap();
        assert_eq!(read_entry(&path).unwrap().as_deref(), Some(&b"two"[..]));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("__jinja2_k.cache")]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn missing_and_directory_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_entry(&dir.path().join("nope")).unwrap(), None);
        assert_eq!(read_entry(dir.path()).unwrap(), None);
    }

    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"secret").unwrap();
        let link = dir.path().join("__jinja2_k.cache");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read_entry(&link).unwrap(), None);
        write_entry(&link, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"secret");
        assert!(!fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn write_into_missing_directory_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        match write_entry(&missing.join("e"), b"x") {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), ErrorKind::NotFound);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn clear_removes_only_the_pattern() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "__jinja2_a.cache",
            "__jinja2_b.cache",
            "__jinja2_b.cacheAbC123.tmp",
            "keep.txt",
            "x_a.cache",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let removed = clear(
            dir.path(),
            &FilePattern::parse("__jinja2_%s.cache").unwrap(),
        )
        .unwrap();
        assert_eq!(removed, 2);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["keep.txt", "x_a.cache"]);
    }
}

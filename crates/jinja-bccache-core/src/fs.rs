//! Entry files on disk: read one, write one atomically, clear a directory. No Python here.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::keys::{FilePattern, TEMP_RANDOM_LEN, TEMP_SUFFIX};
use crate::unlink::unlink_all;

/// One version of an entry file: what changes whenever the file is replaced (a new inode),
/// rewritten in place (size, mtime) or touched in any other way (ctime, which no user can
/// set). The in-process layer keeps the stamp of the file it loaded code from and answers
/// again only while the file at the entry's name still has it, so it never answers
/// differently from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> Self {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// An entry as read: its bytes and the stamp of the file they came from.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub data: Vec<u8>,
    pub stamp: FileStamp,
}

/// The whole entry at `path`, or `None` when there is nothing to load there.
///
/// Missing files, directories and unreadable files are misses, as in Jinja (no
/// exists-then-open race: the open itself decides). A symlink planted at an entry's name is
/// never followed: the entry is treated as missing and will be replaced by a real file.
pub fn read_entry(path: &Path) -> Result<Option<Entry>> {
    // O_NONBLOCK: a FIFO planted at an entry's name must not hang the render on open.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(err) if is_miss(&err) => return Ok(None),
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
            log::warn!("ignoring cache entry {}: it is a symlink", path.display());
            return Ok(None);
        }
        Err(err) => return Err(Error::io(path, err)),
    };
    let meta = file.metadata().map_err(|err| Error::io(path, err))?;
    if !meta.is_file() {
        if !meta.is_dir() {
            log::warn!(
                "ignoring cache entry {}: not a regular file",
                path.display()
            );
        }
        return Ok(None);
    }
    // Never trust the size on disk for an allocation: a huge (sparse) file planted at an
    // entry's name must cost a miss, not the process.
    if meta.len() > MAX_ENTRY_BYTES {
        log::warn!(
            "ignoring cache entry {}: {} bytes is not a plausible entry",
            path.display(),
            meta.len()
        );
        return Ok(None);
    }
    let meta = if is_stale(&meta) {
        refresh_recency(&file);
        // the refresh changed the ctime: stamp what the file is now
        file.metadata().map_err(|err| Error::io(path, err))?
    } else {
        meta
    };
    let stamp = FileStamp::of(&meta);
    let mut data = Vec::with_capacity(meta.len() as usize);
    // take(): the file may grow between fstat and read
    match file.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut data) {
        Ok(_) if data.len() as u64 > MAX_ENTRY_BYTES => Ok(None),
        // a file that changed while it was read gets a stamp no later check matches
        Ok(_) if data.len() as u64 != meta.len() => Ok(Some(Entry {
            data,
            stamp: FileStamp { ino: 0, ..stamp },
        })),
        Ok(_) => Ok(Some(Entry { data, stamp })),
        Err(err) if is_miss(&err) => Ok(None),
        Err(err) => Err(Error::io(path, err)),
    }
}

/// Larger files at an entry's name are not read. Compiled templates are far smaller (a
/// 60 KB template compiles to ~300 KB), and memcached's item limit is 1 MiB.
pub const MAX_ENTRY_BYTES: u64 = 64 * 1024 * 1024;

/// How stale an entry's access time may get before a hit refreshes it. `prune` removes the
/// least recently used entries by access time; mounts with `noatime` or `relatime` do not keep
/// it, so hits maintain it themselves, at most one `futimens` per entry per interval.
pub const RECENCY_GRANULARITY: Duration = Duration::from_secs(3600);

fn is_stale(meta: &fs::Metadata) -> bool {
    meta.accessed()
        .ok()
        .and_then(|atime| SystemTime::now().duration_since(atime).ok())
        .is_some_and(|age| age > RECENCY_GRANULARITY)
}

/// Access time now, modification time untouched.
const TOUCH: [libc::timespec; 2] = [
    libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_NOW,
    },
    libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_OMIT,
    },
];

fn refresh_recency(file: &File) {
    // Best effort: an entry we cannot touch (another user's) just ages.
    unsafe { libc::futimens(file.as_raw_fd(), TOUCH.as_ptr()) };
}

/// Whether the file at `path` (never following a symlink) is still the one `stamp` describes,
/// for a hit served from memory. Such a hit is a use like any other: a stale access time is
/// refreshed as a read would refresh it, and the returned stamp replaces the old one.
pub fn revalidate(path: &Path, stamp: &FileStamp) -> Option<FileStamp> {
    let meta = fs::symlink_metadata(path).ok()?;
    if FileStamp::of(&meta) != *stamp {
        return None;
    }
    if !is_stale(&meta) {
        return Some(*stamp);
    }
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            TOUCH.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    let meta = fs::symlink_metadata(path).ok()?;
    Some(FileStamp::of(&meta))
}

fn is_miss(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::PermissionDenied
    )
}

/// Write the concatenation of `parts` to `path` so that no reader ever sees a partial entry:
/// a private (0600) temp file next to it, named after it with a `.tmp` suffix, then a rename
/// over it. On any error the temp file is removed. The parts go out in one `writev`, so the
/// caller need not copy a large payload behind its header first.
///
/// A failed rename is not an error, as in Jinja: another process may have run `clear()`, which
/// can remove the temp file when the pattern matches it. It is logged, and no stamp is
/// returned; otherwise the stamp of the entry now in place.
pub fn write_entry(path: &Path, parts: &[&[u8]]) -> Result<Option<FileStamp>> {
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
    write_all_vectored(tmp.as_file_mut(), parts).map_err(|err| Error::io(path, err))?;
    let err = match tmp.persist(path) {
        // fstat after the rename, which changed the ctime
        Ok(file) => return Ok(file.metadata().ok().map(|meta| FileStamp::of(&meta))),
        Err(err) => err,
    };
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
    Ok(None)
}

/// `Write::write_all_vectored`, which is not stable yet: short writes resume where they stopped.
fn write_all_vectored(file: &mut File, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|part| IoSlice::new(part)).collect();
    let mut rest = &mut slices[..];
    IoSlice::advance_slices(&mut rest, 0); // drops leading empty parts
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut rest, written),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Remove every entry of `pattern` in `dir`, and temp files that killed writers left behind;
/// files that vanish or resist are skipped, as in Jinja. Returns how many entries were removed.
pub fn clear(dir: &Path, pattern: &FilePattern) -> Result<usize> {
    let (mut entries, mut temps) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(dir).map_err(|err| Error::io(dir, err))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        if pattern.matches(text) {
            entries.push(name);
        } else if pattern.matches_temp(text) {
            temps.push(name);
        }
    }
    unlink_all(dir, temps)?;
    unlink_all(dir, entries)
}

/// Limits for `prune`; `None` means no limit of that kind.
#[derive(Debug, Default, Clone, Copy)]
pub struct PruneLimits {
    pub max_age: Option<Duration>,
    pub max_entries: Option<usize>,
    pub max_bytes: Option<u64>,
}

/// Remove this pattern's entries in `dir`, least recently used first (by access time), until
/// none is older than `max_age` and at most `max_entries` and `max_bytes` remain; temp files
/// older than `RECENCY_GRANULARITY` go too. Returns (entries removed, bytes freed).
pub fn prune(dir: &Path, pattern: &FilePattern, limits: PruneLimits) -> Result<(usize, u64)> {
    let now = SystemTime::now();
    let age = |meta: &fs::Metadata| {
        let atime = meta.accessed().or_else(|_| meta.modified()).unwrap_or(now);
        now.duration_since(atime).unwrap_or_default()
    };
    let mut entries: Vec<(Duration, u64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|err| Error::io(dir, err))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // symlink_metadata: a link planted among the entries is not ours to judge or follow
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // temp files first: with a pattern ending in %s they match the entry pattern too
        if pattern.matches_temp(name) {
            if age(&meta) > RECENCY_GRANULARITY {
                let _ = fs::remove_file(entry.path());
            }
        } else if pattern.matches(name) {
            entries.push((age(&meta), meta.len(), entry.path()));
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0)); // oldest first
    let mut count = entries.len();
    let mut bytes: u64 = entries.iter().map(|e| e.1).sum();
    let (mut removed, mut freed) = (0, 0);
    for (age, size, path) in entries {
        let too_old = limits.max_age.is_some_and(|max| age > max);
        let too_many = limits.max_entries.is_some_and(|max| count > max);
        let too_big = limits.max_bytes.is_some_and(|max| bytes > max);
        if !(too_old || too_many || too_big) {
            break; // the rest are younger, and the totals fit
        }
        count -= 1;
        bytes -= size;
        // an entry that vanished meanwhile (clear, another prune) counts as gone, not removed
        if fs::remove_file(&path).is_ok() {
            removed += 1;
            freed += size;
        }
    }
    Ok((removed, freed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_then_read_leaves_only_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("__jinja2_k.cache");
        write_entry(&path, &[b"one"]).unwrap();
        write_entry(&path, &[b"", b"t", b"", b"wo"]).unwrap();
        assert_eq!(read_entry(&path).unwrap().unwrap().data, b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("__jinja2_k.cache")]);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn huge_fifo_and_special_files_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("huge");
        File::create(&huge).unwrap().set_len(1 << 40).unwrap(); // sparse: no disk used
        assert_eq!(read_entry(&huge).unwrap(), None);
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(read_entry(&fifo).unwrap(), None); // returns at once instead of blocking
        assert_eq!(read_entry(Path::new("/dev/zero")).unwrap(), None);
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
        write_entry(&link, &[b"new"]).unwrap();
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
        match write_entry(&missing.join("e"), &[b"x"]) {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), ErrorKind::NotFound);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn set_atime(path: &Path, seconds_ago: u64) {
        let when = SystemTime::now() - Duration::from_secs(seconds_ago);
        // mtime well before atime, or a relatime mount refreshes atime on the next read
        let modified = when - Duration::from_secs(86_400);
        let times = fs::FileTimes::new()
            .set_accessed(when)
            .set_modified(modified);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_times(times)
            .unwrap();
    }

    #[test]
    fn a_hit_refreshes_a_stale_access_time() {
        // (that a fresh one is left alone is not observable here: strictatime mounts update
        // atime on every read anyway)
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("stale");
        fs::write(&stale, b"x").unwrap();
        set_atime(&stale, 2 * 3600);
        read_entry(&stale).unwrap();
        let atime = fs::metadata(&stale).unwrap().accessed().unwrap();
        assert!(SystemTime::now().duration_since(atime).unwrap() < Duration::from_secs(60));
    }

    #[test]
    fn a_stamp_holds_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        let written = write_entry(&path, &[b"one"]).unwrap().unwrap();
        let read = read_entry(&path).unwrap().unwrap().stamp;
        assert_eq!(read, written);
        assert_eq!(revalidate(&path, &read), Some(read));
        // the same bytes written again: another file
        write_entry(&path, &[b"one"]).unwrap();
        assert_eq!(revalidate(&path, &read), None);
        let current = read_entry(&path).unwrap().unwrap().stamp;
        // rewritten in place, even to the same length
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all(b"two")
            .unwrap();
        assert_eq!(revalidate(&path, &current), None);
        let current = read_entry(&path).unwrap().unwrap().stamp;
        fs::remove_file(&path).unwrap();
        assert_eq!(revalidate(&path, &current), None);
    }

    #[test]
    fn revalidating_refreshes_a_stale_access_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        fs::write(&path, b"x").unwrap();
        set_atime(&path, 2 * 3600);
        let stamp = FileStamp::of(&fs::symlink_metadata(&path).unwrap());
        let refreshed = revalidate(&path, &stamp).expect("the same file");
        let atime = fs::metadata(&path).unwrap().accessed().unwrap();
        assert!(SystemTime::now().duration_since(atime).unwrap() < Duration::from_secs(60));
        // the refresh changed the ctime; the new stamp is the file's
        assert_eq!(revalidate(&path, &refreshed), Some(refreshed));
    }

    #[test]
    fn prune_removes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = FilePattern::parse("e_%s").unwrap();
        for (name, hours) in [("e_a", 5), ("e_b", 4), ("e_c", 3), ("e_d", 2), ("other", 9)] {
            let path = dir.path().join(name);
            fs::write(&path, b"0123456789").unwrap();
            set_atime(&path, hours * 3600);
        }
        let old_temp = dir.path().join("e_zABCDEF.tmp");
        fs::write(&old_temp, b"partial").unwrap();
        set_atime(&old_temp, 2 * 3600);
        let limits = PruneLimits {
            max_entries: Some(3),
            ..Default::default()
        };
        assert_eq!(prune(dir.path(), &pattern, limits).unwrap(), (1, 10));
        assert!(!dir.path().join("e_a").exists() && !old_temp.exists());
        let limits = PruneLimits {
            max_age: Some(Duration::from_secs(3 * 3600 + 60)),
            ..Default::default()
        };
        assert_eq!(prune(dir.path(), &pattern, limits).unwrap(), (1, 10));
        let limits = PruneLimits {
            max_bytes: Some(10),
            ..Default::default()
        };
        assert_eq!(prune(dir.path(), &pattern, limits).unwrap(), (1, 10));
        assert!(dir.path().join("e_d").exists() && dir.path().join("other").exists());
        assert_eq!(
            prune(dir.path(), &pattern, PruneLimits::default()).unwrap(),
            (0, 0)
        );
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

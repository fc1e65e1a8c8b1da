//! Entry files on disk: read one, write one atomically, clear a directory. No Python here.
//!
//! What differs between platforms (opening without following a link, a file's identity,
//! refreshing an access time, a new file's permissions) is in `unix.rs` and `windows.rs`,
//! behind the same few functions; everything else is shared.

use std::fs::{self, File};
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::keys::{FilePattern, TEMP_RANDOM_LEN, TEMP_SUFFIX};
use crate::unlink::unlink_all;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as sys;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as sys;

#[cfg(test)]
mod tests;

/// One version of an entry file: what changes whenever the file is replaced (another file
/// identity), rewritten in place or touched in any other way (see `sys::Stamp` for what that
/// is on each platform). The in-process layer keeps the stamp of the file it loaded code from
/// and answers again only while the file at the entry's name still has it, so it never
/// answers differently from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    file: sys::Stamp,
    /// False when the file changed while it was read, or its version could not be told (a
    /// file system without file IDs): such a stamp matches no later check, since every stamp
    /// taken from a file has it true, and the entry is read again each time.
    matchable: bool,
}

impl FileStamp {
    fn new(file: sys::Stamp) -> Self {
        FileStamp {
            file,
            matchable: true,
        }
    }

    fn unmatchable(self) -> Self {
        FileStamp {
            matchable: false,
            ..self
        }
    }
}

/// What an open at an entry's name found: never what a link there points to.
enum Opened {
    File(File, fs::Metadata),
    Link,
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
/// exists-then-open race: the open itself decides). A link planted at an entry's name (a
/// symlink; on Windows any reparse point, junctions included) is never followed: the entry is
/// treated as missing and will be replaced by a real file.
pub fn read_entry(path: &Path) -> Result<Option<Entry>> {
    let (file, meta) = match sys::open_entry(path) {
        Ok(Opened::File(file, meta)) => (file, meta),
        Ok(Opened::Link) => {
            log::warn!("ignoring cache entry {}: it is a link", path.display());
            return Ok(None);
        }
        Err(err) if is_miss(&err) => return Ok(None),
        Err(err) => return Err(Error::io(path, err)),
    };
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
        sys::touch(&file);
        // the refresh changed the change time: stamp what the file is now
        file.metadata().map_err(|err| Error::io(path, err))?
    } else {
        meta
    };
    let stamp = match sys::stamp(&file, &meta) {
        Ok(found) => FileStamp::new(found),
        Err(_) => FileStamp::new(sys::Stamp::default()).unmatchable(),
    };
    let mut data = Vec::with_capacity(meta.len() as usize);
    // take(): the file may grow between fstat and read
    match file.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut data) {
        Ok(_) if data.len() as u64 > MAX_ENTRY_BYTES => Ok(None),
        // a file that changed while it was read gets a stamp no later check matches
        Ok(_) if data.len() as u64 != meta.len() => Ok(Some(Entry {
            data,
            stamp: stamp.unmatchable(),
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
/// it, so hits maintain it themselves, at most one refresh per entry per interval.
pub const RECENCY_GRANULARITY: Duration = Duration::from_secs(3600);

fn is_stale(meta: &fs::Metadata) -> bool {
    meta.accessed()
        .ok()
        .and_then(|atime| SystemTime::now().duration_since(atime).ok())
        .is_some_and(|age| age > RECENCY_GRANULARITY)
}

/// Whether the file at `path` (never following a link) is still the one `stamp` describes,
/// for a hit served from memory. Such a hit is a use like any other: a stale access time is
/// refreshed as a read would refresh it, and the returned stamp replaces the old one.
pub fn revalidate(path: &Path, stamp: &FileStamp) -> Option<FileStamp> {
    let (found, meta) = sys::probe(path).ok()?;
    if FileStamp::new(found) != *stamp {
        return None;
    }
    if !is_stale(&meta) {
        return Some(*stamp);
    }
    sys::touch_path(path);
    let (found, _) = sys::probe(path).ok()?;
    Some(FileStamp::new(found))
}

fn is_miss(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::PermissionDenied
    ) || sys::is_denied(err)
}

/// Write the concatenation of `parts` to `path` so that no reader ever sees a partial entry:
/// a new file next to it (private where the platform has modes: see `sys::create_new`), named
/// after it with a `.tmp` suffix, then a rename over it. On any error the temp file is removed.
/// The parts go out in one `writev`, so the caller need not copy a large payload behind its
/// header first.
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
        .make_in(dir, sys::create_new)
        .map_err(|err| Error::io(dir, err))?;
    // NamedTempFile removes the file when dropped, so every early return cleans up. A failed
    // write (disk full, file size limit) names the entry, which is what the user knows.
    write_all_vectored(tmp.as_file_mut(), parts).map_err(|err| Error::io(path, err))?;
    // std's rename, not tempfile's persist: on Windows (10 1607 and later) it replaces with
    // POSIX semantics, so an entry a reader holds open is still replaced, where persist's
    // MoveFileEx fails with "access denied". On Unix both are rename(2).
    let (file, mut temp_path) = tmp.into_parts();
    let err = match fs::rename(&temp_path, path) {
        Ok(()) => {
            temp_path.disable_cleanup(true); // its name is the entry's now

            // stamped after the rename, which changed the change time
            let stamp = file.metadata().and_then(|meta| sys::stamp(&file, &meta));
            return Ok(stamp.ok().map(FileStamp::new));
        }
        Err(err) => err,
    };
    if err.kind() == ErrorKind::NotFound {
        log::debug!(
            "cache entry {} not stored: cleared while it was written",
            path.display()
        );
    } else {
        log::warn!(
            "could not move cache entry into place at {}: {}",
            path.display(),
            err
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

impl PruneLimits {
    /// Limits as `prune(max_age, max_entries, max_bytes)` takes them, `max_age` in seconds.
    pub fn new(
        max_age: Option<f64>,
        max_entries: Option<usize>,
        max_bytes: Option<u64>,
    ) -> Result<Self> {
        let max_age = max_age
            .map(|seconds| {
                Duration::try_from_secs_f64(seconds).map_err(|_| {
                    Error::Value("max_age must be a non-negative number of seconds".into())
                })
            })
            .transpose()?;
        Ok(PruneLimits {
            max_age,
            max_entries,
            max_bytes,
        })
    }
}

/// A file of a store's directory, as `list` finds it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub path: PathBuf,
    pub size: u64,
    /// When it was last read (its modification time where access times are not kept).
    pub accessed: SystemTime,
}

/// What `list` finds in a store's directory.
#[derive(Debug, Default)]
pub struct Listing {
    /// This pattern's entries.
    pub entries: Vec<Listed>,
    /// Temp files of this pattern's writers (live, or killed before they renamed).
    pub temps: Vec<Listed>,
}

/// This pattern's entries in `dir` and its writers' temp files: regular files only, since a
/// link planted among the entries is not ours to judge or follow.
pub fn list(dir: &Path, pattern: &FilePattern) -> Result<Listing> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir).map_err(|err| Error::io(dir, err))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // temp files first: with a pattern ending in %s they match the entry pattern too
        let found = if pattern.matches_temp(name) {
            &mut listing.temps
        } else if pattern.matches(name) {
            &mut listing.entries
        } else {
            continue;
        };
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue; // gone meanwhile
        };
        if meta.is_file() {
            let accessed = meta.accessed().or_else(|_| meta.modified());
            found.push(Listed {
                path: entry.path(),
                size: meta.len(),
                accessed: accessed.unwrap_or_else(|_| SystemTime::now()),
            });
        }
    }
    Ok(listing)
}

/// Remove this pattern's entries in `dir`, least recently used first (by access time), until
/// none is older than `max_age` and at most `max_entries` and `max_bytes` remain; temp files
/// older than `RECENCY_GRANULARITY` go too. Returns (entries removed, bytes freed).
pub fn prune(dir: &Path, pattern: &FilePattern, limits: PruneLimits) -> Result<(usize, u64)> {
    let now = SystemTime::now();
    let age = |listed: &Listed| now.duration_since(listed.accessed).unwrap_or_default();
    let listing = list(dir, pattern)?;
    for temp in &listing.temps {
        if age(temp) > RECENCY_GRANULARITY {
            let _ = fs::remove_file(&temp.path);
        }
    }
    let mut entries: Vec<(Duration, u64, PathBuf)> = listing
        .entries
        .into_iter()
        .map(|listed| (age(&listed), listed.size, listed.path))
        .collect();
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

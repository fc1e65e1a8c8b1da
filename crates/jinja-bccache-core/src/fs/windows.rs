//! Entry files on Windows: opens that stop at a reparse point, stamps from the file's ID and
//! change time, access times refreshed through a second handle, new files with the ACL their
//! directory passes down.
//!
//! Permissions: Windows has no mode to set. A new entry inherits the default ACL of its
//! directory; in the user's cache directory (under `%LOCALAPPDATA%`) that grants the user,
//! SYSTEM and Administrators only, which is as private as the Unix 0600. A directory the user
//! chose keeps whatever ACL they gave it, as Jinja's entries would.

use std::ffi::c_void;
use std::fs::{File, FileTimes, Metadata, OpenOptions};
use std::io;
use std::os::windows::fs::{MetadataExt, OpenOptionsExt};
use std::os::windows::io::{AsRawHandle, FromRawHandle, RawHandle};
use std::path::Path;
use std::time::SystemTime;

use windows_sys::Win32::Foundation::{
    ERROR_LOCK_VIOLATION, ERROR_SHARING_VIOLATION, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    FileBasicInfo, FileIdInfo, GetFileInformationByHandleEx, ReOpenFile,
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_BASIC_INFO, FILE_FLAG_OPEN_REPARSE_POINT, FILE_ID_INFO,
    FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    FILE_WRITE_ATTRIBUTES,
};

use super::Opened;

/// The file's identity (its 128-bit file ID: another file when the entry is replaced), its
/// size and last write time (rewritten in place), and its change time (any other change to
/// data or attributes).
///
/// From `GetFileInformationByHandleEx`, not std: stable std exposes neither the file ID nor
/// the change time, and size plus write and creation times alone would take a file renamed in
/// with copied timestamps for the old one. `FileIdInfo` rather than the 64-bit file index of
/// `GetFileInformationByHandle`, which ReFS does not keep unique. Its volume serial number is
/// left out (Wine reports it as 0 on some handles of a file and not others): a stamp is only
/// compared with what is at the same path, where another volume means a remount, and then the
/// file ID, size and both times to 100 ns would all have to coincide too.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    id: [u8; 16],
    len: u64,
    written: i64,
    changed: i64,
}

/// Opens the name itself, never what a reparse point there leads to
/// (`FILE_FLAG_OPEN_REPARSE_POINT`), then refuses any reparse point: a symlink or junction is
/// another file's name, and for other kinds (dedup, cloud placeholders) this handle would not
/// read the data anyway. A directory does not open (no `FILE_FLAG_BACKUP_SEMANTICS`): "access
/// denied", a miss.
pub fn open_entry(path: &Path) -> io::Result<Opened> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Ok(Opened::Link);
    }
    Ok(Opened::File(file, meta))
}

/// An entry another process holds open without sharing it, or has locked: Python reports both
/// as `PermissionError`, which Jinja takes for a miss, and so does this.
pub fn is_denied(err: &io::Error) -> bool {
    let code = err.raw_os_error().map(|code| code as u32);
    code == Some(ERROR_SHARING_VIOLATION) || code == Some(ERROR_LOCK_VIOLATION)
}

pub fn stamp(file: &File, meta: &Metadata) -> io::Result<Stamp> {
    let mut id = FILE_ID_INFO::default();
    let mut times = FILE_BASIC_INFO::default();
    // SAFETY: the handle is open for both calls, and each buffer is the structure its
    // information class fills, with its size.
    unsafe {
        query(file, FileIdInfo, &mut id)?;
        query(file, FileBasicInfo, &mut times)?;
    }
    Ok(Stamp {
        id: id.FileId.Identifier,
        len: meta.len(),
        written: times.LastWriteTime,
        changed: times.ChangeTime,
    })
}

/// # Safety
/// `T` must be the structure `class` fills.
unsafe fn query<T>(file: &File, class: i32, info: &mut T) -> io::Result<()> {
    let filled = GetFileInformationByHandleEx(
        file.as_raw_handle() as HANDLE,
        class,
        (info as *mut T).cast::<c_void>(),
        size_of::<T>() as u32,
    );
    if filled == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_accessed_now(file: &File) {
    // Best effort: an entry we cannot touch (another user's) just ages.
    let _ = file.set_times(FileTimes::new().set_accessed(SystemTime::now()));
}

/// The reading handle may not set times (that needs `FILE_WRITE_ATTRIBUTES`, which another
/// user's entry may refuse, and asking for it up front would turn such reads into misses). A
/// second handle from `ReOpenFile` is on the same file, where opening the path again could
/// reach a file renamed in meanwhile.
pub fn touch(file: &File) {
    let shared = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
    // SAFETY: the handle is open for the call; ReOpenFile returns a new handle or an error.
    let handle = unsafe {
        ReOpenFile(
            file.as_raw_handle() as HANDLE,
            FILE_WRITE_ATTRIBUTES,
            shared,
            0,
        )
    };
    if handle == INVALID_HANDLE_VALUE {
        return;
    }
    // SAFETY: a handle just opened and owned by nobody else; the File closes it.
    let attributes = unsafe { File::from_raw_handle(handle as RawHandle) };
    set_accessed_now(&attributes);
}

/// The stamp of what is at `path`, from a handle that may only read attributes (the least an
/// open can ask, so it works wherever a stat would) and stops at a reparse point.
pub fn probe(path: &Path) -> io::Result<(Stamp, Metadata)> {
    let file = OpenOptions::new()
        .access_mode(FILE_READ_ATTRIBUTES)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    let meta = file.metadata()?;
    Ok((stamp(&file, &meta)?, meta))
}

pub fn touch_path(path: &Path) {
    let file = OpenOptions::new()
        .access_mode(FILE_WRITE_ATTRIBUTES)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path);
    if let Ok(file) = file {
        set_accessed_now(&file);
    }
}

/// A new file at `path` (failing if anything is there; std's `create_new` does not follow a
/// reparse point). Opened here rather than by tempfile, which marks its files
/// `FILE_ATTRIBUTE_TEMPORARY` (kept in memory, written late) and only clears that in its own
/// persist, which is not used. std's default sharing includes delete, so the file can be
/// renamed while it is open.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::super::{read_entry, write_entry};
    use super::*;
    use std::fs;
    use windows_sys::Win32::Foundation::ERROR_PRIVILEGE_NOT_HELD;
    use windows_sys::Win32::Storage::FileSystem::FILE_ATTRIBUTE_TEMPORARY;

    #[test]
    fn entries_are_not_left_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("__jinja2_k.cache");
        write_entry(&path, &[b"one"]).unwrap();
        let attributes = fs::metadata(&path).unwrap().file_attributes();
        assert_eq!(attributes & FILE_ATTRIBUTE_TEMPORARY, 0);
    }

    #[test]
    fn an_entry_held_without_sharing_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("__jinja2_k.cache");
        write_entry(&path, &[b"one"]).unwrap();
        let _held = OpenOptions::new()
            .read(true)
            .share_mode(0)
            .open(&path)
            .unwrap();
        assert_eq!(read_entry(&path).unwrap(), None);
    }

    /// Creating a symlink needs a privilege (or developer mode) on Windows, and Wine 8 reports
    /// success without creating anything: either way the test has nothing to check, and says so.
    fn planted(link: &Path, created: io::Result<()>) -> bool {
        match created {
            Err(err) if err.raw_os_error() == Some(ERROR_PRIVILEGE_NOT_HELD as i32) => {
                eprintln!("skipped: no privilege to create symlinks");
                false
            }
            Err(err) => panic!("could not create a symlink: {err}"),
            Ok(()) if fs::symlink_metadata(link).is_err() => {
                eprintln!("skipped: the symlink was not created (Wine?)");
                false
            }
            Ok(()) => true,
        }
    }

    #[test]
    fn file_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"secret").unwrap();
        let link = dir.path().join("__jinja2_k.cache");
        if !planted(&link, std::os::windows::fs::symlink_file(&target, &link)) {
            return;
        }
        assert_eq!(read_entry(&link).unwrap(), None);
        assert!(probe(&link).unwrap().1.file_type().is_symlink());
        write_entry(&link, &[b"new"]).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"secret");
        assert!(!fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(read_entry(&link).unwrap().unwrap().data, b"new");
    }

    #[test]
    fn directory_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::create_dir(&target).unwrap();
        let link = dir.path().join("__jinja2_k.cache");
        if !planted(&link, std::os::windows::fs::symlink_dir(&target, &link)) {
            return;
        }
        assert_eq!(read_entry(&link).unwrap(), None);
        // replaced or left in place (a rename does not replace a directory), never entered
        write_entry(&link, &[b"new"]).unwrap();
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
    }
}

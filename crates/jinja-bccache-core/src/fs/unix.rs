//! Entry files on Unix: `O_NOFOLLOW` opens, stamps from `fstat`, access times refreshed with
//! `UTIME_NOW`, new files mode 0600.

use std::ffi::CString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::Opened;

/// A new inode when the file is replaced, size and mtime when it is rewritten in place, and
/// ctime for any other change (no user can set it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

pub fn open_entry(path: &Path) -> io::Result<Opened> {
    // O_NONBLOCK: a FIFO planted at an entry's name must not hang the render on open.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path);
    match file {
        Ok(file) => {
            let meta = file.metadata()?;
            Ok(Opened::File(file, meta))
        }
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => Ok(Opened::Link),
        Err(err) => Err(err),
    }
}

/// Refusals beyond `PermissionDenied` that Python reports as `PermissionError` (a miss to
/// Jinja): none on Unix, which has no share modes.
pub fn is_denied(_err: &io::Error) -> bool {
    false
}

/// Infallible here (`fstat` already said it all); the signature is Windows', which asks again.
pub fn stamp(_file: &File, meta: &Metadata) -> io::Result<Stamp> {
    Ok(Stamp::of(meta))
}

/// Access time now, modification time untouched. `UTIME_NOW` needs only write access, where
/// an explicit time needs ownership: in a shared cache, other users' entries are refreshed too.
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

pub fn touch(file: &File) {
    // Best effort: an entry we cannot touch (another user's) just ages.
    // SAFETY: the descriptor is open for the call and TOUCH holds the two times futimens reads.
    unsafe { libc::futimens(file.as_raw_fd(), TOUCH.as_ptr()) };
}

/// The stamp of what is at `path` without opening it, never following a symlink.
pub fn probe(path: &Path) -> io::Result<(Stamp, Metadata)> {
    let meta = fs::symlink_metadata(path)?;
    Ok((Stamp::of(&meta), meta))
}

pub fn touch_path(path: &Path) {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: the path is NUL-terminated and TOUCH holds the two times utimensat reads.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            TOUCH.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
}

/// A new file at `path` (failing if anything is there, a symlink included), readable by its
/// owner only: entries hold compiled code that other users must not read or plant.
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::super::{read_entry, write_entry};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    #[test]
    fn entries_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("__jinja2_k.cache");
        write_entry(&path, &[b"one"]).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn fifos_and_devices_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(read_entry(&fifo).unwrap(), None); // returns at once instead of blocking
        assert_eq!(read_entry(Path::new("/dev/zero")).unwrap(), None);
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
        assert_eq!(read_entry(&link).unwrap().unwrap().data, b"new");
    }
}

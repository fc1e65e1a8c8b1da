//! The core's one error type. The extension crate maps it to Python exceptions.

use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// An I/O failure on a path.
    Io { path: PathBuf, source: io::Error },
    /// A bad argument value (a malformed pattern, an unusable server list, ...).
    Value(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {}", path.display(), source),
            Error::Value(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Value(_) => None,
        }
    }
}

/// The errno of an I/O error. tempfile wraps OS errors to add the temp file's path and the
/// errno is lost on the way; the kind survives, so the common kinds are mapped back. (On
/// Windows an OS error's own code is a Windows code, not an errno: the binding passes it on
/// as such.)
pub fn errno(err: &io::Error) -> Option<i32> {
    use io::ErrorKind::*;
    #[cfg(unix)]
    let raw = err.raw_os_error();
    #[cfg(not(unix))]
    let raw = None;
    raw.or(match err.kind() {
        NotFound => Some(libc::ENOENT),
        PermissionDenied => Some(libc::EACCES),
        AlreadyExists => Some(libc::EEXIST),
        NotADirectory => Some(libc::ENOTDIR),
        IsADirectory => Some(libc::EISDIR),
        ReadOnlyFilesystem => Some(libc::EROFS),
        StorageFull => Some(libc::ENOSPC),
        // Windows' C runtime has no EDQUOT; there the quota error keeps its raw OS code.
        #[cfg(unix)]
        QuotaExceeded => Some(libc::EDQUOT),
        FileTooLarge => Some(libc::EFBIG),
        InvalidFilename => Some(libc::ENAMETOOLONG),
        _ => None,
    })
}

/// The message of an OS error without Rust's " (os error N)" suffix, as Python prints it.
pub fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_survive_a_wrapper_that_keeps_only_the_kind() {
        let raw = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(errno(&raw), Some(libc::ENOENT));
        let wrapped = io::Error::new(raw.kind(), "while creating a temp file");
        assert_eq!(errno(&wrapped), Some(libc::ENOENT));
        assert_eq!(errno(&io::Error::other("no errno")), None);
    }

    #[test]
    fn messages_read_as_python_prints_them() {
        let message = strerror(&io::Error::from_raw_os_error(libc::ENOENT));
        assert!(!message.contains("os error"), "{message}");
        assert_eq!(strerror(&io::Error::other("plain")), "plain");
    }
}

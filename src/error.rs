//! The crate's one error type, and its mapping to Python exceptions at the edge.

use std::io;
use std::path::PathBuf;

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

#[derive(Debug)]
pub enum Error {
    /// An I/O failure on a path: raised as the `OSError` subclass matching its errno.
    Io { path: PathBuf, source: io::Error },
    /// A bad argument value (a malformed pattern, ...).
    Value(String),
    /// The native module was used before the Python package configured it.
    NotConfigured,
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

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            // OSError(errno, strerror, filename) picks FileNotFoundError, PermissionError, ...
            Error::Io { path, source } => match errno_of(&source) {
                Some(errno) => PyOSError::new_err((
                    errno,
                    strerror(&io::Error::from_raw_os_error(errno)),
                    path.to_string_lossy().into_owned(),
                )),
                None => PyOSError::new_err(format!("{}: {}", path.display(), source)),
            },
            Error::Value(msg) => PyValueError::new_err(msg),
            Error::NotConfigured => PyRuntimeError::new_err(
                "jinja_bccache._native used before jinja_bccache was imported",
            ),
        }
    }
}

/// The errno of an I/O error. tempfile wraps OS errors to add the temp file's path and the
/// errno is lost on the way; the kind survives, so the common kinds are mapped back.
fn errno_of(err: &io::Error) -> Option<i32> {
    use io::ErrorKind::*;
    err.raw_os_error().or(match err.kind() {
        NotFound => Some(libc::ENOENT),
        PermissionDenied => Some(libc::EACCES),
        AlreadyExists => Some(libc::EEXIST),
        NotADirectory => Some(libc::ENOTDIR),
        IsADirectory => Some(libc::EISDIR),
        ReadOnlyFilesystem => Some(libc::EROFS),
        StorageFull => Some(libc::ENOSPC),
        QuotaExceeded => Some(libc::EDQUOT),
        FileTooLarge => Some(libc::EFBIG),
        InvalidFilename => Some(libc::ENAMETOOLONG),
        _ => None,
    })
}

/// The message of an OS error without Rust's " (os error N)" suffix, as Python prints it.
fn strerror(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

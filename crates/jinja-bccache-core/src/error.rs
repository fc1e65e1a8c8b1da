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

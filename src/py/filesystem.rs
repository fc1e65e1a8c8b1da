//! The native core of `FileSystemBytecodeCache`: one object per (directory, pattern) that
//! finds, reads, writes and clears entries. Files are touched with the GIL released.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::entry::{encode_sealed, key_of, open_and_decode, utf8};
use crate::error::Error;
use crate::fs;
use crate::keys::{self, FilePattern};

#[pyclass(frozen, module = "jinja_bccache._native")]
pub struct FsStore {
    dir: PathBuf,
    pattern: FilePattern,
    /// Entries must carry a valid signature under this secret.
    secret: Option<Vec<u8>>,
    /// Entries without a trailer (stock Jinja's) are accepted: Jinja-compatible keys only.
    accept_plain: bool,
}

/// A read error other than "nothing there" (EIO, ENAMETOOLONG, ...) costs a recompile, not a
/// failed render: Jinja's contract for load_bytecode is to leave the bucket empty.
fn read_or_miss(py: Python<'_>, path: &Path) -> Option<Vec<u8>> {
    match py.detach(|| fs::read_entry(path)) {
        Ok(data) => data,
        Err(Error::Io { path, source }) => {
            log::warn!("cannot read cache entry {}: {}", path.display(), source);
            None
        }
        Err(err) => {
            log::warn!("cannot read cache entry {}: {:?}", path.display(), err);
            None
        }
    }
}

impl FsStore {
    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(self.pattern.file_name(key))
    }

    fn load_from<'py>(
        &self,
        py: Python<'py>,
        path: &Path,
        key: &str,
        checksum: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match read_or_miss(py, path) {
            Some(entry) => open_and_decode(
                py,
                &entry,
                key,
                checksum,
                self.secret.as_deref(),
                self.accept_plain,
                &path.display(),
            ),
            None => Ok(None),
        }
    }
}

#[pymethods]
impl FsStore {
    #[new]
    fn new(
        directory: PathBuf,
        pattern: &str,
        secret: Option<Vec<u8>>,
        accept_plain: bool,
    ) -> PyResult<Self> {
        let pattern = FilePattern::parse(pattern).map_err(Error::Value)?;
        Ok(FsStore {
            dir: directory,
            pattern,
            secret,
            accept_plain,
        })
    }

    /// The whole hit path of `get_bucket` in one call: key (Jinja's, or Jinja's combined with
    /// the environment's `isolation` suffix), checksum, read, validate, unmarshal.
    /// Returns `(key, checksum, code or None)`.
    fn get<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
        filename: &Bound<'py, PyAny>,
        source: &Bound<'py, PyAny>,
        isolation: Option<&str>,
    ) -> PyResult<(String, String, Option<Bound<'py, PyAny>>)> {
        let mut key = key_of(name, filename)?;
        if let Some(suffix) = isolation {
            // the same as cache_key(key, suffix) in the generic get_bucket
            key = keys::cache_key(key.as_bytes(), Some(suffix.as_bytes()));
        }
        let checksum = keys::source_checksum(utf8(source, "source")?.as_bytes());
        let path = self.path(&key);
        let code = self.load_from(
            py,
            &path,
            &key,
            checksum.clone().into_pyobject(py)?.as_any(),
        )?;
        Ok((key, checksum, code))
    }

    /// The code stored under `key` if its checksum matches, else None.
    fn load<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        checksum: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.load_from(py, &self.path(key), key, checksum)
    }

    /// Store `code` under `key`, atomically.
    fn dump(
        &self,
        py: Python<'_>,
        key: &str,
        checksum: &Bound<'_, PyAny>,
        code: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let entry = encode_sealed(checksum, code, key, self.secret.as_deref())?;
        let path = self.path(key);
        py.detach(|| fs::write_entry(&path, &entry))?;
        Ok(())
    }

    /// Remove this pattern's entries; returns how many.
    fn clear(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(py.detach(|| fs::clear(&self.dir, &self.pattern))?)
    }
}

/// The entry file at `path` (bytes), or None when there is nothing to load.
#[pyfunction]
pub fn read_entry<'py>(py: Python<'py>, path: PathBuf) -> Option<Bound<'py, PyBytes>> {
    read_or_miss(py, &path).map(|data| PyBytes::new(py, &data))
}

/// Write `data` to `path` atomically (temp file + rename).
#[pyfunction]
pub fn write_entry(py: Python<'_>, path: PathBuf, data: Vec<u8>) -> PyResult<()> {
    Ok(py.detach(|| fs::write_entry(&path, &data))?)
}

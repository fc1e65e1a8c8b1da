//! The native core of `FileSystemBytecodeCache`: one object per (directory, pattern) that
//! finds, reads, writes and clears entries. Files are touched with the GIL released.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::codec::encode_parts;
use super::counters::{self, Counters};
use super::layer::{self, Check, Scope};
use super::loading::{found, hand_on, locate, Found, Lookup};
use super::sealing::Trust;
use crate::error::{raise, OrRaise};
use jinja_bccache_core::keys::FilePattern;
use jinja_bccache_core::{fs, Error};

#[pyclass(frozen, name = "FsStore", module = "jinja_bccache._native")]
pub struct FsStorePy {
    dir: PathBuf,
    pattern: FilePattern,
    trust: Trust,
    /// Shared with the stores that replace this one when the cache's settings change.
    counters: Arc<Counters>,
    /// This store's part of the in-process layer.
    scope: Scope,
}

/// A read error other than "nothing there" (EIO, ENAMETOOLONG, ...) costs a recompile, not a
/// failed render: Jinja's contract for load_bytecode is to leave the bucket empty.
fn read_or_miss(py: Python<'_>, path: &Path, counters: &Counters) -> Option<fs::Entry> {
    match py.detach(|| fs::read_entry(path)) {
        Ok(data) => data,
        Err(err) => {
            Counters::bump(&counters.errors, 1);
            match err {
                Error::Io { path, source } => {
                    log::warn!("cannot read cache entry {}: {}", path.display(), source)
                }
                other => log::warn!("cannot read cache entry {}: {:?}", path.display(), other),
            }
            None
        }
    }
}

impl FsStorePy {
    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(self.pattern.file_name(key))
    }

    fn lookup<'a, 'py>(&'a self, key: &'a str, checksum: &'a Bound<'py, PyAny>) -> Lookup<'a, 'py> {
        Lookup {
            key,
            checksum,
            trust: &self.trust,
            counters: &self.counters,
            scope: Some(self.scope),
        }
    }

    fn load_from<'py>(
        &self,
        py: Python<'py>,
        path: &Path,
        key: &str,
        checksum: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let lookup = self.lookup(key, checksum);
        // One lstat proves the file at the entry's name is still the one the code came from
        // (and refreshes its access time as a read would), so the layer answers as the file.
        let still_there = |check: &Check| match check {
            Check::File(stamp) => fs::revalidate(path, stamp).map(Check::File),
            Check::Item(_) => None,
        };
        if let Some(code) = lookup.in_layer(py, still_there) {
            return Ok(Some(code));
        }
        let entry = read_or_miss(py, path, lookup.counters);
        let entry = entry
            .as_ref()
            .map(|entry| (&entry.data[..], Some(Check::File(entry.stamp))));
        lookup.decode_entry(py, entry, &path.display())
    }

    /// Write an entry (`local`: usable by this process only, for the counters); the stamp of
    /// the file now in place, unless a concurrent `clear()` took it away.
    fn write(
        &self,
        py: Python<'_>,
        path: &Path,
        parts: &[&[u8]],
        local: bool,
    ) -> PyResult<Option<fs::FileStamp>> {
        match py.detach(|| fs::write_entry(path, parts)) {
            Ok(stamp) => {
                self.counters
                    .stored(parts.iter().map(|part| part.len()).sum(), local);
                Ok(stamp)
            }
            Err(err) => {
                Counters::bump(&self.counters.errors, 1);
                Err(raise(err))
            }
        }
    }
}

/// A `FsStore`'s settings, read from the dict the cache builds from its attributes.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Settings {
    directory: PathBuf,
    pattern: String,
    secret: Option<Vec<u8>>,
    accept_plain: bool,
}

#[pymethods]
impl FsStorePy {
    /// `settings`: `directory`, `pattern`, `secret` and `accept_plain` (whether entries
    /// without a trailer, stock Jinja's, are read: only while sharing Jinja's keys).
    /// `previous`: the store this one replaces when a setting changes, whose counters go on.
    #[new]
    #[pyo3(signature = (settings, previous=None))]
    fn new(settings: Settings, previous: Option<&Bound<'_, Self>>) -> PyResult<Self> {
        let Settings {
            directory,
            pattern,
            secret,
            accept_plain,
        } = settings;
        let parsed = FilePattern::parse(&pattern).or_raise()?;
        let trust = Trust {
            secret,
            accept_plain,
        };
        let scope = trust.filesystem_scope(&directory, &pattern);
        Ok(FsStorePy {
            dir: directory,
            pattern: parsed,
            trust,
            counters: counters::carried(previous.map(|store| &store.get().counters)),
            scope,
        })
    }

    /// The whole hit path of `get_bucket` in one call: key (Jinja's, or Jinja's combined with
    /// the environment's `isolation` suffix), checksum, read, validate, unmarshal; and whether
    /// the code carries a folding record that `verdicts` (the Environment's, by record)
    /// answered as recorded. Returns `(key, checksum, code or None, settled)` (see [`found`]).
    /// `cache` is the cache object, as `McStore.get` takes it; entry files are named from
    /// this store's settings. `checksum`, when given, is the source's, computed by the caller.
    #[pyo3(signature = (cache, name, filename, source, isolation, verdicts=None, checksum=None))]
    #[allow(clippy::too_many_arguments)] // get_bucket's own arguments, and where to look
    fn get<'py>(
        &self,
        py: Python<'py>,
        #[allow(unused_variables)] cache: &Bound<'py, PyAny>,
        name: &Bound<'py, PyAny>,
        filename: &Bound<'py, PyAny>,
        source: &Bound<'py, PyAny>,
        isolation: Option<&str>,
        verdicts: Option<&Bound<'py, PyDict>>,
        checksum: Option<Bound<'py, PyString>>,
    ) -> PyResult<Found<'py>> {
        let (key, checksum) = locate(py, name, filename, source, isolation, checksum)?;
        let code = self.load_from(py, &self.path(&key), &key, checksum.as_any())?;
        Ok(found(key, checksum, code, verdicts))
    }

    /// `load_bytecode`: the bucket's code from its entry if the checksum matches, else None.
    fn load(&self, py: Python<'_>, bucket: &Bound<'_, PyAny>) -> PyResult<()> {
        let key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
        let checksum = bucket.getattr(intern!(py, "checksum"))?;
        let code = self.load_from(py, &self.path(&key), &key, &checksum)?;
        bucket.setattr(intern!(py, "code"), code)
    }

    /// `dump_bytecode`: the bucket's code stored under its key, atomically.
    fn dump(&self, py: Python<'_>, bucket: &Bound<'_, PyAny>) -> PyResult<()> {
        let key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
        let checksum = &bucket.getattr(intern!(py, "checksum"))?;
        let code = &bucket.getattr(intern!(py, "code"))?;
        if code.is_none() {
            return Err(PyTypeError::new_err("can't write empty bucket")); // Jinja's error
        }
        let entry = encode_parts(checksum, code)?;
        let [header, payload] = entry.parts();
        let trailer = self.trust.trailer(&[header, payload], &key);
        let parts = [header, payload, &trailer[..]];
        let local = counters::is_local(bucket)?;
        if let Some(stamp) = self.write(py, &self.path(&key), &parts, local)? {
            let weight = entry.len() + trailer.len();
            self.lookup(&key, checksum)
                .remember(code, weight, Check::File(stamp));
        }
        Ok(())
    }

    /// For a subclass that names its files itself, or a bucket that reads its own entry: the
    /// verified body of the entry at `path` handed to `bucket.load_bytecode` (as a file).
    fn load_path(&self, py: Python<'_>, bucket: &Bound<'_, PyAny>, path: PathBuf) -> PyResult<()> {
        let entry = read_or_miss(py, &path, &self.counters);
        let entry = entry.as_ref().map(|entry| &entry.data[..]);
        hand_on(
            py,
            &self.trust,
            &self.counters,
            bucket,
            entry,
            &path.display(),
            |body| {
                let Some(body) = body else { return Ok(()) }; // as Jinja: no file, no call
                let file = py
                    .import(intern!(py, "io"))?
                    .call_method1("BytesIO", (body,))?;
                bucket.call_method1(intern!(py, "load_bytecode"), (file,))?;
                Ok(())
            },
        )
    }

    /// For a subclass that names its files itself, or a bucket that frames its own entry:
    /// `entry`, the bucket's, sealed and written to `path`.
    fn write_path(
        &self,
        py: Python<'_>,
        bucket: &Bound<'_, PyAny>,
        path: PathBuf,
        entry: Vec<u8>,
    ) -> PyResult<()> {
        let key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
        let trailer = self.trust.trailer(&[&entry], &key);
        let local = counters::is_local(bucket)?;
        self.write(py, &path, &[&entry, &trailer], local)
            .map(|_| ())
    }

    /// What this cache object has done since it was created (`cache.stats()`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counters::stats(py, &self.counters)
    }

    /// Remove this pattern's entries; returns how many.
    fn clear(&self, py: Python<'_>) -> PyResult<usize> {
        // Memory would not answer for removed files anyway (their stamps no longer match):
        // this only frees it.
        layer::forget_scope(self.scope);
        py.detach(|| fs::clear(&self.dir, &self.pattern)).or_raise()
    }

    /// This pattern's entries as `(size in bytes, last access as a Unix time)`, for reports.
    fn entries(&self, py: Python<'_>) -> PyResult<Vec<(u64, f64)>> {
        let listing = py
            .detach(|| fs::list(&self.dir, &self.pattern))
            .or_raise()?;
        let unix = |time: std::time::SystemTime| match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => since.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        let entries = listing.entries.iter();
        Ok(entries.map(|e| (e.size, unix(e.accessed))).collect())
    }

    /// Remove least recently used entries; returns `(entries removed, bytes freed)`.
    #[pyo3(signature = (max_age=None, max_entries=None, max_bytes=None))]
    fn prune(
        &self,
        py: Python<'_>,
        max_age: Option<f64>,
        max_entries: Option<usize>,
        max_bytes: Option<u64>,
    ) -> PyResult<(usize, u64)> {
        let limits = fs::PruneLimits::new(max_age, max_entries, max_bytes).or_raise()?;
        py.detach(|| fs::prune(&self.dir, &self.pattern, limits))
            .or_raise()
    }
}

//! Python-facing functions over `format` and `keys`: Bucket serialization, cache keys and
//! checksums. Each converts Python values at the edge and leaves the work to the pure modules.

use std::borrow::Cow;
use std::sync::OnceLock;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::marshal;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use jinja_bccache_core::{format, keys, seal};

/// `jinja2.bccache.bc_magic` of the running interpreter, set once by the Python package.
static MAGIC: OnceLock<Box<[u8]>> = OnceLock::new();

pub fn magic() -> PyResult<&'static [u8]> {
    MAGIC.get().map(|m| &**m).ok_or_else(|| {
        PyRuntimeError::new_err("jinja_bccache._native used before jinja_bccache was imported")
    })
}

/// Records Jinja's `bc_magic`; the package calls this once at import.
#[pyfunction]
pub fn configure(bc_magic: &[u8]) {
    // A second import (importlib.reload) passes the same bytes; the first value stays.
    let _ = MAGIC.set(bc_magic.into());
}

/// The UTF-8 bytes of a required `str` argument; a clear TypeError otherwise, and
/// UnicodeEncodeError for lone surrogates, as `str.encode("utf-8")` raises in Jinja.
pub fn utf8<'a>(value: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a str> {
    match value.cast::<PyString>() {
        Ok(s) => s.to_str(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            value.get_type().name()?
        ))),
    }
}

/// Jinja formats the filename into the key with an f-string, so any object is accepted and
/// spelled with `str()` (a `pathlib.Path` gives its path).
fn filename_text(filename: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if filename.is_none() {
        return Ok(None);
    }
    if let Ok(s) = filename.cast::<PyString>() {
        return Ok(Some(s.to_str()?.to_owned()));
    }
    Ok(Some(filename.str()?.to_str()?.to_owned()))
}

pub fn key_of(name: &Bound<'_, PyAny>, filename: &Bound<'_, PyAny>) -> PyResult<String> {
    let name = utf8(name, "name")?;
    let filename = filename_text(filename)?;
    Ok(keys::cache_key(
        name.as_bytes(),
        filename.as_deref().map(str::as_bytes),
    ))
}

/// `BytecodeCache.get_cache_key(name, filename=None)`.
#[pyfunction]
#[pyo3(signature = (name, filename=None))]
pub fn cache_key(name: &Bound<'_, PyAny>, filename: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
    match filename {
        Some(filename) => key_of(name, filename),
        None => Ok(keys::cache_key(utf8(name, "name")?.as_bytes(), None)),
    }
}

/// `BytecodeCache.get_source_checksum(source)`.
#[pyfunction]
pub fn source_checksum(source: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(keys::source_checksum(utf8(source, "source")?.as_bytes()))
}

/// The checksum as `pickle.dumps(checksum, 2)` spells it. A str (what every Jinja cache uses)
/// is encoded here; anything else, or a str with lone surrogates, goes through pickle itself.
pub fn checksum_pickle(checksum: &Bound<'_, PyAny>) -> PyResult<Cow<'static, [u8]>> {
    if let Ok(s) = checksum.cast::<PyString>() {
        if let Ok(text) = s.to_str() {
            return Ok(Cow::Owned(format::pickle_str(text)));
        }
    }
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = checksum.py();
    let dumps = DUMPS.import(py, "pickle", "dumps")?;
    Ok(Cow::Owned(
        dumps.call1((checksum, 2))?.extract::<Vec<u8>>()?,
    ))
}

/// Unmarshal the payload of an entry if it matches; any failure is a miss. Jinja executes
/// whatever unmarshals; integrity of the payload is the job of the caches' framing.
pub fn decode<'py>(
    py: Python<'py>,
    entry: &[u8],
    checksum: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let ck = checksum_pickle(checksum)?;
    let Some(payload) = format::split_entry(entry, magic()?, &ck) else {
        return Ok(None);
    };
    match marshal::loads(py, payload) {
        Ok(code) => Ok(Some(code)),
        Err(err) => {
            log::debug!("discarding a cache entry whose payload does not unmarshal: {err}");
            Ok(None)
        }
    }
}

/// Like `decode`, for an entry without a trailer: the payload must be exactly one marshalled
/// object. `marshal.loads` ignores trailing bytes and does not say where it stopped, but a
/// marshalled object is self-delimiting: it fills the payload exactly when the payload minus
/// its last byte no longer holds it. Two C-level loads cost about a fifth of reading through
/// a file object (`marshal.load(BytesIO)`, as Jinja does). Only stock Jinja's entries come here.
enum Exact<'py> {
    Code(Bound<'py, PyAny>),
    Mismatch,
    Trailing,
}

fn decode_exact<'py>(
    py: Python<'py>,
    entry: &[u8],
    checksum: &Bound<'py, PyAny>,
) -> PyResult<Exact<'py>> {
    let ck = checksum_pickle(checksum)?;
    let Some(payload) = format::split_entry(entry, magic()?, &ck) else {
        return Ok(Exact::Mismatch);
    };
    let Ok(code) = marshal::loads(py, payload) else {
        return Ok(Exact::Mismatch);
    };
    let shorter = &payload[..payload.len() - 1]; // not empty: an empty payload does not load
    if marshal::loads(py, shorter).is_ok() {
        return Ok(Exact::Trailing);
    }
    Ok(Exact::Code(code))
}

/// An entry in two parts: Jinja's header (magic and pickled checksum) and the marshalled
/// code, left in Python's buffer so a writer can send it on without copying it.
pub struct Encoded<'py> {
    header: Vec<u8>,
    payload: Bound<'py, PyBytes>,
}

impl Encoded<'_> {
    pub fn parts(&self) -> [&[u8]; 2] {
        [&self.header, self.payload.as_bytes()]
    }

    pub fn len(&self) -> usize {
        self.header.len() + self.payload.as_bytes().len()
    }
}

/// Frame `code` into an entry: magic, pickled checksum, `marshal.dumps(code)`.
/// An unmarshallable `code` raises ValueError, as `marshal.dump` does in Jinja.
pub fn encode_parts<'py>(
    checksum: &Bound<'py, PyAny>,
    code: &Bound<'py, PyAny>,
) -> PyResult<Encoded<'py>> {
    let payload = marshal::dumps(code, marshal::VERSION)?;
    let ck = checksum_pickle(checksum)?;
    let header = format::encode_header(magic()?, &ck);
    Ok(Encoded { header, payload })
}

/// `encode_parts` as one buffer.
pub fn encode<'py>(checksum: &Bound<'py, PyAny>, code: &Bound<'py, PyAny>) -> PyResult<Vec<u8>> {
    Ok(encode_parts(checksum, code)?.parts().concat())
}

/// `Bucket.bytecode_from_string`: the code in `data`, or None. `data` is bytes-like or None
/// (which Jinja reads as empty); anything else is a TypeError, as `BytesIO(data)` raises.
#[pyfunction]
pub fn entry_load<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    checksum: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if data.is_none() {
        return Ok(None);
    }
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return decode(py, bytes.as_bytes(), checksum);
    }
    match PyBuffer::<u8>::get(data) {
        Ok(buffer) => decode(py, &buffer.to_vec(py)?, checksum),
        Err(_) => Err(PyTypeError::new_err(format!(
            "a bytes-like object is required, not '{}'",
            data.get_type().name()?
        ))),
    }
}

/// `Bucket.bytecode_to_string` for a bucket whose code is set.
#[pyfunction]
pub fn entry_dump<'py>(
    py: Python<'py>,
    checksum: &Bound<'py, PyAny>,
    code: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &encode(checksum, code)?))
}

/// What loading an entry came to, for the counters.
pub enum Outcome<'py> {
    Hit(Bound<'py, PyAny>),
    /// Outdated (another source) or not for this interpreter: an ordinary miss.
    Miss,
    /// Damaged, unsigned or forged: refused and logged.
    Rejected,
}

impl<'py> Outcome<'py> {
    pub fn code(self) -> Option<Bound<'py, PyAny>> {
        match self {
            Outcome::Hit(code) => Some(code),
            Outcome::Miss | Outcome::Rejected => None,
        }
    }
}

/// A sealed entry's code: the trailer is verified (integrity digest, or signature when a
/// secret is set) before anything is unmarshalled. A refused entry is logged with `place` (a
/// path or memcached key) so an operator can find it; the recompiled entry then replaces it.
pub fn open_and_classify<'py>(
    py: Python<'py>,
    entry: &[u8],
    key: &str,
    checksum: &Bound<'py, PyAny>,
    secret: Option<&[u8]>,
    accept_plain: bool,
    place: &dyn std::fmt::Display,
) -> PyResult<Outcome<'py>> {
    let code = match open_logged(entry, key, secret, accept_plain, place) {
        Some(seal::Opened::Sealed(body)) => decode(py, body, checksum)?,
        Some(seal::Opened::Plain(body)) => {
            match decode_exact(py, body, checksum)? {
                Exact::Code(code) => Some(code),
                Exact::Mismatch => None,
                Exact::Trailing => {
                    log::warn!("refusing cache entry {place}: bytes after its payload (a damaged trailer?)");
                    return Ok(Outcome::Rejected);
                }
            }
        }
        None => return Ok(Outcome::Rejected),
    };
    Ok(code.map_or(Outcome::Miss, Outcome::Hit))
}

/// `seal::open`, logging a refusal with `place` (a path or memcached key).
pub fn open_logged<'a>(
    entry: &'a [u8],
    key: &str,
    secret: Option<&[u8]>,
    accept_plain: bool,
    place: &dyn std::fmt::Display,
) -> Option<seal::Opened<'a>> {
    seal::open(entry, key, secret, accept_plain)
        .map_err(|rejected| {
            log::warn!(
                "refusing cache entry {place}: {}; recompiling",
                rejected.reason()
            )
        })
        .ok()
}

/// Frame and seal `code` into an entry for `key`.
pub fn encode_sealed(
    checksum: &Bound<'_, PyAny>,
    code: &Bound<'_, PyAny>,
    key: &str,
    secret: Option<&[u8]>,
) -> PyResult<Vec<u8>> {
    Ok(seal::seal(encode(checksum, code)?, key, secret))
}

/// `seal(entry, key, secret)`: the entry with its trailer appended.
#[pyfunction]
#[pyo3(name = "seal")]
pub fn seal_py<'py>(
    py: Python<'py>,
    entry: &[u8],
    key: &str,
    secret: Option<&[u8]>,
) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &seal::seal(entry.to_vec(), key, secret))
}

/// `unseal(entry, key, secret, accept_plain, place)`: the verified body, or None (logged).
#[pyfunction]
pub fn unseal<'py>(
    py: Python<'py>,
    entry: &[u8],
    key: &str,
    secret: Option<&[u8]>,
    accept_plain: bool,
    place: &str,
) -> Option<Bound<'py, PyBytes>> {
    open_logged(entry, key, secret, accept_plain, &place)
        .map(|opened| PyBytes::new(py, opened.body()))
}

//! Jinja's entry format at the Python edge: the magic of the installed Jinja, and code
//! framed into an entry (magic, pickled checksum, marshalled code) and back. The framing
//! itself is the core's `format`; here are the parts that need Python (pickle, marshal).

use std::borrow::Cow;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use super::marshal;
use jinja_bccache_core::format;

/// `jinja2.bccache.bc_magic` of the installed Jinja (its format version and this
/// interpreter's marshal version), read at the first use.
pub fn magic(py: Python<'_>) -> PyResult<&'static [u8]> {
    static MAGIC: PyOnceLock<Box<[u8]>> = PyOnceLock::new();
    let magic = MAGIC.get_or_try_init(py, || {
        let magic = py.import("jinja2.bccache")?.getattr("bc_magic")?;
        Ok::<_, PyErr>(magic.extract::<Vec<u8>>()?.into_boxed_slice())
    })?;
    Ok(magic)
}

/// The checksum as `pickle.dumps(checksum, 2)` spells it. A str (what every Jinja cache uses)
/// is encoded here; anything else, or a str with lone surrogates, goes through pickle itself.
pub fn checksum_pickle(checksum: &Bound<'_, PyAny>) -> PyResult<Cow<'static, [u8]>> {
    if let Ok(s) = checksum.cast::<PyString>() {
        if let Ok(text) = s.to_cow() {
            return Ok(Cow::Owned(format::pickle_str(&text)));
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
    let Some(payload) = format::split_entry(entry, magic(py)?, &ck) else {
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

/// What [`decode_exact`] found: the code, an entry for another checksum or magic, or a
/// payload with bytes after the marshalled object.
pub enum Exact<'py> {
    Code(Bound<'py, PyAny>),
    Mismatch,
    Trailing,
}

/// Like `decode`, for an entry without a trailer: the payload must be exactly one marshalled
/// object. `marshal.loads` ignores trailing bytes and does not say where it stopped, but a
/// marshalled object is self-delimiting: it fills the payload exactly when the payload minus
/// its last byte no longer holds it. Two C-level loads cost about a fifth of reading through
/// a file object (`marshal.load(BytesIO)`, as Jinja does). Only stock Jinja's entries come here.
pub fn decode_exact<'py>(
    py: Python<'py>,
    entry: &[u8],
    checksum: &Bound<'py, PyAny>,
) -> PyResult<Exact<'py>> {
    let ck = checksum_pickle(checksum)?;
    let Some(payload) = format::split_entry(entry, magic(py)?, &ck) else {
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
    let header = format::encode_header(magic(checksum.py())?, &ck);
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
    match bytes_like(data) {
        Some(data) => decode(py, &data, checksum),
        None => Err(PyTypeError::new_err(format!(
            "a bytes-like object is required, not '{}'",
            data.get_type().name()?
        ))),
    }
}

/// The bytes of a bytes-like object other than `bytes` (bytearray, memoryview...), or None.
fn bytes_like(data: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    PyBuffer::<u8>::get(data).ok()?.to_vec(data.py()).ok()
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

//! Sealed entries at the Python edge: a trailer verified (integrity digest, or signature with
//! a secret) before anything is unmarshalled, refusals logged with the entry's place, and
//! code sealed for writing. The trailers themselves are the core's `seal`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::codec::{decode, decode_exact, encode, Exact};
use jinja_bccache_core::seal;

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

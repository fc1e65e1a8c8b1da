//! Sealed entries at the Python edge: code framed and sealed for writing, and an entry's
//! trailer verified (integrity digest, or signature with a secret) before anything is
//! unmarshalled. What a store trusts and the trailers themselves are the core's `seal`.

use pyo3::prelude::*;

use super::codec::{decode, decode_exact, encode, Exact};
use jinja_bccache_core::seal;
pub use jinja_bccache_core::seal::Trust;

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

/// Frame `code` and seal it into an entry for `key`.
pub fn encode_sealed(
    trust: &Trust,
    checksum: &Bound<'_, PyAny>,
    code: &Bound<'_, PyAny>,
    key: &str,
) -> PyResult<Vec<u8>> {
    Ok(trust.seal(encode(checksum, code)?, key))
}

/// A sealed entry's code: the trailer is verified (integrity digest, or signature when a
/// secret is set) before anything is unmarshalled. A refused entry is logged with `place`
/// (a path or memcached key) so an operator can find it; the recompiled entry then
/// replaces it.
pub fn open_and_classify<'py>(
    trust: &Trust,
    py: Python<'py>,
    entry: &[u8],
    key: &str,
    checksum: &Bound<'py, PyAny>,
    place: &dyn std::fmt::Display,
) -> PyResult<Outcome<'py>> {
    let code = match trust.open_logged(entry, key, place) {
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

//! Sealed entries at the Python edge: a trailer verified (integrity digest, or signature with
//! a secret) before anything is unmarshalled, refusals logged with the entry's place, and
//! code sealed for writing. The trailers themselves are the core's `seal`.

use pyo3::prelude::*;

use super::codec::{decode, decode_exact, encode, Exact};
use super::memory::{self, Scope};
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

/// What a store trusts and how it seals: its secret (entries must carry a valid signature
/// under it) and whether entries without a trailer (stock Jinja's, acceptable only while the
/// store shares Jinja's keys) are read. Built once per store from the cache's settings.
pub struct Trust {
    pub secret: Option<Vec<u8>>,
    pub accept_plain: bool,
}

impl Trust {
    /// The scope of this store in the in-process layer: `memory::scope_of` with what this
    /// store trusts, which decides its answers as much as its location does.
    pub fn scope(&self, kind: &str, description: &[&[u8]]) -> Scope {
        memory::scope_of(kind, description, self.secret.as_deref(), self.accept_plain)
    }

    /// The trailer that seals an entry made of `parts` for `key`.
    pub fn trailer(&self, parts: &[&[u8]], key: &str) -> Vec<u8> {
        seal::trailer(parts, key, self.secret.as_deref())
    }

    /// `entry` with the trailer that seals it for `key` appended.
    pub fn seal(&self, entry: Vec<u8>, key: &str) -> Vec<u8> {
        seal::seal(entry, key, self.secret.as_deref())
    }

    /// Frame and seal `code` into an entry for `key`.
    pub fn encode_sealed(
        &self,
        checksum: &Bound<'_, PyAny>,
        code: &Bound<'_, PyAny>,
        key: &str,
    ) -> PyResult<Vec<u8>> {
        Ok(self.seal(encode(checksum, code)?, key))
    }

    /// `seal::open`, logging a refusal with `place` (a path or memcached key).
    pub fn open_logged<'a>(
        &self,
        entry: &'a [u8],
        key: &str,
        place: &dyn std::fmt::Display,
    ) -> Option<seal::Opened<'a>> {
        seal::open(entry, key, self.secret.as_deref(), self.accept_plain)
            .map_err(|rejected| {
                log::warn!(
                    "refusing cache entry {place}: {}; recompiling",
                    rejected.reason()
                )
            })
            .ok()
    }

    /// A sealed entry's code: the trailer is verified (integrity digest, or signature when a
    /// secret is set) before anything is unmarshalled. A refused entry is logged with `place`
    /// (a path or memcached key) so an operator can find it; the recompiled entry then
    /// replaces it.
    pub fn open_and_classify<'py>(
        &self,
        py: Python<'py>,
        entry: &[u8],
        key: &str,
        checksum: &Bound<'py, PyAny>,
        place: &dyn std::fmt::Display,
    ) -> PyResult<Outcome<'py>> {
        let code = match self.open_logged(entry, key, place) {
            Some(seal::Opened::Sealed(body)) => decode(py, body, checksum)?,
            Some(seal::Opened::Plain(body)) => match decode_exact(py, body, checksum)? {
                Exact::Code(code) => Some(code),
                Exact::Mismatch => None,
                Exact::Trailing => {
                    log::warn!("refusing cache entry {place}: bytes after its payload (a damaged trailer?)");
                    return Ok(Outcome::Rejected);
                }
            },
            None => return Ok(Outcome::Rejected),
        };
        Ok(code.map_or(Outcome::Miss, Outcome::Hit))
    }
}

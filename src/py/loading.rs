//! The load path every backend shares: the in-process layer first, then the backend's bytes
//! verified and unmarshalled, each outcome counted, and a hit remembered in memory.

use pyo3::prelude::*;

use super::counters::Counters;
use super::entry::{open_and_classify, Outcome};
use super::memory;

/// `load_counted(entry, key, checksum, secret, accept_plain, place, counters)`, for backends
/// spoken to from Python: the in-process layer when `entry` is None and `memory_first`, else
/// the entry (None: the backend had nothing) verified, unmarshalled, counted and remembered.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn load_counted<'py>(
    py: Python<'py>,
    entry: Option<&[u8]>,
    key: &str,
    checksum: &Bound<'py, PyAny>,
    secret: Option<&[u8]>,
    accept_plain: bool,
    place: &str,
    counters: &Bound<'py, Counters>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let request = Request {
        key,
        checksum,
        secret,
        accept_plain,
        counters: counters.get(),
    };
    request.decode_entry(py, entry, &place)
}

/// `memory_lookup(key, checksum, counters)`: the code the in-process layer holds, counted as
/// a hit, or None (nothing counted: the backend is asked next).
#[pyfunction]
pub fn memory_lookup<'py>(
    py: Python<'py>,
    key: &str,
    checksum: &Bound<'py, PyAny>,
    counters: &Bound<'py, Counters>,
) -> Option<Bound<'py, PyAny>> {
    let request = Request {
        key,
        checksum,
        secret: None,
        accept_plain: false,
        counters: counters.get(),
    };
    request.in_memory(py)
}

/// What a backend needs to turn its bytes into code for one bucket.
pub struct Request<'a, 'py> {
    pub key: &'a str,
    pub checksum: &'a Bound<'py, PyAny>,
    pub secret: Option<&'a [u8]>,
    pub accept_plain: bool,
    pub counters: &'a Counters,
}

impl<'py> Request<'_, 'py> {
    fn checksum_text(&self) -> Option<&str> {
        memory::checksum_text(self.checksum)
    }

    /// The code held in the in-process layer, counted as a hit.
    pub fn in_memory(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        let code = memory::get(py, self.key, self.checksum_text()?)?;
        Counters::bump(&self.counters.hits, 1);
        Counters::bump(&self.counters.memory_hits, 1);
        Some(code)
    }

    /// The backend had nothing (`None`), or had `entry`: verify, unmarshal, count, remember.
    pub fn decode_entry(
        &self,
        py: Python<'py>,
        entry: Option<&[u8]>,
        place: &dyn std::fmt::Display,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let counters = self.counters;
        let Some(entry) = entry else {
            Counters::bump(&counters.misses, 1);
            return Ok(None);
        };
        Counters::bump(&counters.bytes_read, entry.len() as u64);
        let outcome = open_and_classify(
            py,
            entry,
            self.key,
            self.checksum,
            self.secret,
            self.accept_plain,
            place,
        )?;
        match &outcome {
            Outcome::Hit(code) => {
                Counters::bump(&counters.hits, 1);
                if let Some(text) = self.checksum_text() {
                    memory::put(code, self.key, text, entry.len());
                }
            }
            Outcome::Miss => Counters::bump(&counters.misses, 1),
            Outcome::Rejected => {
                Counters::bump(&counters.rejected, 1);
                Counters::bump(&counters.misses, 1);
            }
        }
        Ok(outcome.code())
    }

    /// A code just written (`weight` bytes): the writer's process loads it next from memory,
    /// like the others. Counting the write is the backend's, which knows whether it succeeded.
    pub fn remember(&self, code: &Bound<'py, PyAny>, weight: usize) {
        if let Some(text) = self.checksum_text() {
            memory::put(code, self.key, text, weight);
        }
    }
}

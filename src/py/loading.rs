//! The load path every backend shares: the in-process layer first (only within the store's
//! scope, and only while the store's check holds), then the backend's bytes verified and
//! unmarshalled, each outcome counted, and a hit remembered in the layer.

use std::borrow::Cow;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::args::{key_of, utf8};
use super::counters::Counters;
use super::layer::{self, Check, Scope};
use super::memo::settled;
use super::sealing::{open_and_classify, Outcome, Trust};
use jinja_bccache_core::keys;

/// What a store's `get` (the whole hit path of `get_bucket`) answers: key, checksum, code
/// (or None), and whether the code is settled.
pub type Found<'py> = (
    String,
    Bound<'py, PyString>,
    Option<Bound<'py, PyAny>>,
    bool,
);

/// A template's bucket key (Jinja's, or Jinja's combined with the Environment's `isolation`
/// suffix) and its source checksum, as one Python str: the lookup's and the bucket's. The
/// checksum is `known` when the caller computed it from this very source already (a
/// template from a string is named by it), else computed here.
pub fn locate<'py>(
    py: Python<'py>,
    name: &Bound<'py, PyAny>,
    filename: &Bound<'py, PyAny>,
    source: &Bound<'py, PyAny>,
    isolation: Option<&str>,
    known: Option<Bound<'py, PyString>>,
) -> PyResult<(String, Bound<'py, PyString>)> {
    let mut key = key_of(name, filename)?;
    if let Some(suffix) = isolation {
        // the same as cache_key(key, suffix) in the generic get_bucket
        key = keys::cache_key(key.as_bytes(), Some(suffix.as_bytes()));
    }
    if let Some(checksum) = known {
        return Ok((key, checksum));
    }
    let checksum = keys::source_checksum(utf8(source, "source")?.as_bytes());
    Ok((key, PyString::new(py, &checksum)))
}

/// A store's answer to `get`: whether the code carries a folding record that `verdicts` (the
/// Environment's, by record) answered as recorded (see [`settled`]).
pub fn found<'py>(
    key: String,
    checksum: Bound<'py, PyString>,
    code: Option<Bound<'py, PyAny>>,
    verdicts: Option<&Bound<'py, PyDict>>,
) -> Found<'py> {
    let settled = match (&code, verdicts) {
        (Some(code), Some(verdicts)) => settled(code, verdicts),
        _ => false,
    };
    (key, checksum, code, settled)
}

/// The lookup of one bucket: what a backend needs to turn its bytes into code for it.
pub struct Lookup<'a, 'py> {
    pub key: &'a str,
    pub checksum: &'a Bound<'py, PyAny>,
    pub trust: &'a Trust,
    pub counters: &'a Counters,
    /// The store's scope in the in-process layer; `None` keeps this load out of it.
    pub scope: Option<Scope>,
}

impl<'py> Lookup<'_, 'py> {
    fn layer_key(&self) -> Option<(Scope, Cow<'_, str>)> {
        Some((self.scope?, layer::checksum_text(self.checksum)?))
    }

    /// The code the in-process layer holds, and what must still hold for it to answer.
    pub fn cached(&self, py: Python<'py>) -> Option<(Bound<'py, PyAny>, Check)> {
        let (scope, text) = self.layer_key()?;
        layer::get(py, scope, self.key, &text)
    }

    /// The layer's code answers: count it; `now` is the entry's check from now on.
    pub fn served_from_layer(&self, before: Check, now: Check) {
        if now != before {
            if let Some((scope, text)) = self.layer_key() {
                layer::recheck(scope, self.key, &text, now);
            }
        }
        Counters::bump(&self.counters.hits, 1);
        Counters::bump(&self.counters.memory_hits, 1);
    }

    /// The layer's entry no longer matches the store: drop it, the store answers.
    pub fn forget(&self) {
        if let Some((scope, text)) = self.layer_key() {
            layer::forget(scope, self.key, &text);
        }
    }

    /// `cached`, if `still_valid` confirms the store would give the same answer now (it
    /// returns the entry's check from now on); otherwise the entry is dropped.
    pub fn in_layer(
        &self,
        py: Python<'py>,
        still_valid: impl FnOnce(&Check) -> Option<Check>,
    ) -> Option<Bound<'py, PyAny>> {
        let (code, check) = self.cached(py)?;
        match still_valid(&check) {
            Some(now) => {
                self.served_from_layer(check, now);
                Some(code)
            }
            None => {
                self.forget();
                None
            }
        }
    }

    /// The backend had nothing (`None`), or had an entry, with what must hold for the layer
    /// to answer for it later (`None`: nothing can prove it, so it is not remembered):
    /// verify, unmarshal, count, remember.
    pub fn decode_entry(
        &self,
        py: Python<'py>,
        entry: Option<(&[u8], Option<Check>)>,
        place: &dyn std::fmt::Display,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let counters = self.counters;
        let Some((entry, check)) = entry else {
            Counters::bump(&counters.misses, 1);
            return Ok(None);
        };
        Counters::bump(&counters.bytes_read, entry.len() as u64);
        let outcome = open_and_classify(self.trust, py, entry, self.key, self.checksum, place)?;
        match &outcome {
            Outcome::Hit(code) => {
                Counters::bump(&counters.hits, 1);
                if let Some(check) = check {
                    self.remember(code, entry.len(), check);
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

    /// Code the store now holds (`weight` bytes, loaded or just written): the process loads
    /// it next from the layer while `check` holds. Counting a write is the backend's, which
    /// knows whether it succeeded.
    pub fn remember(&self, code: &Bound<'py, PyAny>, weight: usize, check: Check) {
        if let Some((scope, text)) = self.layer_key() {
            layer::put(scope, code, self.key, &text, weight, check);
        }
    }
}

/// For a bucket whose class reads its own entry: the entry's verified body (None: nothing
/// there, or refused) is handed to `give`, which calls the bucket's own method, and the load
/// is counted by what that left in the bucket. `place` names the entry in the log.
pub fn hand_on<'py>(
    py: Python<'py>,
    trust: &Trust,
    counters: &Counters,
    bucket: &Bound<'py, PyAny>,
    entry: Option<&[u8]>,
    place: &dyn std::fmt::Display,
    give: impl FnOnce(Option<Bound<'py, PyBytes>>) -> PyResult<()>,
) -> PyResult<()> {
    let key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
    let body = entry.and_then(|entry| {
        Counters::bump(&counters.bytes_read, entry.len() as u64);
        let opened = trust.open_logged(entry, &key, place);
        if opened.is_none() {
            Counters::bump(&counters.rejected, 1);
        }
        opened.map(|opened| PyBytes::new(py, opened.body()))
    });
    give(body)?;
    counters.loaded(!bucket.getattr(intern!(py, "code"))?.is_none());
    Ok(())
}

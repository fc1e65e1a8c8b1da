//! `McStore`: the native side of one `MemcachedBytecodeCache` configuration (scope in the
//! in-process layer, secret, stock-entry acceptance, error policy, timeouts, counters), built
//! by the cache whenever one of its settings changes, and used with the native client and
//! with Python clients alike.

use std::time::{Duration, Instant};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::counters::Counters;
use super::entry::encode_sealed;
use super::loading::Request;
use super::memcached_client::{cache_key, MemcachedClientPy};
use super::memory::{self, secret_digest, Check, Scope};
use crate::memcached::Stored;

#[pyclass(frozen, module = "jinja_bccache._native")]
pub struct McStore {
    /// `None`: the in-process layer is not used (errors must surface, or the client's
    /// retention cannot be known).
    scope: Option<Scope>,
    secret: Option<Vec<u8>>,
    /// Entries without a trailer (stock Jinja's) are accepted: Jinja-compatible keys only.
    accept_plain: bool,
    raise_errors: bool,
    /// What the native client sends as the entry's TTL (0: none).
    ttl: u64,
    /// How long after a load or write the layer may answer for an entry (`None`: no limit).
    lifetime: Option<Duration>,
    counters: Py<Counters>,
}

impl McStore {
    fn request<'a, 'py>(
        &'a self,
        bucket_key: &'a str,
        checksum: &'a Bound<'py, PyAny>,
    ) -> Request<'a, 'py> {
        Request {
            key: bucket_key,
            checksum,
            secret: self.secret.as_deref(),
            accept_plain: self.accept_plain,
            counters: self.counters.get(),
            scope: self.scope,
        }
    }

    fn until(&self) -> Check {
        Check::Until(self.lifetime.and_then(|d| Instant::now().checked_add(d)))
    }
}

/// A layer entry of this store answers until its deadline.
fn not_expired(check: &Check) -> Option<Check> {
    match check {
        Check::Until(None) => Some(*check),
        Check::Until(Some(deadline)) if Instant::now() < *deadline => Some(*check),
        _ => None,
    }
}

#[pymethods]
impl McStore {
    /// `scope`: a description of the store (servers or client identity, and prefix), or None
    /// to keep this cache out of the in-process layer.
    #[new]
    #[pyo3(signature = (scope, secret, accept_plain, raise_errors, ttl, lifetime, counters))]
    #[allow(clippy::too_many_arguments)] // built once per settings change, from keywords
    fn new(
        scope: Option<&str>,
        secret: Option<Vec<u8>>,
        accept_plain: bool,
        raise_errors: bool,
        ttl: u64,
        lifetime: Option<f64>,
        counters: Py<Counters>,
    ) -> Self {
        let scope = scope.map(|description| {
            memory::scope_of(&[
                b"memcached",
                description.as_bytes(),
                &secret_digest(secret.as_deref()),
                &[u8::from(accept_plain)],
            ])
        });
        McStore {
            scope,
            secret,
            accept_plain,
            raise_errors,
            ttl,
            lifetime: lifetime.and_then(|s| Duration::try_from_secs_f64(s).ok()),
            counters,
        }
    }

    /// `load_bytecode` with the native client: the layer, else fetch with the GIL released,
    /// verify and unmarshal. Returns `(answered, code)`; `answered` is False after a failure
    /// that was swallowed, so the caller can leave the bucket alone.
    fn load_native<'py>(
        &self,
        py: Python<'py>,
        client: &Bound<'py, MemcachedClientPy>,
        key: &str,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
    ) -> PyResult<(bool, Option<Bound<'py, PyAny>>)> {
        let Some(key) = cache_key(key, self.raise_errors)? else {
            return Ok((false, None));
        };
        let request = self.request(bucket_key, checksum);
        if let Some(code) = request.in_memory(py, not_expired) {
            return Ok((true, Some(code)));
        }
        let client = client.get();
        match py.detach(|| client.inner.get(key)) {
            Ok(entry) => {
                let entry = entry.as_deref().map(|entry| (entry, self.until()));
                Ok((true, request.decode_entry(py, entry, &key)?))
            }
            Err(failure) => {
                Counters::bump(&request.counters.errors, 1);
                Counters::bump(&request.counters.misses, 1);
                if self.raise_errors {
                    return Err(failure.into());
                }
                Ok((false, None))
            }
        }
    }

    /// `dump_bytecode` of `bucket` (its key, checksum and code) with the native client: frame and seal with the GIL held, store with
    /// it released; remembered in memory once the server has it.
    fn dump_native(
        &self,
        py: Python<'_>,
        client: &Bound<'_, MemcachedClientPy>,
        key: &str,
        bucket: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let bucket_key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
        let bucket_key = bucket_key.as_str();
        let checksum = &bucket.getattr(intern!(py, "checksum"))?;
        let code = &bucket.getattr(intern!(py, "code"))?;
        let Some(key) = cache_key(key, self.raise_errors)? else {
            return Ok(());
        };
        let entry = encode_sealed(checksum, code, bucket_key, self.secret.as_deref())?;
        let request = self.request(bucket_key, checksum);
        let client = client.get();
        match py.detach(|| client.inner.set(key, &entry, self.ttl)) {
            Ok(stored) => {
                Counters::bump(&request.counters.writes, 1);
                Counters::bump(&request.counters.bytes_written, entry.len() as u64);
                if stored == Stored::Yes {
                    request.remember(code, entry.len(), self.until());
                }
                Ok(())
            }
            Err(failure) => {
                Counters::bump(&request.counters.errors, 1);
                if self.raise_errors {
                    return Err(failure.into());
                }
                Ok(())
            }
        }
    }

    /// For Python clients: the code the layer holds for this bucket (counted), or None.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
    ) -> Option<Bound<'py, PyAny>> {
        self.request(bucket_key, checksum)
            .in_memory(py, not_expired)
    }

    /// For Python clients: the client's value (None: it had nothing) verified, unmarshalled,
    /// counted and remembered. `place` (the memcached key) names the entry in logs.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        value: Option<&[u8]>,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
        place: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let entry = value.map(|value| (value, self.until()));
        self.request(bucket_key, checksum)
            .decode_entry(py, entry, &place)
    }

    /// For Python clients: the sealed entry to send.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
        code: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let entry = encode_sealed(checksum, code, bucket_key, self.secret.as_deref())?;
        Ok(PyBytes::new(py, &entry))
    }

    /// For Python clients: the client stored `code` (`weight` bytes): count the write and
    /// remember the code.
    fn stored(
        &self,
        bucket_key: &str,
        checksum: &Bound<'_, PyAny>,
        code: &Bound<'_, PyAny>,
        weight: usize,
    ) {
        let request = self.request(bucket_key, checksum);
        Counters::bump(&request.counters.writes, 1);
        Counters::bump(&request.counters.bytes_written, weight as u64);
        request.remember(code, weight, self.until());
    }
}

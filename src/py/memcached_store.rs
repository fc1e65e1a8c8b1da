//! `McStore`: the native side of one `MemcachedBytecodeCache` configuration (scope in the
//! in-process layer, secret, stock-entry acceptance, error policy, TTL, counters), built by
//! the cache whenever one of its settings changes, and used with the native client and with
//! Python clients alike.
//!
//! With the native client, a template the process already unmarshalled costs one small
//! request: the item's CAS, without its value. The layer answers only while the server holds
//! the very item the code came from; anything else (evicted, flushed, replaced, expired, the
//! server down) is the server's own answer. Python clients have only `get` and `set`, which
//! cannot tell that an item is unchanged, so they never use the layer.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::counters::Counters;
use super::loading::Request;
use super::memcached_client::{cache_key, MemcachedClientPy};
use super::memory::{Check, Scope};
use super::sealing::Trust;
use crate::error::raise_failure;
use jinja_bccache_core::memcached::{Failure, Stored};
use jinja_bccache_core::ratelimit::RateLimit;

#[pyclass(frozen, module = "jinja_bccache._native")]
pub struct McStore {
    /// `None`: the in-process layer is not used (a Python client).
    scope: Option<Scope>,
    trust: Trust,
    raise_errors: bool,
    /// What the native client sends as the entry's TTL (0: none).
    ttl: u64,
    counters: Py<Counters>,
    /// Swallowed failures of Python clients, logged at most once per interval per operation.
    get_log: RateLimit,
    set_log: RateLimit,
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
            trust: &self.trust,
            counters: self.counters.get(),
            scope: self.scope,
        }
    }

    /// A failed request: counted, then raised or swallowed (`Ok(None)`: not answered).
    fn failed<T>(&self, failure: Failure, miss: bool) -> PyResult<Option<T>> {
        let counters = self.counters.get();
        Counters::bump(&counters.errors, 1);
        if miss {
            Counters::bump(&counters.misses, 1);
        }
        if self.raise_errors {
            return Err(raise_failure(failure));
        }
        Ok(None)
    }
}

/// A `McStore`'s settings, read from the dict the cache builds from its attributes.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Settings {
    scope: Option<String>,
    secret: Option<Vec<u8>>,
    accept_plain: bool,
    raise_errors: bool,
    ttl: u64,
}

#[pymethods]
impl McStore {
    /// `settings`: `scope`, a description of the store (the native client's servers and the
    /// prefix), or None to keep this cache out of the in-process layer; `secret`;
    /// `accept_plain` (whether entries without a trailer, stock Jinja's, are read);
    /// `raise_errors`; `ttl`, what the native client sends (0: none). `counters` outlive the
    /// store, as with `FsStore`.
    #[new]
    fn new(settings: Settings, counters: Py<Counters>) -> Self {
        let Settings {
            scope,
            secret,
            accept_plain,
            raise_errors,
            ttl,
        } = settings;
        let trust = Trust {
            secret,
            accept_plain,
        };
        let scope = scope.map(|description| trust.scope("memcached", &[description.as_bytes()]));
        McStore {
            scope,
            trust,
            raise_errors,
            ttl,
            counters,
            get_log: RateLimit::default(),
            set_log: RateLimit::default(),
        }
    }

    /// `load_bytecode` with the native client: the layer while the server holds the same
    /// item, else fetch with the GIL released, verify and unmarshal. Returns
    /// `(answered, code)`; `answered` is False after a failure that was swallowed, so the
    /// caller can leave the bucket alone.
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
        let client = client.get();
        if let Some((code, Check::Item(loaded))) = request.cached(py) {
            match py.detach(|| client.inner.version(key)) {
                Ok(Some(now)) if now == loaded => {
                    request.served_from_memory(Check::Item(loaded), Check::Item(now));
                    return Ok((true, Some(code)));
                }
                Ok(None) => {
                    // gone (evicted, expired, flushed): that is the server's answer
                    request.forget();
                    return Ok((true, request.decode_entry(py, None, &key)?));
                }
                Ok(Some(_)) => request.forget(), // replaced: read what the server holds now
                Err(failure) => return Ok((false, self.failed(failure, true)?)),
            }
        }
        match py.detach(|| client.inner.get_versioned(key)) {
            Ok(found) => {
                // the layer keeps code only from items whose version it can ask for again
                let entry = found
                    .as_ref()
                    .map(|(value, version)| (&value[..], version.map(Check::Item)));
                Ok((true, request.decode_entry(py, entry, &key)?))
            }
            Err(failure) => Ok((false, self.failed(failure, true)?)),
        }
    }

    /// `dump_bytecode` of `bucket` (its key, checksum and code) with the native client: frame
    /// and seal with the GIL held, store with it released; remembered in memory, with the
    /// item's version, once the server has it.
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
        let entry = self.trust.encode_sealed(checksum, code, bucket_key)?;
        let request = self.request(bucket_key, checksum);
        let client = client.get();
        match py.detach(|| client.inner.set_versioned(key, &entry, self.ttl)) {
            // refused by the client (over max_value_size) or declined: nothing was stored
            Ok((Stored::TooLarge | Stored::No, _)) => Ok(()),
            Ok((Stored::Yes, version)) => {
                Counters::bump(&request.counters.writes, 1);
                Counters::bump(&request.counters.bytes_written, entry.len() as u64);
                if let Some(version) = version {
                    request.remember(code, entry.len(), Check::Item(version));
                }
                Ok(())
            }
            Err(failure) => self.failed::<()>(failure, false).map(|_| ()),
        }
    }

    /// For Python clients: the client's value (None: it had nothing) verified, unmarshalled
    /// and counted. `place` (the memcached key) names the entry in logs.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        value: Option<&[u8]>,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
        place: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.request(bucket_key, checksum).decode_entry(
            py,
            value.map(|value| (value, None)),
            &place,
        )
    }

    /// For Python clients: the sealed entry to send.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
        code: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let entry = self.trust.encode_sealed(checksum, code, bucket_key)?;
        Ok(PyBytes::new(py, &entry))
    }

    /// For buckets whose subclass frames its own entry: `entry` sealed for `bucket_key`.
    fn seal<'py>(&self, py: Python<'py>, entry: &[u8], bucket_key: &str) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.trust.seal(entry.to_vec(), bucket_key))
    }

    /// For buckets whose subclass reads its own entry: the verified body of `value` (without
    /// its trailer), or None (refusal logged with `place`, the memcached key).
    fn unseal<'py>(
        &self,
        py: Python<'py>,
        value: &[u8],
        bucket_key: &str,
        place: &str,
    ) -> Option<Bound<'py, PyBytes>> {
        let opened = self.trust.open_logged(value, bucket_key, &place);
        opened.map(|opened| PyBytes::new(py, opened.body()))
    }

    /// For Python clients: a failure of `operation` ("get" or "set") on `key` that the cache
    /// swallows, logged on `jinja_bccache.memcached`, rate-limited, so a dead server does not
    /// write one line per render.
    fn swallowed(&self, operation: &str, key: &str, error: &str) {
        let limit = if operation == "set" {
            &self.set_log
        } else {
            &self.get_log
        };
        if limit.allow() {
            log::warn!(
                target: "jinja_bccache::memcached",
                "memcached {operation} of {key:?} failed, ignored: {error}"
            );
        }
    }

    /// For Python clients: the client stored `weight` bytes.
    fn stored(&self, weight: usize) {
        let counters = self.counters.get();
        Counters::bump(&counters.writes, 1);
        Counters::bump(&counters.bytes_written, weight as u64);
    }
}

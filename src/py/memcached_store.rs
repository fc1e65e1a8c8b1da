//! `McStore`: the native side of one `MemcachedBytecodeCache` configuration (scope in the
//! in-process layer, secret, stock-entry acceptance, error policy, TTL, counters), built by
//! the cache whenever one of its settings changes. It drives any client: the native one with
//! the GIL released, a Python client (`get`/`set`: pymemcache, redis-py, Django's caches)
//! by calling it with the GIL held. Either way it counts, swallows or raises, logs and seals.
//!
//! With the native client, a template the process already unmarshalled costs one small
//! request: the item's version, without its value. The layer answers only while the server
//! holds the very item the code came from; anything else (evicted, flushed, replaced,
//! expired, restarted, the server down) is the server's own answer. Python clients have only
//! `get` and `set`, which cannot tell that an item is unchanged, so they never use the layer.

use std::sync::Arc;

use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyMemoryView, PyString};

use super::counters::{self, Counters};
use super::layer::{self, Check, Scope};
use super::loading::{found, hand_on, locate, Found, Lookup};
use super::memcached_client::{cache_key, check_prefix, ttl, MemcachedClientPy};
use super::sealing::{encode_sealed, Trust};
use crate::error::raise_failure;
use jinja_bccache_core::memcached::{Failure, Held, Stored, Versioned};
use jinja_bccache_core::ratelimit::RateLimit;

#[pyclass(frozen, name = "McStore", module = "jinja_bccache._native")]
pub struct McStorePy {
    /// `None`: the in-process layer is not used (a Python client).
    scope: Option<Scope>,
    trust: Trust,
    raise_errors: bool,
    /// What the native client sends as the entry's TTL (0: none).
    ttl: u64,
    counters: Arc<Counters>,
    /// Swallowed failures of Python clients, logged at most once per interval per operation.
    get_log: RateLimit,
    set_log: RateLimit,
}

/// The client a cache was given.
enum Client<'a, 'py> {
    Native(&'a MemcachedClientPy),
    Python(&'a Bound<'py, PyAny>),
}

fn client_of<'a, 'py>(client: &'a Bound<'py, PyAny>) -> Client<'a, 'py> {
    match client.cast::<MemcachedClientPy>() {
        Ok(native) => Client::Native(native.get()),
        Err(_) => Client::Python(client),
    }
}

/// An entry's bytes as a client answered them: borrowed from Python's `bytes` when it can be.
enum Value<'py> {
    Owned(Vec<u8>),
    Python(Bound<'py, PyBytes>),
}

impl Value<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Value::Owned(bytes) => bytes,
            Value::Python(bytes) => bytes.as_bytes(),
        }
    }
}

/// What a fetch came to: `None` after a failure that was swallowed (the caller leaves the
/// bucket alone), else the value (None: the store had nothing) and what proves it unchanged.
type Fetched<'py> = Option<Option<(Value<'py>, Option<Check>)>>;

impl McStorePy {
    fn lookup<'a, 'py>(
        &'a self,
        bucket_key: &'a str,
        checksum: &'a Bound<'py, PyAny>,
    ) -> Lookup<'a, 'py> {
        Lookup {
            key: bucket_key,
            checksum,
            trust: &self.trust,
            counters: &self.counters,
            scope: self.scope,
        }
    }

    /// Whether requests ask for versions: only while the layer can keep what they prove.
    fn versioned(&self) -> bool {
        self.scope.is_some() && layer::enabled()
    }

    /// A failure: counted, then raised or swallowed (`Ok(None)`: not answered). A Python
    /// client's own exception is what propagates, as with Jinja; anything but an `Exception`
    /// (KeyboardInterrupt) always does.
    fn failed<T>(&self, py: Python<'_>, failure: Failed, miss: bool) -> PyResult<Option<T>> {
        if let Failed::Python(error, _, _) = &failure {
            if !error.is_instance_of::<PyException>(py) {
                return Err(failure.into_error());
            }
        }
        Counters::bump(&self.counters.errors, 1);
        if miss {
            Counters::bump(&self.counters.misses, 1);
        }
        if self.raise_errors {
            return Err(failure.into_error());
        }
        if let Failed::Python(error, operation, key) = &failure {
            self.swallowed(operation, key, &error.value(py).repr()?.to_cow()?);
        }
        Ok(None)
    }

    /// A swallowed failure of a Python client, logged on `jinja_bccache.memcached`,
    /// rate-limited, so a dead server does not write one line per render.
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

    /// The value under `key`, from either client; with the native client and `lookup`, the
    /// layer answers first (`Err(code)`) while the server holds the item its code came from.
    fn fetch<'py>(
        &self,
        py: Python<'py>,
        client: &Client<'_, 'py>,
        key: &str,
        lookup: Option<&Lookup<'_, 'py>>,
    ) -> PyResult<Result<Fetched<'py>, Bound<'py, PyAny>>> {
        let client = match client {
            Client::Python(client) => return Ok(Ok(self.python_get(py, client, key)?)),
            Client::Native(client) => client,
        };
        let Some(key) = cache_key(key, self.raise_errors)? else {
            return Ok(Ok(None));
        };
        // versions only for a lookup the layer may answer later: not for a bucket's own body
        let versioned = lookup.is_some() && self.versioned();
        if let (Some(lookup), true) = (lookup, versioned) {
            if let Some((code, Check::Item(loaded))) = lookup.cached(py) {
                match py.detach(|| client.inner.version(key)) {
                    Ok(Held::Version(now)) if now == loaded => {
                        lookup.served_from_layer(Check::Item(loaded), Check::Item(now));
                        return Ok(Err(code));
                    }
                    Ok(Held::Nothing) => {
                        // gone (evicted, expired, flushed): that is the server's answer
                        lookup.forget();
                        return Ok(Ok(Some(None)));
                    }
                    // replaced, or nothing proves it unchanged: read what the server holds now
                    Ok(Held::Version(_) | Held::Unproven) => lookup.forget(),
                    Err(failure) => return Ok(Ok(self.failed(py, failure.into(), true)?)),
                }
            }
        }
        // without the layer, versions are not needed: a plain get, one request
        let fetched = py.detach(|| match versioned {
            true => client.inner.get_versioned(key),
            false => Ok(client.inner.get(key)?.map(|value| (value, None))),
        });
        match fetched {
            Ok(found) => Ok(Ok(Some(found.map(|(value, version): Versioned| {
                (Value::Owned(value), version.map(Check::Item))
            })))),
            Err(failure) => Ok(Ok(self.failed(py, failure.into(), true)?)),
        }
    }

    fn python_get<'py>(
        &self,
        py: Python<'py>,
        client: &Bound<'py, PyAny>,
        key: &str,
    ) -> PyResult<Fetched<'py>> {
        let value = match client.call_method1(intern!(py, "get"), (key,)) {
            Ok(value) => value,
            Err(error) => return self.failed(py, Failed::Python(error, "get", key.into()), true),
        };
        if value.is_none() {
            return Ok(Some(None));
        }
        let value = match value.cast_into::<PyBytes>() {
            Ok(bytes) => Value::Python(bytes),
            Err(other) => {
                let other = other.into_inner();
                if other.is_instance_of::<PyByteArray>() || other.is_instance_of::<PyMemoryView>() {
                    let bytes = py.get_type::<PyBytes>().call1((other,))?;
                    Value::Python(bytes.cast_into::<PyBytes>()?)
                } else {
                    // A client that decodes values to str cannot hold bytecode: a miss.
                    let kind = other.get_type().name()?;
                    self.swallowed("get", key, &format!("the client returned {kind}"));
                    return Ok(Some(None));
                }
            }
        };
        Ok(Some(Some((value, None))))
    }

    /// The code stored under `key` (the memcached key) for `bucket_key` and `checksum`, and
    /// whether the store answered (False after a failure that was swallowed).
    fn load_code<'py>(
        &self,
        py: Python<'py>,
        client: &Bound<'py, PyAny>,
        key: &str,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
    ) -> PyResult<(bool, Option<Bound<'py, PyAny>>)> {
        let lookup = self.lookup(bucket_key, checksum);
        let fetched = match self.fetch(py, &client_of(client), key, Some(&lookup))? {
            Err(code) => return Ok((true, Some(code))),
            Ok(fetched) => fetched,
        };
        let Some(found) = fetched else {
            return Ok((false, None));
        };
        let entry = found.as_ref().map(|(value, check)| (value.bytes(), *check));
        Ok((true, lookup.decode_entry(py, entry, &key)?))
    }

    /// Store `entry` (sealed) under `key` for `bucket`; `remember` (None: nothing to
    /// remember, so no version is asked for) puts the code in the layer once the server holds
    /// it. `timeout` is the cache's, handed to Python clients as Jinja does.
    #[allow(clippy::too_many_arguments)] // dump_bytecode's arguments, and the layer's part
    fn put<'py>(
        &self,
        py: Python<'py>,
        client: &Bound<'py, PyAny>,
        key: &str,
        bucket: &Bound<'py, PyAny>,
        entry: &[u8],
        timeout: &Bound<'py, PyAny>,
        remember: Option<&dyn Fn(Check)>,
    ) -> PyResult<()> {
        let local = counters::is_local(bucket)?;
        let stored = || self.counters.stored(entry.len(), local);
        let client = match client_of(client) {
            Client::Native(client) => client,
            Client::Python(client) => {
                let value = PyBytes::new(py, entry);
                let answer = if timeout.is_none() {
                    client.call_method1(intern!(py, "set"), (key, value))
                } else {
                    client.call_method1(intern!(py, "set"), (key, value, timeout))
                };
                match answer {
                    // Clients that say (pymemcache, redis-py, the native one) answer False
                    // for a value they did not store; Django's caches answer None.
                    Ok(answer) if answer.is(&*PyBool::new(py, false)) => {}
                    Ok(_) => stored(),
                    Err(error) => {
                        self.failed::<()>(py, Failed::Python(error, "set", key.into()), false)?;
                    }
                }
                return Ok(());
            }
        };
        let Some(key) = cache_key(key, self.raise_errors)? else {
            return Ok(());
        };
        let versioned = remember.is_some() && self.versioned();
        let result = py.detach(|| match versioned {
            true => client.inner.set_versioned(key, entry, self.ttl),
            false => Ok((client.inner.set(key, entry, self.ttl)?, None)),
        });
        match result {
            // refused by the client (over max_value_size) or declined: nothing was stored
            Ok((Stored::TooLarge | Stored::No, _)) => Ok(()),
            Ok((Stored::Yes, version)) => {
                stored();
                if let (Some(version), Some(remember)) = (version, remember) {
                    remember(Check::Item(version));
                }
                Ok(())
            }
            Err(failure) => self.failed::<()>(py, failure.into(), false).map(|_| ()),
        }
    }
}

/// A failed request: of the native client, or a Python client's exception (with the
/// operation and key, for the log).
enum Failed {
    Native(Failure),
    Python(PyErr, &'static str, String),
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Self {
        Failed::Native(failure)
    }
}

impl Failed {
    fn into_error(self) -> PyErr {
        match self {
            Failed::Native(failure) => raise_failure(failure),
            Failed::Python(error, _, _) => error,
        }
    }
}

/// A `McStore`'s settings, read from the dict the cache builds from its attributes.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct Settings<'py> {
    client: Bound<'py, PyAny>,
    prefix: Bound<'py, PyAny>,
    timeout: Bound<'py, PyAny>,
    secret: Option<Vec<u8>>,
    accept_plain: bool,
    raise_errors: bool,
}

#[pymethods]
impl McStorePy {
    /// `settings`: the cache's `client`, `prefix` and `timeout`, `secret`, `accept_plain`
    /// (whether entries without a trailer, stock Jinja's, are read) and `raise_errors`.
    /// With the native client, the prefix and timeout are checked here, so that a value that
    /// could never work is reported when it is set and never out of `get_template`; Python
    /// clients get them as Jinja gives them. `previous`: the store this one replaces, whose
    /// counters go on.
    #[new]
    #[pyo3(signature = (settings, previous=None))]
    fn new(settings: Settings<'_>, previous: Option<&Bound<'_, Self>>) -> PyResult<Self> {
        let Settings {
            client,
            prefix,
            timeout,
            secret,
            accept_plain,
            raise_errors,
        } = settings;
        let trust = Trust {
            secret,
            accept_plain,
        };
        let (scope, ttl) = match client.cast::<MemcachedClientPy>() {
            Ok(native) => {
                let prefix = check_prefix(&prefix)?;
                let scope = trust.memcached_scope(native.get().inner.servers(), &prefix);
                (Some(scope), ttl(Some(&timeout))?)
            }
            Err(_) => (None, 0),
        };
        Ok(McStorePy {
            scope,
            trust,
            raise_errors,
            ttl,
            counters: counters::carried(previous.map(|store| &store.get().counters)),
            get_log: RateLimit::default(),
            set_log: RateLimit::default(),
        })
    }

    /// The whole hit path of `get_bucket` in one call, as `FsStore.get`, through the
    /// `cache`'s client with the memcached key its prefix + the bucket's key: read from the
    /// cache at every call, as Jinja reads them.
    #[pyo3(signature = (cache, name, filename, source, isolation, verdicts=None, checksum=None))]
    #[allow(clippy::too_many_arguments)] // get_bucket's own arguments, and where to look
    fn get<'py>(
        &self,
        py: Python<'py>,
        cache: &Bound<'py, PyAny>,
        name: &Bound<'py, PyAny>,
        filename: &Bound<'py, PyAny>,
        source: &Bound<'py, PyAny>,
        isolation: Option<&str>,
        verdicts: Option<&Bound<'py, PyDict>>,
        checksum: Option<Bound<'py, PyString>>,
    ) -> PyResult<Found<'py>> {
        let (bucket_key, checksum) = locate(py, name, filename, source, isolation, checksum)?;
        let client = cache.getattr(intern!(py, "client"))?;
        let prefix = cache.getattr(intern!(py, "prefix"))?;
        let key = format!("{}{bucket_key}", prefix.cast::<PyString>()?.to_cow()?);
        let (_, code) = self.load_code(py, &client, &key, &bucket_key, checksum.as_any())?;
        Ok(found(bucket_key, checksum, code, verdicts))
    }

    /// `load_bytecode`: the bucket's code from the item under `key` (the memcached key); the
    /// bucket is left alone after a failure that was swallowed, as Jinja leaves it.
    fn load(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyAny>,
        key: &str,
        bucket: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let bucket_key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
        let checksum = bucket.getattr(intern!(py, "checksum"))?;
        if let (true, code) = self.load_code(py, client, key, &bucket_key, &checksum)? {
            bucket.setattr(intern!(py, "code"), code)?;
        }
        Ok(())
    }

    /// For a bucket that reads its own entry: the verified body of the item under `key`, or
    /// None (nothing there, or refused), handed to `bucket.bytecode_from_string` as Jinja
    /// hands on what its client answers; not called after a failure that was swallowed.
    fn load_body(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyAny>,
        key: &str,
        bucket: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let Ok(Some(found)) = self.fetch(py, &client_of(client), key, None)? else {
            return Ok(());
        };
        let entry = found.as_ref().map(|(value, _)| value.bytes());
        hand_on(
            py,
            &self.trust,
            &self.counters,
            bucket,
            entry,
            &key,
            |body| {
                bucket.call_method1(intern!(py, "bytecode_from_string"), (body,))?;
                Ok(())
            },
        )
    }

    /// `dump_bytecode`: the bucket's code framed, sealed and stored under `key`, and
    /// remembered in the layer with the item's version once the server has it.
    fn dump(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyAny>,
        key: &str,
        bucket: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let bucket_key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
        let checksum = &bucket.getattr(intern!(py, "checksum"))?;
        let code = &bucket.getattr(intern!(py, "code"))?;
        if code.is_none() {
            return Err(PyTypeError::new_err("can't write empty bucket")); // Jinja's error
        }
        let entry = encode_sealed(&self.trust, checksum, code, &bucket_key)?;
        let lookup = self.lookup(&bucket_key, checksum);
        let remember = |check| lookup.remember(code, entry.len(), check);
        self.put(py, client, key, bucket, &entry, timeout, Some(&remember))
    }

    /// For a bucket that frames its own entry: `entry`, the bucket's, sealed and stored under
    /// `key`.
    fn dump_body(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyAny>,
        key: &str,
        bucket: &Bound<'_, PyAny>,
        entry: &[u8],
        timeout: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let bucket_key: String = bucket.getattr(intern!(py, "key"))?.extract()?;
        let sealed = self.trust.seal(entry.to_vec(), &bucket_key);
        self.put(py, client, key, bucket, &sealed, timeout, None)
    }

    /// What this cache object has done since it was created (`cache.stats()`).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counters::stats(py, &self.counters)
    }
}

//! `jinja_bccache.MemcachedClient`: the thin binding over `crate::memcached`. Arguments are
//! checked here, network I/O runs with the GIL released, and failures become `MemcachedError`.

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt};

use jinja_bccache_core::memcached::{self, protocol, Client, Config};

use crate::error::OrRaise;

pyo3::create_exception!(
    jinja_bccache,
    MemcachedError,
    PyOSError,
    "A memcached server failed, timed out or is marked down. The message names the server."
);

/// Key validation with the GIL held, before anything is counted or sent.
fn checked(key: &str) -> PyResult<&str> {
    match protocol::key_error(key) {
        None => Ok(key),
        Some(message) => Err(PyValueError::new_err(message)),
    }
}

/// A key built by a cache (prefix + a key a subclass may compute): invalid is an error only
/// when errors are raised, a logged miss or skipped write otherwise, as with Python clients.
pub(super) fn cache_key(key: &str, raise_errors: bool) -> PyResult<Option<&str>> {
    match protocol::key_error(key) {
        None => Ok(Some(key)),
        Some(message) if raise_errors => Err(PyValueError::new_err(message)),
        Some(message) => {
            log::warn!("not using memcached: {message}");
            Ok(None)
        }
    }
}

/// What the native client sends for a `timeout` (seconds as int or float, or None: no expiry).
pub(super) fn ttl(timeout: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    let Some(timeout) = timeout.filter(|timeout| !timeout.is_none()) else {
        return Ok(0);
    };
    // int or float, as Jinja's clients take (not bool, nor anything merely convertible)
    let seconds = if timeout.is_instance_of::<PyBool>() {
        None
    } else if timeout.is_instance_of::<PyInt>() {
        // an int too large for i64 is as out of range as any over the limit
        Some(timeout.extract::<i64>().map_or(f64::INFINITY, |n| n as f64))
    } else if timeout.is_instance_of::<PyFloat>() {
        timeout.extract::<f64>().ok()
    } else {
        None
    };
    let Some(seconds) = seconds else {
        return Err(PyTypeError::new_err(format!(
            "timeout must be a number of seconds or None, not {}",
            timeout.get_type().name()?
        )));
    };
    protocol::ttl_seconds(seconds).map_err(PyValueError::new_err)
}

/// A cache's `prefix` for the native client: a `str` that can start a memcached key.
pub(super) fn check_prefix(prefix: &Bound<'_, PyAny>) -> PyResult<String> {
    let Ok(prefix) = prefix.extract::<String>() else {
        return Err(PyTypeError::new_err(format!(
            "prefix must be str, not {}",
            prefix.get_type().name()?
        )));
    };
    match protocol::prefix_error(&prefix) {
        None => Ok(prefix),
        Some(message) => Err(PyValueError::new_err(message)),
    }
}

const DEFAULTS: fn() -> Config = Config::default;

/// A memcached client in Rust, for :class:`jinja_bccache.MemcachedBytecodeCache` (which
/// talks to it natively) or any code using Jinja's client interface.
///
/// ``servers`` are ``"host:port"`` strings; keys are spread over them by rendezvous hashing,
/// the same way as pymemcache's ``HashClient``. A server that fails is skipped for
/// ``retry_interval`` seconds (its keys go to the next server in their preference order),
/// then probed by one request. Timeouts are in seconds. Values (after compression) over
/// ``max_value_size`` bytes are not stored. ``compress_threshold`` (bytes, off by default)
/// zlib-compresses values at least that large, flagged so pymemcache's ``CompressedSerde``
/// and python-memcached read them. Safe to share between threads and across ``fork()``.
#[pyclass(frozen, name = "MemcachedClient", module = "jinja_bccache")]
pub struct MemcachedClientPy {
    pub(super) inner: Client,
}

#[pymethods]
impl MemcachedClientPy {
    #[new]
    #[pyo3(signature = (
        servers,
        *,
        connect_timeout = DEFAULTS().connect_timeout.as_secs_f64(),
        timeout = DEFAULTS().timeout.as_secs_f64(),
        retry_interval = DEFAULTS().retry_interval.as_secs_f64(),
        max_value_size = memcached::DEFAULT_MAX_VALUE_SIZE,
        compress_threshold = None,
        max_idle = DEFAULTS().max_idle,
    ))]
    fn new(
        servers: Vec<String>,
        connect_timeout: f64,
        timeout: f64,
        retry_interval: f64,
        max_value_size: usize,
        compress_threshold: Option<usize>,
        max_idle: usize,
    ) -> PyResult<Self> {
        let config = Config {
            connect_timeout: memcached::duration(connect_timeout, "connect_timeout", false)
                .or_raise()?,
            timeout: memcached::duration(timeout, "timeout", false).or_raise()?,
            retry_interval: memcached::duration(retry_interval, "retry_interval", true)
                .or_raise()?,
            max_value_size,
            compress_threshold,
            max_idle,
        };
        let inner = Client::new(servers, config).or_raise()?;
        Ok(MemcachedClientPy { inner })
    }

    /// The value stored under ``key``, or ``None``; :class:`MemcachedError` on failure.
    fn get<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = checked(key)?;
        let value = py.detach(|| self.inner.get(key)).or_raise()?;
        Ok(value.map(|value| PyBytes::new(py, &value)))
    }

    /// Store ``value`` for ``timeout`` seconds (``None`` or 0: no expiry; over 30 days is
    /// sent as an absolute time): whether it was stored, as pymemcache's and redis-py's
    /// ``set`` answer. A value over ``max_value_size`` is not stored (``False``, counted and
    /// logged): a property of the template, not a failure. :class:`MemcachedError` on failure.
    #[pyo3(signature = (key, value, timeout = None))]
    fn set(
        &self,
        py: Python<'_>,
        key: &str,
        value: &[u8],
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let key = checked(key)?;
        let ttl = ttl(timeout)?;
        let stored = py.detach(|| self.inner.set(key, value, ttl)).or_raise()?;
        Ok(stored == memcached::Stored::Yes)
    }

    /// Counters: requests, hits, misses, errors, timeouts, failovers, skipped writes...
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in self.inner.stats().snapshot() {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// The servers, as given.
    #[getter]
    fn servers(&self) -> Vec<String> {
        self.inner.servers().to_vec()
    }

    /// The server ``key`` lives on while all are up (the same as pymemcache's HashClient).
    fn server_for(&self, key: &str) -> String {
        self.inner.server_for(key).to_owned()
    }

    /// The servers currently skipped after a failure.
    fn down_servers(&self) -> Vec<String> {
        self.inner.down().into_iter().map(str::to_owned).collect()
    }

    /// Pickled (and copied) by configuration: the copy dials its own connections.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (Vec<String>,))> {
        let py = slf.py();
        let this = slf.get();
        let c = this.inner.config();
        let settings = PyDict::new(py);
        settings.set_item("connect_timeout", c.connect_timeout.as_secs_f64())?;
        settings.set_item("timeout", c.timeout.as_secs_f64())?;
        settings.set_item("retry_interval", c.retry_interval.as_secs_f64())?;
        settings.set_item("max_value_size", c.max_value_size)?;
        settings.set_item("compress_threshold", c.compress_threshold)?;
        settings.set_item("max_idle", c.max_idle)?;
        // partial(MemcachedClient, **settings): the keyword-only settings survive pickling
        let partial = py
            .import(intern!(py, "functools"))?
            .getattr(intern!(py, "partial"))?
            .call((slf.get_type(),), Some(&settings))?;
        Ok((partial, (this.inner.servers().to_vec(),)))
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "MemcachedClient({:?}, connect_timeout={}, timeout={}, retry_interval={}, max_value_size={}, compress_threshold={})",
            self.inner.servers(),
            c.connect_timeout.as_secs_f64(),
            c.timeout.as_secs_f64(),
            c.retry_interval.as_secs_f64(),
            c.max_value_size,
            c.compress_threshold
                .map_or_else(|| "None".to_owned(), |n| n.to_string()),
        )
    }
}

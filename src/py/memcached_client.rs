//! `jinja_bccache.MemcachedClient`: the thin binding over `crate::memcached`. Arguments are
//! checked here, network I/O runs with the GIL released, and failures become `MemcachedError`.

use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::counters::Counters;
use super::entry::encode_sealed;
use super::loading::Request;
use crate::memcached::{self, protocol, Client, Config, Failure};

pyo3::create_exception!(
    jinja_bccache,
    MemcachedError,
    PyOSError,
    "A memcached server failed, timed out or is marked down. The message names the server."
);

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        MemcachedError::new_err(failure.to_string())
    }
}

fn duration(seconds: f64, what: &str, allow_zero: bool) -> PyResult<Duration> {
    let valid = seconds.is_finite() && (seconds > 0.0 || (allow_zero && seconds == 0.0));
    if !valid || seconds > 86_400.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a finite number of seconds{} up to a day, not {seconds}",
            if allow_zero { " >= 0" } else { " > 0" }
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Key validation with the GIL held, before anything is counted or sent.
fn checked(key: &str) -> PyResult<&str> {
    match protocol::key_error(key) {
        None => Ok(key),
        Some(message) => Err(PyValueError::new_err(message)),
    }
}

/// A key built by a cache (prefix + a key a subclass may compute): invalid is an error only
/// when errors are raised, a logged miss or skipped write otherwise, as with Python clients.
fn cache_key(key: &str, raise_errors: bool) -> PyResult<Option<&str>> {
    match protocol::key_error(key) {
        None => Ok(Some(key)),
        Some(message) if raise_errors => Err(PyValueError::new_err(message)),
        Some(message) => {
            log::warn!("not using memcached: {message}");
            Ok(None)
        }
    }
}

fn ttl_seconds(timeout: Option<i64>) -> PyResult<u64> {
    match timeout {
        None => Ok(0),
        Some(seconds) => u64::try_from(seconds).map_err(|_| {
            PyValueError::new_err(format!("timeout must be >= 0 seconds, not {seconds}"))
        }),
    }
}

const DEFAULTS: fn() -> Config = Config::default;

#[pyclass(frozen, name = "MemcachedClient", module = "jinja_bccache")]
pub struct MemcachedClientPy {
    inner: Client,
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
            connect_timeout: duration(connect_timeout, "connect_timeout", false)?,
            timeout: duration(timeout, "timeout", false)?,
            retry_interval: duration(retry_interval, "retry_interval", true)?,
            max_value_size,
            compress_threshold,
            max_idle,
        };
        let inner = Client::new(servers, config).map_err(PyValueError::new_err)?;
        Ok(MemcachedClientPy { inner })
    }

    /// The value stored under `key`, or None.
    fn get<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = checked(key)?;
        let value = py.detach(|| self.inner.get(key))?;
        Ok(value.map(|value| PyBytes::new(py, &value)))
    }

    /// Store `value` under `key`. A value over `max_value_size` is skipped (counted, logged):
    /// it is a property of the template, not a failure, so it never raises.
    #[pyo3(signature = (key, value, timeout = None))]
    fn set(&self, py: Python<'_>, key: &str, value: &[u8], timeout: Option<i64>) -> PyResult<()> {
        let key = checked(key)?;
        let ttl = ttl_seconds(timeout)?;
        py.detach(|| self.inner.set(key, value, ttl))?;
        Ok(())
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in self.inner.stats().snapshot() {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    #[getter]
    fn servers(&self) -> Vec<String> {
        self.inner.servers().to_vec()
    }

    /// The server `key` lives on while every server is up (pymemcache's HashClient agrees).
    fn server_for(&self, key: &str) -> String {
        self.inner.server_for(key).to_owned()
    }

    /// The servers skipped right now after a failure.
    fn down_servers(&self) -> Vec<String> {
        self.inner.down().into_iter().map(str::to_owned).collect()
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

    /// `MemcachedBytecodeCache.load_bytecode` in one call: fetch with the GIL released, then
    /// verify and unmarshal. Returns `(answered, code)`; `answered` is False after a failure
    /// that was swallowed (`raise_errors` false), so the caller can leave the bucket alone.
    #[allow(clippy::too_many_arguments)]
    fn _load_code<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        bucket_key: &str,
        checksum: &Bound<'py, PyAny>,
        secret: Option<&[u8]>,
        accept_plain: bool,
        raise_errors: bool,
        counters: &Bound<'py, Counters>,
    ) -> PyResult<(bool, Option<Bound<'py, PyAny>>)> {
        let Some(key) = cache_key(key, raise_errors)? else {
            return Ok((false, None));
        };
        let request = Request {
            key: bucket_key,
            checksum,
            secret,
            accept_plain,
            counters: counters.get(),
        };
        if let Some(code) = request.in_memory(py) {
            return Ok((true, Some(code)));
        }
        match py.detach(|| self.inner.get(key)) {
            Ok(entry) => Ok((true, request.decode_entry(py, entry.as_deref(), &key)?)),
            Err(failure) => {
                Counters::bump(&request.counters.errors, 1);
                Counters::bump(&request.counters.misses, 1);
                if raise_errors {
                    return Err(failure.into());
                }
                Ok((false, None))
            }
        }
    }

    /// `MemcachedBytecodeCache.dump_bytecode` in one call: frame and seal with the GIL held,
    /// store with it released.
    #[allow(clippy::too_many_arguments)]
    fn _dump_code(
        &self,
        py: Python<'_>,
        key: &str,
        bucket_key: &str,
        checksum: &Bound<'_, PyAny>,
        code: &Bound<'_, PyAny>,
        secret: Option<&[u8]>,
        timeout: Option<i64>,
        raise_errors: bool,
        counters: &Bound<'_, Counters>,
    ) -> PyResult<()> {
        let Some(key) = cache_key(key, raise_errors)? else {
            return Ok(());
        };
        let ttl = ttl_seconds(timeout)?;
        let entry = encode_sealed(checksum, code, bucket_key, secret)?;
        let request = Request {
            key: bucket_key,
            checksum,
            secret,
            accept_plain: false,
            counters: counters.get(),
        };
        request.remember(code, entry.len());
        let result = py.detach(|| self.inner.set(key, &entry, ttl));
        match &result {
            Ok(_) => {
                Counters::bump(&request.counters.writes, 1);
                Counters::bump(&request.counters.bytes_written, entry.len() as u64);
            }
            Err(_) => Counters::bump(&request.counters.errors, 1),
        }
        match result {
            Err(failure) if raise_errors => Err(failure.into()),
            _ => Ok(()),
        }
    }
}

/// ValueError unless `key` can be sent to memcached as is.
#[pyfunction]
pub fn check_memcached_key(key: &str) -> PyResult<()> {
    checked(key).map(|_| ())
}

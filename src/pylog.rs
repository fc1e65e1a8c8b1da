//! Log records go to Python's `logging` through pyo3-log, set up by the first record rather
//! than at import: `logging` (with the `traceback` and `textwrap` it pulls in) takes about
//! 6 ms to import, more than the rest of `import jinja_bccache`, and a process that never hits
//! a damaged entry or a dead server never logs a record from here.

use log::{LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// Where the core crate's records come from (its crate name as the `log` crate spells it).
const CORE_TARGET: &str = "jinja_bccache_core";

/// The most detailed records passed on; Python's logger levels filter from there.
const MAX_LEVEL: LevelFilter = LevelFilter::Debug;

struct LazyLogger {
    // PyOnceLock, not OnceLock: it is initialised with the GIL held, so a thread waiting for
    // the GIL can never be waiting on an initialisation that itself waits for the GIL.
    inner: PyOnceLock<Option<pyo3_log::Logger>>,
}

impl LazyLogger {
    fn with<R>(&self, f: impl FnOnce(&pyo3_log::Logger) -> R) -> Option<R> {
        Python::attach(|py| {
            self.inner
                .get_or_init(py, || {
                    // Cache the Python loggers but not their levels, so setLevel() after the
                    // first record still takes effect.
                    pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers)
                        .map(|logger| logger.filter(MAX_LEVEL))
                        .ok()
                })
                .as_ref()
                .map(f)
        })
    }
}

impl Log for LazyLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let target = python_target(metadata.target());
        let metadata = Metadata::builder()
            .level(metadata.level())
            .target(&target)
            .build();
        self.with(|logger| logger.enabled(&metadata))
            .unwrap_or(false)
    }

    fn log(&self, record: &Record<'_>) {
        let target = python_target(record.target());
        let renamed = Record::builder()
            .args(*record.args())
            .level(record.level())
            .target(&target)
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        self.with(|logger| logger.log(&renamed));
    }

    fn flush(&self) {}
}

/// The core crate logs as `jinja_bccache_core::fs`, ...: its records go to the package's
/// logger tree (`jinja_bccache.fs`), the one users configure.
fn python_target(target: &str) -> std::borrow::Cow<'_, str> {
    match target.strip_prefix(CORE_TARGET) {
        Some(rest) => format!("jinja_bccache{rest}").into(),
        None => target.into(),
    }
}

/// Route the `log` crate's records to Python's `logging`. A second call (the module imported
/// again in one process) keeps the logger already installed.
pub fn install() {
    let logger = LazyLogger {
        inner: PyOnceLock::new(),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(MAX_LEVEL);
    }
}

//! Log records go to Python's `logging` through pyo3-log, set up by the first record rather
//! than at import: `logging` (with the `traceback` and `textwrap` it pulls in) takes about
//! 6 ms to import, more than the rest of `import jinja_bccache`, and a process that never hits
//! a damaged entry or a dead server never logs a record from here.

use log::{LevelFilter, Log, Metadata, Record};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

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
        let metadata = Metadata::builder()
            .level(metadata.level())
            .target(python_target(metadata.target()))
            .build();
        self.with(|logger| logger.enabled(&metadata))
            .unwrap_or(false)
    }

    fn log(&self, record: &Record<'_>) {
        let renamed = Record::builder()
            .args(*record.args())
            .level(record.level())
            .target(python_target(record.target()))
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        self.with(|logger| logger.log(&renamed));
    }

    fn flush(&self) {}
}

/// The package's loggers, by what a record is about, whichever crate and file logs it: the
/// names users configure do not follow the Rust file tree. A record's target is its module
/// path (`jinja_bccache_core::memcached::breaker`, `jinja_bccache::py::sealing`) or a target
/// set at the call.
fn python_target(target: &str) -> &'static str {
    const BY_SUBJECT: [(&[&str], &str); 3] = [
        (
            &["memcached", "memcached_store", "memcached_client"],
            "jinja_bccache.memcached",
        ),
        (&["fs", "unlink", "filesystem"], "jinja_bccache.filesystem"),
        (
            &["seal", "sealing", "codec", "loading"],
            "jinja_bccache.entries",
        ),
    ];
    let segments = || target.split("::");
    BY_SUBJECT
        .iter()
        .find(|(subjects, _)| segments().any(|segment| subjects.contains(&segment)))
        .map_or("jinja_bccache", |(_, logger)| logger)
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

#[cfg(test)]
mod tests {
    use super::python_target;

    #[test]
    fn loggers_are_named_by_subject() {
        for (target, logger) in [
            ("jinja_bccache_core::fs", "jinja_bccache.filesystem"),
            ("jinja_bccache_core::fs::unix", "jinja_bccache.filesystem"),
            ("jinja_bccache::py::filesystem", "jinja_bccache.filesystem"),
            (
                "jinja_bccache_core::memcached::breaker",
                "jinja_bccache.memcached",
            ),
            ("jinja_bccache::memcached", "jinja_bccache.memcached"),
            ("jinja_bccache_core::seal", "jinja_bccache.entries"),
            ("jinja_bccache::py::codec", "jinja_bccache.entries"),
            ("jinja_bccache::py::memo", "jinja_bccache"),
        ] {
            assert_eq!(python_target(target), logger, "{target}");
        }
    }
}

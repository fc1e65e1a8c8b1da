//! A helper for the environment fingerprint's per-Environment signature
//! (`_fingerprint._Signature`), which an application building an Environment per request pays
//! once per Environment: comparing its filters, tests and policies with Jinja's defaults is a
//! hundred dictionary lookups, about 15 µs in Python and 2 µs here.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

type Pairs<'py> = Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>;

/// `registry_changes(registry, defaults)`: the `(name, value)` pairs of `registry`, in its
/// order, whose value is not the very object `defaults` holds under that name. By identity,
/// never `==`: an object's `__eq__` must not make it pass for one of Jinja's filters.
#[pyfunction]
pub fn registry_changes<'py>(
    registry: &Bound<'py, PyDict>,
    defaults: &Bound<'py, PyDict>,
) -> PyResult<Pairs<'py>> {
    let mut changed = Vec::new();
    for (name, value) in registry.iter() {
        // Only exact str names are looked up (Jinja's are str): hashing and comparing them
        // runs no Python code, so nothing can change the registry while it is iterated.
        let same = name.is_exact_instance_of::<PyString>()
            && defaults
                .get_item(&name)?
                .is_some_and(|default| default.is(&value));
        if !same {
            changed.push((name, value));
        }
    }
    Ok(changed)
}

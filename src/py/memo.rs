//! Native helpers of the environment fingerprint memo (`_memo.py`), which every `get_bucket`
//! and every new Environment goes through.
//!
//! The revalidation: a fingerprint is computed once per Environment and re-used on every
//! `get_bucket`, as long as nothing it covers was
//! changed in place: the Environment's attributes, its filters, tests, policies, extensions
//! and (where they count) globals. Comparing those ~150 entries by identity in Python costs
//! 1.2–2 µs, more than the rest of a memoized hit; here it is ~0.7 µs, and where the
//! interpreter keeps dict version tags (PEP 509: CPython up to 3.13) a dict is checked by its
//! tag alone, and a new Environment's snapshot stays small.
//!
//! The registry comparison: what a new Environment's filters, tests and policies hold besides
//! Jinja's defaults, which its signature names (`changes`).
//!

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple};
use std::sync::OnceLock;

/// `snapshot(state, skip, containers)`: `(skip, state_items, c0, items0, c1, items1, ...)` for
/// an Environment's `__dict__` and the dicts and lists among `containers` (the rest is
/// skipped), where `items` holds a dict's keys and values interleaved in iteration order (or
/// its version tag, an int, where tags work), or a list's items. The snapshot holds what the
/// containers hold, so no object it names can be freed and its address reused while it
/// exists; it does not hold `state` itself, nor its value under `skip` (the memo entry that
/// holds the snapshot), so that it adds no reference cycle keeping the Environment's
/// attributes alive after the Environment is gone.
#[pyfunction]
pub fn snapshot<'py>(
    py: Python<'py>,
    state: &Bound<'py, PyDict>,
    skip: &Bound<'py, PyString>,
    containers: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut parts: Vec<Bound<'py, PyAny>> = Vec::with_capacity(containers.len() * 2 + 2);
    parts.push(skip.clone().into_any());
    // The value under `skip` is the memo's entry, a list filled in after this snapshot:
    // filling it changes neither the dict's tag nor the object there. From 3.13 an object
    // keeps its attributes inline and setting one need not touch its __dict__'s tag, so there
    // the Environment's own attributes are compared item by item.
    let state_tag = if py.version_info() >= (3, 13) {
        None
    } else {
        version(state)
    };
    parts.push(match state_tag {
        Some(tag) => tag.into_pyobject(py)?.into_any(),
        None => dict_items(py, state, Some(skip.as_any()))?.into_any(),
    });
    for container in containers.iter() {
        let items = if let Ok(dict) = container.cast::<PyDict>() {
            match version(dict) {
                Some(tag) => tag.into_pyobject(py)?.into_any(),
                None => dict_items(py, dict, None)?.into_any(),
            }
        } else if let Ok(list) = container.cast::<PyList>() {
            list.to_tuple().into_any()
        } else {
            continue;
        };
        parts.push(container);
        parts.push(items);
    }
    PyTuple::new(py, parts)
}

fn dict_items<'py>(
    py: Python<'py>,
    dict: &Bound<'py, PyDict>,
    skip: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut flat = Vec::with_capacity(dict.len() * 2);
    for (key, value) in dict.iter() {
        let skipped = skip.is_some_and(|skip| key.is(skip));
        flat.push(key);
        flat.push(if skipped {
            py.None().into_bound(py)
        } else {
            value
        });
    }
    PyTuple::new(py, flat)
}

/// `memo_entry(owner, state, key)`: the memo entry `state[key]` (a list whose items are the id
/// of the Environment it was made for and a [`snapshot`]) when it was made for `owner` itself
/// (an overlay or a copy starts with its parent's) and `state` and every container of its
/// snapshot still hold the very same objects in the same order (or, where tags work, carry
/// the same tags); else `None`. By identity, never `==`: no Python code runs, and an object
/// whose `__eq__` says yes cannot pass for another. One call on every `get_bucket`.
#[pyfunction]
pub fn memo_entry<'py>(
    owner: &Bound<'py, PyAny>,
    state: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> Option<Bound<'py, PyList>> {
    let entry = state.get_item(key).ok()??.cast_into::<PyList>().ok()?;
    let made_for = entry.get_item(0).ok()?;
    let made_for = made_for.cast::<PyInt>().ok()?.extract::<usize>().ok()?;
    if made_for != owner.as_ptr() as usize {
        return None;
    }
    let snapshot = entry.get_item(1).ok()?;
    unchanged(state, &snapshot).then_some(entry)
}

/// Whether `code` carries a folding record that its Environment answered as recorded:
/// `verdicts` (the memo entry's, keyed by record, the code's last constant) says `""` for it.
/// The common case of a hit, checked here where the code was just loaded; anything else
/// (no constants, an unhashable one, a verdict with answers) is left to `_variants.select`.
pub(crate) fn settled(code: &Bound<'_, PyAny>, verdicts: &Bound<'_, PyDict>) -> bool {
    let Ok(consts) = code.getattr(pyo3::intern!(code.py(), "co_consts")) else {
        return false;
    };
    let Ok(consts) = consts.cast_into::<PyTuple>() else {
        return false;
    };
    let Some(last) = consts
        .len()
        .checked_sub(1)
        .and_then(|i| consts.get_item(i).ok())
    else {
        return false;
    };
    match verdicts.get_item(last) {
        Ok(Some(verdict)) => {
            verdict.is_exact_instance_of::<PyString>() && verdict.len().is_ok_and(|n| n == 0)
        }
        // absent, or unhashable (not a record; the error is taken, not left set)
        Ok(None) | Err(_) => false,
    }
}

/// Whether `state` and the containers of a [`snapshot`] are as it saw them.
fn unchanged(state: &Bound<'_, PyDict>, snapshot: &Bound<'_, PyAny>) -> bool {
    // Anything but a snapshot (the None of an entry still being filled in) never passes.
    let Ok(snapshot) = snapshot.cast::<PyTuple>() else {
        return false;
    };
    let snapshot = snapshot.as_slice();
    let [skip, state_held, rest @ ..] = snapshot else {
        return false;
    };
    let state_same = match state_held.cast::<PyTuple>() {
        Ok(items) => same_dict(state, items.as_slice(), Some(skip)),
        Err(_) => same_tag(state, state_held),
    };
    state_same
        && rest.chunks(2).all(|pair| match pair {
            [container, held] => match held.cast::<PyTuple>() {
                Ok(items) => same(container, items.as_slice()),
                Err(_) => container
                    .cast::<PyDict>()
                    .is_ok_and(|dict| same_tag(dict, held)),
            },
            _ => false,
        })
}

fn same_tag(dict: &Bound<'_, PyDict>, held: &Bound<'_, PyAny>) -> bool {
    held.cast::<PyInt>()
        .is_ok_and(|tag| tag.extract::<u64>().ok() == version(dict))
}

/// `changes(registries, defaults)`: for each registry (a dict) and the dict of Jinja's defaults
/// at the same index, the `(name, value)` pairs of the registry, in its order, whose value is
/// not the very object the defaults hold under that name. By identity, never `==`: an
/// object's `__eq__` must not make it pass for one of Jinja's filters. `_signature.py`
/// explains why this is worth doing natively: a new Environment built like a previous one
/// costs little else.
#[pyfunction]
pub fn changes<'py>(
    py: Python<'py>,
    registries: &Bound<'py, PyList>,
    defaults: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for (registry, default) in registries.iter().zip(defaults.iter()) {
        let registry = registry.cast::<PyDict>()?;
        let default = default.cast::<PyDict>()?;
        let changed = PyList::empty(py);
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut ffi::PyObject = std::ptr::null_mut();
        // A registry starts as a copy of the defaults, so it holds their entries in their
        // order: while it does, the two are walked side by side and compared by pointer,
        // and the default is looked up by name only from the first entry that differs.
        let mut in_step = true;
        let mut default_pos: ffi::Py_ssize_t = 0;
        let mut default_key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut default_value: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: the GIL is held and both dicts are alive. The default is looked up only for
        // exact str names (Jinja's are): hashing and comparing them runs no Python code, so
        // nothing can change the registry while it is iterated, and the borrowed pointers
        // stay valid until they are turned into owned references below.
        while unsafe { ffi::PyDict_Next(registry.as_ptr(), &mut pos, &mut key, &mut value) } != 0 {
            in_step = in_step
                && unsafe {
                    ffi::PyDict_Next(
                        default.as_ptr(),
                        &mut default_pos,
                        &mut default_key,
                        &mut default_value,
                    ) != 0
                }
                && default_key == key;
            let same = in_step && default_value == value
                || unsafe {
                    ffi::PyUnicode_CheckExact(key) != 0 && {
                        let held = ffi::PyDict_GetItemWithError(default.as_ptr(), key);
                        if held.is_null() && !ffi::PyErr_Occurred().is_null() {
                            return Err(PyErr::fetch(py));
                        }
                        held == value
                    }
                };
            if !same {
                let (key, value) = unsafe {
                    (
                        Bound::from_borrowed_ptr(py, key),
                        Bound::from_borrowed_ptr(py, value),
                    )
                };
                changed.append((key, value))?;
            }
        }
        out.append(changed)?;
    }
    Ok(out)
}

/// Whether this interpreter bumps a dict's version tag on every change (checked once).
static TAGS_WORK: OnceLock<bool> = OnceLock::new();

/// The dict's version tag, where the interpreter keeps one: a global counter's value, new at
/// every change of the dict, so an equal tag means the dict holds the same entries.
fn version(dict: &Bound<'_, PyDict>) -> Option<u64> {
    let works = *TAGS_WORK.get_or_init(|| tags_work(dict.py()).unwrap_or(false));
    // SAFETY: `dict` is a live dict; see `read_tag`.
    works.then(|| unsafe { read_tag(dict.as_ptr()) })
}

/// # Safety
/// `dict` must point to a live dict object.
unsafe fn read_tag(dict: *mut ffi::PyObject) -> u64 {
    // The field after `ma_used`: `ma_version_tag` up to CPython 3.13, deprecated since 3.12
    // (so not named here); 3.14 keeps only watcher bits there, which `tags_work` rejects,
    // and `tags_work` checks the field's behaviour before it is trusted.
    let offset =
        std::mem::offset_of!(ffi::PyDictObject, ma_used) + std::mem::size_of::<ffi::Py_ssize_t>();
    unsafe { std::ptr::read(dict.cast::<u8>().add(offset).cast::<u64>()) }
}

/// Tries the tag on a dict of its own: every kind of change must give a larger tag.
fn tags_work(py: Python<'_>) -> PyResult<bool> {
    let dict = PyDict::new(py);
    // SAFETY: `dict` is alive for the whole function.
    let tag = || unsafe { read_tag(dict.as_ptr()) };
    let mut last = tag();
    let steps: [&dyn Fn() -> PyResult<()>; 5] = [
        &|| dict.set_item("key", 1),
        &|| dict.set_item("key", 2),
        &|| dict.set_item("other", 3),
        &|| dict.del_item("key"),
        &|| {
            dict.clear();
            Ok(())
        },
    ];
    for step in steps {
        step()?;
        let now = tag();
        if now <= last {
            return Ok(false);
        }
        last = now;
    }
    Ok(true)
}

fn same(container: &Bound<'_, PyAny>, items: &[Bound<'_, PyAny>]) -> bool {
    if let Ok(dict) = container.cast::<PyDict>() {
        same_dict(dict, items, None)
    } else if let Ok(list) = container.cast::<PyList>() {
        list.len() == items.len()
            && list
                .iter()
                .zip(items)
                .all(|(item, held)| item.as_ptr() == held.as_ptr())
    } else {
        false
    }
}

fn same_dict(
    dict: &Bound<'_, PyDict>,
    items: &[Bound<'_, PyAny>],
    skip: Option<&Bound<'_, PyAny>>,
) -> bool {
    if dict.len() * 2 != items.len() {
        return false;
    }
    let skip = skip.map_or(std::ptr::null_mut(), |skip| skip.as_ptr());
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    for pair in items.chunks_exact(2) {
        // SAFETY: the GIL is held and the dict is alive (borrowed from the caller);
        // PyDict_Next hands out borrowed pointers, which are only compared, never used.
        let more = unsafe { ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) };
        if more == 0 || key != pair[0].as_ptr() || (value != pair[1].as_ptr() && key != skip) {
            return false;
        }
    }
    true
}

//! Naming the values of a shallow signature (`_signature.Signature.shallow`): every new
//! Environment goes through it once, so it is done here in one call rather than one Python
//! call per value, which cost a third of a new Environment's first hit.

use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyComplex, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Longer str and bytes values are not copied into a signature (as `_describe.LARGE`).
const LARGE: usize = 4096;
/// Dicts up to this size are named by what they hold (the sandbox's operator tables).
const SMALL: usize = 16;
/// How deep dicts inside dicts are named before giving up (a dict can hold itself).
const DEPTH: usize = 4;

/// `shallow_names(values, watched)`: a tuple naming each of `values` within this process, so
/// that equal tuples mean the very same objects or equal plain values of the same types:
///
/// - `None` and a `str` as themselves; `bool`, `int` and `bytes` as `(type, value)`; `float`
///   and `complex` as `(type, bits...)`, so that `1`, `1.0` and `True`, or `0.0` and `-0.0`,
///   are never one name (each folds to other code);
/// - an object that can be weakly referenced by its `id()`, appended to `watched` for the
///   table to watch it (so a name is never reused by a later object at that address);
/// - a dict of at most 16 items by its items, its values named the same way;
/// - an unbound method of a built-in type (`str.upper`) as `("named", qualname, name)`.
///
/// Anything else, or a str or bytes longer than 4096, raises `ValueError`: the caller then
/// takes the signature by what objects are made of.
#[pyfunction]
pub fn shallow_names<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyList>,
    watched: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyTuple>> {
    let mut names = Vec::with_capacity(values.len());
    for value in values.iter() {
        names.push(name(py, &value, watched, 0)?);
    }
    PyTuple::new(py, names)
}

fn name<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    watched: &Bound<'py, PyList>,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    if value.is_none() {
        return Ok(value.clone());
    }
    if let Ok(text) = value.cast_exact::<PyString>() {
        return if text.len()? > LARGE {
            Err(no_shortcut("a large value"))
        } else {
            Ok(value.clone())
        };
    }
    if value.is_exact_instance_of::<PyBool>() || value.is_exact_instance_of::<PyInt>() {
        return typed(value, value.clone());
    }
    if let Ok(number) = value.cast_exact::<PyFloat>() {
        return typed(
            value,
            number.value().to_bits().into_pyobject(py)?.into_any(),
        );
    }
    if let Ok(number) = value.cast_exact::<PyComplex>() {
        let bits = (number.real().to_bits(), number.imag().to_bits());
        return typed(value, bits.into_pyobject(py)?.into_any());
    }
    if let Ok(data) = value.cast_exact::<PyBytes>() {
        if data.as_bytes().len() > LARGE {
            return Err(no_shortcut("a large value"));
        }
        return typed(value, value.clone());
    }
    if weakly_referenceable(value) {
        watched.append(value)?;
        return Ok((value.as_ptr() as usize).into_pyobject(py)?.into_any());
    }
    if let Ok(dict) = value.cast_exact::<PyDict>() {
        if dict.len() <= SMALL && depth < DEPTH {
            let mut items = Vec::with_capacity(dict.len());
            for (key, item) in dict.iter() {
                items.push((key, name(py, &item, watched, depth + 1)?));
            }
            return Ok(("dict", PyTuple::new(py, items)?)
                .into_pyobject(py)?
                .into_any());
        }
    }
    if is_builtin_method(value) {
        let qualname = value.getattr("__qualname__").ok();
        let short = value.getattr("__name__").ok();
        return Ok(("named", qualname, short).into_pyobject(py)?.into_any());
    }
    Err(no_shortcut(&value.get_type().qualname()?.to_string()))
}

/// `(type(value), content)`.
fn typed<'py>(
    value: &Bound<'py, PyAny>,
    content: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok((value.get_type(), content)
        .into_pyobject(value.py())?
        .into_any())
}

fn no_shortcut(what: &str) -> PyErr {
    PyValueError::new_err(format!("no shallow name for {what}"))
}

fn weakly_referenceable(value: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a live object's type is a live type object; the field is only read.
    unsafe { (*ffi::Py_TYPE(value.as_ptr())).tp_weaklistoffset != 0 }
}

/// An unbound method of a built-in type: method, slot wrapper or classmethod descriptor.
fn is_builtin_method(value: &Bound<'_, PyAny>) -> bool {
    let kind = value.get_type().as_ptr() as *mut ffi::PyTypeObject;
    // (taking the addresses of the interpreter's static type objects, not reading them)
    kind == std::ptr::addr_of_mut!(ffi::PyMethodDescr_Type)
        || kind == std::ptr::addr_of_mut!(ffi::PyWrapperDescr_Type)
        || kind == std::ptr::addr_of_mut!(ffi::PyClassMethodDescr_Type)
}

/// `factory_shape(cls, watched, kinds)`: a class a factory makes per Environment (dbt's
/// Undefined class per node) named by what it is made of, natively, as
/// `_signature.Signature._shape` names it in Python for a shallow signature: its module,
/// qualname and bases (by identity), and each function among its members by its code (by
/// identity), defaults and closure, a cell holding factory data (`kinds[2]` are the types
/// that are not) by the datum's type only, a cell holding the class itself as a cycle.
///
/// `kinds` is `(types.FunctionType, _describe.BEHAVIOUR, _describe._NOT_FACTORY_DATA,
/// _describe.DECLARED)`. Returns None for a class it does not cover (another kind of
/// behaviour than plain functions, a function with attributes, a declared description):
/// the caller then names it in Python. Raises `ValueError` for a value nothing can name.
#[pyfunction]
pub fn factory_shape<'py>(
    py: Python<'py>,
    cls: &Bound<'py, PyAny>,
    watched: &Bound<'py, PyList>,
    kinds: &Bound<'py, PyTuple>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let function_type = kinds.get_item(0)?;
    let behaviour = kinds.get_item(1)?;
    let not_data = kinds.get_item(2)?;
    let declared = kinds.get_item(3)?;
    let members = cls.getattr(intern!(py, "__dict__"))?;
    if members.contains(&declared)? {
        return Ok(None);
    }
    let mut body = Vec::new();
    for item in members.call_method0(intern!(py, "items"))?.try_iter()? {
        let (member_name, member): (Bound<'py, PyAny>, Bound<'py, PyAny>) = item?.extract()?;
        if member.get_type().is(&function_type) {
            match function(py, cls, &member, watched, &not_data)? {
                Some(shape) => body.push((member_name, shape).into_pyobject(py)?.into_any()),
                None => return Ok(None),
            }
        } else if member.is_instance(&behaviour)? {
            return Ok(None);
        }
    }
    let mut bases = Vec::new();
    for base in cls.getattr(intern!(py, "__bases__"))?.try_iter()? {
        bases.push(name(py, &base?, watched, 0)?);
    }
    let shape = (
        "shape",
        cls.getattr(intern!(py, "__module__"))?,
        cls.getattr(intern!(py, "__qualname__"))?,
        PyTuple::new(py, bases)?,
        PyTuple::new(py, body)?,
    );
    Ok(Some(shape.into_pyobject(py)?))
}

/// A function member of a factory-made class: None when it has attributes of its own.
fn function<'py>(
    py: Python<'py>,
    cls: &Bound<'py, PyAny>,
    fn_: &Bound<'py, PyAny>,
    watched: &Bound<'py, PyList>,
    not_data: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let attrs = fn_.getattr(intern!(py, "__dict__"))?;
    if attrs.is_truthy()? {
        return Ok(None);
    }
    let mut cells = Vec::new();
    let closure = fn_.getattr(intern!(py, "__closure__"))?;
    if !closure.is_none() {
        for cell in closure.try_iter()? {
            cells.push(cell_name(py, cls, &cell?, watched, not_data)?);
        }
    }
    let shape = (
        "function",
        fn_.getattr(intern!(py, "__module__"))?,
        fn_.getattr(intern!(py, "__qualname__"))?,
        name(py, &fn_.getattr(intern!(py, "__code__"))?, watched, 0)?,
        plain(py, &fn_.getattr(intern!(py, "__defaults__"))?, watched)?,
        plain(py, &fn_.getattr(intern!(py, "__kwdefaults__"))?, watched)?,
        PyTuple::new(py, cells)?,
    );
    Ok(Some(shape.into_pyobject(py)?.into_any()))
}

fn cell_name<'py>(
    py: Python<'py>,
    cls: &Bound<'py, PyAny>,
    cell: &Bound<'py, PyAny>,
    watched: &Bound<'py, PyList>,
    not_data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let value = match cell.getattr(intern!(py, "cell_contents")) {
        Ok(value) => value,
        Err(_) => return Ok(("empty",).into_pyobject(py)?.into_any()), // never assigned
    };
    if value.is(cls) {
        return Ok(("cycle",).into_pyobject(py)?.into_any()); // the __class__ cell of super()
    }
    if !value.is_instance(not_data)? {
        // data the factory was given (a dbt node): by its type only, as the fingerprint
        let kind = value.get_type().into_any();
        return Ok(("datum", name(py, &kind, watched, 0)?)
            .into_pyobject(py)?
            .into_any());
    }
    plain(py, &value, watched)
}

/// As [`name`], and a tuple by its items (defaults are tuples).
fn plain<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    watched: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(items) = value.cast_exact::<PyTuple>() {
        let mut names = Vec::with_capacity(items.len());
        for item in items.iter() {
            names.push(name(py, &item, watched, 0)?);
        }
        return Ok(("tuple", PyTuple::new(py, names)?)
            .into_pyobject(py)?
            .into_any());
    }
    name(py, value, watched, 0)
}

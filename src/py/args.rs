//! Python arguments as the core wants them: required `str`s as UTF-8, and the key of a
//! template from its name and file name, spelled as Jinja spells them.

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use jinja_bccache_core::keys;

/// The UTF-8 bytes of a required `str` argument; a clear TypeError otherwise, and
/// UnicodeEncodeError for lone surrogates, as `str.encode("utf-8")` raises in Jinja.
/// Borrowed from the `str` except in the stable ABI before 3.10, which has no way to; there
/// it is a copy.
pub fn utf8<'a>(value: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, str>> {
    match value.cast::<PyString>() {
        Ok(s) => s.to_cow(),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            value.get_type().name()?
        ))),
    }
}

/// Jinja formats the filename into the key with an f-string, so any object is accepted and
/// spelled with `str()` (a `pathlib.Path` gives its path).
fn filename_text(filename: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if filename.is_none() {
        return Ok(None);
    }
    if let Ok(s) = filename.cast::<PyString>() {
        return Ok(Some(s.to_cow()?.into_owned()));
    }
    Ok(Some(filename.str()?.to_cow()?.into_owned()))
}

pub fn key_of(name: &Bound<'_, PyAny>, filename: &Bound<'_, PyAny>) -> PyResult<String> {
    let name = utf8(name, "name")?;
    let filename = filename_text(filename)?;
    Ok(keys::cache_key(
        name.as_bytes(),
        filename.as_deref().map(str::as_bytes),
    ))
}

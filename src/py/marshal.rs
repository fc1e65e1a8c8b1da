//! `marshal.loads` and `marshal.dumps` of the running interpreter: marshal's C functions,
//! called directly (no Python call, no copy of the payload).

pub use pyo3::marshal::{dumps, loads, VERSION};

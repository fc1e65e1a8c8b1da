//! The core of jinja-bccache, in plain Rust (no Python): how an entry is framed (`format`),
//! sealed (`seal`) and named (`keys`); reading, writing, clearing and pruning entry files
//! (`fs`, `unlink`); the in-process layer's bookkeeping (`layer`); a cache's counters
//! (`counters`); and a memcached client (`memcached`). The extension crate at the repository root binds it to Python as
//! `jinja_bccache._native`.

pub mod counters;
pub mod error;
pub mod format;
pub mod fs;
pub mod keys;
pub mod layer;
pub mod memcached;
pub mod ratelimit;
pub mod seal;
pub mod unlink;

pub use error::{Error, Result};

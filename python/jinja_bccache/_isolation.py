"""Environment isolation, as the caches use it: everything they need, and nothing more.

Behind it: ``_fingerprint`` (what an Environment's settings compile to, described by
``_describe`` and ``_callgraph``), ``_signature`` and ``_memo`` (computed once per Environment
and per Environments built alike), ``_folding`` (what a compilation read of the application's
filters and tests, recorded and replayed) and ``_variants`` (the entry an Environment compiles
alike). See docs/isolation.md.
"""

from ._fingerprint import FROM_STRING_NAME
from ._folding import rebind
from ._memo import Entry, entry_of, isolation
from ._variants import prepare, select, settled

__all__ = [
    "FROM_STRING_NAME",
    "Entry",
    "entry_of",
    "isolation",
    "prepare",
    "rebind",
    "select",
    "settled",
]

"""The environment fingerprint, memoized: computed once per configuration, found by signature
for each new Environment built like a previous one, and re-validated on every ``get_bucket``;
and the verdicts of the folding records replayed in the Environment (see _folding.py).

Each Environment keeps its own entry, in its ``__dict__`` (as ``functools.cached_property``
does), so the memo lives and dies with the Environment and keeps nothing else alive, even when
a filter refers back to the Environment. The entry holds a snapshot of the containers whose
contents the fingerprint or a replay reads (the Environment's attributes, filters, tests,
policies, extensions, and globals where a filter can read them); on every hit a native check
compares them with the snapshot by identity, so a setting changed in place after the first
template was loaded is seen: the fingerprint is looked up again, the records replayed again.
"""

import typing as t

from . import _fingerprint
from ._describe import PROCESS_NONCE
from ._fingerprint import (
    FILTER_REGISTRIES,
    FROM_STRING_NAME,
    LOCAL,
    MEMO_ATTR,
    Changes,
    changes,
    extended_attrs,
    reads_globals,
    registry_changes,
)
from ._folding import replay
from ._native import snapshot, unchanged
from ._signature import Signature, SignatureTable

if t.TYPE_CHECKING:
    from jinja2 import Environment

SIGNATURES = SignatureTable()

#: An entry: [id of its Environment, snapshot, fingerprint, {record bytes: verdict}].
Entry = t.List[t.Any]

#: Verdicts kept per Environment; past this its table starts afresh.
MAX_VERDICTS = 4096


def _refresh(environment: "Environment") -> Entry:
    """Looks the fingerprint up (or computes it) and memoizes it with a new snapshot."""
    state = environment.__dict__
    changed = changes(environment)
    registries = registry_changes(environment)
    reads = reads_globals(environment, registries)
    extended = extended_attrs(environment)
    # The entry is in place before the snapshot of the attributes, and is a list filled in
    # afterwards: filling it is not a change of the attributes. Until its snapshot is set
    # last, the check fails and another thread computes for itself.
    entry: Entry = [id(environment), None, "", {}]
    state.pop(MEMO_ATTR, None)
    state[MEMO_ATTR] = entry
    # Taken before the fingerprint: a change made meanwhile is seen at the next check.
    taken = snapshot(state, MEMO_ATTR, _containers(environment, reads, extended))
    entry[2] = fingerprint = _by_configuration(environment, changed, extended)
    if not reads and registries is not None:
        entry[3] = _shared_verdicts(environment, fingerprint, registries)
    entry[1] = taken
    return entry


#: Verdict tables shared by Environments that answer every record alike (see below).
VERDICTS = SignatureTable()


def _shared_verdicts(
    environment: "Environment", fingerprint: str, registries: Changes
) -> t.Dict[str, str]:
    """The verdicts of Environments built alike, one table for them all, so that each new
    one does not replay the records again.

    A record asks the kinds of filters and tests by name, and what filters, tests and
    ``finalize`` return on constants. Environments with the same settings whose registries
    hold the same objects under the same names (Jinja's own, or the very same application
    objects) and the same ``finalize`` answer alike, as long as none of those receives the
    Environment or the eval context (then it could read anything of it): the caller checks
    that. The table names the objects by ``id()``, watched by weak references as the
    signatures are; one that cannot be watched gets a table of its own."""
    parts: t.List[t.Any] = [fingerprint, id(environment.finalize)]
    watched: t.List[t.Any] = []
    for (name, defaults), pairs in zip(FILTER_REGISTRIES, registries):
        registry = getattr(environment, name)
        added = 0
        for key, value in pairs:
            if not type(value).__weakrefoffset__:
                return {}
            watched.append(value)
            parts.append((key, id(value)))
            added += key not in defaults
        if len(registry) != len(defaults) + added:  # some of Jinja's entries were removed
            parts.append(tuple(sorted(k for k in defaults if k not in registry)))
        parts.append(None)
    if environment.finalize is not None:
        if not type(environment.finalize).__weakrefoffset__:
            return {}
        watched.append(environment.finalize)
    key = tuple(parts)
    found = VERDICTS.get(key)
    if found is None:
        found = {}
        VERDICTS.put(key, found, watched)
    return found  # type: ignore[no-any-return]


def _containers(environment: "Environment", reads: bool, extended: t.List[str]) -> t.List[t.Any]:
    """What a setting can be changed in place in: everything the fingerprint reads, one level
    into values (``policies["json.dumps_kwargs"]``, the sandbox's operator tables). The
    snapshot keeps the dicts and lists among them and skips the rest."""
    state = environment.__dict__
    policies = environment.policies
    extensions = environment.extensions
    containers = [
        environment.filters,
        environment.tests,
        policies,
        extensions,
        *[state[name] for name in extended],
        *policies.values(),
        *[getattr(ext, "__dict__", None) for ext in extensions.values()],
    ]
    if reads:
        containers.append(environment.globals)
        containers.extend(environment.globals.values())
    return containers


def _by_configuration(environment: "Environment", changed: Changes, extended: t.List[str]) -> str:
    """The fingerprint of an Environment built like one seen before, found by its signature
    (by identity first, then by what its objects are made of), or computed."""
    shallow = deep = None
    known: t.Optional[str]
    signature = Signature()
    try:
        shallow = signature.shallow(environment, changed, extended)
        known = SIGNATURES.get(shallow)
        if known is not None:
            return known
    except Exception:  # something it cannot name by identity (or an odd value)
        shallow = None
    watched_shallow = signature.watched
    signature = Signature()
    try:
        deep = signature.of(environment, changed, extended)
        known = SIGNATURES.get(deep)
    except Exception:  # something it cannot name, or an odd value: compute
        deep = known = None
    if known is None:
        known = _fingerprint.compute(environment)
        if deep is not None:
            SIGNATURES.put(deep, known, signature.watched)
    if shallow is not None:
        SIGNATURES.put(shallow, known, watched_shallow)
    return known


def entry_of(environment: "Environment") -> Entry:
    """The Environment's memo entry, valid for its configuration as it is now."""
    state = environment.__dict__
    entry = state.get(MEMO_ATTR)
    # An overlay or a copy starts with its parent's entry: the id says whose it is.
    if entry is not None and entry[0] == id(environment) and unchanged(state, entry[1]):
        return entry  # type: ignore[no-any-return]
    try:
        return _refresh(environment)
    except Exception as exc:
        # A bug or an object nothing foresaw must cost sharing, never a render.
        _fingerprint.report_failure(environment, exc)
        return [None, None, f"{LOCAL}failed:{PROCESS_NONCE}", {}]


def key_suffix(
    environment: "Environment", name: t.Optional[str], entry: t.Optional[Entry] = None
) -> str:
    """What :meth:`BytecodeCache.get_bucket` mixes into Jinja's key for this template."""
    suffix: str = (entry or entry_of(environment))[2]
    autoescape = environment.autoescape
    if callable(autoescape):
        # resolved per template name, as the compiler does (from_string passes None)
        if name is not None and name.startswith(FROM_STRING_NAME):
            name = None
        try:
            return f"{suffix}/{bool(autoescape(name))}"
        except Exception:  # the compiler will raise it; nothing compiled can be shared
            return f"{suffix}/raised:{PROCESS_NONCE}"
    return suffix


def verdict(environment: "Environment", entry: Entry, record: t.Tuple[t.Any, ...]) -> str:
    """``""`` when the Environment answers the folding record as recorded (see
    :func:`_folding.replay`), else the digest of its own answers; memoized per record."""
    verdicts = entry[3]
    found = verdicts.get(record[1])  # by the record's bytes: see _folding.Recording.record
    if found is None:
        found = replay(environment, record)
        if len(verdicts) >= MAX_VERDICTS:
            verdicts.clear()
        verdicts[record[1]] = found
    return found  # type: ignore[no-any-return]

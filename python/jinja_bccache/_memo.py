"""The environment fingerprint, memoized: computed once per configuration, found by signature
for each new Environment built like a previous one, and re-validated on every ``get_bucket``.

Each Environment keeps its own entry, in its ``__dict__`` (as ``functools.cached_property``
does), so the memo lives and dies with the Environment and keeps nothing else alive, even when
a filter refers back to the Environment. The entry holds a snapshot of the containers whose
contents the fingerprint covers (the Environment's attributes, filters, tests, policies,
extensions, and globals where they count); on every hit a native check compares them with the
snapshot by identity, so a setting changed in place after the first template was loaded is
seen, and the fingerprint is looked up again.
"""

import typing as t

from . import _fingerprint
from ._fingerprint import (
    FROM_STRING_NAME,
    MEMO_ATTR,
    Changes,
    changes,
    extended_attrs,
    reads_globals,
)
from ._native import snapshot, unchanged
from ._signature import Signature, SignatureTable

if t.TYPE_CHECKING:
    from jinja2 import Environment

SIGNATURES = SignatureTable()


def _refresh(environment: "Environment") -> str:
    """Looks the fingerprint up (or computes it) and memoizes it with a new snapshot."""
    state = environment.__dict__
    changed = changes(environment)
    reads = reads_globals(environment, changed)
    extended = extended_attrs(environment)
    # The entry is in place before the snapshot of the attributes, and is a list filled in
    # afterwards: filling it is not a change of the attributes. Until its snapshot is set
    # last, the check fails and another thread computes for itself.
    entry: t.List[t.Any] = [id(environment), None, ""]
    state.pop(MEMO_ATTR, None)
    state[MEMO_ATTR] = entry
    # Taken before the fingerprint: a change made meanwhile is seen at the next check.
    taken = snapshot(state, MEMO_ATTR, _containers(environment, reads, extended))
    entry[2] = fingerprint = _by_configuration(environment, reads, changed, extended)
    entry[1] = taken
    return fingerprint


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


def _by_configuration(
    environment: "Environment", reads: bool, changed: Changes, extended: t.List[str]
) -> str:
    """The fingerprint of an Environment built like one seen before, found by its signature
    (by identity first, then by what its objects are made of), or computed."""
    shallow = deep = None
    signature = Signature()
    try:
        shallow = signature.shallow(environment, reads, changed, extended)
        known = SIGNATURES.get(shallow)
        if known is not None:
            return known
    except Exception:  # something it cannot name by identity (or an odd value)
        shallow = None
    watched_shallow = signature.watched
    signature = Signature()
    try:
        deep = signature.of(environment, reads, changed, extended)
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


def key_suffix(environment: "Environment", name: t.Optional[str]) -> str:
    """What :meth:`BytecodeCache.get_bucket` mixes into Jinja's key for this template."""
    state = environment.__dict__
    entry = state.get(MEMO_ATTR)
    # An overlay or a copy starts with its parent's entry: the id says whose it is.
    if entry is not None and entry[0] == id(environment) and unchanged(state, entry[1]):
        suffix: str = entry[2]
    else:
        suffix = _refresh(environment)
    autoescape = environment.autoescape
    if callable(autoescape):
        # resolved per template name, as the compiler does (from_string passes None)
        if name is not None and name.startswith(FROM_STRING_NAME):
            name = None
        return f"{suffix}/{bool(autoescape(name))}"
    return suffix

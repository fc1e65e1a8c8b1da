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
    FROM_STRING_NAME,
    LOCAL,
    MEMO_ATTR,
    Changes,
    changes,
    extended_attrs,
    reads_globals,
)
from ._folding import replay
from ._native import memo_entry, snapshot
from ._signature import Signature, SignatureTable

if t.TYPE_CHECKING:
    from jinja2 import Environment

#: Fingerprints by deep signature (Signature.of).
SIGNATURES = SignatureTable()
#: (fingerprint, shared verdicts) by shallow signature (Signature.shallow).
SHALLOW = SignatureTable()

#: Verdicts by folding record (see verdict()).
Verdicts = t.Dict[t.Tuple[t.Any, ...], str]

#: An entry: [id of its Environment, snapshot, fingerprint, {record: verdict}, the
#: fingerprint with each autoescape outcome appended (made at first use)].
Entry = t.List[t.Any]

#: Verdicts kept per Environment; past this its table starts afresh.
MAX_VERDICTS = 4096


def _refresh(environment: "Environment") -> Entry:
    """Looks the fingerprint up (or computes it) and memoizes it with a new snapshot."""
    state = environment.__dict__
    changed, registries = changes(environment)
    reads = reads_globals(environment, registries)
    extended = extended_attrs(environment)
    # The entry is in place before the snapshot of the attributes, and is a list filled in
    # afterwards: filling it is not a change of the attributes. Until its snapshot is set
    # last, the check fails and another thread computes for itself.
    entry: Entry = [id(environment), None, "", {}, None]
    state.pop(MEMO_ATTR, None)
    state[MEMO_ATTR] = entry
    # Taken before the fingerprint: a change made meanwhile is seen at the next check.
    taken = snapshot(state, MEMO_ATTR, _containers(environment, reads, extended))
    entry[2], shared = _by_configuration(environment, changed, registries, extended)
    if shared is not None and not reads:
        entry[3] = shared
    entry[1] = taken
    return entry


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
    environment: "Environment",
    changed: Changes,
    registries: t.Optional[Changes],
    extended: t.List[str],
) -> t.Tuple[str, t.Optional[Verdicts]]:
    """The fingerprint of an Environment built like one seen before, found by its signature
    (by identity first, then by what its objects are made of), or computed; and, when its
    shallow signature was taken, the verdicts shared by the Environments that have it.

    Those hold the very same settings, filters, tests and ``finalize`` (see
    :meth:`Signature.shallow`), so they answer every folding record alike, as long as none
    of those receives the Environment or the eval context (then it could read anything of
    it): the caller checks that. A new one built alike then replays nothing."""
    shallow = deep = None
    known: t.Optional[str]
    signature = Signature()
    try:
        shallow = signature.shallow(environment, changed, registries, extended)
        found = SHALLOW.get(shallow)
        if found is not None:
            return found  # type: ignore[no-any-return]
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
    if shallow is None:
        return known, None
    found = (known, None if registries is None else {})
    SHALLOW.put(shallow, found, watched_shallow)
    return found


def entry_of(environment: "Environment") -> Entry:
    """The Environment's memo entry, valid for its configuration as it is now."""
    return memo_entry(environment, environment.__dict__, MEMO_ATTR) or _renewed(environment)


def _renewed(environment: "Environment") -> Entry:
    try:
        return _refresh(environment)
    except Exception as exc:
        # A bug or an object nothing foresaw must cost sharing, never a render.
        _fingerprint.report_failure(environment, exc)
        return [None, None, f"{LOCAL}failed:{PROCESS_NONCE}", {}, None]


def isolation(environment: "Environment", name: t.Optional[str]) -> t.Tuple[str, Entry]:
    """What :meth:`BytecodeCache.get_bucket` mixes into Jinja's key for this template, and
    the Environment's memo entry. (On every ``get_bucket``: entry_of is inline.)"""
    entry = memo_entry(environment, environment.__dict__, MEMO_ATTR) or _renewed(environment)
    autoescape = environment.autoescape
    if not callable(autoescape):
        return entry[2], entry
    # resolved per template name, as the compiler does (from_string passes None)
    if name is not None and name.startswith(FROM_STRING_NAME):
        name = None
    try:
        escapes = bool(autoescape(name))
    except Exception:  # the compiler will raise it; nothing compiled can be shared
        return f"{entry[2]}/raised:{PROCESS_NONCE}", entry
    suffixes = entry[4]
    if suffixes is None:
        entry[4] = suffixes = (f"{entry[2]}/False", f"{entry[2]}/True")
    return suffixes[escapes], entry


def verdict(environment: "Environment", entry: Entry, record: t.Tuple[t.Any, ...]) -> str:
    """``""`` when the Environment answers the folding record as recorded (see
    :func:`_folding.replay`), else the digest of its own answers; memoized per record."""
    verdicts = entry[3]
    # By the record itself (its bytes, not a digest stored beside them: see
    # _folding.Recording.record), as _variants.settled looks it up.
    found = verdicts.get(record)
    if found is None:
        found = replay(environment, record)
        if len(verdicts) >= MAX_VERDICTS:
            verdicts.clear()
        verdicts[record] = found
    return found  # type: ignore[no-any-return]

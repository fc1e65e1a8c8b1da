"""The variants of an entry: one per way of folding a template under one configuration.

Two Environments with the same settings can still compile a template differently, when a
filter they both name folds to other values (a ``static`` filter reading another URL). The
first entry stored under the settings' key holds one folding record; an Environment that
answers it otherwise reads the entry under a key derived from its own answers, and so on,
so each way of folding keeps its own entry in a shared store: none rewrites another's.
"""

import types
import typing as t

from ._fingerprint import FROM_STRING_NAME
from ._folding import MAGIC, arm, attach, disarm, record_of, take
from ._memo import Entry, verdict

if t.TYPE_CHECKING:
    from jinja2 import Environment

#: How many variants deep a lookup goes; past this the deepest entry is rewritten.
MAX_DEPTH = 4

Bucket = t.Any


def _record(code: t.Any) -> t.Optional[t.Tuple[t.Any, ...]]:
    try:
        return record_of(code)
    except Exception:  # not a code object: whatever a custom load_bytecode put there
        return None


def select(
    environment: "Environment",
    entry: Entry,
    bucket: Bucket,
    next_variant: t.Callable[[Bucket, str], Bucket],
) -> Bucket:
    """The bucket whose entry ``environment`` compiles alike, loaded; or, when there is none,
    the empty bucket to store its own entry in, with its compilation armed for recording.
    ``next_variant(bucket, answers)`` loads the variant named by those answers."""
    # The common case first, inline: code whose record this Environment answered alike.
    code = bucket.code
    consts = getattr(code, "co_consts", None)
    if consts:
        last = consts[-1]
        # (a record's reads are bytes: see record_of, which the slow path below uses)
        if type(last) is tuple and len(last) == 2 and type(last[1]) is bytes:
            if entry[3].get(last[1]) == "" and last[0] == MAGIC:
                return bucket
    depth = 0
    while bucket.code is not None:
        record = _record(bucket.code)
        if record is None:
            # No record (written by a set_bucket that bypassed this package's): nothing says
            # what it depends on, so it is recompiled and rewritten with one.
            bucket.reset()
            break
        answers = verdict(environment, entry, record)
        if not answers:
            return bucket
        if depth == MAX_DEPTH:
            bucket.reset()
            break
        depth += 1
        bucket = next_variant(bucket, answers)
    arm(environment, bucket)
    return bucket


def remember_source(bucket: Bucket, name: str, filename: t.Optional[str], source: str) -> None:
    """Keeps what a bucket's template is, in case the code stored in it is not compiled in
    this thread between ``get_bucket`` and ``set_bucket`` (a caller that compiled it
    beforehand, or stores code into a bucket that hit)."""
    bucket._jinja_bccache_source = (name, filename, source)


def _recompile(bucket: Bucket) -> t.Optional[t.Tuple[t.Any, ...]]:
    """The folding record of the bucket's template, compiled again to record it."""
    known = getattr(bucket, "_jinja_bccache_source", None)
    if known is None or known[0].startswith(FROM_STRING_NAME):
        return None  # from_string's own path always records; another is not ours to guess
    name, filename, source = known
    arm(bucket.environment, bucket)
    try:
        bucket.environment.compile(source, name, filename)
    except Exception:  # it did compile once; whatever this is, do not store it
        disarm()
        return None
    return take(bucket)


def prepare(bucket: Bucket, entry: Entry) -> t.Tuple[bool, t.Optional[t.Tuple[t.Any, ...]]]:
    """Before ``bucket`` is stored: puts the folding record of its compilation into its code.
    Returns whether to store it, and the record. Code whose compilation was not seen, and
    cannot be compiled again to be seen, is stored as it is, without a record, which no load
    accepts (as Jinja's ``set_bucket``, this stores what it is given); code whose filters fold
    to new values at every call is not stored, since no record of it could ever match."""
    code = bucket.code
    if not isinstance(code, types.CodeType):
        disarm()
        return True, None  # Jinja's own error (an empty bucket) or the caller's business
    record = take(bucket)
    if record is None:
        # Code that carries its record already (stored again, or loaded and handed on) is
        # stored as it is if the Environment answers the record alike; other code was
        # compiled beforehand, out of sight, and is compiled again to be recorded.
        record = record_of(code)
        if record is not None:
            return not verdict(bucket.environment, entry, record), record
        record = _recompile(bucket)
        if record is None:
            return True, None
    if verdict(bucket.environment, entry, record):
        return False, None
    bucket.code = attach(code, record)
    return True, record

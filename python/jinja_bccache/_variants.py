"""The variants of an entry: one per way of folding a template under one configuration.

Two Environments with the same settings can still compile a template differently, when a
filter they both name folds to other values (a ``static`` filter reading another URL). The
first entry stored under the settings' key holds one folding record; an Environment that
answers it otherwise reads the entry under a key derived from its own answers, and so on,
so each way of folding keeps its own entry in a shared store: none rewrites another's.
"""

import types
import typing as t

from ._fingerprint import FROM_STRING_NAME, LOCAL
from ._folding import arm, attach, disarm, is_local, record_of, take
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


def settled(entry: Entry, code: t.Any) -> bool:
    """Whether ``code`` carries a folding record that its Environment (``entry``'s) answered
    as recorded: the common case of a hit, checked first. Verdicts are kept by the record
    (see :func:`_memo.verdict`), which is the code's last constant. (The filesystem cache's
    store checks the same natively, as it loads the code: ``memo::settled``.)"""
    try:
        return entry[3].get(code.co_consts[-1]) == ""  # type: ignore[no-any-return]
    except (AttributeError, IndexError, TypeError):  # not code, no constants, unhashable
        return False


def select(
    environment: "Environment",
    entry: Entry,
    bucket: Bucket,
    next_variant: t.Callable[[Bucket, str], Bucket],
    template: t.Tuple[str, t.Optional[str], str],
) -> Bucket:
    """The bucket whose entry ``environment`` compiles alike, loaded; or, when there is none,
    the empty bucket to store its own entry in, with its compilation armed for recording.
    ``next_variant(bucket, answers)`` loads the variant named by those answers; ``template``
    is the (name, filename, source) the bucket is for."""
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
            break
        if depth == MAX_DEPTH:
            bucket.reset()
            break
        depth += 1
        bucket = next_variant(bucket, answers)
    if bucket.code is None:
        arm(environment, bucket)
    # Kept in case the code stored into the bucket is not compiled in this thread between
    # get_bucket and set_bucket (compiled beforehand, or other code put into a bucket that
    # hit): see _recompile.
    bucket._jinja_bccache_source = template
    return bucket


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


def prepare(bucket: Bucket, entry: Entry) -> t.Tuple[bool, bool]:
    """Before ``bucket`` is stored: puts the folding record of its compilation into its code.
    Returns whether to store it, and whether only this process can use what is stored (its
    configuration or its record has no description that holds across processes). Code whose
    compilation was not seen, and cannot be compiled again to be seen, is stored as it is,
    without a record, which no load accepts (as Jinja's ``set_bucket``, this stores what it is
    given); code whose filters fold to new values at every call is not stored, since no
    record of it could ever match."""
    code = bucket.code
    if not isinstance(code, types.CodeType):
        disarm()
        return True, False  # Jinja's own error (an empty bucket) or the caller's business
    record = take(bucket)
    if record is None:
        # Code that carries its record already (stored again, or loaded and handed on) is
        # stored as it is if the Environment answers the record alike; other code was
        # compiled beforehand, out of sight, and is compiled again to be recorded.
        record = record_of(code)
        if record is not None:
            return not verdict(bucket.environment, entry, record), _local(entry, record)
        record = _recompile(bucket)
        if record is None:
            return True, False
    if verdict(bucket.environment, entry, record):
        return False, False
    bucket.code = attach(code, record)
    return True, _local(entry, record)


def _local(entry: Entry, record: t.Tuple[t.Any, ...]) -> bool:
    return is_local(record) or entry[2].startswith(LOCAL)

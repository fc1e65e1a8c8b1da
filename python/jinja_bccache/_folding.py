"""What one template's compiled code depends on beyond the Environment's settings.

Jinja's code generator reads three things from the application while it compiles: the
*kind* of each filter and test a template uses (``pass_context``, ``pass_eval_context``,
``pass_environment`` or none: it changes the call written), the results of the filters and
tests its optimizer calls on constant arguments (``{{ "x"|nl2br }}`` bakes the result into
the code), and the results of ``finalize`` applied to constant output. Everything else it
reads is a setting, which the key covers (see ``_fingerprint.py``).

So instead of describing every filter, test and global the application holds, the cache
records these reads while a template whose entry was missing compiles, and stores the
record (the *folding record*) with the entry. Loading replays the record in the loading
Environment: the same questions asked of its filters, tests and finalize, with the same
constant inputs. The same answers mean the compiler would write the same code, whatever
else the Environment holds (Flask's ``url_for``, a request proxy, Django's lazy objects).
Most templates fold nothing of the application's, and their record only names the kinds of
the filters they use.

The record travels inside the code object, as one unused constant appended to the module's
constants: every store (the filesystem, memcached, any client, a subclass's own
``dump_bytecode``) keeps it without knowing, and the entry's integrity check or signature
covers it. Values are encoded with their type (``1``, ``1.0`` and ``True`` differ, and so
do ``0.0`` and ``-0.0``); a value that cannot be encoded that way makes the entry valid in
this process only, and is logged once.

The hooks wrap four methods of Jinja's compiler and nodes. They do nothing unless this
thread is compiling a template for a cache that asked for a record (see :func:`arm`).
"""

import hashlib
import marshal
import threading
import typing as t
import weakref

from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.tests import TESTS as DEFAULT_TESTS
from jinja2.utils import _PassArg
from markupsafe import Markup

from ._describe import PROCESS_NONCE, qualname

if t.TYPE_CHECKING:
    from jinja2 import Environment

#: The first item of a folding record; bumped when its format changes.
MAGIC = "jinja_bccache.folding/4"

#: Answers longer than this are kept as a digest: they are only compared, never replayed.
_LARGE = 4096

#: How deeply nested a constant may be and still be encoded.
_DEPTH = 64

#: Kinds of unencodable folding results already logged: once per process and place.
_REPORTED: t.Set[t.Tuple[str, str]] = set()


class Unencodable(Exception):
    """A constant that has no typed encoding (an object, a function, an Undefined)."""


def encode(value: t.Any, depth: int = 0) -> t.Any:
    """``value`` as nested tuples of marshal-safe data that compare equal only for values of
    the same type and content."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is int or kind is bool:
        return (kind.__name__, value)
    if kind is float:
        return ("float", value.hex())  # keeps the sign of zero; every NaN reads "nan"
    if depth > _DEPTH:
        raise Unencodable("nested too deeply")
    if kind is Markup:
        return ("Markup", str(value))
    if kind is bytes:
        return ("bytes", value)
    if kind is tuple or kind is list:
        return (kind.__name__, tuple([encode(v, depth + 1) for v in value]))
    if kind is dict:
        pairs = tuple([(encode(k, depth + 1), encode(v, depth + 1)) for k, v in value.items()])
        return ("dict", pairs)
    if kind is set or kind is frozenset:
        items = sorted([encode(v, depth + 1) for v in value], key=repr)
        return (kind.__name__, tuple(items))
    if kind is complex:
        return ("complex", value.real.hex(), value.imag.hex())
    if kind is range:
        return ("range", value.start, value.stop, value.step)
    raise Unencodable(f"a {qualname(kind)} object")


def decode(data: t.Any) -> t.Any:
    """The value :func:`encode` encoded."""
    if data is None or type(data) is str:
        return data
    tag = data[0]
    if tag in ("int", "bool", "bytes"):
        return data[1]
    if tag == "float":
        return float.fromhex(data[1])
    if tag == "Markup":
        return Markup(data[1])
    if tag == "tuple":
        return tuple([decode(v) for v in data[1]])
    if tag == "list":
        return [decode(v) for v in data[1]]
    if tag == "dict":
        return {decode(k): decode(v) for k, v in data[1]}
    if tag in ("set", "frozenset"):
        return (set if tag == "set" else frozenset)(decode(v) for v in data[1])
    if tag == "complex":
        return complex(float.fromhex(data[1]), float.fromhex(data[2]))
    if tag == "range":
        return range(data[1], data[2], data[3])
    raise ValueError(f"not an encoded constant: {tag!r}")


def _answer(result: t.Any) -> t.Any:
    """What is recorded of a folding result: its encoding, or a digest of a large one."""
    data = encode(result)
    if type(result) in (str, Markup, bytes) and len(result) > _LARGE:
        raw = repr(data).encode("utf-8", "surrogatepass")
        return ("digest", type(result).__name__, len(result), hashlib.sha1(raw).hexdigest())
    return data


def _kind_of(func: t.Any) -> str:
    if func is None:
        return "missing"
    passes = _PassArg.from_obj(func)
    return "plain" if passes is None else passes.name


def _kind(registry: t.Any, name: str) -> str:
    """How the code generator calls a filter or test: ``missing``, ``plain`` or the name of
    its ``pass_*`` marker."""
    return _kind_of(registry.get(name))


#: The kinds of Jinja's own filters and tests by their ids: they live as long as the process,
#: so no other object can have one of these ids, and most lookups a replay makes find them.
_DEFAULT_KINDS = {
    id(func): _kind_of(func) for func in (*DEFAULT_FILTERS.values(), *DEFAULT_TESTS.values())
}


def _kinds(registry: t.Any, names: t.Tuple[str, ...]) -> t.Tuple[str, ...]:
    """:func:`_kind` of each name, in one pass over the registry for Jinja's own."""
    found = list(map(_DEFAULT_KINDS.get, map(id, map(registry.get, names))))
    # None: not one of Jinja's (the application's, or missing)
    return tuple([kind or _kind(registry, name) for kind, name in zip(found, names)])


class Recording:
    """The reads of one compilation, in the order made: ``{question: answer}``. It refers to
    its Environment and bucket weakly: one armed for a compilation that never came must not
    keep them (and a request a filter is bound to) alive."""

    def __init__(self, environment: "Environment", bucket: t.Any) -> None:
        self._environment = weakref.ref(environment)
        self._bucket = weakref.ref(bucket)
        self.reads: t.Dict[t.Any, t.Any] = {}
        #: the kind of each filter and test the code generator wrote a call to
        self.lookups: t.Dict[t.Tuple[str, str], str] = {}
        #: inside the code generator's run for this Environment
        self.generating = False
        #: evaluating a question's inputs: reads made meanwhile are the original's to record
        self.suppressed = False
        #: code generator runs completed, and whether any asked something twice and was
        #: answered differently (a filter folding to a new value per call)
        self.completed = 0
        self.unstable = False

    @property
    def environment(self) -> t.Optional["Environment"]:
        return self._environment()

    @environment.setter
    def environment(self, environment: "Environment") -> None:
        self._environment = weakref.ref(environment)

    @property
    def bucket(self) -> t.Any:
        return self._bucket()

    def read(self, question: t.Any, answer: t.Any) -> None:
        known = self.reads.setdefault(question, answer)
        if known != answer:
            self.unstable = True

    def local(self, where: str, what: str) -> None:
        """A read this process alone can answer: the entry stays in this process."""
        self.read(("process", PROCESS_NONCE, where), "here")
        if (where, what) not in _REPORTED:
            _REPORTED.add((where, what))
            import logging  # on first use: it costs more to import than this package

            logging.getLogger("jinja_bccache.isolation").warning(
                "templates that fold %s on constant arguments are cached for this process "
                "only: it returned %s, which cannot be compared across processes. Make it "
                "return plain values (str, numbers, containers of them) when Jinja folds it, "
                "or mark it @pass_context so that Jinja calls it at render time. Logged once "
                "per process for each filter or test",
                where,
                what,
            )

    def record(self) -> t.Tuple[t.Any, ...]:
        """The folding record, as stored with the entry: its reads marshalled, so that
        loading an entry costs a copy of bytes, not the unmarshalling of nested tuples (they
        are read once per process). The bytes are also what verdicts are memoized by: a
        digest stored beside them would be the writer's word, and a record planted in one
        store could then vouch for another store's."""
        reads = tuple(self.reads.items())
        for registry in ("tests", "filters"):
            # One question per registry: a replay answers it in one pass.
            asked = [(name, kind) for (r, name), kind in self.lookups.items() if r == registry]
            if asked:
                names, kinds = zip(*asked)
                reads = ((("lookups", registry, names), kinds), *reads)
        return (MAGIC, marshal.dumps(reads))


_local = threading.local()


def arm(environment: "Environment", bucket: t.Any) -> None:
    """Record the next compilation of a template for ``environment`` in this thread, whose
    code goes into ``bucket``."""
    _local.recording = Recording(environment, bucket)


def rebind(bucket: t.Any, environment: "Environment") -> None:
    """The armed compilation runs on ``environment`` (a copy of the one it was armed for,
    as ``warm()`` makes), not on the bucket's own."""
    recording = getattr(_local, "recording", None)
    if recording is not None and recording.bucket is bucket:
        recording.environment = environment


def take(bucket: t.Any) -> t.Optional[t.Tuple[t.Any, ...]]:
    """The folding record of the compilation armed for ``bucket``, or None when it was not
    seen whole in this thread (then nobody knows what the code depends on)."""
    recording: t.Optional[Recording] = getattr(_local, "recording", None)
    if recording is None or recording.bucket is not bucket:
        return None
    _local.recording = None
    if recording.completed == 0 or recording.unstable:
        return None
    return recording.record()


def disarm() -> None:
    _local.recording = None


def set_aside() -> t.Optional[Recording]:
    """Takes the compilation armed in this thread out of the way of a lookup that is not
    for it (a parse tree's, made while a template compiles); :func:`restore` puts it back."""
    recording: t.Optional[Recording] = getattr(_local, "recording", None)
    _local.recording = None
    return recording


def restore(recording: t.Optional[Recording]) -> None:
    _local.recording = recording


def _active(environment: t.Any) -> t.Optional[Recording]:
    recording: t.Optional[Recording] = getattr(_local, "recording", None)
    if (
        recording is None
        or not recording.generating
        or recording.suppressed
        or recording.environment is not environment
    ):
        return None
    return recording


#: The record of what reads nothing of the application's filters and tests (a parse tree):
#: every Environment answers it alike.
NOTHING_READ = (MAGIC, marshal.dumps(()))


def record_of(code: t.Any) -> t.Optional[t.Tuple[t.Any, ...]]:
    """The folding record stored with a code object, if it has a well-formed one."""
    consts = code.co_consts
    last = consts[-1] if consts else None
    if type(last) is tuple and len(last) == 2 and last[0] == MAGIC and type(last[1]) is bytes:
        return last
    return None


def attach(code: t.Any, record: t.Tuple[t.Any, ...]) -> t.Any:
    """``code`` with ``record`` as its last constant. Appended, so no instruction's constant
    index moves; nothing loads it, so the template runs exactly as compiled."""
    consts = code.co_consts
    if record_of(code) is not None:
        consts = consts[:-1]
    return code.replace(co_consts=(*consts, record))


# -- replay ---------------------------------------------------------------------------------


def _fold(environment: "Environment", question: t.Tuple[t.Any, ...]) -> t.Any:
    _, registry, name, autoescape, inputs = question
    (first, *args), kwargs = decode(inputs)
    ctx = nodes.EvalContext(environment)
    ctx.autoescape = decode(autoescape)
    node_class = nodes.Filter if registry == "filters" else nodes.Test
    # Jinja's own folding decides, on a node holding the recorded inputs as constants.
    node = node_class(
        nodes.Const(first),
        name,
        [nodes.Const(arg) for arg in args],
        [nodes.Keyword(key, nodes.Const(value)) for key, value in kwargs.items()],
        None,
        None,
    )
    try:
        result = node.as_const(ctx)
    except nodes.Impossible:
        return "impossible"
    return ("value", _answer(result))


def _finalize(environment: "Environment", question: t.Tuple[t.Any, ...]) -> t.Any:
    generator = environment.code_generator_class(environment, None, None)
    const = generator._make_finalize().const
    if const is None:
        return "not folded"
    try:
        return ("value", _answer(const(decode(question[1]))))
    except Exception:
        return "impossible"


def _ask(environment: "Environment", question: t.Tuple[t.Any, ...]) -> t.Any:
    """The loading Environment's answer to a recorded question."""
    what = question[0]
    try:
        if what == "lookups":
            return _kinds(getattr(environment, question[1]), question[2])
        if what == "fold":
            return _fold(environment, question)
        if what == "finalize":
            return _finalize(environment, question)
    except Unencodable as exc:
        return ("unencodable", str(exc))
    except Exception as exc:  # anything odd: not the recorded answer, so a recompile
        return ("raised", type(exc).__name__)
    if what == "process":
        # Another process's answer cannot be had: this process's own stands in, so that
        # each process keeps its own variant instead of all fighting over one.
        return "here" if question[1] == PROCESS_NONCE else ("process", PROCESS_NONCE)
    return ("unknown question", what)


def replay(environment: "Environment", record: t.Tuple[t.Any, ...]) -> str:
    """``""`` when ``environment`` answers every question of ``record`` as recorded, so
    that it compiles to the same code; otherwise a digest of its own answers, which names the
    variant of the entry compiled for Environments answering like this one."""
    answers = []
    same = True
    try:
        reads = reads_of(record)
    except Exception:  # not a record this version wrote: nothing it says can be trusted
        return "unreadable"
    for question, recorded in reads:
        answer = _ask(environment, question)
        answers.append(answer)
        if same and answer != recorded:
            same = False
    if same:
        return ""
    text = record[1] + repr(answers).encode("utf-8", "surrogatepass")
    return hashlib.sha1(text).hexdigest()


#: Records read, by their bytes: Environments built alike replay the same records.
_READS: t.Dict[bytes, t.Tuple[t.Tuple[t.Any, t.Any], ...]] = {}


def reads_of(record: t.Tuple[t.Any, ...]) -> t.Tuple[t.Tuple[t.Any, t.Any], ...]:
    """A record's ``(question, answer)`` pairs."""
    blob = record[1]
    reads = _READS.get(blob)
    if reads is None:
        reads = marshal.loads(blob)
        if type(reads) is not tuple:
            raise ValueError("not a folding record")
        if len(_READS) >= 1024:
            _READS.clear()
        _READS[blob] = reads
    return reads


def is_local(record: t.Tuple[t.Any, ...]) -> bool:
    """Whether a record has a read only this process can answer."""
    return any(question[0] == "process" for question, _ in reads_of(record))


# -- the hooks ----------------------------------------------------------------------------

_AS_CONST = nodes._FilterTestCommon.as_const
_FILTER_TEST_COMMON = CodeGenerator._filter_test_common
_MAKE_FINALIZE = CodeGenerator._make_finalize
_VISIT_TEMPLATE = CodeGenerator.visit_Template


def _as_const(self: t.Any, eval_ctx: t.Optional[nodes.EvalContext] = None) -> t.Any:
    if getattr(_local, "recording", None) is None:  # nothing armed: the common case
        return _AS_CONST(self, eval_ctx)
    ctx = nodes.get_eval_context(self, eval_ctx)
    recording = _active(ctx.environment)
    if recording is None or ctx.volatile:
        return _AS_CONST(self, eval_ctx)
    # The inputs as the original computes them; the folds nested in them record themselves
    # when the original runs.
    recording.suppressed = True
    try:
        args, kwargs = nodes.args_as_const(self, ctx)
        args.insert(0, self.node.as_const(ctx))
        inputs: t.Any = (args, kwargs)
    except Exception:  # not constant: the original cannot fold it either
        inputs = None
    finally:
        recording.suppressed = False
    try:
        result = _AS_CONST(self, eval_ctx)
    except nodes.Impossible:
        _note_fold(recording, self, ctx, inputs, _IMPOSSIBLE)
        raise
    _note_fold(recording, self, ctx, inputs, result)
    return result


#: Stands for "not folded" among folding results, which may be any value.
_IMPOSSIBLE = object()


def _note_fold(
    recording: Recording, node: t.Any, ctx: nodes.EvalContext, inputs: t.Any, outcome: t.Any
) -> None:
    if inputs is None:  # its inputs were not constant: nothing of the filter's was read
        return
    registry = "filters" if node._is_filter else "tests"
    try:
        question = ("fold", registry, node.name, encode(ctx.autoescape), encode(inputs))
        answer = "impossible" if outcome is _IMPOSSIBLE else ("value", _answer(outcome))
    except Unencodable as exc:
        recording.local(f"{registry}[{node.name!r}]", str(exc))
    else:
        recording.read(question, answer)


def _filter_test_common(self: t.Any, node: t.Any, frame: t.Any, is_filter: bool) -> t.Any:
    recording = _active(self.environment)
    if recording is not None:
        registry = "filters" if is_filter else "tests"
        kind = _kind(getattr(self.environment, registry), node.name)
        known = recording.lookups.setdefault((registry, node.name), kind)
        if known != kind:
            recording.unstable = True
    return _FILTER_TEST_COMMON(self, node, frame, is_filter)


def _make_finalize(self: t.Any) -> t.Any:
    info = _MAKE_FINALIZE(self)
    recording = _active(self.environment)
    const = info.const
    if recording is None or const is None or getattr(const, "_recorded", False):
        return info
    if not self.environment.finalize:  # Jinja's str(): the same in every Environment
        return info

    def recorded(value: t.Any) -> t.Any:
        try:
            question = ("finalize", encode(value))
        except Unencodable as exc:
            recording.local("finalize", str(exc))
            return const(value)
        try:
            result = const(value)
        except Exception:
            recording.read(question, "impossible")
            raise
        try:
            recording.read(question, ("value", _answer(result)))
        except Unencodable as exc:
            recording.local("finalize", str(exc))
        return result

    recorded._recorded = True  # type: ignore[attr-defined]
    info = info._replace(const=recorded)
    self._finalize = info
    return info


def _visit_template(self: t.Any, node: t.Any, frame: t.Any = None) -> t.Any:
    recording = getattr(_local, "recording", None)
    if recording is None or recording.generating or self.environment is not recording.environment:
        return _VISIT_TEMPLATE(self, node, frame)
    recording.generating = True
    try:
        result = _VISIT_TEMPLATE(self, node, frame)
    finally:
        recording.generating = False
    recording.completed += 1
    return result


def install() -> None:
    """Put the hooks in place (once; each passes straight through unless recording)."""
    if nodes._FilterTestCommon.as_const is _as_const:
        return
    nodes._FilterTestCommon.as_const = _as_const  # type: ignore[method-assign]
    CodeGenerator._filter_test_common = _filter_test_common  # type: ignore[method-assign]
    CodeGenerator._make_finalize = _make_finalize  # type: ignore[method-assign]
    CodeGenerator.visit_Template = _visit_template  # type: ignore[method-assign]


install()

"""Deploy-time warming: compile every template of an Environment into its bytecode cache,
as ``compileall`` does for Python modules, so the first requests after a deploy hit."""

import dataclasses
import typing as t

from jinja2 import Environment

from ._isolation import rebind

#: Called after each template with (done, total); the CLI draws its progress bar with it.
Progress = t.Callable[[int, int], None]


@dataclasses.dataclass
class WarmSummary:
    """What :func:`warm` did."""

    compiled: t.List[str] = dataclasses.field(default_factory=list)
    already_warm: t.List[str] = dataclasses.field(default_factory=list)
    failed: t.List[t.Tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def merge(self, other: "WarmSummary") -> None:
        self.compiled += other.compiled
        self.already_warm += other.already_warm
        self.failed += other.failed


class _Observer:
    """A per-call stand-in for the bytecode cache that records what the loader did with it.

    Every call goes to the real cache with the real Environment, so the key (and its
    environment fingerprint) is exactly the application's; only the answers are noted."""

    def __init__(self, cache: t.Any, env: Environment) -> None:
        self._cache = cache
        self._env = env
        self.asked = False
        self.hit = False
        self.written = False

    def get_bucket(
        self, environment: Environment, name: str, filename: t.Optional[str], source: str
    ) -> t.Any:
        bucket = self._cache.get_bucket(self._env, name, filename, source)
        # the loader compiles on its view of the Environment, which is what is recorded
        rebind(bucket, environment)
        self.asked = True
        self.hit = self.hit or bucket.code is not None
        return bucket

    def set_bucket(self, bucket: t.Any) -> None:
        self._cache.set_bucket(bucket)
        self.written = True

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._cache, name)


def _warm_one(env: Environment, name: str, summary: WarmSummary) -> None:
    assert env.bytecode_cache is not None and env.loader is not None
    observer = _Observer(env.bytecode_cache, env)
    # The loader's own load() path, so the name, filename and key are exactly the ones the
    # application's get_template() uses, whatever the loader maps (PrefixLoader hands the
    # local name to its sub-loader; custom loaders may override load()). It runs on a shallow
    # copy of the Environment whose only difference is the cache it reads: the caller's
    # Environment is never modified, and the observer passes the original to the cache.
    view = object.__new__(type(env))
    view.__dict__.update(env.__dict__)
    view.bytecode_cache = observer  # type: ignore[assignment]
    try:
        env.loader.load(view, name, view.make_globals(None))
    except Exception as exc:  # a template that does not compile is reported, not fatal
        summary.failed.append((name, f"{type(exc).__name__}: {exc}"))
        return
    if observer.written:
        summary.compiled.append(name)
    elif observer.hit:
        summary.already_warm.append(name)
    elif not observer.asked:
        summary.failed.append((name, "its loader does not use the bytecode cache"))
    else:  # the cache had no code and the loader stored none
        summary.failed.append(
            (name, "the loader did not store the compiled code in the bytecode cache")
        )


# The Environment a forked worker inherits (it may not be picklable: loaders, lambdas).
_WORKER_ENV: t.Optional[Environment] = None


def _warm_chunk(names: t.List[str]) -> WarmSummary:
    summary = WarmSummary()
    assert _WORKER_ENV is not None
    for name in names:
        _warm_one(_WORKER_ENV, name, summary)
    return summary


def warm(
    env: Environment,
    names: t.Optional[t.Iterable[str]] = None,
    jobs: int = 1,
    progress: t.Optional[Progress] = None,
) -> WarmSummary:
    """Compile the templates ``names`` (default: ``env.list_templates()``) into
    ``env.bytecode_cache``; templates already cached are left alone. With ``jobs`` > 1 the
    work is split over forked worker processes. Returns a :class:`WarmSummary`."""
    global _WORKER_ENV
    if env.bytecode_cache is None:
        raise ValueError("the Environment has no bytecode_cache to warm")
    if env.loader is None:
        raise ValueError("the Environment has no loader to list templates from")
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    todo = list(env.list_templates() if names is None else names)
    summary = WarmSummary()
    if jobs == 1 or len(todo) < 2:
        for done, name in enumerate(todo, 1):
            _warm_one(env, name, summary)
            if progress:
                progress(done, len(todo))
        return summary
    # Small chunks keep the progress bar moving and the workers evenly loaded.
    size = max(1, min(16, len(todo) // (jobs * 4)))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    # imported here: they are slow to import and most processes never warm
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _WORKER_ENV = env
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            done = 0
            for part, chunk in zip(pool.map(_warm_chunk, chunks), chunks):
                summary.merge(part)
                done += len(chunk)
                if progress:
                    progress(done, len(todo))
    finally:
        _WORKER_ENV = None
    return summary

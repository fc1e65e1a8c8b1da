"""Deploy-time warming: compile every template of an Environment into its bytecode cache,
as ``compileall`` does for Python modules, so the first requests after a deploy hit."""

import dataclasses
import typing as t

from jinja2 import Environment

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


def _warm_one(env: Environment, name: str, summary: WarmSummary) -> None:
    bcc = env.bytecode_cache
    assert bcc is not None and env.loader is not None
    try:
        # The same steps as Jinja's loader, so the key (name, filename, environment
        # fingerprint) is exactly the one the application computes.
        source, filename, _ = env.loader.get_source(env, name)
        bucket = bcc.get_bucket(env, name, filename, source)
        if bucket.code is not None:
            summary.already_warm.append(name)
            return
        bucket.code = env.compile(source, name, filename)
        bcc.set_bucket(bucket)
    except Exception as exc:  # a template that does not compile is reported, not fatal
        summary.failed.append((name, f"{type(exc).__name__}: {exc}"))
    else:
        summary.compiled.append(name)


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

"""Repeated loads through new Environments, end to end and the get_bucket hit alone, against
jinja2.bccache and an ideal dict cache."""

from __future__ import annotations

import os
import time
import typing as t

import jinja2
import jinja2.bccache
import jinja2.meta
from benchenv import bench_env
from harness import BenchError, Results, Sampler, Setup, compare, jinja_fs, ours_fs
from jinja2 import FileSystemLoader

NAME = "new_env"

TARGETS = {
    "new_env": 20,
    "new_env_get_bucket": 20,
}


class DictBytecodeCache(jinja2.bccache.BytecodeCache):
    """The ideal in-process layer, as a reference: Jinja's own get_bucket (key and checksum
    hashing) and a dict lookup of the unmarshalled code, nothing else."""

    def __init__(self) -> None:
        self.codes: dict[tuple[str, str], t.Any] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        bucket.code = self.codes.get((bucket.key, bucket.checksum))

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.codes[(bucket.key, bucket.checksum)] = bucket.code


def working_set(s: Setup, page: str) -> list[str]:
    """``page`` and every template it pulls in (extends, includes, imports), recursively:
    what one request rendering it loads."""
    seen: list[str] = []
    todo = [page]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        with open(os.path.join(s.templates, *name.split("/")), encoding="utf-8") as f:
            source = f.read()
        todo.extend(n for n in jinja2.meta.find_referenced_templates(s.env.parse(source)) if n)
    return seen


def run(s: Setup, res: Results) -> None:
    """Repeated loads through new Environments (an Environment per request or job): Jinja's
    per-Environment template cache never helps, every get_template goes to the bytecode cache.
    One operation = a new Environment (built outside the timed part, sharing one cache object
    and one FileSystemLoader, as an application configures them once) loading a medium page
    and every template it pulls in. The caches are default-constructed: whatever in-process
    layer jinja_bccache has by default is in play, warmed by the calibration runs."""
    loader = FileSystemLoader(s.templates)
    page = s.items["medium"][0].name
    names = working_set(s, page)
    no_isolation = ours_fs(s.new_dir("newenv-ours-noiso"))
    no_isolation.isolate_environments = False
    caches: dict[str, t.Any] = {
        "ours": ours_fs(s.new_dir("newenv-ours")),
        "jinja2": jinja_fs(s.new_dir("newenv-jinja2")),
        "dict": DictBytecodeCache(),
        "ours_no_isolation": no_isolation,
    }
    for cache in caches.values():
        bench_env(loader=loader, bytecode_cache=cache).get_template(page)  # warm: compiles, writes
        for name in names:
            bench_env(loader=loader, bytecode_cache=cache).get_template(name)

    def sampler(cache: t.Any) -> Sampler:
        def sample(number: int) -> float:
            envs = [bench_env(loader=loader, bytecode_cache=cache) for _ in range(number)]
            start = time.perf_counter()
            for e in envs:
                for name in names:
                    e.get_template(name)
            return time.perf_counter() - start

        return sample

    misses = _count_compiles(
        lambda: [
            bench_env(loader=loader, bytecode_cache=c).get_template(n)
            for c in caches.values()
            for n in names
        ]
    )
    if misses:
        raise BenchError(
            f"new-Environment loads compiled {misses} templates: the caches are not warm"
        )
    samples = compare(
        {label: sampler(cache) for label, cache in caches.items()},
        s.profile.rounds,
        s.profile.sample_s,
        per_op=len(names),
    )
    note = f"{len(names)} templates per new Environment: {page} and what it pulls in"
    res.ratio(
        "new_env",
        "new_env",
        "repeat hit through a new Environment",
        ("jinja_bccache", samples["ours"]),
        ("jinja2.bccache", samples["jinja2"]),
        note=note,
    )
    res.ratio(
        "new_env_vs_dict",
        "new_env",
        "repeat hit through a new Environment vs dict cache",
        ("jinja_bccache", samples["ours"]),
        ("ideal dict cache", samples["dict"]),
        note="dict cache = Jinja's get_bucket + a dict of code objects, no isolation",
    )
    res.ratio(
        "new_env_bound",
        "new_env",
        "repeat hit through a new Environment, dict cache's ratio (bound)",
        ("ideal dict cache", samples["dict"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="the dict cache vs jinja2.bccache: what is left is Jinja's loader (get_source) "
        "and Template.from_code, which no bytecode cache avoids",
    )
    res.ratio(
        "new_env_no_isolation",
        "new_env",
        "repeat hit through a new Environment, isolation off",
        ("jinja_bccache", samples["ours_no_isolation"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="isolate_environments = False: what the environment fingerprint costs here",
    )
    res.details["new_env_templates"] = names
    _new_env_get_bucket(s, res, loader, names, caches["ours"], caches["jinja2"])


def _new_env_get_bucket(
    s: Setup, res: Results, loader: t.Any, names: list[str], ours: t.Any, jin: t.Any
) -> None:
    """The bytecode cache's own share of the loads above: get_bucket for each template
    through a new Environment (the fingerprint of an Environment it has not seen, then the
    hit), with the sources read beforehand, as Jinja's loader hands them over."""
    sources = [(name, *loader.get_source(s.env, name)[:2]) for name in names]

    def sampler(cache: t.Any) -> Sampler:
        def sample(number: int) -> float:
            envs = [bench_env(loader=loader, bytecode_cache=cache) for _ in range(number)]
            start = time.perf_counter()
            for e in envs:
                for name, source, filename in sources:
                    if cache.get_bucket(e, name, filename, source).code is None:
                        raise BenchError(f"get_bucket missed {name} through a new Environment")
            return time.perf_counter() - start

        return sample

    samples = compare(
        {"ours": sampler(ours), "jinja2": sampler(jin)},
        s.profile.rounds,
        s.profile.sample_s,
        per_op=len(names),
    )
    res.ratio(
        "new_env_get_bucket",
        "new_env",
        "get_bucket hit through a new Environment",
        ("jinja_bccache", samples["ours"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="the hit alone, fingerprint of the new Environment included",
    )


def _count_compiles(fn: t.Callable[[], object]) -> int:
    count = 0
    original = jinja2.Environment.compile

    def counting(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        nonlocal count
        count += 1
        return original(self, *args, **kwargs)

    jinja2.Environment.compile = counting  # type: ignore[method-assign]
    try:
        fn()
    finally:
        jinja2.Environment.compile = original  # type: ignore[method-assign]
    return count

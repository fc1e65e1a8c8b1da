"""What environment isolation costs: per hit, and once per new Environment (the
fingerprint)."""

from __future__ import annotations

import statistics
import time
import typing as t

import jinja2
from benchenv import bench_env
from harness import (
    Results,
    Setup,
    check_storage_hits,
    compare,
    hit_sampler,
    loop,
    ours_fs,
    storage_only,
    store,
)

NAME = "isolation"

# Costs, not ratios to meet: isolation is what jinja_bccache adds, no baseline has it.
TARGETS: dict[str, float] = {}


def run(s: Setup, res: Results) -> None:
    """What environment isolation costs: a medium hit with isolation on (the default) vs
    off, and the once-per-Environment fingerprint: the first hit through a new Environment
    vs a hit through one already used."""
    with storage_only():
        _isolation(s, res)


def _isolation(s: Setup, res: Results) -> None:
    env, items = s.env, s.items["medium"]
    on, off = (
        ours_fs(s.new_dir("iso-on")),
        ours_fs(s.new_dir("iso-off"), isolate_environments=False),
    )
    store(on, env, items)
    store(off, env, items)
    samples = compare(
        {"on": hit_sampler(on, env, items), "off": hit_sampler(off, env, items)},
        s.profile.rounds,
        s.profile.sample_s,
        per_op=len(items),
    )
    check_storage_hits(on, off)
    res.ratio(
        "isolation_hit",
        "isolation",
        "isolation on vs off, FS hit, medium",
        ("isolation on", samples["on"]),
        ("isolation off", samples["off"]),
        note="the memoized fingerprint's cost per hit",
    )
    res.cost(
        "isolation_per_hit",
        "isolation, per hit (on - off, medium)",
        statistics.median(samples["on"]) - statistics.median(samples["off"]),
    )

    # The first hit through a new Environment computes its fingerprint (or finds it by the
    # Environment's signature); later ones reuse it.
    it = items[0]
    args = (it.name, it.filename, it.source)
    from dbt_child import node_environment
    from jinja2.sandbox import SandboxedEnvironment

    kinds: list[tuple[str, str, t.Callable[[], jinja2.Environment], str]] = [
        (
            "fingerprint_new_env",
            "fingerprint, once per new Environment (first hit - repeat hit)",
            bench_env,
            "bench Environment: i18n, select_autoescape, 2 filters, 1 test",
        ),
        (
            "fingerprint_new_sandboxed_env",
            "... once per new SandboxedEnvironment",
            lambda: bench_env(SandboxedEnvironment),
            "the same, sandboxed: operator tables per instance",
        ),
        (
            "fingerprint_new_node_env",
            "... once per new Environment with an Undefined of its own",
            lambda: node_environment(SandboxedEnvironment, 0),
            "dbt's: sandboxed, an Undefined class per node",
        ),
    ]
    for fid, what, make, note in kinds:
        first_env = make()
        store(on, first_env, [it])

        def first_hit(number: int, make: t.Callable[[], jinja2.Environment] = make) -> float:
            envs = [make() for _ in range(number)]  # built outside the timed part
            start = time.perf_counter()
            for e in envs:
                on.get_bucket(e, *args)
            return time.perf_counter() - start

        samples = compare(
            {"first": first_hit, "repeat": loop(lambda e=first_env: on.get_bucket(e, *args))},
            s.profile.rounds,
            s.profile.sample_s,
        )
        first_us = statistics.median(samples["first"])
        res.cost(fid, what, first_us - statistics.median(samples["repeat"]), note=note)

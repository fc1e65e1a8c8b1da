"""What the integrity trailer costs per hit, and its verification alone."""

from __future__ import annotations

import os
import statistics
import typing as t

from harness import (
    SIZES,
    BenchError,
    Item,
    Results,
    Setup,
    check_hits,
    check_storage_hits,
    compare,
    entry_path,
    hit_sampler,
    jinja_fs,
    loop,
    ours_fs,
    storage_only,
    store,
)

import jinja_bccache

NAME = "integrity"

# Costs: the trailer is a guarantee jinja2.bccache does not give, so no ratio to reach.
TARGETS: dict[str, float] = {}


def run(s: Setup, res: Results) -> None:
    """What the integrity trailer costs per hit: jinja_bccache with isolate_environments=False
    (so the keys are Jinja's and isolation costs nothing) reading its own entries (xxh3
    trailer, verified before unmarshalling) vs reading stock Jinja's entries of the same
    templates (no trailer, accepted in that mode). The difference is the verification plus
    reading 16 more bytes; everything else on the path is the same."""
    with storage_only():
        _integrity(s, res)


def _integrity(s: Setup, res: Results) -> None:
    env = s.env
    for size in SIZES:
        items = s.items[size]
        trailer = ours_fs(s.new_dir("int-trailer"), isolate_environments=False)
        plain = ours_fs(s.new_dir("int-plain"), isolate_environments=False)
        store(trailer, env, items)
        store(jinja_fs(plain.directory), env, items)  # written by Jinja: no trailer
        check_hits(plain, env, items)
        for it in items:
            a, b = entry_path(trailer, env, it), entry_path(plain, env, it)
            if os.path.getsize(a) <= os.path.getsize(b):
                raise BenchError("integrity: the entry written by jinja_bccache has no trailer")
        samples = compare(
            {"trailer": hit_sampler(trailer, env, items), "plain": hit_sampler(plain, env, items)},
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        check_storage_hits(trailer, plain)
        res.ratio(
            f"integrity_{size}",
            "integrity",
            f"integrity trailer vs none, FS hit, {size}",
            ("with xxh3 trailer", samples["trailer"]),
            ("Jinja entry, no trailer", samples["plain"]),
            note="isolate_environments=False for both",
        )
        trailer_us, plain_us = (
            statistics.median(samples["trailer"]),
            statistics.median(samples["plain"]),
        )
        # The difference is the check's cost only while both paths are otherwise the same;
        # say so when reading entries without a trailer has become a path of its own.
        note = (
            ""
            if plain_us < 1.2 * trailer_us
            else (
                "not the check's cost: entries without a trailer take "
                f"{plain_us / trailer_us:.1f}x as long to read in this version; see the isolated "
                "figure"
            )
        )
        res.cost(
            f"integrity_per_hit_{size}",
            f"integrity check, per hit ({size}; trailer - none)",
            trailer_us - plain_us,
            note=note,
        )
        _integrity_isolated(s, res, size, trailer, items)


def _integrity_isolated(
    s: Setup, res: Results, size: str, cache: t.Any, items: list[Item]
) -> None:
    """The verification alone, through the private native method that reads an entry from
    a client, checks its trailer and hands the body before it to a bucket (so it also calls
    a Python client, copies the body and calls the bucket: an upper bound). The difference
    of two hit timings above is lost in the noise of a file read and an unmarshal; this is
    not. The native store of an unsigned memcached cache does it, over a dict."""
    client = _DictClient()
    load_body = jinja_bccache.MemcachedBytecodeCache(client)._store.load_body
    buckets = []
    for it in items:
        bucket = cache.get_bucket(s.env, it.name, it.filename, it.source)
        with open(entry_path(cache, s.env, it), "rb") as f:
            client.data[bucket.key] = f.read()
        buckets.append(_Body(bucket.key))
    for body in buckets:
        load_body(client, body.key, body)
        if body.code is None:
            raise BenchError("integrity: an entry of this run failed its own check")

    def op() -> None:
        for body in buckets:
            load_body(client, body.key, body)

    samples = compare(
        {"unseal": loop(op)}, s.profile.rounds, s.profile.sample_s, per_op=len(buckets)
    )
    res.cost(
        f"integrity_unseal_{size}",
        f"integrity check alone: xxh3 verify + body copy, via a dict client ({size})",
        statistics.median(samples["unseal"]),
        note="McStore.load_body over a dict client",
        samples_us=samples["unseal"],
    )


class _Body:
    """A bucket that only keeps the body it is handed: what the isolated figure loads into."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.code: t.Optional[bytes] = None

    def bytecode_from_string(self, body: t.Optional[bytes]) -> None:
        self.code = body


class _DictClient:
    """A memcached client over a dict: what the store reads in the isolated figure."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> t.Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes, timeout: t.Optional[int] = None) -> None:
        self.data[key] = value

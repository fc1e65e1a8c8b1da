"""A get_bucket hit on a warm filesystem cache: against jinja2.bccache and the floor with the
storage alone, and a repeat hit served by jinja_bccache's in-process layer."""

from __future__ import annotations

import hashlib
import marshal
import os
import pickle

import jinja2.bccache
from harness import (
    SIZES,
    BenchError,
    Results,
    Setup,
    check_storage_hits,
    compare,
    entry_path,
    hit_sampler,
    jinja_fs,
    loop,
    memory_layer,
    ours_fs,
    storage_only,
    store,
)

NAME = "fs_hit"

TARGETS = {
    "fs_hit_small": 4,
    "fs_hit_medium": 4,
    "fs_hit_large": 3,
    # "within 1.25x of the floor": floor time / our time >= 1 / 1.25
    "fs_hit_floor_small": 0.8,
    "fs_hit_floor_medium": 0.8,
    "fs_hit_floor_large": 0.8,
}


def run(s: Setup, res: Results) -> None:
    with storage_only():
        _fs_hit_storage(s, res)
    if memory_layer()["present"]:
        _fs_hit_memory(s, res)


def _fs_hit_storage(s: Setup, res: Results) -> None:
    """get_bucket on a warm filesystem cache, per size, against jinja2.bccache and the floor;
    jinja_bccache's in-process layer (if any) off, so every hit reads and unmarshals the entry.

    The floor is what any implementation must do for a hit, in the cheapest Python: open,
    fstat, read and close the entry file (os-level calls, no file object), sha1 the source
    (Jinja's checksum) and marshal.loads the payload (offset known in advance, so no parsing
    at all). It skips computing the key and checking the header, so it is a true lower bound.
    """
    env = s.env
    header = len(jinja2.bccache.bc_magic) + len(pickle.dumps("0" * 40, 2))
    for size in SIZES:
        items = s.items[size]
        ours, jin = ours_fs(s.new_dir("ours")), jinja_fs(s.new_dir("jinja2"))
        store(ours, env, items)
        store(jin, env, items)
        floor_args = [(entry_path(ours, env, it), it.source) for it in items]
        for path, _source in floor_args:
            with open(path, "rb") as f:
                code = marshal.loads(f.read()[header:])
            if not hasattr(code, "co_code"):
                raise BenchError(f"floor: {path} did not unmarshal to code")

        def floor(args=floor_args, header=header) -> None:
            for path, source in args:
                fd = os.open(path, os.O_RDONLY)
                try:
                    data = os.read(fd, os.fstat(fd).st_size)
                finally:
                    os.close(fd)
                hashlib.sha1(source.encode("utf-8")).hexdigest()
                marshal.loads(memoryview(data)[header:])

        samples = compare(
            {
                "ours": hit_sampler(ours, env, items),
                "jinja2": hit_sampler(jin, env, items),
                "floor": loop(floor),
            },
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        check_storage_hits(ours)
        res.ratio(
            f"fs_hit_{size}",
            "fs_hit",
            f"FS get_bucket hit, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )
        res.ratio(
            f"fs_hit_floor_{size}",
            "fs_hit",
            f"FS get_bucket hit vs floor, {size}",
            ("jinja_bccache", samples["ours"]),
            ("floor", samples["floor"]),
            note="floor = os.open/fstat/read/close + sha1(source) + marshal.loads(payload)",
        )


def _fs_hit_memory(s: Setup, res: Results) -> None:
    """A repeat get_bucket hit with jinja_bccache's defaults: served by its in-process layer
    (the key, the checksum and a lookup), against jinja2.bccache, which reads the file."""
    env = s.env
    for size in SIZES:
        items = s.items[size]
        ours, jin = ours_fs(s.new_dir("mem-ours")), jinja_fs(s.new_dir("mem-jinja2"))
        store(ours, env, items)
        store(jin, env, items)
        samples = compare(
            {"ours": hit_sampler(ours, env, items), "jinja2": hit_sampler(jin, env, items)},
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        stats = ours.stats() if callable(getattr(ours, "stats", None)) else {}
        note = "jinja_bccache defaults (in-process layer on, warm)"
        if "memory_hits" in stats and "hits" in stats:
            note += f"; {stats['memory_hits']} of {stats['hits']} hits from memory"
        res.ratio(
            f"mem_hit_{size}",
            "fs_hit",
            f"get_bucket repeat hit, in-process layer, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
            note=note,
        )

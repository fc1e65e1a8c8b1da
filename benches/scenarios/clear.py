"""clear() of a directory of 20 000 entries, against jinja2.bccache and the floor."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import typing as t

from harness import (
    BenchError,
    Results,
    Sampler,
    Setup,
    entry_path,
    jinja_fs,
    ours_fs,
    run_sample,
    store,
)

NAME = "clear"

TARGETS = {
    "clear_20000": 1.5,
}


class _ScandirUnlink:
    """The floor of clear(): list the directory and unlink every file, matching nothing."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.pattern = "__jinja2_%s.cache"

    def clear(self) -> None:
        with os.scandir(self.directory) as entries:
            for entry in entries:
                os.unlink(entry.path)


def run(s: Setup, res: Results) -> None:
    """clear() of a directory holding 20 000 entries of this cache's pattern, and the floor:
    the same directory listed and every file unlinked from Python with no name matching."""
    count = 20_000
    env, it = s.env, s.items["small"][0]
    caches: dict[str, t.Any] = {
        "ours": ours_fs(s.new_dir("clear-ours")),
        "jinja2": jinja_fs(s.new_dir("clear-jinja2")),
        "floor": _ScandirUnlink(s.new_dir("clear-floor")),
    }
    payload = {}
    for label in ("ours", "jinja2"):
        cache = caches[label]
        store(cache, env, [it])
        with open(entry_path(cache, env, it), "rb") as f:
            payload[label] = f.read()
    payload["floor"] = payload["ours"]
    # Real entries' bytes under names of the default pattern (sha1 hex keys), the same names
    # in both directories.
    names = [
        caches["ours"].pattern % hashlib.sha1(str(i).encode()).hexdigest() for i in range(count)
    ]
    times: dict[str, list[float]] = {k: [] for k in caches}

    def populate(label: str) -> None:
        directory = caches[label].directory
        shutil.rmtree(directory)
        os.mkdir(directory)
        data = payload[label]
        for name in names:
            fd = os.open(
                os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            os.write(fd, data)
            os.close(fd)

    for r in range(s.profile.clear_rounds):
        for label in list(caches) if r % 2 == 0 else list(caches)[::-1]:
            populate(label)
            elapsed = run_sample(_clear_sampler(caches[label]), 1)
            if os.listdir(caches[label].directory):
                raise BenchError(
                    f"{label}: clear() left {len(os.listdir(caches[label].directory))} files"
                )
            times[label].append(elapsed * 1e6)
    res.ratio(
        "clear_20000",
        "clear",
        "clear() of 20 000 entries",
        ("jinja_bccache", times["ours"]),
        ("jinja2.bccache", times["jinja2"]),
    )
    res.ratio(
        "clear_20000_floor",
        "clear",
        "clear() of 20 000 entries vs floor",
        ("jinja_bccache", times["ours"]),
        ("floor", times["floor"]),
        note="floor = os.scandir + os.unlink of every file",
    )


def _clear_sampler(cache: t.Any) -> Sampler:
    def sample(number: int) -> float:  # one clear() per repopulated directory: number is 1
        start = time.perf_counter()
        cache.clear()
        return time.perf_counter() - start

    return sample

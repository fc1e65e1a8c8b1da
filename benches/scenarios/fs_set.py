"""set_bucket, an atomic write of the whole entry, against jinja2.bccache and the floor, on the
benchmark's filesystem and on a tmpfs."""

from __future__ import annotations

import hashlib
import itertools
import marshal
import os
import pickle
import shutil
import tempfile

import jinja2.bccache
from harness import SIZES, Results, Setup, compare, jinja_fs, loop, ours_fs, store
from machine import filesystem_type

NAME = "fs_set"

TARGETS = {
    "fs_set_small": 3,
    "fs_set_medium": 3,
    "fs_set_large": 1.5,
    "fs_set_tmpfs_small": 3,
    "fs_set_tmpfs_medium": 3,
    "fs_set_tmpfs_large": 1.5,
}


def run(s: Setup, res: Results) -> None:
    """set_bucket (an atomic write of the whole entry) per size, overwriting one entry, on the
    benchmark's filesystem and, when the machine has one, on a tmpfs (where /tmp lives on many
    systems, and where the kernel's share is small enough to show what the Python side costs).

    The floor is the cheapest atomic write in Python: marshal.dumps of the code after a
    precomputed header, then create a temp file with a fixed name, write, close and rename it
    over the entry (no random name, no trailer, no key): where the kernel's cost starts. No
    implementation can beat jinja2.bccache by more than jinja2.bccache's time over the floor's,
    so that ratio is reported as the bound."""
    _fs_set(s, res, s.root, "")
    shm = "/dev/shm"
    if (
        filesystem_type(s.root) != "tmpfs"
        and os.path.isdir(shm)
        and filesystem_type(shm) == "tmpfs"
    ):
        root = tempfile.mkdtemp(prefix="jinja-bccache-bench-", dir=shm)
        try:
            _fs_set(s, res, root, "tmpfs")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _fs_set(s: Setup, res: Results, root: str, where: str) -> None:
    env = s.env
    fid, label = (f"_{where}", f" ({where})") if where else ("", "")
    dirs = itertools.count()

    def new_dir(name: str) -> str:
        path = os.path.join(root, f"set{fid}-{next(dirs):02d}-{name}")
        os.mkdir(path)
        return path

    for size in SIZES:
        items = s.items[size]
        samplers = {}
        floor_dir = new_dir("floor")
        floor_args = []
        for it in items:
            checksum = hashlib.sha1(it.source.encode("utf-8")).hexdigest()
            path = os.path.join(floor_dir, hashlib.sha1(it.name.encode("utf-8")).hexdigest())
            floor_args.append(
                (path, path + ".tmp", jinja2.bccache.bc_magic + pickle.dumps(checksum, 2), it.code)
            )

        def floor(args=floor_args, flags=os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> None:
            for path, tmp, header, code in args:
                data = header + marshal.dumps(code)
                fd = os.open(tmp, flags, 0o600)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                os.rename(tmp, path)

        floor()  # the entries exist, so every timed rename replaces one, as for the caches
        samplers["floor"] = loop(floor)
        for impl, cache in (
            ("ours", ours_fs(new_dir("ours"))),
            ("jinja2", jinja_fs(new_dir("jinja2"))),
        ):
            store(cache, env, items)
            buckets = []
            for it in items:
                bucket = cache.get_bucket(env, it.name, it.filename, it.source)
                bucket.code = it.code
                buckets.append(bucket)

            def op(set_bucket=cache.set_bucket, buckets=buckets) -> None:
                for b in buckets:
                    set_bucket(b)

            samplers[impl] = loop(op)
        samples = compare(samplers, s.profile.rounds, s.profile.sample_s, per_op=len(items))
        res.ratio(
            f"fs_set{fid}_{size}",
            "fs_set",
            f"FS set_bucket{label}, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )
        res.ratio(
            f"fs_set{fid}_floor_{size}",
            "fs_set",
            f"FS set_bucket{label} vs floor, {size}",
            ("jinja_bccache", samples["ours"]),
            ("floor", samples["floor"]),
            note="floor = marshal.dumps + os.open(O_EXCL)/write/close/rename",
        )
        res.ratio(
            f"fs_set{fid}_bound_{size}",
            "fs_set",
            f"FS set_bucket{label}, the floor's ratio (bound), {size}",
            ("floor", samples["floor"]),
            ("jinja2.bccache", samples["jinja2"]),
            note="jinja2.bccache vs the floor: the best ratio any implementation can reach",
        )

"""Bucket.bytecode_from_string and bytecode_to_string: the memcached path's (de)serialisation,
no I/O."""

from __future__ import annotations

import hashlib

import jinja2.bccache
from harness import SIZES, BenchError, Results, Setup, compare, loop

import jinja_bccache

NAME = "bucket_strings"

TARGETS = {
    "from_string_small": 4,
    "from_string_medium": 4,
    "from_string_large": 3,
}


def run(s: Setup, res: Results) -> None:
    """Bucket.bytecode_from_string / bytecode_to_string per size (the memcached path's
    (de)serialisation, no I/O). from_string is given Jinja's bytes, which both read."""
    env = s.env
    for size in SIZES:
        items = s.items[size]
        from_samplers, to_samplers = {}, {}
        for label, cls in (("ours", jinja_bccache.Bucket), ("jinja2", jinja2.bccache.Bucket)):
            pairs = []
            for it in items:
                checksum = hashlib.sha1(it.source.encode("utf-8")).hexdigest()
                writer = jinja2.bccache.Bucket(env, "key", checksum)
                writer.code = it.code
                data = writer.bytecode_to_string()
                bucket = cls(env, "key", checksum)
                bucket.bytecode_from_string(data)
                if bucket.code is None:
                    raise BenchError(
                        f"{cls.__module__}.Bucket.bytecode_from_string refused {it.name}"
                    )
                # Compared as code, not bytes: marshal flags objects by their reference
                # counts, so two dumps of equal code (or of one) need not be the same bytes.
                again = jinja2.bccache.Bucket(env, "key", checksum)
                again.bytecode_from_string(bucket.bytecode_to_string())
                if again.code != it.code:
                    raise BenchError(
                        f"{cls.__module__}.Bucket.bytecode_to_string differs for {it.name}"
                    )
                pairs.append((bucket, data))

            def from_op(pairs=pairs) -> None:
                for bucket, data in pairs:
                    bucket.bytecode_from_string(data)

            def to_op(pairs=pairs) -> None:
                for bucket, _ in pairs:
                    bucket.bytecode_to_string()

            from_samplers[label] = loop(from_op)
            to_samplers[label] = loop(to_op)
        samples = compare(from_samplers, s.profile.rounds, s.profile.sample_s, per_op=len(items))
        res.ratio(
            f"from_string_{size}",
            "bucket_strings",
            f"Bucket.bytecode_from_string, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )
        samples = compare(to_samplers, s.profile.rounds, s.profile.sample_s, per_op=len(items))
        res.ratio(
            f"to_string_{size}",
            "bucket_strings",
            f"Bucket.bytecode_to_string, {size}",
            ("jinja_bccache", samples["ours"]),
            ("jinja2.bccache", samples["jinja2"]),
        )

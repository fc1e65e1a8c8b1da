"""What environment isolation costs: the full fingerprint (once per Environment), the
memoized per-hit part, and a filesystem hit with isolation on and off, next to
jinja2.bccache. Medians of alternating rounds; run: python benches/bench_isolation.py [--quick]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import jinja2.bccache
from jinja2 import Environment, select_autoescape

import jinja_bccache
from jinja_bccache import _fingerprint

try:
    from jinja_bccache._memo import key_suffix
except ImportError:  # before the memo had a module of its own: to compare with those versions
    key_suffix = _fingerprint.key_suffix  # type: ignore[attr-defined]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402


def realistic_env(**options):
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=select_autoescape(), **options)
    env.filters["money"] = lambda v, currency="EUR": f"{v:.2f} {currency}"
    env.filters["initials"] = lambda s: "".join(w[0] for w in s.split())
    env.tests["even_id"] = lambda v: v % 2 == 0
    env.install_null_translations(newstyle=True)
    return env


def per_call_us(fn, number):
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    rounds, number = (3, 200) if args.quick else (15, 3000)

    env = realistic_env()
    full = statistics.median(
        per_call_us(lambda: _fingerprint.compute(env), max(number // 20, 10))
        for _ in range(rounds)
    )
    memo = statistics.median(
        per_call_us(lambda: key_suffix(env, "page.html"), number) for _ in range(rounds)
    )

    with tempfile.TemporaryDirectory() as src, tempfile.TemporaryDirectory() as cache_dir:
        names = corpus.write_corpus(src, 20)
        medium = corpus.by_size(names)["medium"][0]
        with open(os.path.join(src, medium)) as f:
            source = f.read()
        code = env.compile(source, medium, medium)
        caches = {
            "jinja2.bccache": jinja2.bccache.FileSystemBytecodeCache(cache_dir, "j_%s"),
            "ours, isolation off": jinja_bccache.FileSystemBytecodeCache(
                cache_dir, "o_%s", isolate_environments=False
            ),
            "ours, isolation on": jinja_bccache.FileSystemBytecodeCache(cache_dir, "i_%s"),
        }
        for cache in caches.values():
            bucket = cache.get_bucket(env, medium, medium, source)
            bucket.code = code
            cache.set_bucket(bucket)
            assert cache.get_bucket(env, medium, medium, source).code is not None
        hits = {label: [] for label in caches}
        for _ in range(rounds):
            for label, cache in caches.items():  # alternate within each round
                hits[label].append(
                    per_call_us(
                        lambda cache=cache: cache.get_bucket(env, medium, medium, source), number
                    )
                )
    hit = {label: statistics.median(v) for label, v in hits.items()}

    print(f"environment fingerprint, computed from scratch: {full:8.1f} us (once per Environment)")
    print(f"environment fingerprint, memoized, per hit:     {memo:8.2f} us")
    print(f"filesystem get_bucket hit, medium template ({len(source)} bytes of source):")
    base = hit["jinja2.bccache"]
    for label, us in hit.items():
        print(f"  {label:<22} {us:8.1f} us   jinja2.bccache / this = {base / us:5.2f}x")
    cost = hit["ours, isolation on"] - hit["ours, isolation off"]
    print(f"  isolation costs {cost:+.2f} us per hit")


if __name__ == "__main__":
    main()

"""A memcached hit on a real memcached, through a shared pymemcache client and through
jinja_bccache's own MemcachedClient."""

from __future__ import annotations

import typing as t

import jinja2.bccache
from harness import (
    Memcached,
    Results,
    Setup,
    check_storage_hits,
    compare,
    hit_sampler,
    storage_only,
    store,
)

import jinja_bccache

NAME = "memcached"

TARGETS = {
    "memcached_native": 3,
    "memcached_same_client": 2,
}


def run(s: Setup, res: Results) -> None:
    """A memcached hit (medium templates) on a real memcached: jinja2.bccache and
    jinja_bccache given the same pymemcache client, and jinja_bccache with its own
    MemcachedClient when the installed version has one."""
    try:
        from pymemcache.client.base import Client
    except ImportError:
        for fid, fig in (
            ("memcached_same_client", "memcached hit, same pymemcache client"),
            ("memcached_native", "memcached hit, native client vs jinja2 + pymemcache"),
        ):
            res.skip(
                fid, "memcached", fig, "pymemcache is not installed (benches/requirements.txt)"
            )
        return
    env, items = s.env, s.items["medium"]
    with Memcached() as server, storage_only():
        # no_delay: without TCP_NODELAY every request waits on Nagle/delayed ACK; one client
        # object for both caches, so the client's cost is identical.
        client = Client(("127.0.0.1", server.port), no_delay=True, connect_timeout=5, timeout=5)
        caches: dict[str, t.Any] = {
            "ours_pymemcache": jinja_bccache.MemcachedBytecodeCache(client),
            "jinja2": jinja2.bccache.MemcachedBytecodeCache(client),
        }
        native_cls = getattr(jinja_bccache, "MemcachedClient", None)
        if native_cls is not None:
            caches["ours_native"] = jinja_bccache.MemcachedBytecodeCache(
                native_cls([f"127.0.0.1:{server.port}"])
            )
        for cache in caches.values():
            store(cache, env, items)
        samples = compare(
            {label: hit_sampler(cache, env, items) for label, cache in caches.items()},
            s.profile.rounds,
            s.profile.sample_s,
            per_op=len(items),
        )
        check_storage_hits(*caches.values())
        client.close()
    res.ratio(
        "memcached_same_client",
        "memcached",
        "memcached hit, same pymemcache client",
        ("jinja_bccache", samples["ours_pymemcache"]),
        ("jinja2.bccache", samples["jinja2"]),
        note="medium templates; both caches share one pymemcache Client (no_delay)",
    )
    if "ours_native" in samples:
        res.ratio(
            "memcached_native",
            "memcached",
            "memcached hit, native client vs jinja2 + pymemcache",
            ("jinja_bccache+MemcachedClient", samples["ours_native"]),
            ("jinja2.bccache+pymemcache", samples["jinja2"]),
            note="medium templates",
        )
    else:
        res.skip(
            "memcached_native",
            "memcached",
            "memcached hit, native client vs jinja2 + pymemcache",
            "the installed jinja_bccache has no MemcachedClient",
        )

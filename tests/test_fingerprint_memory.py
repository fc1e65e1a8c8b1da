"""The fingerprint memo keeps nothing alive: an application that builds an Environment per
request and registers filters bound to the request (a closure, functools.partial, a bound
method) runs with flat memory, and an undescribable kind of value is logged once per process,
not once per request. Measured in a fresh process, so other tests' garbage is not counted."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import functools, gc, json, logging, os
    from jinja2 import Environment
    import jinja_bccache

    warnings = []
    handler = logging.Handler()
    handler.emit = warnings.append
    logging.getLogger("jinja_bccache").addHandler(handler)
    logging.getLogger("jinja_bccache").setLevel(logging.WARNING)

    class NullCache(jinja_bccache.BytecodeCache):
        def load_bytecode(self, bucket):
            pass

    class Request:
        def __init__(self, n):
            self.path = f"/item/{n}/"
            self.body = bytearray(2 * 1024 * 1024)  # what the request read: 2 MiB

        def absolute(self, value):
            return self.path + value

    def link(request, value):
        return request.path + value

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    cache = NullCache()

    def handle(n):
        request = Request(n)
        env = Environment(bytecode_cache=cache)
        env.filters["here"] = lambda value: request.path + value
        env.filters["link"] = functools.partial(link, request)
        env.filters["absolute"] = request.absolute
        for name in ("page.html", "nav.html"):
            cache.get_bucket(env, name, None, "{{ 'x'|here }}{{ 'y'|link }}{{ 'z'|absolute }}")

    for n in range(300):
        handle(n)
    gc.collect()
    start = rss()
    for n in range(300, 10_300):
        handle(n)
    gc.collect()
    print(json.dumps({"growth": rss() - start, "warnings": [r.getMessage() for r in warnings]}))
""")


def test_environment_per_request_with_request_bound_filters():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["growth"] < 16 * 1024 * 1024, result["growth"]
    # The request's buffer cannot be described: one warning for that kind of value.
    assert len(result["warnings"]) <= 1, result["warnings"]

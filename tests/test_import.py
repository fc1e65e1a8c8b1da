"""`import jinja_bccache` stays cheap: what only some processes need loads on first use."""

import json
import subprocess
import sys

HEAVY = ("logging", "dataclasses", "jinja_bccache._warm")

PROBE = """
import json, sys
import jinja2, jinja2.bccache
before = set(sys.modules)
import jinja_bccache
added = set(sys.modules) - before
print(json.dumps({"added": sorted(added), "already": sorted(m for m in %r if m in before)}))
""" % (HEAVY,)


def test_import_leaves_logging_and_warm_for_first_use():
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    assert "jinja_bccache._native" in result["added"]  # the probe sees what the import brings
    assert not set(HEAVY) & set(result["added"]), result


def test_warm_and_a_native_log_record_still_work_after_a_lazy_import(tmp_path):
    code = f"""
import logging, os, sys
import jinja_bccache
from jinja2 import DictLoader, Environment
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("jinja_bccache").addHandler(handler)
jinja_bccache.set_memory_cache(0)
cache = jinja_bccache.FileSystemBytecodeCache({str(tmp_path)!r})
loader = DictLoader({{"t.html": "hi"}})
assert jinja_bccache.warm(Environment(loader=loader, bytecode_cache=cache)).compiled == ["t.html"]
(name,) = os.listdir({str(tmp_path)!r})
with open(os.path.join({str(tmp_path)!r}, name), "r+b") as f:
    f.write(b"damaged")
Environment(loader=loader, bytecode_cache=cache).get_template("t.html")
print(len(records), records[0].getMessage() if records else "")
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    count, _, message = out.stdout.strip().partition(" ")
    assert count == "1" and "refusing cache entry" in message, out.stdout + out.stderr

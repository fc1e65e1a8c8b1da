"""The stubs match the runtime, and user code type-checks as it does with jinja2.bccache."""

import subprocess
import sys
from pathlib import Path

PACKAGE_SOURCE = Path(__file__).resolve().parent.parent / "python" / "jinja_bccache"

USER_CODE = """
from jinja2 import Environment, FileSystemLoader
from jinja_bccache import Bucket, FileSystemBytecodeCache, MemcachedBytecodeCache

env = Environment(loader=FileSystemLoader("t"), bytecode_cache=FileSystemBytecodeCache("/tmp/x"))
cache: FileSystemBytecodeCache = FileSystemBytecodeCache(None, "%s.cache")
bucket: Bucket = cache.get_bucket(env, "a", None, "src")
key: str = cache.get_cache_key("a", "b") + cache.get_source_checksum("s")
data: bytes = bucket.bytecode_to_string() if bucket.code else b""
directory: str = cache.directory

class Client:
    def get(self, key: str) -> bytes: return b""
    def set(self, key: str, value: bytes, timeout: "int | None" = None) -> None: ...

env2 = Environment(bytecode_cache=MemcachedBytecodeCache(Client(), timeout=5))
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


def test_stubtest_passes():
    result = run("mypy.stubtest", "jinja_bccache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_user_code_type_checks(tmp_path):
    snippet = tmp_path / "user.py"
    snippet.write_text(USER_CODE)
    result = run("mypy", "--strict", "--no-incremental", str(snippet))
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_source_type_checks():
    result = run("mypy", "--strict", "--no-incremental", str(PACKAGE_SOURCE))
    assert result.returncode == 0, result.stdout + result.stderr

"""User code that type-checks with jinja2.bccache must type-check with jinja_bccache: checked
by `mypy --strict` in dev/lint.sh, never run."""

from jinja2 import Environment, FileSystemLoader

from jinja_bccache import Bucket, FileSystemBytecodeCache, MemcachedBytecodeCache

env = Environment(loader=FileSystemLoader("t"), bytecode_cache=FileSystemBytecodeCache("/tmp/x"))
cache: FileSystemBytecodeCache = FileSystemBytecodeCache(None, "%s.cache")
bucket: Bucket = cache.get_bucket(env, "a", None, "src")
key: str = cache.get_cache_key("a", "b") + cache.get_source_checksum("s")
data: bytes = bucket.bytecode_to_string() if bucket.code else b""
directory: str = cache.directory


class Client:
    def get(self, key: str) -> bytes:
        return b""

    def set(self, key: str, value: bytes, timeout: "int | None" = None) -> None: ...


env2 = Environment(bytecode_cache=MemcachedBytecodeCache(Client(), timeout=5))

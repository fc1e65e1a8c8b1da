"""One URL names any store, as Django's ``CACHES``, Celery and cachelib name theirs:

- ``file:///var/cache/app`` (``?pattern=``): :class:`FileSystemBytecodeCache`, the directory
  created (mode 0700) if missing;
- ``memcached://h1:11211,h2:11211/?prefix=...``: :class:`MemcachedBytecodeCache` over the
  native :class:`MemcachedClient` (its options: ``io_timeout``, ``connect_timeout``,
  ``retry_interval``, ``max_value_size``, ``compress_threshold``, ``max_idle``);
- ``redis://``, ``rediss://`` (redis-py) and ``valkey://``, ``valkeys://`` (valkey-py):
  :class:`MemcachedBytecodeCache` over that client, built by its own ``from_url`` from
  everything in the URL but this package's parameters.

Every store takes ``isolate_environments`` and ``secret_env`` (the name of the environment
variable holding the signing secret: a secret is never written in a URL); the memcached and
Redis stores take ``prefix``, ``timeout`` (the entries' expiry in seconds, Jinja's
``timeout``) and ``ignore_memcache_errors``. Keyword arguments override the URL's.
"""

import os
import re
import typing as t
import urllib.parse

from ._base import BytecodeCache
from ._filesystem import FileSystemBytecodeCache
from ._memcached import MemcachedBytecodeCache, MemcachedClient

__all__ = ["from_url"]

#: The environment variable ``from_url()`` reads when given no URL.
URL_ENV = "JINJA_BCCACHE_URL"

_COMMON = {"isolate_environments", "secret_env"}
_KEYED = _COMMON | {"prefix", "timeout", "ignore_memcache_errors"}
_CLIENT = {
    "io_timeout": ("timeout", float),
    "connect_timeout": ("connect_timeout", float),
    "retry_interval": ("retry_interval", float),
    "max_value_size": ("max_value_size", int),
    "compress_threshold": ("compress_threshold", int),
    "max_idle": ("max_idle", int),
}
#: The Redis-protocol schemes: the client package, its class, and the name to install.
_REDIS = {
    "redis": ("redis", "Redis", "redis"),
    "rediss": ("redis", "Redis", "redis"),
    "valkey": ("valkey", "Valkey", "valkey"),
    "valkeys": ("valkey", "Valkey", "valkey"),
}
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def from_url(url: t.Optional[str] = None, **overrides: t.Any) -> BytecodeCache:
    """The cache the URL names (``$JINJA_BCCACHE_URL`` when ``url`` is None); ``overrides``
    are the cache's keyword arguments (``secret=``, ``prefix=``...), which win over the
    URL's. ``ValueError`` names the part of a URL that is wrong; ``ImportError`` names the
    package a Redis or Valkey URL needs."""
    if url is None:
        url = os.environ.get(URL_ENV)
        if not url:
            raise ValueError(f"no cache URL given and ${URL_ENV} is not set")
    url, scheme, parts = _parse(url)
    if scheme == "file":
        path, settings = _file(url, parts, overrides)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return FileSystemBytecodeCache(path, **settings)
    if scheme == "memcached":
        return _memcached(url, parts, overrides)
    if scheme in _REDIS:
        return _redis(url, scheme, parts, overrides)
    known = ", ".join(["file", "memcached", *_REDIS])
    raise ValueError(f"{url!r}: unknown scheme {scheme!r} (known: {known})")


def file_location(url: str) -> t.Tuple[str, t.Dict[str, t.Any]]:
    """The directory a ``file://`` URL names and the cache's settings from it, creating
    nothing (for commands that only read a directory); ValueError for another store."""
    shown, scheme, parts = _parse(url)
    if scheme != "file":
        raise ValueError(f"{shown!r} names another store than a cache directory")
    return _file(shown, parts, {})


def _parse(url: str) -> t.Tuple[str, str, urllib.parse.SplitResult]:
    """The URL as messages show it, its scheme and its parts."""
    if not isinstance(url, str):
        raise TypeError(f"the cache URL must be a str, not {type(url).__name__}")
    given, url = url, _redacted(url)  # what messages show: never a password
    scheme, sep, _ = given.partition("://")
    if given.startswith("file:") and not sep:
        scheme, sep = "file", "://"
    scheme = scheme.lower()
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise ValueError(f"{url!r}: expected SCHEME://..., e.g. file:///var/cache/app")
    try:
        parts = urllib.parse.urlsplit(given)
    except ValueError as exc:
        raise ValueError(f"{url!r}: {exc}") from None
    if parts.fragment:
        raise ValueError(f"{url!r}: a cache URL has no fragment (#{parts.fragment})")
    return url, scheme, parts


def _redacted(url: str) -> str:
    """The URL as error messages show it: a password in it replaced by ``***``."""
    return re.sub(r"(//[^/?#@]*?:)[^/?#@]*@", r"\1***@", url)


def _query(url: str, query: str) -> t.Dict[str, str]:
    """The query's parameters, each given once."""
    params: t.Dict[str, str] = {}
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"{url!r}: the query {query!r} is not name=value&...") from None
    for name, value in pairs:
        if name in params:
            raise ValueError(f"{url!r}: the parameter {name!r} is given twice")
        if name == "secret":
            raise ValueError(
                f"{url!r}: a secret does not belong in a URL; name the environment variable "
                "that holds it with secret_env="
            )
        params[name] = value
    return params


def _settings(
    url: str, params: t.Dict[str, str], allowed: t.Set[str], overrides: t.Dict[str, t.Any]
) -> t.Dict[str, t.Any]:
    """The cache's keyword arguments from this package's parameters, then the overrides."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"{url!r}: unknown parameter {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )
    settings: t.Dict[str, t.Any] = {}
    for name, value in params.items():
        if name in ("isolate_environments", "ignore_memcache_errors"):
            settings[name] = _boolean(url, name, value)
        elif name == "timeout":
            settings[name] = _number(url, name, value, int) if value else None
        elif name == "secret_env":
            settings["secret"] = _secret(url, value)
        else:
            settings[name] = value
    settings.update(overrides)
    return settings


def _boolean(url: str, name: str, value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise ValueError(f"{url!r}: {name}={value!r} is not true or false") from None


def _number(url: str, name: str, value: str, kind: t.Callable[[str], t.Any]) -> t.Any:
    for convert in (kind, float) if kind is int else (kind,):
        try:
            return convert(value)
        except ValueError:
            continue
    raise ValueError(f"{url!r}: {name}={value!r} is not a number")


def _secret(url: str, variable: str) -> bytes:
    secret = os.environ.get(variable) if variable else None
    if not secret:
        raise ValueError(f"{url!r}: secret_env={variable!r} names no set environment variable")
    return secret.encode("utf-8")


def _file(
    url: str, parts: urllib.parse.SplitResult, overrides: t.Dict[str, t.Any]
) -> t.Tuple[str, t.Dict[str, t.Any]]:
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"{url!r}: a file URL names a local directory, not host {parts.netloc!r}")
    path = urllib.parse.unquote(parts.path)
    if re.match(r"/[A-Za-z]:[/\\]", path):  # file:///C:/cache on Windows
        path = path[1:]
    if not os.path.isabs(path):
        raise ValueError(f"{url!r}: a file URL needs an absolute path (file:///var/cache/app)")
    return path, _settings(url, _query(url, parts.query), _COMMON | {"pattern"}, overrides)


def _servers(url: str, netloc: str) -> t.List[str]:
    if "@" in netloc:
        raise ValueError(f"{url!r}: memcached URLs take no user or password")
    servers = []
    for server in netloc.split(","):
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\]/]+)(?::(\d+))?", server)
        if match is None:
            raise ValueError(f"{url!r}: {server!r} is not HOST[:PORT]")
        port = int(match[2] or 11211)
        if not 0 < port < 65536:
            raise ValueError(f"{url!r}: port {port} of {server!r} is out of range")
        servers.append(f"{match[1]}:{port}")
    return servers


def _memcached(
    url: str, parts: urllib.parse.SplitResult, overrides: t.Dict[str, t.Any]
) -> BytecodeCache:
    if parts.path not in ("", "/"):
        raise ValueError(f"{url!r}: a memcached URL has no path ({parts.path!r})")
    if not parts.netloc:
        raise ValueError(f"{url!r}: a memcached URL names its servers (memcached://HOST:PORT)")
    servers = _servers(url, parts.netloc)
    params = _query(url, parts.query)
    options = {
        option: _number(url, name, params.pop(name), kind)
        for name, (option, kind) in _CLIENT.items()
        if name in params
    }
    settings = _settings(url, params, _KEYED, overrides)
    return MemcachedBytecodeCache(MemcachedClient(servers, **options), **settings)


def _redis(
    url: str, scheme: str, parts: urllib.parse.SplitResult, overrides: t.Dict[str, t.Any]
) -> BytecodeCache:
    package, name, install = _REDIS[scheme]
    try:
        module = __import__(package)
    except ImportError:
        raise ImportError(
            f"{url!r} needs the {install!r} package: pip install {install}", name=package
        ) from None
    params = _query(url, parts.query)
    ours = {k: params.pop(k) for k in list(params) if k in _KEYED}
    settings = _settings(url, ours, _KEYED, overrides)
    rest = urllib.parse.urlencode(params)
    client_url = urllib.parse.urlunsplit(parts._replace(query=rest))
    try:
        client = getattr(module, name).from_url(client_url)
        # A parameter the client does not know would fail only at the first connection,
        # inside a render, where the cache swallows it: a connection object, never
        # connected, is built now so that it fails here.
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{url!r}: {package} refuses it: {exc}") from None
    return MemcachedBytecodeCache(client, **settings)

"""The tool integrations by an environment variable: ``JINJA_BCCACHE_TOOL=dbt`` (or
``ansible``) turns the cache on in every Python process that starts with it set, dbt's and
Ansible's own commands included, and so in the child processes of a run that
``python -m jinja_bccache dbt ...`` started (it sets the variable for them).

The package installs ``jinja_bccache.pth``, which imports this module and runs :func:`main`
at interpreter start only while the variable is set (unset, it costs one dictionary lookup;
set, importing this package). This module imports
neither tool: it waits for the module that holds the tool's Environment classes to be
imported, and installs the integration right after, in whatever process imports it.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import types
import typing as t

from ._tools import VARIABLE, installed

#: The module whose import installs each tool's integration.
TRIGGERS = {
    "dbt": "dbt_common.clients.jinja",
    "ansible": "ansible._internal._templating._engine",
}

logger = logging.getLogger("jinja_bccache")


def _install_dbt(module: types.ModuleType) -> None:
    from ._dbt import cache_for, install

    cache = cache_for(sys.argv[1:])
    install(cache)
    installed("dbt", cache)


def _install_ansible(module: types.ModuleType) -> None:
    from ._ansible import cache_for, install

    cache = cache_for()
    install(cache)
    installed("ansible", cache, children=False)


_INSTALLERS: t.Dict[str, t.Callable[[types.ModuleType], None]] = {
    "dbt": _install_dbt,
    "ansible": _install_ansible,
}


def _install(then: t.Callable[[types.ModuleType], None], module: types.ModuleType) -> None:
    try:
        then(module)
    except Exception:  # the tool runs as without the cache, never fails for it
        logger.exception(
            "jinja_bccache: the integration was not installed when %s was imported",
            module.__name__,
        )


class _Then(importlib.abc.Loader):
    """A module's own loader, which runs ``then`` once the module is executed, and then puts
    the loader back in the module's spec (a reload is the module's own); until then everything
    else (its source for tracebacks, its resources) is the loader's own."""

    def __init__(self, loader: t.Any, then: t.Callable[[types.ModuleType], None]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> t.Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            spec = getattr(module, "__spec__", None)
            if spec is not None:
                spec.loader = self._loader
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
        _install(self._then, module)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._loader, name)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``name`` is imported, hands on the spec the other finders
    give, with its loader wrapped in :class:`_Then`. Once only."""

    def __init__(self, name: str, then: t.Callable[[types.ModuleType], None]) -> None:
        self.name = name
        self.then = then

    def find_spec(
        self, fullname: str, path: t.Any = None, target: t.Any = None
    ) -> t.Optional[importlib.machinery.ModuleSpec]:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Then(spec.loader, self.then)
        return spec


def activate(tool: str) -> None:
    """Installs ``tool``'s integration when the module holding its Environments is imported
    (at once if it is already)."""
    if tool not in TRIGGERS:
        names = ", ".join(TRIGGERS)
        logger.warning("jinja_bccache: %s=%r names no tool (%s)", VARIABLE, tool, names)
        return
    name, then = TRIGGERS[tool], _INSTALLERS[tool]
    module = sys.modules.get(name)
    if module is not None:
        _install(then, module)
    elif not any(isinstance(f, _AfterImport) and f.name == name for f in sys.meta_path):
        # site may run the .pth twice (it does in a virtual environment of some builds)
        sys.meta_path.insert(0, _AfterImport(name, then))


def main() -> None:
    """What ``jinja_bccache.pth`` runs while the variable is set."""
    tool = os.environ.get(VARIABLE)
    if tool:
        activate(tool)

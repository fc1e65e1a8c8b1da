"""Ansible with the bytecode cache, by one switch: ``python -m jinja_bccache ansible-playbook
<arguments>`` (or ``... ansible <arguments>``) runs Ansible's own command line with the
cache installed.

ansible-core (2.19+) templates every task argument with ``from_string`` and every
conditional with ``compile_expression``, through ``AnsibleEnvironment`` (or an overlay of
it), which it looks up in ``ansible._internal._templating._engine`` when it makes one. That
name is replaced by a subclass with :class:`FromStringCacheMixin` and one cache, before the
workers fork, so every worker loads what another compiled. Nothing else of Ansible is
changed.

What Ansible compiles depends on more than the Environment's settings, which the
fingerprint covers (its delimiters, ``#jinja2:`` headers and task overrides arrive as
overlays; its extensions, code generator and filters): on a context its lexer reads
(``escape_backslashes``, set per call), on a configuration setting its code generator reads
(``ALLOW_EMBEDDED_TEMPLATES``) and on ansible-core's own version. Those are the
:meth:`ambient_compile_key`; with Ansible's template debugging on (it writes each
compilation's Python source to a file) nothing is cached.

Templates Ansible's loader finds (``include``, ``import``) go through the bytecode cache as
in any Environment; Ansible compiles them while rendering, outside the context above, where
its lexer ignores it.

The cache is the store ``$JINJA_BCCACHE_URL`` names (see :func:`from_url`), else the
directory ``jinja_bccache/ansible`` in the user's cache directory, created if missing.
``$JINJA_BCCACHE_REPORT=1`` prints the cache's counters to stderr at exit (the main
process's: the workers count their own).
"""

import importlib
import logging
import os
import typing as t

from ._base import BytecodeCache
from ._from_string import FromStringCacheMixin
from ._isolation import entry_of
from ._tools import (
    cached_subclass,
    installed,
    named_or_directory,
    prepared,
    require,
    run,
    user_cache_dir,
)

logger = logging.getLogger("jinja_bccache")

#: The command lines the switch runs, by the name of Ansible's script.
COMMANDS = {"ansible-playbook": "ansible.cli.playbook", "ansible": "ansible.cli.adhoc"}


def cache_for() -> BytecodeCache:
    """The cache for an Ansible run (see the module's documentation)."""
    return named_or_directory(lambda: user_cache_dir("jinja_bccache", "ansible"))


def _ambient_compile_key() -> t.Callable[[t.Any], t.Optional[str]]:
    # Ansible's internals, imported only when the integration runs
    from ansible._internal._templating._jinja_bits import _TemplateCompileContext
    from ansible._internal._templating._jinja_common import _TemplateConfig
    from ansible.release import __version__

    def ambient_compile_key(self: t.Any) -> t.Optional[str]:
        """What Ansible's compilation reads besides the Environment's settings."""
        if self._debuggable_template_source:
            return None
        context = _TemplateCompileContext.current(optional=True)
        escape = "none" if context is None else bool(context.escape_backslashes)
        embedded = bool(_TemplateConfig.allow_embedded_templates)
        return f"ansible-core {__version__};escape_backslashes={escape};embedded={embedded}"

    return ambient_compile_key


def install(cache: BytecodeCache) -> None:
    """Make Ansible's Environments cache what they compile into ``cache`` (again: replaces the
    cache an earlier call installed)."""
    from ansible._internal._templating import _engine

    namespace = {"ambient_compile_key": _ambient_compile_key()}
    cached = cached_subclass(_engine.AnsibleEnvironment, (FromStringCacheMixin,), cache, namespace)
    _engine.AnsibleEnvironment = cached
    global _hooked
    if not _hooked and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_fingerprint_before_fork)
        _hooked = True


#: Whether the hook below is registered (once per process), and whether it has run.
_hooked = False
_fingerprinted = False


def _fingerprint_before_fork() -> None:
    """Computes the fingerprint of Ansible's Environment in the main process, right before
    it forks its first worker, so that every worker finds it in the memo it inherits (Ansible
    forks a worker per task, and describing its Environment costs some 60 ms) instead of
    computing it again. By then Ansible's configuration and plugins are set up as the
    workers will have them; a worker whose Environment differs computes its own."""
    global _fingerprinted
    if _fingerprinted:
        return
    _fingerprinted = True
    try:
        from ansible._internal._templating import _engine

        entry_of(_engine.AnsibleEnvironment())
    except Exception:  # the workers compute it themselves, as without this
        logger.debug("jinja_bccache: no fingerprint before fork", exc_info=True)


def main(command: str, args: t.Sequence[str]) -> int:
    """``python -m jinja_bccache ansible-playbook ARGS``: Ansible's command line, with the
    cache."""
    require("ansible", "ansible-core")
    # The command line's module first: it sets Ansible up as its own script does.
    cli = importlib.import_module(COMMANDS[command])
    cache = prepared("ansible", cache_for, install)
    if cache is not None:
        # Ansible's workers are forked, and have it already; the other Python processes it
        # starts (modules, their interpreters) template nothing, and are left alone.
        installed("ansible", cache, children=False)
    return run(lambda: cli.main([command, *args]))

"""A release that edits only what a filter calls is noticed, as a real deploy goes: one process
fills a shared cache, the application's module is edited, a new process starts on the same
cache. Jinja folds filters applied to literals at compile time, so serving the old release's
entries would render the old release's output."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[2])
    from jinja2 import DictLoader, Environment
    import jinja_bccache
    import shop

    class Counting(Environment):
        compiles = 0
        def compile(self, *a, **k):
            Counting.compiles += 1
            return super().compile(*a, **k)

    cache = jinja_bccache.FileSystemBytecodeCache(sys.argv[1])
    env = Counting(loader=DictLoader({"t": sys.argv[3]}), bytecode_cache=cache)
    env.filters.update(num=shop.num, show=shop.show, fmt=shop.Formatter().fmt,
                       static=shop.static)
    env.globals["STATIC_URL"] = "/s/"
    print(json.dumps({"out": env.get_template("t").render(), "compiles": Counting.compiles}))
""")

SHOP = """
import functools

from jinja2 import pass_environment

SEP = ","


def _fmt(value):
    return f"{value:{SEP}}"


def num(value):
    return _fmt(value)


def _join(*parts):
    return "".join(parts)


@pass_environment
def static(env, path):
    return _join(env.globals["STATIC_URL"], path)


@functools.singledispatch
def show(value):
    return str(value)


@show.register
def _(value: int):
    return f"#{value}"


class Formatter:
    @functools.singledispatchmethod
    def fmt(self, value):
        return str(value)


# registered from outside the class (a plugin's way), so only the registry holds it
def _fmt_int(self, value):
    return f"<{value}>"


Formatter.fmt.register(int, _fmt_int)
"""

#: What each release changes, the template that shows it, and the output before and after.
EDITS = {
    "helper": (
        'return f"{value:{SEP}}"',
        'return f"{value:{SEP}}".replace(",", " ")',
        "{{ 1234567|num }}",
        "1,234,567",
        "1 234 567",
    ),
    "module_constant": ('SEP = ","', 'SEP = "_"', "{{ 1234567|num }}", "1,234,567", "1_234_567"),
    "helper_of_pass_environment": (
        'return "".join(parts)',
        'return "/".join(parts)',
        '{{ "a.css"|static }}',
        "/s/a.css",
        "/s//a.css",
    ),
    "singledispatch": (
        'return f"#{value}"',
        'return f"No. {value}"',
        "{{ 5|show }}",
        "#5",
        "No. 5",
    ),
    "singledispatchmethod": (
        'return f"<{value}>"',
        'return f"[{value}]"',
        "{{ 7|fmt }}",
        "<7>",
        "[7]",
    ),
}


def run(cache_dir, shop_dir, template):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cache_dir), str(shop_dir), template],
        capture_output=True,
        text=True,
        # no .pyc: an edit of the same size within a second would not show
        env=dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1"),
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_release_editing_what_a_filter_calls_recompiles(tmp_path, edit):
    old, new, template, before, after = edit
    shop_dir = tmp_path / "app"
    shop_dir.mkdir()
    module = shop_dir / "shop.py"
    module.write_text(SHOP)
    (tmp_path / "cache").mkdir()
    first = run(tmp_path / "cache", shop_dir, template)
    assert first == {"out": before, "compiles": 1}
    # the unchanged release on the same cache hits: nothing is isolated away needlessly
    assert run(tmp_path / "cache", shop_dir, template) == {"out": before, "compiles": 0}
    assert old in SHOP
    module.write_text(SHOP.replace(old, new))
    assert run(tmp_path / "cache", shop_dir, template) == {"out": after, "compiles": 1}

"""dbt's way of using Jinja, reproduced without dbt: a sandboxed Environment per template, each
with an Undefined class made for its node (the class holds the node), every template built
with from_string. With only the Environment class given FromStringCacheMixin and a cache, a
second run must hit every template, log nothing and render the same, and the cache must not
grow: per-node classes that differ only in the node they hold are one configuration."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import json, logging, sys, threading, time
    import jinja2
    from jinja2 import Undefined
    from jinja2.sandbox import SandboxedEnvironment
    from jinja_bccache import FileSystemBytecodeCache, FromStringCacheMixin

    logged = []
    handler = logging.Handler()
    handler.emit = logged.append
    logging.getLogger("jinja_bccache").addHandler(handler)

    compiles = 0
    _compile = jinja2.Environment.compile

    def counting(self, *args, **kwargs):
        global compiles
        compiles += 1
        return _compile(self, *args, **kwargs)

    jinja2.Environment.compile = counting

    class Node:
        """A parsed model: data that changes every run, and a lock nothing can describe."""

        def __init__(self, name):
            self.unique_id = f"model.demo.{name}"
            self.created_at = time.time()
            self.lock = threading.Lock()

    def create_undefined(node):
        class NodeUndefined(Undefined):
            def __init__(self, hint=None, obj=None, name=None, exc=None):
                super().__init__(hint=hint, name=name)
                self.node = node

            def __getattr__(self, name):
                if name.startswith("__"):
                    raise AttributeError(name)
                return self.__class__(hint=self._undefined_hint, name=name)

            def __reduce__(self):
                raise RuntimeError(f"undefined in {node.unique_id}")

        return NodeUndefined

    class MacroFuzzEnvironment(FromStringCacheMixin, SandboxedEnvironment):
        def _parse(self, source, name, filename):
            return super()._parse(source, name, filename)

    TEXT_FILTERS = {"as_text": lambda x: x, "as_bool": lambda x: x, "as_number": lambda x: x}
    cache = FileSystemBytecodeCache(sys.argv[1])
    outputs = []
    for i in range(int(sys.argv[2])):
        node = Node(f"m{i}")
        env = MacroFuzzEnvironment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
                                   undefined=create_undefined(node), bytecode_cache=cache)
        env.filters.update(TEXT_FILTERS)
        source = ("{{ config(materialized='view') }}select {{ n }} as id, "
                  "'{{ 'x'|as_text }}{{ m.nope }}' as tag from {{ ref('m%d') }}" % (i - 1))
        template = env.from_string(source, globals={"n": i})
        outputs.append(template.render(config=lambda **kw: "", ref=lambda name: name,
                                       m=object()))
    print(json.dumps({"compiles": compiles, "outputs": outputs,
                      "logged": [r.getMessage() for r in logged]}))
''')


def run(cache_dir, templates):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cache_dir), str(templates)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_dbt_pattern_hits_every_template_in_a_new_process(tmp_path):
    templates = 300
    cold = run(tmp_path, templates)
    assert cold["compiles"] == templates and cold["logged"] == []
    assert len(os.listdir(tmp_path)) == templates
    warm = run(tmp_path, templates)
    assert warm == {"compiles": 0, "outputs": cold["outputs"], "logged": []}
    assert len(os.listdir(tmp_path)) == templates  # the directory does not grow run after run

"""``python -m jinja_bccache ansible-playbook``: Ansible's own command line with the cache,
run as a user runs it, and what Ansible compiles differently by context kept apart."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from test_tool_variable import installed_pth

from jinja_bccache import FileSystemBytecodeCache, MemcachedBytecodeCache

PLAYBOOK = textwrap.dedent("""\
    - hosts: all
      gather_facts: false
      vars:
        port: 8000
        names: [web, db]
        path: 'c:\\newfile'
      tasks:
        - ansible.builtin.set_fact:
            joined: "{{ names | map('upper') | join(',') }}-{{ port + 1 }}"
          when: port > 10 and names is defined
        - ansible.builtin.debug:
            msg: "{{ joined }} {{ path }} {{ 'a\\\\1' | regex_replace('a', 'b') }}"
          when: "'WEB' in joined"
        - ansible.builtin.debug:
            msg: "skipped"
          when: port < 10
        - ansible.builtin.template:
            src: "t{{ item }}.j2"
            dest: "{{ out }}/t{{ item }}.txt"
            mode: "0600"
          loop: [0, 1]
        - ansible.builtin.debug:
            msg: "{{ lookup('ansible.builtin.template', 'headed.j2') }}"
""")

TEMPLATE = "{% for n in names %}{{ n }}:{{ port + loop.index }}\n{% endfor %}{{ item }}\n"
HEADED = '#jinja2: variable_start_string: "[[", variable_end_string: "]]"\n[[ port ]] {{ port }}\n'


def _playbook(tmp_path):
    work = tmp_path / "work"
    (work / "templates").mkdir(parents=True)
    (work / "site.yml").write_text(PLAYBOOK)
    for i in range(2):
        (work / "templates" / f"t{i}.j2").write_text(TEMPLATE)
    (work / "templates" / "headed.j2").write_text(HEADED)
    return work


def _run(work, out, env, cached):
    """ansible-playbook: plain (False), through ``python -m jinja_bccache`` (True), or
    Ansible's own command line with ``JINJA_BCCACHE_TOOL=ansible`` ("variable")."""
    switch = cached is True
    command = [sys.executable, "-m", "jinja_bccache"] if switch else [sys.executable, "-m"]
    command += ["ansible-playbook"] if switch else ["ansible.cli.playbook"]
    if cached == "variable":
        env = dict(env, JINJA_BCCACHE_TOOL="ansible")
    command += [
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable} out={out}",
        str(work / "site.yml"),
    ]
    env = dict(env, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(work / "tmp"))
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(os.listdir(out))
    return done.stdout, [(out / name).read_text() for name in files], done.stderr


@pytest.mark.parametrize("switch", [True, "variable"], ids=["python-m", "variable"])
def test_a_playbook_run_through_the_switch_renders_as_without_it(ansible, tmp_path, switch):
    if switch == "variable" and not os.path.exists(installed_pth()):
        pytest.skip("an editable install has no jinja_bccache.pth to read the variable")
    work = _playbook(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JINJA_BCCACHE_")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    outputs = []
    for i, cached in enumerate((False, switch, switch)):
        out = tmp_path / f"out{i}"
        out.mkdir()
        outputs.append(_run(work, out, env, cached))
        if i == 1:
            cache_dir = tmp_path / "xdg" / "jinja_bccache" / "ansible"
            assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
            written = {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    (plain, plain_files, _), (cold, cold_files, cold_err), (warm, warm_files, warm_err) = outputs
    assert "WEB,DB-8001 c:\\\\newfile b\\\\1" in plain and "8000 {{ port }}" in plain
    assert plain_files == ["web:8001\ndb:8002\n0\n", "web:8001\ndb:8002\n1\n"]
    assert cold == plain and warm == plain
    assert cold_files == warm_files == plain_files
    assert "jinja_bccache" not in cold_err + warm_err  # nothing logged
    # Every task argument, conditional and file compiled in a cold run, in Ansible's forked
    # workers; a warm run loads them all, writing nothing (a miss would write)
    assert len(written) >= 8
    assert {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == written


ESCAPES = textwrap.dedent("""
    import json, sys
    if sys.argv[1] != "-":
        from jinja_bccache import FileSystemBytecodeCache
        from jinja_bccache._ansible import install
        install(FileSystemBytecodeCache(sys.argv[1]))
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    templar = Templar(loader=DataLoader(), variables={"x": 2})
    out = []
    for escape in json.loads(sys.argv[2]):
        source = trust_as_template("{{ 'a\\\\\\\\1\\\\n' }}-{{ x }}")
        out.append(templar.template(source, escape_backslashes=escape))
        out.append(templar.evaluate_expression(trust_as_template("x * 3")))
    print(json.dumps(out))
""")


def _escapes(cache_dir, order):
    done = subprocess.run(
        [sys.executable, "-c", ESCAPES, cache_dir, json.dumps(order)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_what_ansible_compiles_differently_by_context_is_kept_apart(ansible, tmp_path):
    # Ansible's lexer escapes backslashes in string constants or not, by a context set per
    # call: the same source compiles to two templates, and neither may be served for the other.
    for order in ([True, False], [False, True]):
        cache = tmp_path / ("tf" if order[0] else "ft")
        cache.mkdir()
        plain = _escapes("-", order)
        assert plain[0] != plain[2]
        assert _escapes(str(cache), order) == plain  # cold
        assert _escapes(str(cache), order) == plain  # warm
        assert _escapes(str(cache), order[::-1]) == _escapes("-", order[::-1])
        assert len(os.listdir(cache)) == 3  # two templates, one expression


def test_the_cache_is_the_named_store_or_the_users_cache_directory(tmp_path, monkeypatch):
    from jinja_bccache._ansible import cache_for

    monkeypatch.delenv("JINJA_BCCACHE_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = cache_for()
    assert isinstance(cache, FileSystemBytecodeCache)
    assert cache.directory == str(tmp_path / "xdg" / "jinja_bccache" / "ansible")
    assert stat.S_IMODE(os.stat(cache.directory).st_mode) == 0o700
    monkeypatch.setenv("JINJA_BCCACHE_URL", "memcached://127.0.0.1:1/?prefix=fleet/")
    cache = cache_for()
    assert isinstance(cache, MemcachedBytecodeCache) and cache.prefix == "fleet/"

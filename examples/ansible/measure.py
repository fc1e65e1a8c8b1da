"""What share of an ``ansible-playbook`` run is Jinja compiling (the most a bytecode cache
could save), and what the cache saves. Generates a template-heavy playbook (local
connection; TASKS tasks with templated arguments and conditionals; the ``template`` module
over FILES files), then runs it ROUNDS times each way, interleaved: plain; with Jinja's
compile entry points timed in every process Ansible forks (sitecustomize, only for
ansible-playbook itself); through ``python -m jinja_bccache ansible-playbook`` with an empty
cache (cold) and with the cache that run left (warm). Prints medians and per-round ratios.

    python measure.py [--tasks 300] [--files 40] [--rounds 3]

Run with the Python of an environment where ansible-core is installed (2.19+).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

# Timed: Environment.compile (from_string and loaded templates come through it) and
# compile_expression (conditionals, which parse outside compile), outermost calls only.
# Each process appends its own calls to the file, so forked workers are counted too.
SITECUSTOMIZE = textwrap.dedent("""
    import os, sys, time
    if os.path.basename(sys.argv[0] if sys.argv else "").startswith("ansible-playbook"):
        import jinja2
        _out = os.environ["JINJA_COMPILE_TIMINGS"]
        _depth = [0]

        def _timed(original):
            def timed(*args, **kwargs):
                if _depth[0]:
                    return original(*args, **kwargs)
                _depth[0] += 1
                start = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    _depth[0] -= 1
                    with open(_out, "a") as f:
                        f.write(f"{time.perf_counter() - start:.9f}\\n")
            return timed

        jinja2.Environment.compile = _timed(jinja2.Environment.compile)
        jinja2.Environment.compile_expression = _timed(jinja2.Environment.compile_expression)
""")


def generate(root: str, tasks: int, files: int) -> str:
    """The playbook, its templates and its output directory under ``root``."""
    os.makedirs(os.path.join(root, "templates"))
    out = os.path.join(root, "out")
    for i in range(files):
        with open(os.path.join(root, "templates", f"f{i}.j2"), "w") as f:
            f.write(
                f"# file {i} for {{{{ inventory_hostname }}}}\n"
                "{% for name, svc in services.items() %}\n"
                "[{{ name }}]\nport = {{ svc.port + " + str(i) + " }}\n"
                "enabled = {{ svc.enabled | bool | lower }}\n"
                "{% if svc.tags %}tags = {{ svc.tags | join(',') }}{% endif %}\n"
                "{% endfor %}\n"
            )
    lines = [
        "- hosts: all",
        "  gather_facts: false",
        "  vars:",
        "    base_port: 8000",
        "    env_name: staging",
        "    services:",
        *[
            f"      svc{j}: {{port: {9000 + j}, enabled: {str(j % 2 == 0).lower()}, "
            f"tags: [a{j}, b{j}]}}"
            for j in range(6)
        ],
        "  tasks:",
    ]
    for i in range(tasks):
        # each task's own expressions, as real playbooks have: no two sources alike
        lines += [
            f"    - name: fact {i}",
            "      ansible.builtin.set_fact:",
            f'        value_{i}: "{{{{ env_name | upper }}}}-{{{{ base_port + {i} }}}}'
            f"-{{{{ services | dict2items | map(attribute='key') | join(',') }}}}\"",
            f"      when: base_port > {i} and env_name is defined",
        ]
    lines += [
        "    - name: rendered files",
        "      ansible.builtin.template:",
        "        src: 'templates/f{{ item }}.j2'",
        f"        dest: '{out}/f{{{{ item }}}}.conf'",
        "        mode: '0600'",
        f"      loop: '{{{{ range({files}) | list }}}}'",
    ]
    playbook = os.path.join(root, "site.yml")
    with open(playbook, "w") as f:
        f.write("\n".join(lines) + "\n")
    return playbook


def run(playbook: str, env: dict, cached: bool = False) -> float:
    shutil.rmtree(os.path.join(os.path.dirname(playbook), "out"), ignore_errors=True)
    os.makedirs(os.path.join(os.path.dirname(playbook), "out"))
    script = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    command = [
        *([sys.executable, "-m", "jinja_bccache", "ansible-playbook"] if cached else [script]),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",  # modules run by this Python too
        playbook,
    ]
    start = time.perf_counter()
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"ansible-playbook failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="ansible-compile-share-")
    playbook = generate(root, args.tasks, args.files)
    hook = os.path.join(root, "hook")
    os.makedirs(hook)
    with open(os.path.join(hook, "sitecustomize.py"), "w") as f:
        f.write(SITECUSTOMIZE)
    timings = os.path.join(root, "timings")
    base = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0")
    timed_env = dict(base, PYTHONPATH=hook, JINJA_COMPILE_TIMINGS=timings)
    run(playbook, base)  # warms the OS's file cache and the .pyc files
    plain, timed, compiled, calls, cold, warm = [], [], [], [], [], []
    for i in range(args.rounds):
        # the cache's default place, in a user cache directory of this round's own
        cached_env = dict(base, XDG_CACHE_HOME=os.path.join(root, f"cache-{i}"))
        plain.append(run(playbook, base))
        cold.append(run(playbook, cached_env, cached=True))
        open(timings, "w").close()
        timed.append(run(playbook, timed_env))
        with open(timings) as f:
            seconds = [float(line) for line in f]
        compiled.append(sum(seconds))
        calls.append(len(seconds))
        warm.append(run(playbook, cached_env, cached=True))
    wall = statistics.median(plain)
    compile_s = statistics.median(compiled)
    print(
        f"ansible-playbook, {args.tasks} templated tasks + template over {args.files} files, "
        f"{args.rounds} rounds (median):"
    )
    print(f"  wall time, plain            {wall:6.2f} s  ({min(plain):.2f}-{max(plain):.2f})")
    print(f"  wall time, compile timed    {statistics.median(timed):6.2f} s")
    calls_median = statistics.median(calls)
    print(f"  Jinja compile, all processes {compile_s:5.2f} s  ({calls_median:.0f} calls)")
    print(f"  compile share of the run    {compile_s / wall:6.1%}")
    print(f"  cached, cold                {statistics.median(cold):6.2f} s")
    warm_s = statistics.median(warm)
    print(f"  cached, warm                {warm_s:6.2f} s  ({min(warm):.2f}-{max(warm):.2f})")
    print(f"  saved by a warm cache       {1 - warm_s / wall:6.1%} of the plain run")
    ratios = ", ".join(f"{w / p:.3f}" for w, p in zip(warm, plain))
    print(f"  warm/plain per round        {ratios}")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()

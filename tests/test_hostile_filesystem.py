"""FileSystemBytecodeCache on a hostile or broken filesystem, checked against real Jinja.

Another user's default directory, entries replaced by symlinks to forged or odd targets,
directories and entries another user cannot write or read, a file size limit hit in the
middle of a write, a directory path through a regular file, a permissive umask. Wherever a
template is rendered, the output is compared with an uncached render of the same source.

Several scenarios need a second user: the script then runs in a subprocess that imports
everything as root (the interpreter lives under /root, which nobody cannot enter) and drops
to uid/gid 65534 before touching the cache.

Longer than most test files: every scenario runs through the same second-user harness.
"""

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap

import pytest
from forge import recorded_code
from jinja2 import DictLoader, Environment

import jinja_bccache

NOBODY = 65534
NAME = "page.html"
SOURCE = "<h1>{{ title|upper }}</h1>{% for i in items %}<li>{{ i * 2 }}</li>{% endfor %}"
#: What an attacker compiles into a forged entry for NAME: same key, same checksum.
FORGED_SOURCE = "PWNED {{ title }}"
CONTEXT = {"title": "shop", "items": [1, 2, 3]}
UNSAFE_DIR_MESSAGE = "Cannot determine safe temp directory.  You need to explicitly provide one."

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root (chown, setuid)"
)


def uncached(source=SOURCE):
    return Environment(loader=DictLoader({NAME: source})).get_template(NAME).render(CONTEXT)


def render_with(cache, source=SOURCE):
    env = Environment(loader=DictLoader({NAME: source}), bytecode_cache=cache)
    return env.get_template(NAME).render(CONTEXT)


def plain_env(source=SOURCE):
    """An Environment configured like the ones render_with() builds (same fingerprint)."""
    return Environment(loader=DictLoader({NAME: source}))


def entry_path(cache, source=SOURCE):
    """The file name the cache uses for NAME (isolation on, the default)."""
    return cache._get_cache_filename(cache.get_bucket(plain_env(source), NAME, None, source))


def run_python(script, *args, env=None, timeout=120):
    """Run `script` in a fresh interpreter; its last stdout line is JSON, returned parsed.
    The in-process layer is off: these scripts are about what happens on disk."""
    env = dict(os.environ if env is None else env, JINJA_BCCACHE_MEMORY_BYTES="0")
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.splitlines()[-1])


#: Shared by the subprocess scripts: the same template and helpers as above, and a way to
#: become nobody once everything the render needs has been imported and exercised.
PRELUDE = textwrap.dedent(
    f"""
    import errno, json, os, sys, tempfile
    import jinja2.bccache, jinja_bccache
    from jinja2 import DictLoader, Environment

    NAME, SOURCE, CONTEXT = {NAME!r}, {SOURCE!r}, {CONTEXT!r}
    MODULES = {{"jinja2": jinja2.bccache, "ours": jinja_bccache}}

    def environment(cache, source=SOURCE):
        return Environment(loader=DictLoader({{NAME: source}}), bytecode_cache=cache)

    def attempt(fn):
        try:
            return ["ok", fn()]
        except OSError as exc:
            return [type(exc).__name__, exc.errno, exc.filename]

    def render(cache, source=SOURCE):
        return attempt(lambda: environment(cache, source).get_template(NAME).render(CONTEXT))

    def hit(cache, source=SOURCE):
        env = Environment(loader=DictLoader({{NAME: source}}))
        return cache.get_bucket(env, NAME, None, source).code is not None

    UNCACHED = environment(None).get_template(NAME).render(CONTEXT)

    def become_nobody():
        # Exercise every code path once as root (lazy imports, compiled regexes), then drop.
        with tempfile.TemporaryDirectory() as scratch:
            for module in MODULES.values():
                render(module.FileSystemBytecodeCache(scratch))
                render(module.FileSystemBytecodeCache(scratch))
        os.setgroups([])
        os.setgid({NOBODY})
        os.setuid({NOBODY})
        assert (os.getuid(), os.geteuid(), os.getgid()) == ({NOBODY}, {NOBODY}, {NOBODY})
    """
)


@pytest.fixture
def shared_dir():
    """A directory nobody can traverse (pytest's tmp_path lives under a 0700 root dir)."""
    path = tempfile.mkdtemp(prefix="jbc-hostile-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


# --- the default directory belongs to someone else ------------------------------------------

DEFAULT_DIR_PROBE = """
import json, sys
if sys.argv[1] == "jinja2":
    import jinja2.bccache as module
else:
    import jinja_bccache as module
try:
    result = ["ok", module.FileSystemBytecodeCache().directory]
except Exception as exc:
    result = [type(exc).__name__, str(exc)]
print(json.dumps(result))
"""


@pytest.mark.parametrize("mode", [0o700, 0o755, 0o777], ids=oct)
def test_default_directory_owned_by_another_user_is_refused_like_jinja(tmp_path, mode):
    # TMPDIR (not tempfile.tempdir) is how a deployment points both at another temp dir.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    default = tmp_path / f"_jinja2-cache-{os.getuid()}"
    outcomes = {}
    for impl in ("jinja2", "ours"):
        default.mkdir()
        (default / "theirs.txt").write_text("someone else's")
        os.chown(default, NOBODY, NOBODY)
        os.chmod(default, mode)
        result = run_python(DEFAULT_DIR_PROBE, impl, env=env)
        st = os.lstat(default)
        # what is left behind counts too: same owner, same mode, same contents as Jinja leaves
        outcomes[impl] = (
            result,
            st.st_uid,
            st.st_gid,
            stat.S_IMODE(st.st_mode),
            sorted(os.listdir(default)),
        )
        shutil.rmtree(default)
    assert outcomes["jinja2"][0] == ["RuntimeError", UNSAFE_DIR_MESSAGE]
    assert outcomes["ours"] == outcomes["jinja2"]
    assert outcomes["ours"][1:3] == (NOBODY, NOBODY)
    assert outcomes["ours"][4] == ["theirs.txt"]


# --- symlinks and odd files planted at an entry's name --------------------------------------


def forge_entry(tmp_path):
    """A victim cache directory and, in an attacker's directory, a VALID entry for NAME in it
    (right key, right checksum, intact trailer) whose code was compiled from FORGED_SOURCE."""
    victim, attacker = tmp_path / "cache", tmp_path / "attacker"
    victim.mkdir()
    attacker.mkdir()
    cache = jinja_bccache.FileSystemBytecodeCache(str(victim))
    env = plain_env()
    real = cache.get_bucket(env, NAME, None, SOURCE)
    assert real.code is None
    forged = jinja_bccache.Bucket(env, real.key, real.checksum)
    forged.code = recorded_code(env, FORGED_SOURCE, NAME)
    jinja_bccache.FileSystemBytecodeCache(str(attacker)).set_bucket(forged)
    entry = cache._get_cache_filename(real)
    forged_file = attacker / os.path.basename(entry)
    assert forged_file.is_file()
    return victim, entry, forged_file


def test_forged_entry_is_valid_when_it_is_a_regular_file(tmp_path):
    # The control for the symlink tests: the forged entry is one this cache accepts, so the
    # symlink tests below fail if a symlink is ever followed.
    victim, entry, forged_file = forge_entry(tmp_path)
    shutil.copyfile(forged_file, entry)
    forged_render = uncached(FORGED_SOURCE)
    assert forged_render != uncached()
    assert render_with(jinja_bccache.FileSystemBytecodeCache(str(victim))) == forged_render


def plant(kind, entry, forged_file, tmp_path):
    """A symlink at `entry`; returns a snapshot function of what it points at."""
    if kind == "file":
        target = forged_file
    elif kind == "directory":
        target = tmp_path / "target-dir"
        target.mkdir()
        (target / "inside").write_bytes(forged_file.read_bytes())
    else:  # its directory exists: a create through the link would succeed
        (tmp_path / "nowhere").mkdir()
        target = tmp_path / "nowhere" / "entry.cache"
    os.symlink(target, entry)

    def snapshot():
        if target.is_dir():
            return ("dir", {p.name: p.read_bytes() for p in target.iterdir()})
        if target.exists():
            st = os.stat(target)
            return ("file", target.read_bytes(), stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        return ("missing", os.listdir(tmp_path / "nowhere"))

    return snapshot


@pytest.mark.parametrize("kind", ["file", "directory", "dangling"])
def test_symlink_at_entry_name_is_never_followed(tmp_path, kind):
    victim, entry, forged_file = forge_entry(tmp_path)
    snapshot = plant(kind, entry, forged_file, tmp_path)
    before = snapshot()
    cache = jinja_bccache.FileSystemBytecodeCache(str(victim))

    assert render_with(cache) == uncached()
    # the symlink was replaced by a real, private entry; what it pointed at is untouched
    st = os.lstat(entry)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert snapshot() == before
    assert os.listdir(victim) == [os.path.basename(entry)]
    # and the new entry is the real template's: a fresh cache hits it and renders the same
    fresh = jinja_bccache.FileSystemBytecodeCache(str(victim))
    assert fresh.get_bucket(plain_env(), NAME, None, SOURCE).code is not None
    assert render_with(fresh) == uncached()


def test_symlink_at_entry_name_is_a_miss_without_writing(tmp_path):
    # load alone (get_bucket) must not even read through the link
    victim, entry, forged_file = forge_entry(tmp_path)
    os.symlink(forged_file, entry)
    cache = jinja_bccache.FileSystemBytecodeCache(str(victim))
    bucket = cache.get_bucket(plain_env(), NAME, None, SOURCE)
    assert bucket.code is None
    cache.load_bytecode(bucket)
    assert bucket.code is None
    assert os.path.islink(entry)


def test_directory_at_entry_name_is_a_miss_and_left_alone(tmp_path):
    # Jinja: the failed rename is silent and the temp file removed; the render still works.
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    entry = entry_path(cache)
    os.mkdir(entry)
    (tmp_path / "marker").write_text("")
    assert render_with(cache) == uncached()
    assert render_with(cache) == uncached()
    assert os.path.isdir(entry) and not os.listdir(entry)
    assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(entry), "marker"])


HUGE_ENTRY_SCRIPT = (
    PRELUDE
    + """
module = MODULES[sys.argv[1]]
cache = module.FileSystemBytecodeCache(sys.argv[2])
entry = cache._get_cache_filename(
    cache.get_bucket(environment(None), NAME, None, SOURCE))
with open(entry, "wb") as f:
    f.truncate(1 << 40)   # sparse: 1 TiB of apparent zeros, no disk space used
print(json.dumps({"render": render(cache), "uncached": UNCACHED}))
"""
)


def test_huge_file_at_entry_name_is_a_miss_like_jinja(tmp_path):
    """A huge (sparse) file at an entry's name costs a recompile, as in Jinja (which reads
    only the magic), never an allocation of its size."""
    results = {}
    try:
        for impl in ("jinja2", "ours"):
            directory = tmp_path / impl
            directory.mkdir()
            results[impl] = run_python(HUGE_ENTRY_SCRIPT, impl, directory, timeout=60)
    finally:
        for huge in tmp_path.glob("*/*.cache"):
            huge.unlink()
    assert results["jinja2"]["render"] == ["ok", results["jinja2"]["uncached"]]
    assert results["ours"]["render"] == ["ok", results["ours"]["uncached"]]


# --- another user: unwritable directory, unreadable entry -----------------------------------

NOBODY_SCRIPT = (
    PRELUDE
    + """
action, directory = sys.argv[1], sys.argv[2]
if action == "prime":                 # as root: leave an entry behind
    print(json.dumps({"render": render(jinja_bccache.FileSystemBytecodeCache(directory)),
                      "uncached": UNCACHED}))
    sys.exit()
become_nobody()
out = {"uncached": UNCACHED}
if action == "write":                 # an unwritable directory: both caches, both entry points
    for label, module in MODULES.items():
        cache = module.FileSystemBytecodeCache(directory)
        bucket = module.Bucket(None, "key", "a" * 40)
        bucket.code = compile("x = 1", "x", "exec")
        out[label + "_set_bucket"] = attempt(lambda: cache.set_bucket(bucket))
        out[label + "_render"] = render(cache)
elif action == "read":                # load what root left, then render
    cache = jinja_bccache.FileSystemBytecodeCache(directory)
    out["hit_before"] = hit(cache)
    out["render"] = render(cache)
    out["hit_after"] = hit(jinja_bccache.FileSystemBytecodeCache(directory))
    out["render_again"] = render(jinja_bccache.FileSystemBytecodeCache(directory))
out["listdir"] = sorted(os.listdir(directory))
print(json.dumps(out))
"""
)


def test_unwritable_directory_raises_permission_error_like_jinja(shared_dir):
    directory = os.path.join(shared_dir, "cache")
    os.mkdir(directory)
    os.chmod(directory, 0o755)  # root's, readable by all, writable by root only
    out = run_python(NOBODY_SCRIPT, "write", directory)

    # Jinja's dump_bytecode must not fail silently: the error reaches the caller ...
    assert out["ours_set_bucket"] == ["PermissionError", errno.EACCES, directory]
    # ... also out of get_template, as with Jinja (whose filename is its temp file's path)
    assert out["ours_render"] == ["PermissionError", errno.EACCES, directory]
    for what in ("set_bucket", "render"):
        theirs = out["jinja2_" + what]
        assert theirs[:2] == ["PermissionError", errno.EACCES]
        assert os.path.dirname(theirs[2]) == directory
    assert out["listdir"] == []


def primed_cache(shared_dir):
    """A cache directory in which the script, run as root, rendered once: (directory, entry)."""
    directory = os.path.join(shared_dir, "cache")
    os.mkdir(directory)
    primed = run_python(NOBODY_SCRIPT, "prime", directory)
    assert primed["render"] == ["ok", primed["uncached"]]
    (entry,) = os.listdir(directory)
    return directory, entry


def test_readable_entry_in_unwritable_directory_is_a_hit(shared_dir):
    # a cache primed by a deploy step, read-only for the app: hits need no write access
    directory, entry = primed_cache(shared_dir)
    os.chmod(os.path.join(directory, entry), 0o644)
    os.chmod(directory, 0o755)

    out = run_python(NOBODY_SCRIPT, "read", directory)
    assert out["hit_before"] is True
    assert out["render"] == ["ok", out["uncached"]] == ["ok", uncached()]
    assert out["listdir"] == [entry]


def test_unreadable_entry_is_a_miss_and_rendering_works(shared_dir):
    directory, entry = primed_cache(shared_dir)
    path = os.path.join(directory, entry)
    st = os.stat(path)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)  # root's, private
    os.chown(directory, NOBODY, NOBODY)  # nobody may write the directory, not read the entry
    os.chmod(directory, 0o700)

    out = run_python(NOBODY_SCRIPT, "read", directory)
    assert out["hit_before"] is False
    assert out["render"] == ["ok", out["uncached"]] == ["ok", uncached()]
    # the entry was rewritten by nobody, privately, under the same name, and now hits
    assert out["hit_after"] is True
    assert out["render_again"] == ["ok", out["uncached"]]
    assert out["listdir"] == [entry]
    st = os.stat(path)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o600)


# --- the file size limit is hit mid-write -----------------------------------------------------

LIMIT = 64 * 1024

DISK_FULL_SCRIPT = (
    PRELUDE
    + f"""
import resource, signal
BIG = "".join("line %d {{{{ title }}}}{{%% if items|length > %d %%}}!{{%% endif %%}}\\n" % (i, i)
              for i in range(1000))
out = {{"uncached": UNCACHED}}
for label, module in MODULES.items():
    directory = os.path.join(sys.argv[1], label)
    os.mkdir(directory)
    cache = module.FileSystemBytecodeCache(directory)
    out[label + "_small"] = render(cache)
    (name,) = os.listdir(directory)
    entry = os.path.join(directory, name)
    with open(entry, "rb") as f:
        old = f.read()
    # the soft limit only, so that it can be lifted again (writes past it fail with EFBIG
    # once SIGXFSZ, which would kill the process, is ignored)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT}, hard))
    try:
        out[label + "_big"] = render(cache, BIG)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    with open(entry, "rb") as f:
        out[label + "_intact"] = f.read() == old
    out[label + "_old_len"] = len(old)
    out[label + "_entry"] = entry
    out[label + "_listdir"] = os.listdir(directory)
    # the old entry still loads: a fresh cache hits it and renders the small template
    fresh = module.FileSystemBytecodeCache(directory)
    out[label + "_hit_after"] = hit(fresh)
    out[label + "_small_after"] = render(fresh)
big_entry = jinja_bccache.Bucket(None, "k", "a" * 40)
big_entry.code = environment(None, BIG).compile(BIG, NAME)
out["big_len"] = len(big_entry.bytecode_to_string())
print(json.dumps(out))
"""
)


def test_file_size_limit_mid_write_keeps_the_old_entry(tmp_path):
    out = run_python(DISK_FULL_SCRIPT, tmp_path)
    assert out["ours_old_len"] < LIMIT < out["big_len"]  # the small one fits, the big one not

    assert out["ours_small"] == ["ok", out["uncached"]] == ["ok", uncached()]
    assert out["ours_big"] == ["OSError", errno.EFBIG, out["ours_entry"]]
    assert out["ours_intact"] is True
    assert out["ours_listdir"] == [os.path.basename(out["ours_entry"])]  # no temp file left
    assert out["ours_hit_after"] is True
    assert out["ours_small_after"] == ["ok", out["uncached"]]
    # Jinja fails the same way (its OSError names no file)
    assert out["jinja2_big"][:2] == ["OSError", errno.EFBIG]
    assert out["jinja2_intact"] is True
    assert out["jinja2_listdir"] == [os.path.basename(out["jinja2_entry"])]


# --- a directory path through a regular file --------------------------------------------------


@pytest.mark.parametrize("below", [(), ("sub",), ("sub", "deeper")])
def test_directory_through_a_regular_file(tmp_path, impl, below):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    directory = os.path.join(str(blocker), *below)
    cache = impl.FileSystemBytecodeCache(directory)
    bucket = impl.Bucket(None, "key", "a" * 40)
    bucket.code = compile("x = 1", "x", "exec")

    with pytest.raises(NotADirectoryError) as info:
        cache.set_bucket(bucket)
    if impl is jinja_bccache:
        assert info.value.filename == directory
        assert directory in str(info.value)
        # loading is a miss (Jinja lets this error out of load_bytecode already) ...
        assert cache.get_bucket(plain_env(), NAME, None, SOURCE).code is None
    # ... and the render fails with the same exception either way, and touches nothing
    with pytest.raises(NotADirectoryError):
        render_with(cache)
    assert blocker.read_text() == "not a directory"
    assert os.listdir(tmp_path) == ["blocker"]


# --- umask --------------------------------------------------------------------------------------


def test_entries_are_private_under_umask_000(tmp_path, impl):
    old = os.umask(0)
    try:
        cache = impl.FileSystemBytecodeCache(str(tmp_path))
        assert render_with(cache) == uncached()
        bucket = impl.Bucket(None, "key", "a" * 40)
        bucket.code = compile("x = 1", "x", "exec")
        cache.set_bucket(bucket)
        cache.set_bucket(bucket)  # and when replacing an entry
        assert render_with(cache, SOURCE + "!") == uncached(SOURCE + "!")  # replace via render
    finally:
        os.umask(old)
    names = os.listdir(tmp_path)
    assert len(names) == 2
    for name in names:
        st = os.lstat(tmp_path / name)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, name
    assert render_with(impl.FileSystemBytecodeCache(str(tmp_path))) == uncached()

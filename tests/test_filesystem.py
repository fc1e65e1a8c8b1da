"""FileSystemBytecodeCache: Jinja's file names and bytes, atomic writes, clear, default dir."""

import os
import stat
import subprocess
import sys

import jinja2.bccache
import pytest

import jinja_bccache

CHECKSUM = "a" * 40


def bucket(module, key="key", code="code"):
    b = module.Bucket(None, key, CHECKSUM)
    b.code = code
    return b


def write_with(module, directory, *args, key="key", code="code"):
    cache = module.FileSystemBytecodeCache(str(directory), *args)
    cache.set_bucket(bucket(module, key, code))
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("pattern", [(), ("%s.cache",), ("pre-%s",), ("100%%-%s.bin",)])
def test_same_file_names_and_bytes(tmp_path, pattern):
    a, b = tmp_path / "jinja", tmp_path / "ours"
    a.mkdir()
    b.mkdir()
    names = write_with(jinja2.bccache, a, *pattern)
    assert write_with(jinja_bccache, b, *pattern) == names
    assert len(names) == 1
    # Jinja's bytes, then the 16-byte integrity trailer (docs/format.md), which Jinja ignores
    theirs, ours = (a / names[0]).read_bytes(), (b / names[0]).read_bytes()
    assert ours[: len(theirs)] == theirs and len(ours) == len(theirs) + 16
    loaded = jinja2.bccache.Bucket(None, "key", CHECKSUM)
    jinja2.bccache.FileSystemBytecodeCache(str(b), *pattern).load_bytecode(loaded)
    assert loaded.code == "code"


def test_cross_loading(tmp_path):
    for writer, reader in [(jinja2.bccache, jinja_bccache), (jinja_bccache, jinja2.bccache)]:
        write_with(writer, tmp_path, key=writer.__name__, code=writer.__name__)
        # stock Jinja's entries are read where Jinja's keys are shared
        options = {"isolate_environments": False} if reader is jinja_bccache else {}
        cache = reader.FileSystemBytecodeCache(str(tmp_path), **options)
        loaded = reader.Bucket(None, writer.__name__, CHECKSUM)
        cache.load_bytecode(loaded)
        assert loaded.code == writer.__name__


def test_get_bucket_matches_jinja(tmp_path):
    jinja_cache = jinja2.bccache.FileSystemBytecodeCache(str(tmp_path))
    ours = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), isolate_environments=False)
    theirs = jinja_cache.get_bucket("env", "a.html", "/t/a.html", "src")
    theirs.code = compile("x = 1", "a", "exec")
    jinja_cache.set_bucket(theirs)
    got = ours.get_bucket("env", "a.html", "/t/a.html", "src")
    assert isinstance(got, jinja_bccache.Bucket)
    assert (got.environment, got.key, got.checksum, got.code) == (
        "env",
        theirs.key,
        theirs.checksum,
        theirs.code,
    )
    assert ours.get_bucket("env", "a.html", "/t/a.html", "changed").code is None
    assert ours.get_bucket("env", "a.html", None, "src").code is None


def test_attributes_and_positional_arguments(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path), "%s.c")
    assert (cache.directory, cache.pattern) == (str(tmp_path), "%s.c")
    other = tmp_path / "other"
    other.mkdir()
    cache.directory = str(other)
    cache.pattern = "x%s"
    cache.set_bucket(bucket(jinja_bccache))
    assert os.listdir(other) == ["xkey"]


def test_pathlike_directory(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(tmp_path)
    cache.set_bucket(bucket(jinja_bccache))
    assert cache.directory == tmp_path
    assert os.listdir(tmp_path) == ["__jinja2_key.cache"]


@pytest.mark.parametrize("pattern", ["nokey", "%s-%s", "%d.cache", "50%"])
def test_bad_pattern_is_refused_at_construction(tmp_path, pattern):
    with pytest.raises(ValueError, match="pattern"):
        jinja_bccache.FileSystemBytecodeCache(str(tmp_path), pattern)


def test_wrong_argument_types(tmp_path):
    with pytest.raises(TypeError):
        jinja_bccache.FileSystemBytecodeCache(str(tmp_path), 5)
    with pytest.raises(TypeError):
        jinja_bccache.FileSystemBytecodeCache(42)


def test_clear_removes_only_this_pattern(tmp_path, impl):
    write_with(impl, tmp_path, key="a")
    write_with(impl, tmp_path, "other-%s", key="b")
    (tmp_path / "unrelated.txt").write_text("keep")
    assert impl.FileSystemBytecodeCache(str(tmp_path)).clear() is None
    assert sorted(os.listdir(tmp_path)) == ["other-b", "unrelated.txt"]


def test_clear_of_many_entries_removes_exactly_them(tmp_path, impl):
    # Enough entries that clear() spreads its unlinks over threads; the same result as Jinja.
    names = [f"__jinja2_{i:040x}.cache" for i in range(1500)]
    for name in names:
        (tmp_path / name).write_bytes(b"entry")
    keep = ["unrelated.txt", "__jinja2_x.cache.bak", "other-1"]
    for name in keep:
        (tmp_path / name).write_text("keep")
    (tmp_path / "__jinja2_dir.cache").mkdir()  # matches, but is not a file: left alone
    impl.FileSystemBytecodeCache(str(tmp_path)).clear()
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["__jinja2_dir.cache"])


def test_clear_of_missing_directory_names_it(tmp_path, impl):
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match="missing"):
        impl.FileSystemBytecodeCache(str(missing)).clear()


def test_write_leaves_no_temp_file_and_entry_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        for i in range(20):
            write_with(jinja_bccache, tmp_path, key="k", code=i)
    finally:
        os.umask(old)
    assert os.listdir(tmp_path) == ["__jinja2_k.cache"]
    assert stat.S_IMODE(os.stat(tmp_path / "__jinja2_k.cache").st_mode) == 0o600


def test_failed_write_leaves_nothing_behind(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    with pytest.raises(ValueError):
        cache.set_bucket(bucket(jinja_bccache, code=object()))
    with pytest.raises(TypeError, match="empty bucket"):
        cache.set_bucket(jinja_bccache.Bucket(None, "key", CHECKSUM))
    assert os.listdir(tmp_path) == []


def test_write_into_missing_directory_raises_oserror_naming_it(tmp_path):
    missing = tmp_path / "missing"
    cache = jinja_bccache.FileSystemBytecodeCache(str(missing))
    with pytest.raises(FileNotFoundError) as info:
        cache.set_bucket(bucket(jinja_bccache))
    assert info.value.filename == str(missing)
    assert str(missing) in str(info.value)


def test_missing_directory_or_entry_is_a_miss(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path / "missing"))
    assert cache.get_bucket(None, "a", None, "s").code is None
    (tmp_path / "__jinja2_key.cache").mkdir()  # a directory where the entry should be
    b = jinja_bccache.Bucket(None, "key", CHECKSUM)
    jinja_bccache.FileSystemBytecodeCache(str(tmp_path)).load_bytecode(b)
    assert b.code is None


def test_jinja_bucket_through_our_cache(tmp_path):
    cache = jinja_bccache.FileSystemBytecodeCache(str(tmp_path))
    cache.dump_bytecode(bucket(jinja2.bccache, code="from-jinja-bucket"))
    loaded = jinja2.bccache.Bucket(None, "key", CHECKSUM)
    cache.load_bytecode(loaded)
    assert loaded.code == "from-jinja-bucket"


DEFAULT_DIR_SCRIPT = """
import sys, tempfile
tempfile.tempdir = sys.argv[1]
import jinja2.bccache, jinja_bccache
for module in (jinja2.bccache, jinja_bccache):
    try:
        print(module.FileSystemBytecodeCache().directory)
    except RuntimeError as exc:
        print("RuntimeError", exc)
"""


def default_dirs(tmpdir):
    out = subprocess.run(
        [sys.executable, "-c", DEFAULT_DIR_SCRIPT, str(tmpdir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 2
    return out


def test_default_directory_is_jinjas(tmp_path):
    theirs, ours = default_dirs(tmp_path)
    assert ours == theirs == os.path.join(str(tmp_path), f"_jinja2-cache-{os.getuid()}")
    assert stat.S_IMODE(os.lstat(ours).st_mode) == 0o700


def test_default_directory_mode_is_repaired(tmp_path):
    d = tmp_path / f"_jinja2-cache-{os.getuid()}"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    _, ours = default_dirs(tmp_path)
    assert ours == str(d)
    assert stat.S_IMODE(os.lstat(d).st_mode) == 0o700


def test_default_directory_symlink_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    os.symlink(target, tmp_path / f"_jinja2-cache-{os.getuid()}")
    theirs, ours = default_dirs(tmp_path)
    assert theirs.startswith("RuntimeError Cannot determine safe temp directory")
    assert ours == theirs


def test_default_directory_that_is_a_file_is_refused(tmp_path):
    (tmp_path / f"_jinja2-cache-{os.getuid()}").write_text("")
    theirs, ours = default_dirs(tmp_path)
    assert ours.startswith("RuntimeError") or ours == theirs
    assert ours == theirs

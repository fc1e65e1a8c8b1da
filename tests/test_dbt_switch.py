"""Where ``python -m jinja_bccache dbt`` keeps its cache, read from dbt's own options as dbt
reads them (dbt itself is exercised in test_dbt.py)."""

import os
import stat

from jinja_bccache import FileSystemBytecodeCache, MemcachedBytecodeCache
from jinja_bccache._dbt import cache_for


def test_the_cache_goes_into_the_projects_target_path(tmp_path, monkeypatch):
    monkeypatch.delenv("JINJA_BCCACHE_URL", raising=False)
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    cache = cache_for(["parse"])
    assert cache.directory == str(tmp_path / "target" / "jinja_bccache")
    assert stat.S_IMODE(os.stat(cache.directory).st_mode) == 0o700
    project = tmp_path / "proj"
    cache = cache_for(["parse", "--project-dir", str(project), "--target-path=out"])
    assert cache.directory == str(project / "out" / "jinja_bccache")
    monkeypatch.setenv("DBT_PROJECT_DIR", str(tmp_path / "env-proj"))
    monkeypatch.setenv("DBT_TARGET_PATH", "t")
    assert cache_for(["run"]).directory == str(tmp_path / "env-proj" / "t" / "jinja_bccache")
    # the command line wins over the environment, as with dbt
    assert cache_for(["run", "--project-dir", str(project)]).directory == str(
        project / "t" / "jinja_bccache"
    )
    assert isinstance(cache, FileSystemBytecodeCache)


def test_a_store_url_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("JINJA_BCCACHE_URL", "memcached://127.0.0.1:1/?prefix=ci/")
    cache = cache_for(["parse", "--project-dir", str(tmp_path)])
    assert isinstance(cache, MemcachedBytecodeCache) and cache.prefix == "ci/"
    assert not (tmp_path / "target").exists()

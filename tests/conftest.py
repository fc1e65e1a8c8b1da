import jinja2.bccache
import pytest
from jinja2 import PackageLoader

import jinja_bccache

#: The module this project replaces, and the replacement: parity tests run against both.
IMPLEMENTATIONS = [jinja2.bccache, jinja_bccache]


@pytest.fixture(params=IMPLEMENTATIONS, ids=["jinja2", "ours"])
def impl(request):
    return request.param


@pytest.fixture
def package_loader():
    # tests/ is on sys.path (rootdir conftest), so tests/res is an importable package.
    return PackageLoader("res", "templates")

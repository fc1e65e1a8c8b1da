"""What the package says of itself matches what is checked: the Python versions its
classifiers name are the ones the dev scripts run the suite on."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_versions(script):
    text = (ROOT / "dev" / script).read_text(encoding="utf-8")
    (line,) = re.findall(r"\|\| versions=\(([0-9. ]+)\)", text)
    return set(line.split())


def test_classifiers_name_exactly_the_versions_tested():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    classified = set(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', pyproject))
    # dev/test.sh runs 3.11 (the machine's interpreter); the two scripts run the others
    tested = {"3.11"} | _default_versions("test-pythons.sh")
    tested |= _default_versions("test-newer-pythons.sh")
    assert classified == tested
    assert (
        'requires-python = ">=' + min(tested, key=lambda v: tuple(map(int, v.split("."))))
        in pyproject
    )

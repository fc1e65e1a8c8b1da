"""Code as an attacker who can write to an unsigned store would plant it: compiled from
another source, with the folding record such code carries (which anyone can compute), so
that only the store's trust decides whether it runs."""

import jinja_bccache
from jinja_bccache import _folding


def recorded_code(env, source, name):
    bucket = jinja_bccache.Bucket(env, "forged", "forged")
    _folding.arm(env, bucket)
    code = env.compile(source, name)
    return _folding.attach(code, _folding.take(bucket))

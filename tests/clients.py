"""A memcached client stand-in for tests about the cache's own code, not the network."""


class DictClient:
    """Jinja's minimal client interface over a dict; counts gets."""

    def __init__(self):
        self.data = {}
        self.gets = 0

    def get(self, key):
        self.gets += 1
        return self.data.get(key)

    def set(self, key, value, timeout=None):
        self.data[key] = value

"""Local upstream servers for the cache tests: real HTTP on 127.0.0.1, real shapes, injectable faults."""

from tests.upstreams.server import FakeUpstream

__all__ = ["FakeUpstream"]

"""Fixtures of the deployment tests: the throw-away Redis server of the event-bus tests."""

from tests.integration.redis.conftest import redis_server  # noqa: F401  (a real redis-server on loopback)

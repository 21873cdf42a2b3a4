"""A Redis client configured for the event bus: binary-safe, bounded waits, one quick reconnect."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def redis_client(url: str, *, socket_timeout: float = 10.0, connect_timeout: float = 5.0) -> redis.Redis:
    """A client for ``url``. ``socket_timeout`` must exceed the role reader's block time, so that a dead server
    raises instead of hanging; the publish script is idempotent, so redis-py's retry cannot duplicate."""
    return redis.Redis.from_url(
        url, decode_responses=False, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1), health_check_interval=30,
    )

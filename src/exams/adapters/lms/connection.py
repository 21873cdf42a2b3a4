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


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def stream_status(client: redis.Redis, stream: str) -> dict:
    """Length of a stream and where each consumer group reading it stands (the LMS's ``consume_events`` group:
    a growing ``lag`` means it is not running, or runs without ``check_backlog``). Never raises."""
    try:
        length = client.xlen(stream)
        groups = client.xinfo_groups(stream) if client.exists(stream) else []
    except redis.RedisError as exc:
        return {"name": stream, "error": f"{type(exc).__name__}: {exc}"}
    return {"name": stream, "length": length, "groups": [
        {"name": _text(g["name"]), "consumers": g["consumers"], "pending": g["pending"],
         "last_delivered_id": _text(g["last-delivered-id"]), "lag": g.get("lag")} for g in groups]}

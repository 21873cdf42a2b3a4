"""Redis Streams event bus, wire-compatible with edx-event-bus-redis (event-bus.md §1.4, §4.4, §4.6).

* ``RedisEventBus`` publishes exam attempt events: one XADD per event on the stream ``<topic_prefix>-<topic>``
  with the fields ``type, id, source, time, minorversion, sourcehost, sourcelib, event_data``, optionally capped
  with ``MAXLEN ~ n``. Publishing is idempotent per event id (see ``RedisEventBus`` for why a server-side script).
* ``RedisRoleEventReader`` reads ``learning-course-access-role-lifecycle`` with a consumer group, decodes each
  entry, and leaves acknowledgement to the caller (after its DB commit).

The redis client must be created with ``decode_responses=False`` (the payload is binary) and should have a
``socket_timeout`` larger than the read block time, so a dead server raises instead of hanging.
"""

from __future__ import annotations

import logging
import socket
import time as _time
import uuid
from typing import Callable, Sequence

import redis
from redis import exceptions as redis_errors

from exams.adapters.lms.wire import decode_course_access_role_entry, redis_fields
from exams.ports.events import (
    COURSE_ACCESS_ROLE_TOPIC,
    BusUnavailable,
    EventDecodingError,
    PublishRejected,
    RoleEventDelivery,
    WireMessage,
)

log = logging.getLogger(__name__)

DEFAULT_MAXLEN = 10_000  # EVENT_BUS_REDIS_STREAM_MAX_LEN's default upstream
DEFAULT_DEDUPE_TTL_SECONDS = 14 * 24 * 3600  # must be >= how long published outbox rows are kept for replay


def stream_name(topic_prefix: str | None, topic: str) -> str:
    """The stream a topic lives on: ``<prefix>-<topic>``, or the bare topic when there is no prefix."""
    return f"{topic_prefix}-{topic}" if topic_prefix else topic


def dedupe_key(stream: str, event_id: str) -> str:
    """The key remembering which entry an event was published as.

    The ``{stream}`` hash tag puts it in the stream's Redis Cluster slot, so one script may touch both.
    """
    return f"{{{stream}}}:published:{event_id}"


# KEYS[1] stream, KEYS[2] dedupe key; ARGV[1] maxlen (0: no trim), ARGV[2] dedupe ttl (s), ARGV[3] force (0/1),
# ARGV[4..] field, value, field, value, ...  Returns {1, entry id} if appended, {0, entry id} if already there.
_PUBLISH_ONCE = """
if ARGV[3] ~= '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then return {0, existing} end
end
local cmd = {'XADD', KEYS[1]}
if tonumber(ARGV[1]) > 0 then
  cmd[#cmd + 1] = 'MAXLEN'; cmd[#cmd + 1] = '~'; cmd[#cmd + 1] = ARGV[1]
end
cmd[#cmd + 1] = '*'
for i = 4, #ARGV do cmd[#cmd + 1] = ARGV[i] end
local entry_id = redis.call(unpack(cmd))
redis.call('SET', KEYS[2], entry_id, 'EX', tonumber(ARGV[2]))
return {1, entry_id}
"""

# Errors after which the same publish may succeed later: the server is away, starting, or a read-only replica.
_TRANSIENT = (
    redis_errors.ConnectionError,  # includes AuthenticationError: fixed by configuration, then retried
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ReadOnlyError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)


class RedisEventBus:
    """``EventBus`` on Redis Streams, as read by the LMS's ``consume_events`` with edx-event-bus-redis.

    **Idempotency.** Each publish runs one Lua script that looks up a per-event dedupe key, and only if it is absent
    does the XADD and stores the new entry id under that key (with a TTL). A retry of the same event id (after a
    timeout where the server did apply the XADD, or a relay crash before it recorded success) returns the
    original entry id and appends nothing. A script was chosen over the alternatives because it is atomic on the
    server: a separate ``SET NX`` then ``XADD`` loses the event if the process dies between the two (the marker
    says published, the stream never got it), or duplicates it if done in the other order; scanning the stream
    tail for our ``id`` field is racy between two publishers, costs a scan per publish, and misses an entry that
    is no longer near the tail. The dedupe TTL must cover the outbox's replay window (default 14 days).

    ``force=True`` skips the lookup (an operator replay): it appends a new entry carrying the same ``id`` field
    and points the dedupe key at it.
    """

    def __init__(
        self,
        client: redis.Redis,
        topic_prefix: str | None = None,
        maxlen: int | None = DEFAULT_MAXLEN,
        dedupe_ttl_seconds: int = DEFAULT_DEDUPE_TTL_SECONDS,
    ) -> None:
        if maxlen is not None and maxlen <= 0:
            raise ValueError("maxlen must be positive or None")
        if dedupe_ttl_seconds <= 0:
            raise ValueError("dedupe_ttl_seconds must be positive")
        self._client = client
        self._prefix = topic_prefix
        self._maxlen = maxlen
        self._ttl = dedupe_ttl_seconds
        self._script = client.register_script(_PUBLISH_ONCE)

    def stream_for(self, topic: str) -> str:
        """The stream name a topic is published to."""
        return stream_name(self._prefix, topic)

    def publish(self, message: WireMessage, force: bool = False) -> str:
        """XADD the message once per event id and return its entry id (the existing one on a repeat).

        Raises ``BusUnavailable`` on connection trouble and ``PublishRejected`` when Redis refuses the command
        (e.g. the stream key holds another type, or the ACL forbids it).
        """
        stream = self.stream_for(message.topic)
        args: list = [self._maxlen or 0, self._ttl, 1 if force else 0]
        for name, value in redis_fields(message).items():
            args += [name, value]
        try:
            appended, entry_id = self._script(keys=[stream, dedupe_key(stream, message.event_id)], args=args)
        except _TRANSIENT as exc:
            raise BusUnavailable(f"redis unavailable while publishing to {stream}: {exc}") from exc
        except redis_errors.ResponseError as exc:
            raise PublishRejected(f"redis refused publishing to {stream}: {exc}") from exc
        entry_id = _text(entry_id)
        log.info(
            "event %s %s on %s as %s",
            message.event_id,
            "published" if appended else "already published",
            stream,
            entry_id,
            extra={"event_id": message.event_id, "event_type": message.event_type, "stream": stream,
                   "broker_msg_id": entry_id},
        )
        return entry_id


class RedisRoleEventReader:
    """``RoleEventSource`` reading course access role events from a Redis consumer group.

    * The group is created at id ``0`` (``MKSTREAM``) on first use, so a first run replays the retained history
      (role changes are idempotent). It is never moved to ``$`` on restart: nothing produced while we were
      stopped is skipped.
    * ``read()`` first walks this consumer's own pending entries (delivered but never acked: a crash or a failed
      transaction), once at start and then every ``pending_rescan_seconds``; otherwise it reads new entries.
      At start and then every ``claim_interval_seconds`` it adopts and returns entries idle for
      ``claim_idle_ms`` in other consumers of the group (XAUTOCLAIM), e.g. a consumer that died.
    * Entries that cannot be decoded are returned with ``error`` set; nothing here raises for bad data.
    """

    def __init__(
        self,
        client: redis.Redis,
        topic_prefix: str | None = None,
        group: str = "edx-exams",
        consumer_name: str | None = None,
        *,
        topic: str = COURSE_ACCESS_ROLE_TOPIC,
        block_ms: int = 5000,
        pending_rescan_seconds: float = 30.0,
        claim_idle_ms: int = 300_000,
        claim_interval_seconds: float = 60.0,
        clock: Callable[[], float] = _time.monotonic,
    ) -> None:
        self._client = client
        self.stream = stream_name(topic_prefix, topic)
        self.group = group
        self.consumer_name = consumer_name or socket.gethostname()
        self._block_ms = block_ms
        self._rescan = pending_rescan_seconds
        self._claim_idle_ms = claim_idle_ms
        self._claim_interval = claim_interval_seconds
        self._clock = clock
        self._group_ready = False
        self._pending_cursor: str | None = "0"  # None: not walking the pending list
        self._next_rescan = clock() + pending_rescan_seconds
        self._next_claim = clock()  # adopt abandoned entries right at start
        self._claim_cursor = "0-0"

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) if missing; an existing group is left where it is."""
        try:
            self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis_errors.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def read(self, max_count: int = 10, block_ms: int | None = None) -> Sequence[RoleEventDelivery]:
        """Return up to ``max_count`` deliveries: our own pending ones first (see the class doc), then new ones.

        ``block_ms`` (default: the reader's) bounds the wait for new entries. Raises ``BusUnavailable`` if Redis
        cannot be reached.
        """
        try:
            return self._read(max_count, self._block_ms if block_ms is None else block_ms)
        except _TRANSIENT as exc:
            raise BusUnavailable(f"redis unavailable while reading {self.stream}: {exc}") from exc
        except redis_errors.ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream was deleted under us: recreate on the next read
                self._group_ready = False
                self._pending_cursor = "0"
            raise BusUnavailable(f"redis refused reading {self.stream}: {exc}") from exc

    def ack(self, message_id: str) -> None:
        """XACK the entry: it will not be delivered again to this group."""
        try:
            self._client.xack(self.stream, self.group, message_id)
        except _TRANSIENT as exc:
            raise BusUnavailable(f"redis unavailable while acking {message_id} on {self.stream}: {exc}") from exc

    # --- internals ---------------------------------------------------------------------------------------------

    def _read(self, max_count: int, block_ms: int) -> list[RoleEventDelivery]:
        if not self._group_ready:
            self.ensure_group()
        now = self._clock()
        if now >= self._next_claim:
            claimed = self._claim_abandoned(max_count)
            if self._claim_cursor == "0-0":  # went through the whole pending list
                self._next_claim = now + self._claim_interval
            if claimed:
                return self._deliveries(claimed, from_pending=True)
        if self._pending_cursor is None and now >= self._next_rescan:
            self._pending_cursor = "0"
        if self._pending_cursor is not None:
            entries = self._xreadgroup(self._pending_cursor, max_count, block_ms=None)
            if entries:
                self._pending_cursor = _text(entries[-1][0])
                return self._deliveries(entries, from_pending=True)
            self._pending_cursor = None
            self._next_rescan = now + self._rescan
        entries = self._xreadgroup(">", max_count, block_ms=block_ms)
        return self._deliveries(entries, from_pending=False)

    def _xreadgroup(self, stream_id: str, count: int, block_ms: int | None) -> list:
        kwargs = {"count": count}
        if block_ms:  # XREADGROUP BLOCK 0 would block forever; never block on a pending walk
            kwargs["block"] = block_ms
        reply = self._client.xreadgroup(self.group, self.consumer_name, {self.stream: stream_id}, **kwargs)
        # RESP2 gives [[stream, entries]], RESP3 {stream: [entries]}.
        if not reply:
            return []
        if isinstance(reply, dict):
            return next(iter(reply.values()))[0]
        return reply[0][1]

    def _claim_abandoned(self, count: int) -> list:
        """Take over entries idle for ``claim_idle_ms`` in other consumers (e.g. a dead process) and return them.

        One XAUTOCLAIM page per call, resuming from the cursor of the previous page. Entries that were trimmed
        from the stream while pending are dropped from the pending list by Redis itself; they are logged, as
        they can no longer be processed.
        """
        reply = self._client.xautoclaim(
            self.stream, self.group, self.consumer_name, self._claim_idle_ms, start_id=self._claim_cursor,
            count=count,
        )
        self._claim_cursor = _text(reply[0])
        claimed = reply[1]
        gone = reply[2] if len(reply) > 2 else []
        if gone:
            log.warning("role event(s) %s on %s were trimmed before being processed",
                        [_text(i) for i in gone], self.stream)
        if claimed:
            log.info("claimed %d abandoned role event(s) on %s", len(claimed), self.stream)
        return claimed

    def _delivery_counts(self, first: str, last: str, count: int) -> dict[str, int]:
        rows = self._client.xpending_range(
            self.stream, self.group, min=first, max=last, count=count, consumername=self.consumer_name
        )
        return {_text(row["message_id"]): int(row["times_delivered"]) for row in rows}

    def _deliveries(self, entries: list, from_pending: bool) -> list[RoleEventDelivery]:
        if not entries:
            return []
        counts: dict[str, int] = {}
        if from_pending:
            counts = self._delivery_counts(_text(entries[0][0]), _text(entries[-1][0]), len(entries))
        deliveries = []
        for raw_id, fields in entries:
            message_id = _text(raw_id)
            delivered = counts.get(message_id, 1)
            if not fields:  # trimmed (MAXLEN) or deleted while pending: nothing left to decode
                deliveries.append(RoleEventDelivery(message_id, None, "entry no longer exists in the stream",
                                                    {}, delivered))
                continue
            raw = {_text(name): bytes(value) for name, value in fields.items()}
            try:
                # An entry without an `id` field gets one derived from the stream entry, stable across retries.
                fallback = uuid.uuid5(uuid.NAMESPACE_URL, f"redis:{self.stream}/{message_id}")
                event = decode_course_access_role_entry(raw, fallback_id=fallback)
            except EventDecodingError as exc:
                log.warning("undecodable role event %s on %s: %s", message_id, self.stream, exc)
                deliveries.append(RoleEventDelivery(message_id, None, str(exc), raw, delivered))
            except Exception as exc:  # never let one bad entry stop the reader
                log.exception("unexpected error decoding role event %s on %s", message_id, self.stream)
                deliveries.append(RoleEventDelivery(message_id, None, f"{type(exc).__name__}: {exc}", raw,
                                                    delivered))
            else:
                deliveries.append(RoleEventDelivery(message_id, event, None, raw, delivered))
        return deliveries

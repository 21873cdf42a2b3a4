"""The event outbox, the relay lease and the role-event inbox in SQL (SQLAlchemy Core). Never commits."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from exams.ports.events import WireMessage
from exams.ports.outbox import Lease, OutboxEntry, OutboxStats, UnencodedEvent

from . import tables as t
from .session import insert_on_conflict

o = t.event_outbox.c


def _insert_ignoring_duplicates(session: Session, table, values: dict) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite; True if a row was inserted.

    Keeps the transaction usable when the row exists (a failed plain INSERT would abort it on PostgreSQL).
    Tells by RETURNING, not ``rowcount``, which psycopg reports as -1 when SQLAlchemy adds its own RETURNING.
    """
    key = list(table.primary_key.columns)[0]
    return session.execute(insert_on_conflict(session, table, values).returning(key)).first() is not None


def _unencoded_json(event: UnencodedEvent) -> str:
    data = asdict(event)
    data["time"] = event.time.isoformat()
    return json.dumps(data, sort_keys=True)


def _unencoded(text: str | None) -> UnencodedEvent | None:
    if not text:
        return None
    data = json.loads(text)
    data["time"] = datetime.fromisoformat(data["time"])
    return UnencodedEvent(**data)


def _headers(row) -> dict[str, str]:
    # The wire order of the metadata fields (edx-event-bus-redis writes them in this order).
    return {"type": row.event_type, "id": row.event_id, "source": row.source, "time": row.event_time,
            "minorversion": str(row.minorversion), "sourcehost": row.sourcehost, "sourcelib": row.sourcelib}


def outbox_entry(row) -> OutboxEntry:
    message = None
    if row.payload is not None:
        message = WireMessage(topic=row.topic, key=row.partition_key.encode("utf-8"), value=bytes(row.payload),
                              headers=_headers(row))
    return OutboxEntry(
        seq=row.seq, event_id=row.event_id, event_type=row.event_type, partition_key=row.partition_key,
        message=message, created_at=row.created_at, attempts=row.attempts, next_attempt_at=row.next_attempt_at,
        last_error=row.last_error, published_at=row.published_at, broker_msg_id=row.broker_msg_id,
        dead=row.dead, unencoded=_unencoded(row.unencoded),
    )


class SqlOutbox:
    """``Outbox`` and ``RelayLease`` on the ``event_outbox`` and ``event_relay_lease`` tables."""

    def __init__(self, session: Session):
        self.session = session

    # -- writing events (inside the attempt's transaction) ----------------------------------------
    def append(self, message: WireMessage, created_at: datetime) -> int:
        h = message.headers
        result = self.session.execute(t.event_outbox.insert().values(
            event_id=h["id"], event_type=h["type"], topic=message.topic,
            partition_key=message.key.decode("utf-8"), event_time=h["time"], minorversion=int(h["minorversion"]),
            source=h["source"], sourcehost=h["sourcehost"], sourcelib=h["sourcelib"], payload=message.value,
            created_at=created_at))
        return result.inserted_primary_key[0]

    def append_unencoded(self, event: UnencodedEvent, topic: str, headers: Mapping[str, str], reason: str,
                         created_at: datetime) -> int:
        result = self.session.execute(t.event_outbox.insert().values(
            event_id=event.event_id, event_type=event.event_type, topic=topic,
            partition_key=event.course_key, event_time=headers["time"],
            minorversion=int(headers.get("minorversion", 0)), source=headers["source"],
            sourcehost=headers["sourcehost"], sourcelib=headers["sourcelib"], payload=None,
            unencoded=_unencoded_json(event), created_at=created_at, dead=True, last_error=reason))
        return result.inserted_primary_key[0]

    # -- the relay ---------------------------------------------------------------------------------
    def unpublished(self, limit: int) -> list[OutboxEntry]:
        rows = self.session.execute(
            select(t.event_outbox).where(o.published_at.is_(None), o.payload.is_not(None))
            .order_by(o.seq).limit(limit))
        return [outbox_entry(r) for r in rows]

    def mark_published(self, seq: int, broker_msg_id: str, at: datetime) -> None:
        self.session.execute(update(t.event_outbox).where(o.seq == seq).values(
            published_at=at, broker_msg_id=broker_msg_id, next_attempt_at=None))

    def mark_failed(self, seq: int, error: str, next_attempt_at: datetime) -> None:
        self.session.execute(update(t.event_outbox).where(o.seq == seq).values(
            attempts=o.attempts + 1, last_error=error[:2000], next_attempt_at=next_attempt_at))

    def mark_dead(self, seq: int, error: str) -> None:
        self.session.execute(update(t.event_outbox).where(o.seq == seq).values(
            attempts=o.attempts + 1, last_error=error[:2000], dead=True))

    # -- the operator ------------------------------------------------------------------------------
    def get(self, event_id: str) -> OutboxEntry | None:
        row = self.session.execute(select(t.event_outbox).where(o.event_id == event_id)).first()
        return outbox_entry(row) if row else None

    def requeue(self, seq: int, message: WireMessage | None = None) -> None:
        values = dict(dead=False, attempts=0, next_attempt_at=None, published_at=None, broker_msg_id=None)
        if message is not None:
            h = message.headers
            values.update(payload=message.value, topic=message.topic, partition_key=message.key.decode("utf-8"),
                          event_time=h["time"], minorversion=int(h["minorversion"]), source=h["source"],
                          sourcehost=h["sourcehost"], sourcelib=h["sourcelib"], unencoded=None, last_error=None)
        self.session.execute(update(t.event_outbox).where(o.seq == seq).values(**values))

    def published_since(self, since: datetime, limit: int) -> list[OutboxEntry]:
        rows = self.session.execute(
            select(t.event_outbox).where(o.published_at.is_not(None), o.created_at >= since)
            .order_by(o.seq).limit(limit))
        return [outbox_entry(r) for r in rows]

    def held(self, limit: int) -> list[OutboxEntry]:
        rows = self.session.execute(
            select(t.event_outbox).where(o.published_at.is_(None), o.dead.is_(True)).order_by(o.seq).limit(limit))
        return [outbox_entry(r) for r in rows]

    def stats(self) -> OutboxStats:
        waiting = and_(o.published_at.is_(None), o.dead.is_(False))
        row = self.session.execute(select(
            func.count().filter(waiting),
            func.count().filter(and_(o.published_at.is_(None), o.dead.is_(True), o.payload.is_not(None))),
            func.count().filter(and_(o.published_at.is_(None), o.payload.is_(None))),
            func.count().filter(o.published_at.is_not(None)),
        )).one()
        oldest = self.session.execute(select(func.min(o.created_at)).where(waiting)).scalar()
        if isinstance(oldest, str):  # SQLite returns the aggregate untyped
            oldest = t.UTCDateTime().process_result_value(datetime.fromisoformat(oldest), None)
        return OutboxStats(unpublished=row[0], dead=row[1], unencodable=row[2], published=row[3],
                           oldest_unpublished_at=oldest)

    def purge_published(self, before: datetime) -> int:
        return self.session.execute(delete(t.event_outbox).where(
            o.published_at.is_not(None), o.published_at < before)).rowcount

    def delete(self, seq: int) -> None:
        self.session.execute(delete(t.event_outbox).where(o.seq == seq))

    # -- the lease ---------------------------------------------------------------------------------
    def acquire_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> bool:
        lease = t.event_relay_lease.c
        expires = now + timedelta(seconds=ttl_seconds)
        # Compare-and-set: ours already, free, or expired. Concurrent relays serialise on the row.
        taken = self.session.execute(update(t.event_relay_lease).where(
            lease.name == name,
            or_(lease.owner == owner, lease.owner.is_(None), lease.expires_at.is_(None), lease.expires_at < now),
        ).values(owner=owner, expires_at=expires)).rowcount
        if taken:
            return True
        return _insert_ignoring_duplicates(self.session, t.event_relay_lease,
                                           dict(name=name, owner=owner, expires_at=expires))

    def release_lease(self, name: str, owner: str) -> None:
        lease = t.event_relay_lease.c
        self.session.execute(update(t.event_relay_lease).where(lease.name == name, lease.owner == owner)
                             .values(owner=None, expires_at=None))

    def lease(self, name: str) -> Lease | None:
        row = self.session.execute(select(t.event_relay_lease).where(t.event_relay_lease.c.name == name)).first()
        return Lease(row.name, row.owner, row.expires_at) if row else None


def _raw_json(raw: Mapping[str, bytes]) -> str:
    """Message fields as JSON text: UTF-8 where they are text, hex (``hex:`` prefix) where binary."""
    out = {}
    for name, value in raw.items():
        try:
            out[name] = value.decode("utf-8") if name != "event_data" else "hex:" + value.hex()
        except UnicodeDecodeError:
            out[name] = "hex:" + value.hex()
    return json.dumps(out, sort_keys=True)


class SqlEventInbox:
    """``EventInbox`` on the ``event_inbox`` and ``event_inbox_dead`` tables."""

    def __init__(self, session: Session):
        self.session = session

    def record(self, event_id: str, event_type: str, message_id: str, at: datetime) -> bool:
        return _insert_ignoring_duplicates(self.session, t.event_inbox, dict(
            event_id=event_id, event_type=event_type, message_id=message_id, processed_at=at))

    def set_outcome(self, event_id: str, outcome: str) -> None:
        self.session.execute(update(t.event_inbox).where(t.event_inbox.c.event_id == event_id)
                             .values(outcome=outcome))

    def dead_letter(self, message_id: str, event_id: str | None, event_type: str | None, error: str,
                    raw: Mapping[str, bytes], times_delivered: int, at: datetime) -> None:
        self.session.execute(t.event_inbox_dead.insert().values(
            message_id=message_id, event_id=event_id, event_type=event_type, error=error[:2000],
            raw=_raw_json(raw), times_delivered=times_delivered, created_at=at))

    def dead_count(self) -> int:
        return self.session.execute(select(func.count()).select_from(t.event_inbox_dead)).scalar()

"""What our events look like on the Open edX event bus, and back (event-bus.md §1.2–§1.5, §2.2, §2.3).

* Payload: the event's data as the openedx-events attrs classes would serialise it (``UserData`` from an
  ``EventUser``, keys as strings), Avro-encoded with the schema of the event type.
* Metadata: ``type, id, source, time, minorversion, sourcehost, sourcelib`` as text. ``time`` is always
  ``isoformat()`` of a UTC datetime (``+00:00``, never ``Z``), ``minorversion`` is ``"0"``.
* Redis: one XADD per event with those bare field names in that order, then ``event_data`` (§1.4).
* Kafka: ``ce_specversion, content-type, ce_datacontenttype`` constants, then the ``ce_*`` metadata (§1.5).

Decoding applies the checks the LMS consumer applies (§2.2), and raises ``EventDecodingError`` with a reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Mapping

from exams.adapters.lms import avro
from exams.adapters.lms.schemas import DATA_FIELDS, TOPICS
from exams.domain.values import is_course_key, is_usage_key
from exams.ports.events import (
    COURSE_ACCESS_ROLE_EVENT_TYPES,
    EXAM_ATTEMPT_EVENT_TYPES,
    CourseAccessRoleEvent,
    EventDecodingError,
    EventEncodingError,
    EventUser,
    ExamAttemptEvent,
    WireMessage,
)

#: Metadata field names, in the order edx-event-bus-redis writes them.
METADATA_FIELDS = ("type", "id", "source", "time", "minorversion", "sourcehost", "sourcelib")
#: The Redis field that carries the Avro payload (always last).
EVENT_DATA_FIELD = "event_data"
#: Kafka header names of the metadata fields.
KAFKA_METADATA_HEADERS = {
    "type": "ce_type",
    "id": "ce_id",
    "source": "ce_source",
    "time": "ce_time",
    "minorversion": "ce_minorversion",
    "sourcehost": "sourcehost",
    "sourcelib": "sourcelib",
}
#: Kafka headers that carry no metadata field but are always sent first.
KAFKA_CONSTANT_HEADERS = (
    ("ce_specversion", b"1.0"),
    ("content-type", b"application/avro"),
    ("ce_datacontenttype", b"application/avro"),
)

# --- opaque key checks ----------------------------------------------------------------------------------------------
# The LMS drops an event whose course or usage key does not parse, so refusing at enqueue time turns a silent loss
# into a visible error. The grammar is the domain's (``exams.domain.values``): one copy for every adapter.


# --- time -----------------------------------------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """The wire text of an event time: ``isoformat()`` in UTC, e.g. ``2026-01-02T03:04:05.678901+00:00``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventEncodingError(f"event time must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(timezone.utc).isoformat()


def parse_time(text: str) -> datetime:
    """Parse a wire time the way the LMS consumer does: ISO 8601 whose zone is UTC (``+00:00`` or ``Z``)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EventDecodingError(f"time is not ISO 8601: {text!r}") from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventDecodingError(f"time has no time zone: {text!r}")
    if value.utcoffset().total_seconds() != 0:
        raise EventDecodingError(f"time is not in UTC: {text!r}")
    return value.replace(tzinfo=timezone.utc)


# --- payload records ------------------------------------------------------------------------------------------------


def _user_record(user: EventUser) -> dict:
    return {
        "id": user.lms_user_id,
        "is_active": user.is_active,
        "pii": {"username": user.username, "email": user.email, "name": user.full_name},
    }


def _user_from_record(record: dict) -> EventUser:
    pii = record["pii"]
    return EventUser(
        lms_user_id=record["id"],
        is_active=record["is_active"],
        username=pii["username"],
        email=pii["email"],
        # openedx-events replaces a falsy name by its default, "".
        full_name=pii["name"] or "",
    )


def exam_attempt_record(event: ExamAttemptEvent) -> dict:
    """The Avro record (plain dict) of an exam attempt event, checking the keys the LMS must be able to parse."""
    if not is_course_key(event.course_key):
        raise EventEncodingError(f"invalid course key: {event.course_key!r}")
    if not is_usage_key(event.usage_key):
        raise EventEncodingError(f"invalid usage key: {event.usage_key!r}")
    return {
        "exam_attempt": {
            "student_user": _user_record(event.student),
            "course_key": event.course_key,
            "usage_key": event.usage_key,
            "exam_type": event.exam_type,
            "requesting_user": None if event.requesting_user is None else _user_record(event.requesting_user),
        }
    }


def course_access_role_record(event: CourseAccessRoleEvent) -> dict:
    """The Avro record (plain dict) of a course access role event."""
    return {
        "course_access_role_data": {
            "user": _user_record(event.user),
            "org_key": event.org_key,
            "course_key": event.course_key,
            "role": event.role,
        }
    }


def encode_payload(event: ExamAttemptEvent | CourseAccessRoleEvent) -> bytes:
    """The schemaless Avro payload of an event (Redis ``event_data``, the Kafka value body)."""
    if isinstance(event, ExamAttemptEvent):
        record = exam_attempt_record(event)
    elif isinstance(event, CourseAccessRoleEvent):
        record = course_access_role_record(event)
    else:
        raise EventEncodingError(f"not an event: {event!r}")
    try:
        return avro.encode(event.event_type, record)
    except avro.AvroEncodeError as exc:
        raise EventEncodingError(str(exc)) from exc


# --- metadata -------------------------------------------------------------------------------------------------------


def metadata_headers(event: ExamAttemptEvent | CourseAccessRoleEvent) -> dict[str, str]:
    """The event metadata as wire text, in wire order (``METADATA_FIELDS``)."""
    return {
        "type": event.event_type,
        "id": str(event.event_id),
        "source": event.source,
        "time": format_time(event.time),
        "minorversion": str(event.minorversion),
        "sourcehost": event.sourcehost,
        "sourcelib": event.sourcelib,
    }


def encode_event(event: ExamAttemptEvent | CourseAccessRoleEvent) -> WireMessage:
    """Encode any of our seven event types as a bus-neutral ``WireMessage``, keyed by course key."""
    return WireMessage(
        topic=TOPICS[event.event_type],
        key=event.course_key.encode("utf-8"),
        value=encode_payload(event),
        headers=metadata_headers(event),
    )


class LmsEventEncoder:
    """``EventEncoder`` for the Open edX event bus (openedx-events 10.x wire format)."""

    def encode(self, event: ExamAttemptEvent) -> WireMessage:
        """Encode an exam attempt event; raises ``EventEncodingError`` if the LMS could not use it."""
        if not isinstance(event, ExamAttemptEvent):
            raise EventEncodingError(f"not an exam attempt event: {event!r}")
        return encode_event(event)


# --- broker-specific framing ----------------------------------------------------------------------------------------


def redis_fields(message: WireMessage) -> dict[str, bytes]:
    """The XADD field/value pairs of a message, in order: the seven metadata fields, then ``event_data``."""
    missing = [name for name in METADATA_FIELDS if name not in message.headers]
    if missing:
        raise EventEncodingError(f"message lacks metadata {missing}")
    fields = {name: message.headers[name].encode("utf-8") for name in METADATA_FIELDS}
    fields[EVENT_DATA_FIELD] = bytes(message.value)
    return fields


def kafka_headers(message: WireMessage) -> list[tuple[str, bytes]]:
    """The Kafka headers of a message, in the order edx-event-bus-kafka sends them."""
    headers = list(KAFKA_CONSTANT_HEADERS)
    headers += [(KAFKA_METADATA_HEADERS[name], message.headers[name].encode("utf-8")) for name in METADATA_FIELDS]
    return headers


# --- decoding -------------------------------------------------------------------------------------------------------


def _text(fields: Mapping, name: str) -> str | None:
    value = fields.get(name, fields.get(name.encode("ascii")))
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventDecodingError(f"field {name!r} is not UTF-8") from exc
    if isinstance(value, str):
        return value
    raise EventDecodingError(f"field {name!r} has unexpected type {type(value).__name__}")


def parse_metadata(fields: Mapping, *, fallback_id: uuid.UUID | None = None) -> dict:
    """Parse the metadata fields of a Redis entry (str or bytes names/values) with the LMS consumer's rules.

    Returns keyword arguments for an event value: ``event_type, event_id, time, source, sourcehost, sourcelib,
    minorversion``. Like the LMS, a missing ``id`` or ``time`` is filled in (``fallback_id`` or a fresh UUID; the
    current time), and ``minorversion`` is parsed but not compared with ours.
    """
    event_type = _text(fields, "type")
    if not event_type:
        raise EventDecodingError("entry has no 'type' field")
    raw_id = _text(fields, "id")
    if raw_id is None:
        event_id = fallback_id or uuid.uuid4()
    else:
        try:
            event_id = uuid.UUID(raw_id)
        except ValueError as exc:
            raise EventDecodingError(f"id is not a UUID: {raw_id!r}") from exc
    raw_time = _text(fields, "time")
    time = datetime.now(timezone.utc) if raw_time is None else parse_time(raw_time)
    raw_minor = _text(fields, "minorversion")
    try:
        minorversion = 0 if raw_minor is None else int(raw_minor)
    except ValueError as exc:
        raise EventDecodingError(f"minorversion is not an integer: {raw_minor!r}") from exc
    sourcelib = _text(fields, "sourcelib")
    if sourcelib is not None and not all(p.isascii() and p.isdigit() for p in sourcelib.split(".")):
        raise EventDecodingError(f"sourcelib is not dot-separated integers: {sourcelib!r}")
    metadata = {
        "event_type": event_type,
        "event_id": event_id,
        "time": time,
        "minorversion": minorversion,
    }
    for name in ("source", "sourcehost", "sourcelib"):
        value = _text(fields, name)
        if value is not None:
            metadata[name] = value
    return metadata


def _payload(fields: Mapping) -> bytes:
    value = fields.get(EVENT_DATA_FIELD, fields.get(EVENT_DATA_FIELD.encode("ascii")))
    if value is None:
        raise EventDecodingError("entry has no 'event_data' field")
    if isinstance(value, str):  # a client with decode_responses=True would hand us text
        raise EventDecodingError("event_data must be raw bytes (read the stream without decode_responses)")
    return bytes(value)


def _decode_record(event_type: str, payload: bytes) -> dict:
    try:
        return avro.decode(event_type, payload)[DATA_FIELDS[event_type]]
    except avro.AvroDecodeError as exc:
        raise EventDecodingError(str(exc)) from exc


def decode_exam_attempt_entry(fields: Mapping, *, fallback_id: uuid.UUID | None = None) -> ExamAttemptEvent:
    """Decode a Redis stream entry (field -> value) into an ``ExamAttemptEvent``; raises ``EventDecodingError``."""
    metadata = parse_metadata(fields, fallback_id=fallback_id)
    if metadata["event_type"] not in EXAM_ATTEMPT_EVENT_TYPES:
        raise EventDecodingError(f"not an exam attempt event type: {metadata['event_type']!r}")
    data = _decode_record(metadata["event_type"], _payload(fields))
    try:
        requesting = data["requesting_user"]
        return ExamAttemptEvent(
            student=_user_from_record(data["student_user"]),
            course_key=data["course_key"],
            usage_key=data["usage_key"],
            exam_type=data["exam_type"],
            requesting_user=None if requesting is None else _user_from_record(requesting),
            **metadata,
        )
    except EventEncodingError as exc:
        raise EventDecodingError(f"invalid {metadata['event_type']} event: {exc}") from exc


def decode_course_access_role_entry(
    fields: Mapping, *, fallback_id: uuid.UUID | None = None
) -> CourseAccessRoleEvent:
    """Decode a Redis stream entry into a ``CourseAccessRoleEvent``; raises ``EventDecodingError``.

    An event type other than the two role events (the topic may carry more types one day) is an error too.
    """
    metadata = parse_metadata(fields, fallback_id=fallback_id)
    if metadata["event_type"] not in COURSE_ACCESS_ROLE_EVENT_TYPES:
        raise EventDecodingError(f"not a course access role event type: {metadata['event_type']!r}")
    data = _decode_record(metadata["event_type"], _payload(fields))
    try:
        return CourseAccessRoleEvent(
            user=_user_from_record(data["user"]),
            org_key=data["org_key"],
            course_key=data["course_key"],
            role=data["role"],
            **metadata,
        )
    except EventEncodingError as exc:
        raise EventDecodingError(f"invalid {metadata['event_type']} event: {exc}") from exc


def decode_message(message: WireMessage) -> ExamAttemptEvent | CourseAccessRoleEvent:
    """Decode a ``WireMessage`` back into the event it was encoded from."""
    fields = {**message.headers, EVENT_DATA_FIELD: message.value}
    event_type = message.headers.get("type")
    if event_type in COURSE_ACCESS_ROLE_EVENT_TYPES:
        return decode_course_access_role_entry(fields)
    return decode_exam_attempt_entry(fields)

"""Ports for the Open edX event bus: the events we send to the LMS and the ones we hear from it.

Standard library only. The values here are what the core hands to (and gets from) the event-bus adapter; the
adapter owns the wire formats (Avro payload, Redis stream fields, Kafka headers).

Outgoing: the five exam-attempt lifecycle events on the ``learning-exam-attempt-lifecycle`` topic. The LMS
identifies the learner by ``student.lms_user_id`` and reacts with completion, grade-override, credit and reset
changes, so these must be right when they are built.

Incoming: course-access-role added/removed events on ``learning-course-access-role-lifecycle``, which keep our
course staff roles in step with the LMS.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping, Protocol, Sequence

from exams.ports.clock import SYSTEM_CLOCK

# --- event types and topics ---------------------------------------------------------------------------------------

EXAM_ATTEMPT_SUBMITTED = "org.openedx.learning.exam.attempt.submitted.v1"
EXAM_ATTEMPT_VERIFIED = "org.openedx.learning.exam.attempt.verified.v1"
EXAM_ATTEMPT_REJECTED = "org.openedx.learning.exam.attempt.rejected.v1"
EXAM_ATTEMPT_ERRORED = "org.openedx.learning.exam.attempt.errored.v1"
EXAM_ATTEMPT_RESET = "org.openedx.learning.exam.attempt.reset.v1"

EXAM_ATTEMPT_EVENT_TYPES = (
    EXAM_ATTEMPT_SUBMITTED,
    EXAM_ATTEMPT_VERIFIED,
    EXAM_ATTEMPT_REJECTED,
    EXAM_ATTEMPT_ERRORED,
    EXAM_ATTEMPT_RESET,
)

COURSE_ACCESS_ROLE_ADDED = "org.openedx.learning.user.course_access_role.added.v1"
COURSE_ACCESS_ROLE_REMOVED = "org.openedx.learning.user.course_access_role.removed.v1"

COURSE_ACCESS_ROLE_EVENT_TYPES = (COURSE_ACCESS_ROLE_ADDED, COURSE_ACCESS_ROLE_REMOVED)

# Unprefixed topic names; the adapter adds the deployment's topic prefix (e.g. "dev-").
EXAM_ATTEMPT_TOPIC = "learning-exam-attempt-lifecycle"
COURSE_ACCESS_ROLE_TOPIC = "learning-course-access-role-lifecycle"

# The openedx-events release whose schemas we mirror; sent as `sourcelib` (digits and dots only).
DEFAULT_SOURCELIB = "10.5.0"
DEFAULT_SOURCE = "openedx/edx-exams/web"


# --- errors -------------------------------------------------------------------------------------------------------


class EventBusError(Exception):
    """Base class of every event-bus failure the core may need to catch."""


class EventEncodingError(EventBusError, ValueError):
    """An event cannot be turned into a wire message (bad user id, key string, missing requesting user, ...).

    Raised at enqueue time so the request fails loudly instead of losing the event later.
    """


class EventDecodingError(EventBusError, ValueError):
    """A message from the bus cannot be understood (unknown type, missing field, bad time, corrupt payload)."""


class BusUnavailable(EventBusError):
    """The broker could not be reached or did not answer; publishing may be retried later."""


class PublishRejected(EventBusError):
    """The broker refused the message for a reason a retry will not fix (wrong key type, no permission)."""


# --- values -------------------------------------------------------------------------------------------------------


def _require_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise EventEncodingError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise EventEncodingError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    # The LMS consumer insists on tzinfo == timezone.utc, so normalise here once.
    return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class EventUser:
    """A user as the event bus describes one (openedx-events ``UserData`` + ``UserPersonalData``).

    ``lms_user_id`` is the LMS's user id; the LMS looks the learner up by it, so it can never be missing.
    ``full_name`` may be empty but never None.
    """

    lms_user_id: int
    is_active: bool
    username: str
    email: str
    full_name: str = ""

    def __post_init__(self) -> None:
        if type(self.lms_user_id) is not int:  # bool is an int: refuse it too
            raise EventEncodingError(f"lms_user_id must be an int, got {self.lms_user_id!r}")
        if type(self.is_active) is not bool:
            raise EventEncodingError(f"is_active must be a bool, got {self.is_active!r}")
        for name in ("username", "email", "full_name"):
            if not isinstance(getattr(self, name), str):
                raise EventEncodingError(f"{name} must be a str, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class ExamAttemptEvent:
    """One exam-attempt lifecycle event for the LMS (openedx-events ``ExamAttemptData`` plus its metadata).

    ``event_id`` and ``time`` are fixed when the event is created (enqueue time) and reused on every retry, so a
    republished event is recognisably the same event. ``time`` is normalised to UTC.

    ``requesting_user`` is the student for SUBMITTED, None for VERIFIED/REJECTED/ERRORED, and the caller for
    RESET, where it is required (the LMS reset handler dereferences it unconditionally).
    """

    event_type: str
    student: EventUser
    course_key: str
    usage_key: str
    exam_type: str
    requesting_user: EventUser | None = None
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=SYSTEM_CLOCK.now)
    source: str = DEFAULT_SOURCE
    sourcehost: str = field(default_factory=socket.gethostname)
    sourcelib: str = DEFAULT_SOURCELIB
    minorversion: int = 0

    def __post_init__(self) -> None:
        if self.event_type not in EXAM_ATTEMPT_EVENT_TYPES:
            raise EventEncodingError(f"not an exam attempt event type: {self.event_type!r}")
        if not isinstance(self.student, EventUser):
            raise EventEncodingError("student must be an EventUser")
        if self.requesting_user is not None and not isinstance(self.requesting_user, EventUser):
            raise EventEncodingError("requesting_user must be an EventUser or None")
        if self.event_type == EXAM_ATTEMPT_RESET and self.requesting_user is None:
            raise EventEncodingError("a reset event needs the requesting user (the LMS reset handler requires it)")
        for name in ("course_key", "usage_key", "exam_type"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise EventEncodingError(f"{name} must be a non-empty str, got {getattr(self, name)!r}")
        if not isinstance(self.event_id, uuid.UUID):
            raise EventEncodingError(f"event_id must be a UUID, got {self.event_id!r}")
        object.__setattr__(self, "time", _require_utc(self.time, "time"))
        _check_metadata_text(self.source, self.sourcehost, self.sourcelib, self.minorversion)

    @property
    def topic(self) -> str:
        """The unprefixed topic every exam attempt event goes to."""
        return EXAM_ATTEMPT_TOPIC


@dataclass(frozen=True)
class CourseAccessRoleEvent:
    """A course access role granted to (``added``) or taken from (``removed``) a user in the LMS.

    Only ``staff``, ``instructor`` and ``limited_staff`` matter to exams; the consumer ignores the other roles.
    """

    event_type: str
    user: EventUser
    org_key: str
    course_key: str
    role: str
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=SYSTEM_CLOCK.now)
    source: str = "openedx/lms/web"
    sourcehost: str = field(default_factory=socket.gethostname)
    sourcelib: str = DEFAULT_SOURCELIB
    minorversion: int = 0

    def __post_init__(self) -> None:
        if self.event_type not in COURSE_ACCESS_ROLE_EVENT_TYPES:
            raise EventEncodingError(f"not a course access role event type: {self.event_type!r}")
        if not isinstance(self.user, EventUser):
            raise EventEncodingError("user must be an EventUser")
        for name in ("org_key", "course_key", "role"):
            if not isinstance(getattr(self, name), str):
                raise EventEncodingError(f"{name} must be a str, got {getattr(self, name)!r}")
        if not isinstance(self.event_id, uuid.UUID):
            raise EventEncodingError(f"event_id must be a UUID, got {self.event_id!r}")
        object.__setattr__(self, "time", _require_utc(self.time, "time"))
        _check_metadata_text(self.source, self.sourcehost, self.sourcelib, self.minorversion)

    @property
    def added(self) -> bool:
        """True when the role was granted, False when it was removed."""
        return self.event_type == COURSE_ACCESS_ROLE_ADDED

    @property
    def topic(self) -> str:
        """The unprefixed topic role events arrive on."""
        return COURSE_ACCESS_ROLE_TOPIC


def _check_metadata_text(source: str, sourcehost: str, sourcelib: str, minorversion: int) -> None:
    if not isinstance(source, str) or not isinstance(sourcehost, str):
        raise EventEncodingError("source and sourcehost must be str")
    parts = sourcelib.split(".") if isinstance(sourcelib, str) else []
    # The LMS consumer drops a message whose sourcelib is not dot-separated integers.
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):
        raise EventEncodingError(f"sourcelib must be dot-separated integers, got {sourcelib!r}")
    if type(minorversion) is not int or minorversion < 0:
        raise EventEncodingError(f"minorversion must be a non-negative int, got {minorversion!r}")


@dataclass(frozen=True)
class WireMessage:
    """A bus-neutral encoded event, ready to publish (and the unit an outbox row stores).

    * ``topic``: the unprefixed topic, e.g. ``learning-exam-attempt-lifecycle``; the bus adds its prefix.
    * ``key``: the ordering/partition key, the UTF-8 course key (Kafka frames it; Redis has no key).
    * ``value``: the schemaless Avro payload (Redis ``event_data``; the Kafka value body).
    * ``headers``: event metadata as text, in wire order: ``type, id, source, time, minorversion, sourcehost,
      sourcelib``. Each bus maps these to its own field names (Redis bare names, Kafka ``ce_*``).
    """

    topic: str
    key: bytes
    value: bytes
    headers: Mapping[str, str]

    @property
    def event_type(self) -> str:
        """The event type carried in the ``type`` header."""
        return self.headers["type"]

    @property
    def event_id(self) -> str:
        """The event id (UUID text) carried in the ``id`` header; the idempotency key for publishing."""
        return self.headers["id"]


@dataclass(frozen=True)
class RoleEventDelivery:
    """One message read from the role-event topic.

    Exactly one of ``event`` and ``error`` is set: a message that cannot be decoded is still delivered, with the
    reason in ``error`` and its raw fields in ``raw``, so the consumer can dead-letter it and ack it instead of
    crashing or looping on it. ``times_delivered`` counts deliveries of this message to this consumer group
    (1 on first delivery); use it to give up on a message whose processing keeps failing.
    """

    message_id: str
    event: CourseAccessRoleEvent | None
    error: str | None = None
    raw: Mapping[str, bytes] = field(default_factory=dict)
    times_delivered: int = 1


# --- protocols ----------------------------------------------------------------------------------------------------


class EventEncoder(Protocol):
    """Turns exam attempt events into wire messages the LMS consumer understands."""

    def encode(self, event: ExamAttemptEvent) -> WireMessage:
        """Encode ``event`` (payload and metadata) for the bus.

        Raises ``EventEncodingError`` if the event would be rejected or misread by the LMS (invalid course or
        usage key, ...). Pure: no I/O, the same event always gives the same message.
        """
        ...


class EventBus(Protocol):
    """Publishes encoded events to the broker the LMS reads."""

    def publish(self, message: WireMessage) -> str:
        """Append ``message`` to its topic and return the broker's message id (e.g. a Redis entry id).

        Idempotent per ``message.event_id``: publishing the same event again (a retry after an ambiguous
        failure) returns the original message id and does not deliver it twice.
        Raises ``BusUnavailable`` if the broker cannot be reached (retry later) and ``PublishRejected`` if the
        broker refuses the message for good.
        """
        ...


class RoleEventSource(Protocol):
    """Reads course access role events from the LMS, with explicit acknowledgement."""

    def read(self, max_count: int = 10, block_ms: int | None = None) -> Sequence[RoleEventDelivery]:
        """Return up to ``max_count`` deliveries, waiting up to ``block_ms`` milliseconds for new ones.

        Messages delivered before but never acknowledged (a crash, a failed transaction) are returned again
        first. Undecodable messages come back as deliveries with ``error`` set; this never raises for them.
        Raises ``BusUnavailable`` if the broker cannot be reached.
        """
        ...

    def ack(self, message_id: str) -> None:
        """Mark the message as processed, so it is never delivered again. Call it only after the change it
        caused is committed. Raises ``BusUnavailable`` if the broker cannot be reached."""
        ...

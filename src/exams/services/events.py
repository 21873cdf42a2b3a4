"""Attempt outcomes to the LMS through the event outbox: the use case that enqueues them.

* ``EventOutcomeSink`` (an ``OutcomeSink``) builds the exam attempt event where edx-exams sends it and writes it,
  encoded, to the outbox in the caller's transaction: the event exists if and only if the change is committed.
* ``rebuild`` encodes a held event again, with its users as they are now.

Publishing (the relay, its lease and its loop) and the operator's commands live in ``exams.delivery``.

An event whose user has no ``lms_user_id`` cannot be sent (the LMS finds the learner by it). The learner's request
still succeeds; the event is kept, held, with its facts (``UnencodedEvent``) and a warning is logged, so that an
operator can see it and send it once the user is known to the LMS (docs/events.md).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol, TypeVar

from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import Exam
from exams.domain.users import User
from exams.ports.clock import Clock
from exams.ports.events import (
    DEFAULT_SOURCE,
    DEFAULT_SOURCELIB,
    EXAM_ATTEMPT_ERRORED,
    EXAM_ATTEMPT_REJECTED,
    EXAM_ATTEMPT_RESET,
    EXAM_ATTEMPT_SUBMITTED,
    EXAM_ATTEMPT_TOPIC,
    EXAM_ATTEMPT_VERIFIED,
    EventEncoder,
    EventEncodingError,
    EventUser,
    ExamAttemptEvent,
    WireMessage,
)
from exams.ports.outbox import EventInbox, Outbox, RelayLease, UnencodedEvent
from exams.ports.repositories import Repositories

log = logging.getLogger(__name__)
T = TypeVar("T")

S = AttemptStatus
# The statuses edx-exams announces (edx-exams.md §2.4); second_review_required and the rest send nothing.
OUTCOME_EVENT_TYPES = {
    S.SUBMITTED: EXAM_ATTEMPT_SUBMITTED,
    S.VERIFIED: EXAM_ATTEMPT_VERIFIED,
    S.REJECTED: EXAM_ATTEMPT_REJECTED,
    S.ERROR: EXAM_ATTEMPT_ERRORED,
}


class OutboxStore(Outbox, RelayLease, Protocol):
    """The outbox and its relay lease, as one unit of work sees them."""


@dataclass
class EventUnit:
    """What the event use cases touch in one transaction."""

    outbox: OutboxStore
    inbox: EventInbox
    repos: Repositories


Transact = Callable[[Callable[[EventUnit], T]], T]
"""Runs the work in its own transaction: commits when it returns, rolls back when it raises."""


def event_user(user: User) -> EventUser:
    """The user as the LMS knows them; refuses a user the LMS cannot identify."""
    if user.lms_user_id is None:
        raise EventEncodingError(f"user {user.username!r} (id {user.id}) has no lms_user_id")
    return EventUser(lms_user_id=user.lms_user_id, is_active=bool(user.is_active), username=user.username,
                     email=user.email or "", full_name=user.full_name or "")


# -- enqueue -------------------------------------------------------------------------------------------------------
class EventOutcomeSink:
    """``OutcomeSink`` writing exam attempt events to the outbox of the caller's unit of work."""

    def __init__(self, outbox: Outbox, encoder: EventEncoder, clock: Clock, *, source: str = DEFAULT_SOURCE,
                 sourcehost: str | None = None, sourcelib: str = DEFAULT_SOURCELIB):
        self.outbox = outbox
        self.encoder = encoder
        self.clock = clock
        self.metadata = {"source": source, "sourcelib": sourcelib}
        if sourcehost:
            self.metadata["sourcehost"] = sourcehost

    def status_changed(self, attempt: Attempt, exam: Exam, student: User, change: StatusChange | None,
                       requesting_user: User | None) -> None:
        event_type = OUTCOME_EVENT_TYPES.get(change.to_status) if change is not None else None
        if event_type is not None:
            self._enqueue(event_type, attempt, exam, student, requesting_user, change.at)

    def attempt_reset(self, attempt: Attempt, exam: Exam, student: User, requesting_user: User) -> None:
        self._enqueue(EXAM_ATTEMPT_RESET, attempt, exam, student, requesting_user, self.clock.now())

    def _enqueue(self, event_type: str, attempt: Attempt, exam: Exam, student: User, requesting_user: User | None,
                 at: datetime) -> None:
        event_id = uuid.uuid4()
        now = self.clock.now()
        try:
            event = ExamAttemptEvent(
                event_type=event_type, student=event_user(student), course_key=exam.course_id,
                usage_key=exam.content_id, exam_type=exam.exam_type.value,
                requesting_user=event_user(requesting_user) if requesting_user is not None else None,
                event_id=event_id, time=at, **self.metadata)
            message = self.encoder.encode(event)
        except EventEncodingError as exc:
            # Never fail the learner's request for it: hold the event where an operator sees it.
            facts = UnencodedEvent(
                event_type=event_type, event_id=str(event_id), time=at, course_key=exam.course_id,
                usage_key=exam.content_id, exam_type=exam.exam_type.value, student_id=student.id,
                requesting_user_id=requesting_user.id if requesting_user is not None else None,
                attempt_id=attempt.id)
            log.warning("exam attempt event %s (%s, attempt %s, course %s) cannot be sent to the LMS: %s; "
                        "held in the outbox for an operator (exams events status)",
                        event_id, event_type, attempt.id, exam.course_id, exc)
            headers = {"time": at.isoformat(), "minorversion": "0", "sourcehost": "", **self.metadata}
            self.outbox.append_unencoded(facts, EXAM_ATTEMPT_TOPIC, headers, str(exc), now)
            return
        self.outbox.append(message, now)


def rebuild(facts: UnencodedEvent, repos: Repositories, encoder: EventEncoder, *, source: str,
            sourcelib: str = DEFAULT_SOURCELIB) -> WireMessage:
    """Encode a held event again with its users as they are now (same id and time). Raises
    ``EventEncodingError`` if it still cannot be encoded."""
    student = repos.users.get(facts.student_id)
    requesting = repos.users.get(facts.requesting_user_id) if facts.requesting_user_id is not None else None
    if student is None or (facts.requesting_user_id is not None and requesting is None):
        raise EventEncodingError("a user of this event no longer exists")
    event = ExamAttemptEvent(
        event_type=facts.event_type, student=event_user(student), course_key=facts.course_key,
        usage_key=facts.usage_key, exam_type=facts.exam_type,
        requesting_user=event_user(requesting) if requesting is not None else None,
        event_id=uuid.UUID(facts.event_id), time=facts.time, source=source, sourcelib=sourcelib)
    return encoder.encode(event)

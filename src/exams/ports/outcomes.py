"""Where attempt outcomes go after the core decides them (LMS events, learner emails).

Implementations must write inside the caller's unit of work (an outbox), so that an outcome
exists if and only if the attempt change that caused it is committed.
"""

from __future__ import annotations

from typing import Callable, Protocol

from exams.domain.attempts import Attempt, StatusChange
from exams.domain.exams import Exam
from exams.domain.users import User


class OutcomeSink(Protocol):
    def status_changed(self, attempt: Attempt, exam: Exam, student: User, change: StatusChange,
                       requesting_user: User | None) -> None:
        """An attempt moved to a new status."""

    def attempt_reset(self, attempt: Attempt, exam: Exam, student: User, requesting_user: User) -> None:
        """An attempt is about to be deleted (called before the delete, in the same transaction)."""


class NullOutcomeSink:
    """Drops outcomes; for wiring where no LMS is connected."""

    def status_changed(self, attempt, exam, student, change, requesting_user) -> None:
        return None

    def attempt_reset(self, attempt, exam, student, requesting_user) -> None:
        return None


class CompositeOutcomeSink:
    """Hands every outcome to each sink in turn (the event outbox, learner emails, ...)."""

    def __init__(self, sinks: list[OutcomeSink]):
        self.sinks = list(sinks)

    def status_changed(self, attempt, exam, student, change, requesting_user) -> None:
        for sink in self.sinks:
            sink.status_changed(attempt, exam, student, change, requesting_user)

    def attempt_reset(self, attempt, exam, student, requesting_user) -> None:
        for sink in self.sinks:
            sink.attempt_reset(attempt, exam, student, requesting_user)


class DeferredOutcomeSink:
    """Made on the first outcome by ``build()``: a unit that decides none (a learner's read) never builds it."""

    def __init__(self, build: Callable[[], OutcomeSink]):
        self._build = build
        self._sink: OutcomeSink | None = None

    def _target(self) -> OutcomeSink:
        if self._sink is None:
            self._sink = self._build()
        return self._sink

    def status_changed(self, attempt, exam, student, change, requesting_user) -> None:
        self._target().status_changed(attempt, exam, student, change, requesting_user)

    def attempt_reset(self, attempt, exam, student, requesting_user) -> None:
        self._target().attempt_reset(attempt, exam, student, requesting_user)

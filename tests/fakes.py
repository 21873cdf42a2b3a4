"""Fakes of the ports, for unit tests of the core and for swapping adapters in functional tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeClock:
    """A clock that stands still until told to move; ``None`` means follow real time."""

    def __init__(self, at: datetime | None = None):
        self.at = at

    def now(self) -> datetime:
        return self.at if self.at is not None else datetime.now(timezone.utc)

    def set(self, at: datetime) -> None:
        self.at = at

    def freeze(self) -> datetime:
        self.at = datetime.now(timezone.utc)
        return self.at

    def advance(self, **delta) -> datetime:
        self.at = self.now() + timedelta(**delta)
        return self.at

    def reset(self) -> None:
        self.at = None


class RecordingOutcomes:
    """Collects what the core hands to the outcome port."""

    def __init__(self):
        self.changes = []
        self.resets = []

    def status_changed(self, attempt, exam, student, change, requesting_user):
        self.changes.append((attempt.id, change.to_status.value, student.username,
                             requesting_user.username if requesting_user else None))

    def attempt_reset(self, attempt, exam, student, requesting_user):
        self.resets.append((attempt.id, student.username, requesting_user.username))

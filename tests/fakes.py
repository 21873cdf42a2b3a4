"""Fakes of the ports, for unit tests of the core and for swapping adapters in functional tests."""

from __future__ import annotations

import copy
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone


@contextmanager
def rolled_back_on_error(*stores):
    """A unit of work over in-memory fakes: when the block raises, every store gets back the state it had.

    One deepcopy of them all keeps the references between them consistent. Yields the saved state (of the
    first store) for callers that also roll back on purpose.
    """
    saved = copy.deepcopy([store.__dict__ for store in stores])
    try:
        yield saved[0]
    except BaseException:
        for store, state in zip(stores, saved):
            store.__dict__.update(state)
        raise


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


class FakeProctoringVendor:
    """A `ProctoringVendor` without cryptography, for tests about what vendors report rather than how
    they authenticate. Its client assertion is ``fake-assertion:<client_id>``; its tokens are
    ``fake-token:<registration id>:<scope>`` and only the scope ``control`` may report."""

    SCOPE = "control"

    def __init__(self):
        self.granted = []

    def grant_service_token(self, registration, form, token_url, nonces):
        from exams.ports.proctoring import ServiceToken, ServiceTokenRefused, TokenError

        if form.get("client_assertion") != [f"fake-assertion:{registration.client_id}"]:
            raise ServiceTokenRefused(TokenError.INVALID_CLIENT, "Not the fake assertion of this client.")
        token = f"fake-token:{registration.registration_id}:{self.SCOPE}"
        self.granted.append((registration.registration_id, token_url))
        return ServiceToken(access_token=token, token_type="bearer", expires_in=3600, scope=self.SCOPE)

    def authorize_control(self, registration, bearer):
        from exams.ports.proctoring import BearerProblem, BearerRefused

        kind, _, rest = bearer.partition(":")
        registration_id, _, scope = rest.partition(":")
        if kind != "fake-token" or registration_id != registration.registration_id:
            raise BearerRefused(BearerProblem.INVALID_TOKEN, "Not a fake token of this registration.")
        if scope != self.SCOPE:
            raise BearerRefused(BearerProblem.INSUFFICIENT_SCOPE, "Not the control scope.", scope=self.SCOPE)

    def claimed_registration(self, bearer):
        kind, _, rest = bearer.partition(":")
        return rest.partition(":")[0] or None if kind == "fake-token" else None

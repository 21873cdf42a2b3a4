"""Persistence ports of the LTI platform: tool registrations, launch state, single-use nonces.

Like every repository these never commit; they write inside the caller's unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from exams.ports.lti import NonceStore, ToolRegistration

__all__ = ["LaunchState", "LaunchStateRepository", "LtiStore", "NonceRepository", "NonceStore",
           "RegistrationRepository"]


class RegistrationRepository(Protocol):
    def get(self, registration_id: str) -> ToolRegistration | None:
        """The registration with this id (the string a provider's ``lti_configuration_id`` holds)."""

    def get_by_client_id(self, client_id: str) -> ToolRegistration | None:
        """The registration of the tool that signs as ``client_id``."""

    def add(self, registration: ToolRegistration) -> ToolRegistration:
        """Insert (``registration_id`` is ignored and assigned); raises Conflict on a taken client_id or kid."""

    def list(self) -> list[ToolRegistration]:
        """Every registration, oldest first."""

    def save_keys(self, registration: ToolRegistration) -> None:
        """Persist the registration's signing key, its kid and its retiring key (a rotation)."""


@dataclass(frozen=True)
class LaunchState:
    """What we remember between sending a learner to a tool and the tool's answers.

    Found by ``message_hint`` (the random, single-use ``lti_message_hint``). ``browser_binding`` is the
    SHA-256 of the secret in the launch cookie of the browser that started the launch. ``used`` turns true
    when the OIDC authentication request spends the hint; ``completed`` when the tool's LtiStartAssessment
    spends the ``session_data``. ``hint_expires_at`` bounds the OIDC round trip, ``expires_at`` the whole
    launch (the tool's identity checks included).
    """

    id: int | None
    message_hint: str
    message_type: str
    registration_id: str
    user_id: int
    attempt_id: int | None
    exam_id: int | None
    browser_binding: str
    session_data: str | None
    hint_expires_at: datetime
    expires_at: datetime
    used: bool = False
    completed: bool = False
    end_assessment_return: bool = False
    created: datetime | None = None


class LaunchStateRepository(Protocol):
    def add(self, state: LaunchState) -> LaunchState:
        """Insert; returns the state with its id."""

    def get_by_hint(self, message_hint: str) -> LaunchState | None: ...

    def mark_used(self, launch_id: int, now: datetime) -> bool:
        """Spend the message hint: True for exactly one caller, and only before ``hint_expires_at``."""

    def pending_starts(self, user_id: int, registration_id: str, browser_binding: str, now: datetime,
                       limit: int = 5) -> list[LaunchState]:
        """This browser's LtiStartProctoring launches at this tool whose hint was used, that no
        LtiStartAssessment completed yet and that have not expired; newest first."""

    def complete(self, launch_id: int, end_assessment_return: bool, now: datetime) -> bool:
        """Spend the launch's session_data and remember whether the tool wants LtiEndAssessment.

        True for exactly one caller, and only while the launch is used, not completed and not expired.
        """

    def last_completed_start(self, attempt_id: int) -> LaunchState | None:
        """The newest completed LtiStartProctoring launch of the attempt (its end_assessment_return)."""

    def purge_expired(self, now: datetime) -> int:
        """Delete launches that expired without being completed; return how many.

        Completed LtiStartProctoring launches stay (with their attempt) for ``last_completed_start``.
        """


class NonceRepository(NonceStore, Protocol):
    """The ``NonceStore`` the LTI adapter consumes values through, plus housekeeping."""

    def purge_expired(self, now: datetime) -> int:
        """Forget values whose expiry has passed; return how many."""


class LtiStore(Protocol):
    """The LTI repositories of one unit of work."""

    registrations: RegistrationRepository
    launches: LaunchStateRepository
    nonces: NonceRepository

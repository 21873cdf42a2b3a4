"""edx-proctoring in the LMS: where courses that have no proctoring provider here are still served.

edx-exams forwards four views for such courses, and asks edx-proctoring for a learner's active attempt
when it has none of its own (edx-exams.md §6.7, §6.9). The answers are passed through: the LMS's status
and its JSON, so the frontends see what edx-proctoring said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

# What edx-exams answers when edx-proctoring's body is not JSON (with edx-proctoring's status).
INVALID_JSON = {"data": "Invalid JSON response received from edx-proctoring"}


@dataclass(frozen=True)
class LegacyResponse:
    """edx-proctoring's answer: its status and its parsed JSON body (INVALID_JSON when it was not JSON)."""

    status: int
    body: Any


class LegacyUnavailable(Exception):
    """edx-proctoring could not be asked or gave no usable answer.

    ``reachable`` is False when the LMS did not answer in time or refused the connection (try again
    later), True when it answered but not usably (e.g. it refused this service's OAuth2 credentials).
    """

    def __init__(self, reason: str, *, reachable: bool):
        super().__init__(reason)
        self.reason = reason
        self.reachable = reachable


class LegacyProctoring(Protocol):
    """edx-proctoring's REST API, called as this service (OAuth2 client credentials). Raises LegacyUnavailable."""

    def register_exams(self, course_id: str, exams: list) -> LegacyResponse:
        """PATCH Studio's exam list (items already carrying ``is_proctored``/``is_practice_exam``)."""

    def student_exam_attempt(self, course_id: str, content_id: str, lms_user_id: int) -> LegacyResponse:
        """The learner's exam and attempt for one subsection (edx-proctoring's ``active_attempt`` included)."""

    def proctoring_settings(self, exam_id: int) -> LegacyResponse:
        """The provider settings of one edx-proctoring exam."""

    def onboarding_status(self, course_id: str, username: str | None) -> LegacyResponse:
        """The learner's onboarding status in a course (for the course-home panel)."""

    def active_attempt(self, lms_user_id: int) -> LegacyResponse:
        """The learner's active edx-proctoring attempt, or ``{}``."""

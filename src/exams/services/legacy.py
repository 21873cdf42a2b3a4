"""edx-proctoring in the LMS: which courses it still serves, and what is asked of it (edx-exams.md §6.7, §6.9).

A course belongs to edx-proctoring when forwarding is configured (an OAuth2 client for the LMS) and the course
has no provider here. That is decided here, once; the HTTP adapter routes such requests to its forwarding
views and passes edx-proctoring's answers through. Calls raise ``LegacyUnavailable`` when the LMS gives no
usable answer.
"""

from __future__ import annotations

from exams.domain.attempts import Attempt
from exams.domain.exams import ExamType
from exams.domain.users import User
from exams.ports.legacy import INVALID_JSON, LegacyProctoring, LegacyResponse
from exams.services.exams import ExamService


class LegacyForwarding:
    def __init__(self, exams: ExamService, client: LegacyProctoring | None):
        self.exams = exams
        self.client = client

    @property
    def enabled(self) -> bool:
        """Forwarding is configured (without it every course is answered here)."""
        return self.client is not None

    def owns_course(self, course_id: str) -> bool:
        """The course belongs to edx-proctoring: forwarding is on and the course has no provider here."""
        return self.client is not None and not self.exams.is_configured(course_id)

    def register_exams(self, course_id: str, items: list) -> LegacyResponse:
        """Studio's exam list, with ``is_proctored``/``is_practice_exam`` added to items of a known exam type."""
        forwarded = []
        for item in items:
            if isinstance(item, dict):
                try:
                    exam_type = ExamType(item.get("exam_type"))
                except ValueError:
                    pass
                else:
                    item = {**item, "is_proctored": exam_type.is_proctored, "is_practice_exam": exam_type.is_practice}
            forwarded.append(item)
        return self.client.register_exams(course_id, forwarded)

    def student_exam(self, user: User, course_id: str, content_id: str) -> LegacyResponse | None:
        """The learner's exam view without edx-proctoring's ``active_attempt`` (as edx-exams); None when the
        learner has no LMS user id (edx-proctoring could not tell whose attempt to give: answered here)."""
        if user.lms_user_id is None:
            return None
        answer = self.client.student_exam_attempt(course_id, content_id, user.lms_user_id)
        if isinstance(answer.body, dict):
            answer = LegacyResponse(answer.status, {k: v for k, v in answer.body.items() if k != "active_attempt"})
        return answer

    def provider_settings(self, exam_id: int) -> LegacyResponse:
        return self.client.proctoring_settings(exam_id)

    def onboarding(self, course_id: str, username: str | None) -> LegacyResponse:
        return self.client.onboarding_status(course_id, username)

    def active_attempt(self, user: User, local: Attempt | None) -> dict | None:
        """edx-proctoring's active attempt of the learner, when there is no local attempt in progress.

        Asked for every course (the learner's timer does not say which), as edx-exams does (§6.7 step 4);
        a non-empty dict answered with 200 wins. Raises ``LegacyUnavailable`` when the LMS cannot be asked.
        """
        if self.client is None or user.lms_user_id is None or (local is not None and local.status.is_in_progress):
            return None
        answer = self.client.active_attempt(user.lms_user_id)
        if answer.status == 200 and isinstance(answer.body, dict) and answer.body and answer.body != INVALID_JSON:
            return answer.body
        return None


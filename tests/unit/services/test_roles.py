"""Course access role events from the LMS, applied with the fakes (the rules the CLI shares)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

C = "course-v1:edX+DemoX+Demo_Course"


def test_a_role_event_with_a_malformed_course_key_is_ignored_not_stored():
    from exams.ports.events import COURSE_ACCESS_ROLE_ADDED, CourseAccessRoleEvent, EventUser
    from exams.services.events import EventUnit
    from exams.services.roles import apply_role_event
    from tests.fakes import FakeClock
    from tests.fakes_repositories import FakeRepositories

    class Inbox:
        def __init__(self):
            self.outcomes = {}

        def record(self, event_id, event_type, message_id, at):
            if event_id in self.outcomes:
                return False
            self.outcomes[event_id] = None
            return True

        def set_outcome(self, event_id, outcome):
            self.outcomes[event_id] = outcome

    repos = FakeRepositories()
    unit = EventUnit(outbox=None, inbox=Inbox(), repos=repos)
    user = EventUser(lms_user_id=7, is_active=True, username="sam", email="sam@example.com", full_name="Sam")
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    for course, expected in (("not-a-course", "ignored"), (C, "added")):
        event = CourseAccessRoleEvent(event_type=COURSE_ACCESS_ROLE_ADDED, user=user, org_key="edX",
                                      course_key=course, role="staff", event_id=uuid.uuid4())
        assert apply_role_event(unit, event, "1-0", clock) == expected
    assert repos.staff_roles.listing() == [("sam", C, "staff")]

"""Course staff roles from the LMS: apply a course access role event, once (its consumer: exams.delivery.roles).

Semantics follow edx-exams (edx-exams.md §8.2): only ``staff``, ``instructor`` and ``limited_staff`` count;
``added`` gets or creates the user by username and grants the role, ``removed`` revokes that one role. A user
created here takes the LMS user id and email from the event (edx-exams leaves them empty), so attempt events
about them can be sent later.
"""

from __future__ import annotations

import logging
from exams.domain.errors import InvalidValue
from exams.domain.users import check_course_role
from exams.ports.clock import Clock
from exams.ports.events import CourseAccessRoleEvent
from exams.services.events import EventUnit
from exams.services.users import UserService

log = logging.getLogger(__name__)


def apply_role_event(unit: EventUnit, event: CourseAccessRoleEvent, message_id: str, clock: Clock) -> str:
    """Apply one event in the caller's transaction; return what it did (``duplicate`` if it was applied before)."""
    event_id = str(event.event_id)
    if not unit.inbox.record(event_id, event.event_type, message_id, clock.now()):
        return "duplicate"
    users = UserService(unit.repos)
    username = event.user.username
    try:
        check_course_role(username, event.course_key, event.role)
        valid = True
    except InvalidValue:
        valid = False
    if not valid:
        outcome = "ignored"
    elif event.added:
        outcome = "added" if users.add_course_role(username, event.course_key, event.role,
                                                   email=event.user.email) else "already_present"
        user = unit.repos.users.get_by_username(username)
        if user is not None and user.lms_user_id is None:
            user.lms_user_id = event.user.lms_user_id
            user.email = user.email or event.user.email
            user.full_name = user.full_name or event.user.full_name
            unit.repos.users.save(user)
    else:
        outcome = "removed" if users.remove_course_role(username, event.course_key, event.role) else "absent"
    unit.inbox.set_outcome(event_id, outcome)
    log.info("role event %s (%s %s %s in %s): %s", event_id, "added" if event.added else "removed", event.role,
             username, event.course_key, outcome)
    return outcome

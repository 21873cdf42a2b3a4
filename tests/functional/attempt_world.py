"""A course as the attempt API tests of edx-exams.md §12 set it up, built through the real HTTP stack.

Provider ``test_provider`` (registered as an operator does), course ``C`` configured with it, course
staff ``cstaff`` (a role row), global ``staff`` (``administrator: true``) and learners. Exams are
registered with Studio's PATCH; attempts are driven with the learner's and the instructor's calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from exams.adapters.sql import tables
from exams.units import run_in_transaction
from exams.domain.exams import Provider
from tests.conftest import auth

C = "course-v1:edx+test+f19"
OTHER = "course-v1:edx+other+f19"
UNCONFIGURED = "course-v1:edx+none+f19"
LEARNING_MFE = "http://learning.test"
STAFF = auth("staff", staff=True, user_id=1)
CSTAFF = auth("cstaff", user_id=2)
LEARNER = auth("learner", user_id=10)
OTHER_LEARNER = auth("other", user_id=11)


def usage(name: str, course: str = C) -> str:
    key = course.split(":", 1)[1]
    return f"block-v1:{key}+type@sequential+block@{name}"


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


class World:
    def __init__(self, testapp, wsgi, clock):
        self.app = testapp
        self.container = wsgi.container
        self.clock = clock
        self.now = clock.freeze()

    # -- operator and Studio ---------------------------------------------------------------------
    def tx(self, work):
        return run_in_transaction(self.container, work)

    def add_provider(self, name: str = "test_provider", verbose_name: str = "testing provider") -> Provider:
        return self.tx(lambda s: s.exams.add_provider(Provider(
            None, name, verbose_name, lti_configuration_id="123456789", tech_support_phone="1118976309",
            tech_support_email="test@example.com", tech_support_url="www.example.com")))

    def configure(self, course: str = C, provider: str | None = "test_provider", email: str | None = None):
        self.app.patch_json(f"/api/v1/configs/course_id/{course}", {"provider": provider, "escalation_email": email},
                            headers=STAFF, status=204)

    def add_course_staff(self, username: str = "cstaff", course: str = C) -> None:
        self.tx(lambda s: s.users.add_course_role(username, course, "staff"))

    def register(self, *specs: dict, course: str = C) -> dict[str, int]:
        """Studio's PATCH of the course's exams; returns {name: exam id}."""
        items = [{"content_id": usage(spec["name"], course), "exam_name": spec["name"],
                  "exam_type": spec.get("exam_type", "proctored"), "time_limit_mins": spec.get("minutes", 30),
                  "due_date": iso(spec.get("due_date")), "hide_after_due": spec.get("hide_after_due", False),
                  "is_active": True} for spec in specs]
        self.app.patch_json(f"/api/v1/exams/course_id/{course}", items, headers=STAFF)
        return {e.exam_name: e.id for e in self.tx(lambda s: s.exams.active_exams(course))}

    # -- learner ---------------------------------------------------------------------------------
    def create(self, exam_id: int, start_clock="false", headers=LEARNER, status=200) -> dict:
        return self.app.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": start_clock},
                                  headers=headers, status=status).json

    def start(self, exam_id: int, headers=LEARNER) -> int:
        return self.create(exam_id, "true", headers=headers)["exam_attempt_id"]

    def act(self, attempt_id: int, action, headers=LEARNER, status=200):
        return self.app.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": action}, headers=headers,
                                 status=status).json

    def latest(self, headers=LEARNER, content_id: str | None = None) -> dict:
        params = {"content_id": content_id} if content_id else {}
        return self.app.get("/api/v1/exams/attempt/latest", params, headers=headers).json

    def learner_exam(self, name: str, headers=LEARNER, course: str = C) -> dict:
        return self.app.get(f"/api/v1/student/exam/attempt/course_id/{course}/content_id/{usage(name, course)}",
                            headers=headers).json

    # -- what the database holds -----------------------------------------------------------------
    def attempt(self, attempt_id: int):
        return self.tx(lambda s: s.repos.attempts.get(attempt_id))

    def attempts_of(self, username: str) -> list[tuple]:
        """(exam_id, status) of every attempt the user holds, by id."""
        a, u = tables.attempts, tables.users
        with self.container.engine().connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(a.c.exam_id, a.c.status).join(u, u.c.id == a.c.user_id).where(u.c.username == username)
                .order_by(a.c.id))]

    def history(self, attempt_id: int) -> list[tuple]:
        return [(c.from_status.value if c.from_status else None, c.to_status.value, c.actor_id, c.at)
                for c in self.tx(lambda s: s.repos.attempts.history(attempt_id))]

    def user_id(self, username: str) -> int:
        return self.tx(lambda s: s.repos.users.get_by_username(username)).id

    def later(self, **delta) -> datetime:
        self.now = self.clock.advance(**delta)
        return self.now


def setup_course(testapp, wsgi, clock, **exams) -> tuple[World, dict[str, int]]:
    """Provider, configured course C, course staff, and the given exams {name: spec}."""
    world = World(testapp, wsgi, clock)
    world.add_provider()
    world.configure()
    world.add_course_staff()
    ids = world.register(*({"name": name, **spec} for name, spec in exams.items())) if exams else {}
    return world, ids


def ago(world: World, **delta) -> datetime:
    return world.now - timedelta(**delta)


def ahead(world: World, **delta) -> datetime:
    return world.now + timedelta(**delta)

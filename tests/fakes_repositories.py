"""In-memory fakes of the repository ports (exams.ports.repositories), for unit tests of the services.

They keep the rules the database keeps: one attempt per (learner, exam), at most one active attempt
per learner, one allowance per (learner, exam). Every read hands out a copy, so a service that
changes an object and forgets to save it is caught. ``FakeRepositories.unit_of_work()`` rolls all
of them back when the block raises, as the request's transaction does.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterable

from exams.domain.allowances import Allowance
from exams.domain.attempts import IN_PROGRESS, Attempt, StatusChange
from exams.domain.errors import Conflict
from exams.domain.exams import CourseConfig, Exam, Provider
from exams.domain.reviews import REVIEW_ACTION, ControlResult
from exams.domain.users import User
from tests.fakes import rolled_back_on_error


class _Table:
    def __init__(self):
        self.rows: dict[int, object] = {}
        self.last_id = 0

    def next_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def insert(self, obj):
        obj.id = self.next_id()
        self.rows[obj.id] = copy.deepcopy(obj)
        return obj


class FakeUserRepository:
    def __init__(self):
        self.table = _Table()

    def _all(self) -> list[User]:
        return list(self.table.rows.values())

    def get(self, user_id):
        user = self.table.rows.get(user_id)
        return copy.deepcopy(user) if user else None

    def get_by_username(self, username):
        return next((copy.deepcopy(u) for u in self._all() if u.username == username), None)

    def get_by_email(self, email):
        return next((copy.deepcopy(u) for u in sorted(self._all(), key=lambda u: u.id) if u.email == email), None)

    def get_by_anonymous_id(self, anonymous_user_id):
        return next((copy.deepcopy(u) for u in self._all() if u.anonymous_user_id == anonymous_user_id), None)

    def ensure(self, user):
        existing = self.get_by_username(user.username)
        if existing is not None:
            return existing
        return copy.deepcopy(self.table.insert(copy.deepcopy(user)))

    def save(self, user):
        """Profile fields only: the username and the anonymous user id never change (as in SQL)."""
        stored = self.table.rows[user.id]
        for name in ("email", "full_name", "lms_user_id", "is_staff", "is_active"):
            setattr(stored, name, getattr(user, name))


class FakeStaffRoleRepository:
    def __init__(self, users: FakeUserRepository | None = None):
        # In grant order, as the SQL rows are listed.
        self.roles_held: list[tuple[int, str, str | None]] = []
        self.users = users

    def has_course_role(self, user_id, course_id):
        return any(u == user_id and c == course_id for u, c, _ in self.roles_held)

    def add(self, user_id, course_id, role):
        key = (user_id, course_id, role)
        if key in self.roles_held:
            return False
        self.roles_held.append(key)
        return True

    def remove(self, user_id, course_id, role):
        key = (user_id, course_id, role)
        if key not in self.roles_held:
            return False
        self.roles_held.remove(key)
        return True

    def roles(self, user_id, course_id):
        return [r for u, c, r in self.roles_held if u == user_id and c == course_id]

    def listing(self, course_id=None):
        rows = [(self.users.get(u).username, c, r) for u, c, r in self.roles_held if course_id in (None, c)]
        return sorted(rows, key=lambda row: (row[1], row[0], row[2] or ""))


class FakeProviderRepository:
    def __init__(self, exams: "FakeExamRepository | None" = None, configs: "FakeCourseConfigRepository | None" = None):
        self.table = _Table()
        self.exams = exams
        self.configs = configs

    def get(self, provider_id):
        return self.table.rows.get(provider_id)

    def get_by_name(self, name):
        return next((p for p in self.table.rows.values() if p.name == name), None)

    def list(self, org=None, include_disabled=False):
        return [p for p in self.table.rows.values()
                if (org is None or p.available_to(org)) and (include_disabled or p.is_active)]

    def add(self, provider: Provider):
        if self.get_by_name(provider.name):
            raise Conflict(f"A provider named {provider.name!r} already exists.")
        stored = replace(provider, id=self.table.next_id())
        self.table.rows[stored.id] = stored
        return stored

    def save(self, provider: Provider):
        self.table.rows[provider.id] = replace(provider, name=self.table.rows[provider.id].name)

    def courses_using(self, provider_id):
        courses = {c.course_id for c in self.configs.configs.values() if c.provider_id == provider_id}
        courses |= {e.course_id for e in self.exams.table.rows.values() if e.provider_id == provider_id}
        return sorted(courses)

    def remove(self, provider_id):
        if provider_id not in self.table.rows or self.courses_using(provider_id):
            return False
        del self.table.rows[provider_id]
        return True


class FakeExamRepository:
    def __init__(self):
        self.table = _Table()

    def _check_one_active(self, exam: Exam) -> None:
        if exam.is_active and any(e.is_active and e.id != exam.id and e.course_id == exam.course_id
                                  and e.content_id == exam.content_id for e in self.table.rows.values()):
            raise Conflict(f"An active exam already exists for content_id={exam.content_id}.")

    def get(self, exam_id):
        exam = self.table.rows.get(exam_id)
        return copy.deepcopy(exam) if exam else None

    def active_for_content(self, content_id):
        found = [e for e in self.table.rows.values() if e.content_id == content_id and e.is_active]
        return copy.deepcopy(max(found, key=lambda e: e.id)) if found else None

    def active_in_course(self, course_id):
        return [copy.deepcopy(e) for e in sorted(self.table.rows.values(), key=lambda e: e.id)
                if e.course_id == course_id and e.is_active]

    def add(self, exam):
        self._check_one_active(exam)
        return self.table.insert(exam)

    def save(self, exam):
        self._check_one_active(exam)
        self.table.rows[exam.id] = copy.deepcopy(exam)


class FakeCourseConfigRepository:
    def __init__(self):
        self.configs: dict[str, CourseConfig] = {}

    def get(self, course_id):
        return self.configs.get(course_id)

    def put(self, config):
        self.configs[config.course_id] = config


class FakeAttemptRepository:
    def __init__(self, users: FakeUserRepository, exams: FakeExamRepository,
                 providers: FakeProviderRepository | None = None):
        self.table = _Table()
        self.users = users
        self.exams = exams
        self.providers = providers if providers is not None else FakeProviderRepository()
        self.control_results = None  # set by FakeRepositories: deleting an attempt deletes its results
        self.allowances = None  # set by FakeRepositories: the exam screen reads the learner's allowance
        self.history_rows: list[StatusChange] = []
        self.locked: list[int] = []

    def _all(self) -> list[Attempt]:
        return list(self.table.rows.values())

    def get(self, attempt_id, for_update=False):
        attempt = self.table.rows.get(attempt_id)
        if attempt is not None and for_update:
            self.locked.append(attempt_id)
        return copy.deepcopy(attempt) if attempt else None

    def latest_for(self, user_id, exam_id):
        found = [a for a in self._all() if a.user_id == user_id and a.exam_id == exam_id]
        return copy.deepcopy(max(found, key=lambda a: (a.created, a.id))) if found else None

    def active_for_user(self, user_id):
        return next((copy.deepcopy(a) for a in self._all() if a.user_id == user_id and a.status in IN_PROGRESS),
                    None)

    def active_with_exam(self, user_id):
        attempt = self.active_for_user(user_id)
        return (attempt, self.exams.get(attempt.exam_id)) if attempt else None

    def at_content(self, user_id, content_id):
        exam = self.exams.active_for_content(content_id)
        return (exam, self.latest_for(user_id, exam.id)) if exam else None

    def exam_screen(self, user_id, content_id):
        exam = self.exams.active_for_content(content_id)
        if exam is None:
            return None
        allowance = self.allowances.for_user_exam(user_id, exam.id) if self.allowances is not None else None
        provider = self.providers.get(exam.provider_id) if exam.provider_id is not None else None
        return exam, self.latest_for(user_id, exam.id), provider, allowance.extra_time_mins if allowance else 0

    def add(self, attempt):
        if any(a.user_id == attempt.user_id and a.exam_id == attempt.exam_id for a in self._all()):
            raise Conflict("The learner already has an attempt at this exam.")
        self.table.insert(attempt)
        self._record(attempt)
        self.table.rows[attempt.id] = copy.deepcopy(attempt)
        return attempt

    def save(self, attempt):
        if attempt.status in IN_PROGRESS and any(
                a.user_id == attempt.user_id and a.id != attempt.id and a.status in IN_PROGRESS for a in self._all()):
            raise Conflict("The learner already has an active attempt.")
        self._record(attempt)
        self.table.rows[attempt.id] = copy.deepcopy(attempt)

    def _record(self, attempt):
        self.history_rows.extend(replace(c, attempt_id=attempt.id) for c in attempt.changes)
        attempt.changes.clear()

    def delete(self, attempt):
        """The attempt and its control results go; its history stays (as in SQL)."""
        self.table.rows.pop(attempt.id, None)
        if self.control_results is not None:
            results = self.control_results.table.rows
            for result_id in [r.id for r in results.values() if r.attempt_id == attempt.id]:
                del results[result_id]

    def list_for_exam(self, exam_id, limit, offset):
        found = sorted((a for a in self._all() if a.exam_id == exam_id), key=lambda a: (a.created, a.id),
                       reverse=True)
        page = found[offset:offset + limit]
        return len(found), [(copy.deepcopy(a), self.users.get(a.user_id)) for a in page]

    def find(self, anonymous_user_id, resource_id, attempt_number, registration_id):
        user = self.users.get_by_anonymous_id(str(anonymous_user_id))
        if user is None:
            return None
        found = []
        for attempt in self._all():
            exam = self.exams.get(attempt.exam_id)
            provider = self.providers.get(exam.provider_id) if exam.provider_id is not None else None
            if (attempt.user_id == user.id and attempt.attempt_number == attempt_number
                    and exam.resource_id == resource_id and provider is not None
                    and provider.lti_configuration_id == registration_id):
                found.append(attempt)
        return copy.deepcopy(found[0]) if len(found) == 1 else None

    def users_with_attempts(self, exam_id):
        ids = sorted({a.user_id for a in self._all() if a.exam_id == exam_id})
        return [self.users.get(user_id) for user_id in ids]

    def expired_ids(self, now, limit):
        due = [a for a in self._all() if a.status in IN_PROGRESS and (a.deadline() is None or a.deadline() <= now)]
        return [a.id for a in sorted(due, key=lambda a: (a.deadline() or now, a.id))][:limit]

    def history(self, attempt_id):
        return [c for c in self.history_rows if c.attempt_id == attempt_id]


class FakeAllowanceRepository:
    def __init__(self, users: FakeUserRepository, exams: FakeExamRepository):
        self.table = _Table()
        self.users = users
        self.exams = exams

    def get(self, allowance_id):
        allowance = self.table.rows.get(allowance_id)
        return copy.deepcopy(allowance) if allowance else None

    def for_user_exam(self, user_id, exam_id):
        return next((copy.deepcopy(a) for a in self.table.rows.values()
                     if a.user_id == user_id and a.exam_id == exam_id), None)

    def list_for_course(self, course_id):
        out = []
        for allowance in sorted(self.table.rows.values(), key=lambda a: a.id):
            exam = self.exams.get(allowance.exam_id)
            if exam is not None and exam.course_id == course_id:
                out.append((copy.deepcopy(allowance), self.users.get(allowance.user_id), exam))
        return out

    def upsert(self, allowances: Iterable[Allowance]):
        for allowance in allowances:
            existing = self.for_user_exam(allowance.user_id, allowance.exam_id)
            if existing is None:
                self.table.insert(Allowance(None, allowance.user_id, allowance.exam_id, allowance.extra_time_mins))
            else:
                existing.extra_time_mins = allowance.extra_time_mins
                self.table.rows[existing.id] = existing

    def delete(self, allowance):
        self.table.rows.pop(allowance.id, None)


class FakeControlResultRepository:
    def __init__(self):
        self.table = _Table()

    def add(self, result):
        stored = replace(result, id=self.table.next_id())
        self.table.rows[stored.id] = stored
        return stored

    def first_for_attempts(self, attempt_ids):
        firsts: dict[int, ControlResult] = {}
        for result in sorted(self.table.rows.values(), key=lambda r: r.id):
            if result.attempt_id in attempt_ids and result.action_type == REVIEW_ACTION:
                firsts.setdefault(result.attempt_id, result)
        return firsts

    def for_attempt(self, attempt_id):
        return [r for r in sorted(self.table.rows.values(), key=lambda r: r.id) if r.attempt_id == attempt_id]


class FakeRepositories:
    """Everything one unit of work can load and save, in memory."""

    def __init__(self):
        self.users = FakeUserRepository()
        self.staff_roles = FakeStaffRoleRepository(self.users)
        self.exams = FakeExamRepository()
        self.configs = FakeCourseConfigRepository()
        self.providers = FakeProviderRepository(self.exams, self.configs)
        self.attempts = FakeAttemptRepository(self.users, self.exams, self.providers)
        self.allowances = FakeAllowanceRepository(self.users, self.exams)
        self.control_results = FakeControlResultRepository()
        self.attempts.control_results = self.control_results
        self.attempts.allowances = self.allowances

    def ping(self) -> None:
        return None

    @contextmanager
    def unit_of_work(self):
        """Roll every repository back if the block raises (what the request's transaction does)."""
        with rolled_back_on_error(self):
            yield self


class FakeAccessTokenSigner:
    """Records what it signs; the token names its grant so that tests can read it back."""

    def __init__(self):
        self.signed: list[tuple[int | None, float, dict]] = []

    def sign(self, lms_user_id, expires_in, claims):
        self.signed.append((lms_user_id, expires_in, dict(claims)))
        return f"token-for-{lms_user_id}-{claims['content_id']}"

    def public_jwks(self):
        return {"keys": []}

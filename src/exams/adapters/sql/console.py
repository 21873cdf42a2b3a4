"""The console's reads and its audit log (ports.console.ConsoleStore) with SQLAlchemy Core."""

from __future__ import annotations

import json
from types import SimpleNamespace

from sqlalchemy import func, insert, select, union
from sqlalchemy.orm import Session

from exams.domain.console import AuditEntry
from exams.ports.console import AttemptQuery, StaffMember

from . import tables as t
from .repositories import _attempt, _exam, _user

_EXAM = [c.label(f"e_{c.name}") for c in t.exams.c]
_USER = [c.label(f"u_{c.name}") for c in t.users.c]


def _unprefixed(row, prefix: str, table) -> SimpleNamespace:
    m = row._mapping
    return SimpleNamespace(**{c.name: m[f"{prefix}{c.name}"] for c in table.c})


def _entry(row) -> AuditEntry:
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {}
    return AuditEntry(id=row.id, at=row.at, actor_id=row.actor_id, actor_username=row.actor_username,
                      action=row.action, target=row.target, course_id=row.course_id, reason=row.reason,
                      details=details)


class SqlConsoleStore:
    def __init__(self, session: Session):
        self.session = session

    def record(self, entry):
        new_id = self.session.execute(insert(t.console_audit_log).values(
            at=entry.at, actor_id=entry.actor_id, actor_username=entry.actor_username[:150],
            action=entry.action[:64], target=entry.target[:255], course_id=entry.course_id, reason=entry.reason,
            details=json.dumps(entry.details, default=str, sort_keys=True))).inserted_primary_key[0]
        return AuditEntry(**{**entry.__dict__, "id": new_id})

    def audit(self, courses, limit, offset=0):
        a = t.console_audit_log.c
        stmt = select(t.console_audit_log).order_by(a.id.desc()).limit(limit).offset(offset)
        if courses is not None:
            stmt = stmt.where(a.course_id.in_(list(courses)))
        return [_entry(r) for r in self.session.execute(stmt)]

    def search_attempts(self, query: AttemptQuery, courses, limit):
        a, e, u = t.attempts.c, t.exams.c, t.users.c
        stmt = (select(t.attempts, *_EXAM, *_USER).join(t.exams, e.id == a.exam_id).join(t.users, u.id == a.user_id)
                .order_by(a.created.desc(), a.id.desc()).limit(limit))
        if courses is not None:
            stmt = stmt.where(e.course_id.in_(list(courses)))
        if query.username:
            stmt = stmt.where(u.username == query.username)
        if query.email:
            stmt = stmt.where(func.lower(u.email) == query.email.lower())
        if query.course_id:
            stmt = stmt.where(e.course_id == query.course_id)
        if query.exam_id is not None:
            stmt = stmt.where(a.exam_id == query.exam_id)
        if query.status is not None:
            stmt = stmt.where(a.status == query.status.value)
        return [(_attempt(r), _exam(_unprefixed(r, "e_", t.exams)), _user(_unprefixed(r, "u_", t.users)))
                for r in self.session.execute(stmt)]

    def courses(self, courses):
        ids = union(select(t.exams.c.course_id), select(t.course_configs.c.course_id),
                    select(t.course_staff_roles.c.course_id)).subquery()
        stmt = select(ids.c.course_id).order_by(ids.c.course_id)
        if courses is not None:
            stmt = stmt.where(ids.c.course_id.in_(list(courses)))
        return list(self.session.execute(stmt).scalars())

    def exams_of_course(self, course_id):
        e = t.exams.c
        return [_exam(r) for r in self.session.execute(
            select(t.exams).where(e.course_id == course_id).order_by(e.is_active.desc(), e.exam_name, e.id))]

    def staff_of_course(self, course_id):
        r = t.course_staff_roles.c
        rows = self.session.execute(select(*_USER, r.role).join(t.users, t.users.c.id == r.user_id)
                                    .where(r.course_id == course_id).order_by(t.users.c.username, r.role))
        return [StaffMember(_user(_unprefixed(row, "u_", t.users)), course_id, row.role) for row in rows]

    def staff_courses(self, user_id):
        r = t.course_staff_roles.c
        return frozenset(self.session.execute(select(r.course_id).where(r.user_id == user_id).distinct()).scalars())

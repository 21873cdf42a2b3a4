"""What only the SQL repositories show, on SQLite and PostgreSQL with the schema Alembic builds: concurrent
transactions, constraints of the database itself, and the rows written. What every implementation of the
repository ports must do (the fakes too) is tested once, in tests/contract/test_repositories.py.
Each unit of work is a session joined to a transaction manager, as a request has it."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from exams.adapters.sql import tables
from exams.domain.errors import Conflict
from exams.domain.exams import CourseConfig, Exam, ExamType, Provider
from exams.domain.users import User
from tests.conftest import sql_unit_of_work

C = "course-v1:edx+test+f19"


unit_of_work = sql_unit_of_work


def all_rows(engine, table):
    with engine.connect() as conn:
        return list(conn.execute(select(table).order_by(table.c.id)))


def an_exam(content="block-v1:edx+test+f19+type@sequential+block@a", course=C, **kw) -> Exam:
    fields = {"exam_name": "Midterm", "exam_type": ExamType.PROCTORED, "time_limit_mins": 30, **kw}
    return Exam(id=None, course_id=course, content_id=content, **fields)


# -- users ------------------------------------------------------------------------------------------
def test_ensure_creates_a_user_once_and_returns_the_stored_one(db):
    with unit_of_work(db) as repos:
        first = repos.users.ensure(User(id=None, username="alice", email="alice@example.com", lms_user_id=7))
    with unit_of_work(db) as repos:
        again = repos.users.ensure(User(id=None, username="alice", email="changed@example.com"))
    assert again == first
    assert first.id is not None and first.lms_user_id == 7
    assert [r.username for r in all_rows(db, tables.users)] == ["alice"]


def test_two_first_requests_of_a_new_learner_both_get_the_one_user(db):
    """The second insert waits for the first transaction, then finds its row instead of failing."""
    outcome = {}

    def second_request():
        try:
            with unit_of_work(db) as repos:
                outcome["user"] = repos.users.ensure(User(id=None, username="newbie"))
        except Exception as exc:  # reported below, with the failing assertion
            outcome["error"] = exc

    with unit_of_work(db) as repos:
        first = repos.users.ensure(User(id=None, username="newbie"))
        racer = threading.Thread(target=second_request)
        racer.start()
        racer.join(0.3)
        assert racer.is_alive(), "the second insert should wait for the first transaction"
    racer.join(10)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["user"] == first
    assert len(all_rows(db, tables.users)) == 1


def test_an_aborted_unit_of_work_leaves_no_user_behind(db):
    with unit_of_work(db, commit=False) as repos:
        repos.users.ensure(User(id=None, username="ghost"))
    assert all_rows(db, tables.users) == []


# -- course staff roles ----------------------------------------------------------------------------
@pytest.fixture
def alice(db):
    with unit_of_work(db) as repos:
        return repos.users.ensure(User(id=None, username="alice"))


def test_adding_a_role_twice_grants_it_once(db, alice):
    with unit_of_work(db) as repos:
        assert repos.staff_roles.add(alice.id, C, "staff") is True
    with unit_of_work(db) as repos:
        assert repos.staff_roles.add(alice.id, C, "staff") is False
        assert repos.staff_roles.add(alice.id, C, "instructor") is True
        assert repos.staff_roles.roles(alice.id, C) == ["staff", "instructor"]
    assert len(all_rows(db, tables.course_staff_roles)) == 2


# -- providers ---------------------------------------------------------------------------------------
def test_a_second_provider_with_the_same_name_is_a_conflict(db):
    with unit_of_work(db) as repos:
        repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Proctorio"))
    with pytest.raises(Conflict):
        with unit_of_work(db) as repos:
            repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Another"))
    assert [r.verbose_name for r in all_rows(db, tables.providers)] == ["Proctorio"]


# -- exams ---------------------------------------------------------------------------------------------
def test_the_database_refuses_a_second_active_exam_for_one_subsection(db):
    row = dict(resource_id="r", course_id=C, content_id="block-a", exam_name="E", exam_type="proctored",
               time_limit_mins=30, hide_after_due=False, is_active=True, created=datetime.now(timezone.utc),
               modified=datetime.now(timezone.utc))
    with db.begin() as conn:
        conn.execute(insert(tables.exams).values(**row))
        conn.execute(insert(tables.exams).values(**{**row, "is_active": False}))
        conn.execute(insert(tables.exams).values(**{**row, "is_active": False}))
        conn.execute(insert(tables.exams).values(**{**row, "course_id": "course-v1:edx+other+f19"}))
    with pytest.raises(IntegrityError):
        with db.begin() as conn:
            conn.execute(insert(tables.exams).values(**row))
    assert len(all_rows(db, tables.exams)) == 4


def test_exam_writes_belong_to_the_unit_of_work_and_go_when_it_aborts(db):
    # The first write of the transaction must not commit on its own (on SQLite a released savepoint
    # that opened the transaction would have committed it).
    with unit_of_work(db) as repos:
        exam = repos.exams.add(an_exam("block-a"))
    with unit_of_work(db, commit=False) as repos:
        exam.is_active = False
        repos.exams.save(exam)
        repos.exams.add(an_exam("block-a", exam_type=ExamType.TIMED))
    assert [(r.is_active, r.exam_type) for r in all_rows(db, tables.exams)] == [(True, "proctored")]


# -- course configurations -------------------------------------------------------------------------
def test_putting_a_configuration_twice_keeps_one_row(db):
    with unit_of_work(db) as repos:
        provider = repos.providers.add(Provider(id=None, name="p", verbose_name="P"))
        assert repos.configs.get(C) is None
        repos.configs.put(CourseConfig(course_id=C, provider_id=provider.id, escalation_email="a@example.com"))
    with unit_of_work(db) as repos:
        repos.configs.put(CourseConfig(course_id=C, provider_id=None, escalation_email=None))
    with unit_of_work(db) as repos:
        assert repos.configs.get(C) == CourseConfig(course_id=C, provider_id=None, escalation_email=None)
    assert len(all_rows(db, tables.course_configs)) == 1


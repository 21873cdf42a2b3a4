"""The SQL repositories of users, course staff roles, providers, exams and course configurations, on SQLite
and PostgreSQL, with the schema Alembic builds. Each unit of work is a session joined to a transaction
manager, as a request has it (pyramid_tm + zope.sqlalchemy)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone

import pytest
import transaction
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from exams.adapters.sql import tables
from exams.adapters.sql.repositories import SqlRepositories
from exams.adapters.sql.session import make_session_factory, session_in_transaction
from exams.domain.errors import Conflict
from exams.domain.exams import CourseConfig, Exam, ExamType, Provider
from exams.domain.users import User

C = "course-v1:edx+test+f19"


@contextmanager
def unit_of_work(engine, *, commit: bool = True):
    """Repositories over one transaction; committed at the end (or aborted, or on an error)."""
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    session = session_in_transaction(make_session_factory(engine), manager)
    try:
        yield SqlRepositories(session)
    except BaseException:
        manager.abort()
        raise
    else:
        manager.commit() if commit else manager.abort()
    finally:
        session.close()


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


def test_saving_a_user_updates_the_profile_but_never_the_anonymous_user_id(db):
    with unit_of_work(db) as repos:
        user = repos.users.ensure(User(id=None, username="alice"))
    anonymous = user.anonymous_user_id
    user.email, user.full_name, user.lms_user_id, user.is_staff = "a@example.com", "Alice", 7, True
    user.anonymous_user_id = "00000000-0000-4000-8000-000000000000"
    with unit_of_work(db) as repos:
        repos.users.save(user)
    with unit_of_work(db) as repos:
        stored = repos.users.get(user.id)
        assert (stored.email, stored.full_name, stored.lms_user_id, stored.is_staff) == \
            ("a@example.com", "Alice", 7, True)
        assert stored.anonymous_user_id == anonymous
        assert repos.users.get_by_anonymous_id(anonymous) == stored
        assert repos.users.get_by_email("a@example.com") == stored
        assert repos.users.get_by_username("nobody") is None


def test_the_first_user_with_an_email_is_found_by_it(db):
    with unit_of_work(db) as repos:
        first = repos.users.ensure(User(id=None, username="a", email="shared@example.com"))
        repos.users.ensure(User(id=None, username="b", email="shared@example.com"))
        assert repos.users.get_by_email("shared@example.com") == first


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


def test_removing_a_role_twice_removes_it_once_and_keeps_the_others(db, alice):
    with unit_of_work(db) as repos:
        repos.staff_roles.add(alice.id, C, "staff")
        repos.staff_roles.add(alice.id, C, "instructor")
    with unit_of_work(db) as repos:
        assert repos.staff_roles.remove(alice.id, C, "staff") is True
        assert repos.staff_roles.remove(alice.id, C, "staff") is False
        assert repos.staff_roles.roles(alice.id, C) == ["instructor"]
        assert repos.staff_roles.is_course_staff(alice.id, C) is True
        assert repos.staff_roles.remove(alice.id, C, "instructor") is True
        assert repos.staff_roles.is_course_staff(alice.id, C) is False


def test_a_role_counts_for_its_course_only(db, alice):
    with unit_of_work(db) as repos:
        repos.staff_roles.add(alice.id, C, "limited_staff")
        assert repos.staff_roles.is_course_staff(alice.id, C) is True
        assert repos.staff_roles.is_course_staff(alice.id, "course-v1:edx+other+f19") is False


def test_a_role_without_a_name_is_idempotent_too(db, alice):
    with unit_of_work(db) as repos:
        assert repos.staff_roles.add(alice.id, C, None) is True
        assert repos.staff_roles.add(alice.id, C, None) is False
        assert repos.staff_roles.roles(alice.id, C) == [None]
        assert repos.staff_roles.remove(alice.id, C, None) is True
        assert repos.staff_roles.roles(alice.id, C) == []


# -- providers ---------------------------------------------------------------------------------------
def test_providers_are_listed_for_an_org_with_the_org_less_ones(db):
    with unit_of_work(db) as repos:
        everyone = repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Proctorio",
                                                lti_configuration_id="1", tech_support_url="https://help.test"))
        edx = repos.providers.add(Provider(id=None, name="edx_only", verbose_name="edX", org_key="edx"))
        repos.providers.add(Provider(id=None, name="mit_only", verbose_name="MIT", org_key="mit"))
    with unit_of_work(db) as repos:
        assert repos.providers.list("edx") == [everyone, edx]
        assert [p.name for p in repos.providers.list()] == ["proctorio", "edx_only", "mit_only"]
        assert repos.providers.get_by_name("proctorio") == everyone
        assert repos.providers.get(everyone.id).tech_support_url == "https://help.test"


def test_a_second_provider_with_the_same_name_is_a_conflict(db):
    with unit_of_work(db) as repos:
        repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Proctorio"))
    with pytest.raises(Conflict):
        with unit_of_work(db) as repos:
            repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Another"))
    assert [r.verbose_name for r in all_rows(db, tables.providers)] == ["Proctorio"]


def _provider_usage_and_removal(uow):
    """The same checks on the SQL repositories and on the fakes (they must not drift apart)."""
    with uow() as repos:
        used = repos.providers.add(Provider(id=None, name="used", verbose_name="Used"))
        by_exam = repos.providers.add(Provider(id=None, name="by_exam", verbose_name="By exam"))
        free = repos.providers.add(Provider(id=None, name="free", verbose_name="Free", org_key="edx"))
        repos.configs.put(CourseConfig(course_id=C, provider_id=used.id))
        repos.exams.add(Exam(id=None, course_id="course-v1:o+c+r", content_id="block-v1:o+c+r+type@sequential+block@x",
                             exam_name="x", exam_type=ExamType.PROCTORED, time_limit_mins=5, is_active=False,
                             provider_id=by_exam.id))
    with uow() as repos:
        assert repos.providers.courses_using(used.id) == [C]
        assert repos.providers.courses_using(by_exam.id) == ["course-v1:o+c+r"]
        assert repos.providers.courses_using(free.id) == []
        assert repos.providers.remove(used.id) is False
        assert repos.providers.remove(by_exam.id) is False
        assert repos.providers.remove(free.id) is True
        assert repos.providers.remove(free.id) is False
        repos.providers.save(replace(used, name="renamed", verbose_name="Used again", tech_support_email="a@b.test"))
    with uow() as repos:
        assert [p.name for p in repos.providers.list()] == ["used", "by_exam"]
        assert repos.providers.get(used.id) == replace(used, verbose_name="Used again", tech_support_email="a@b.test")


def _staff_listing(uow):
    with uow() as repos:
        bob = repos.users.ensure(User(id=None, username="bob"))
        alice = repos.users.ensure(User(id=None, username="alice"))
        repos.staff_roles.add(bob.id, C, "staff")
        repos.staff_roles.add(alice.id, C, "instructor")
        repos.staff_roles.add(alice.id, "course-v1:a+a+a", "staff")
    with uow() as repos:
        assert repos.staff_roles.listing() == [("alice", "course-v1:a+a+a", "staff"), ("alice", C, "instructor"),
                                               ("bob", C, "staff")]
        assert repos.staff_roles.listing(C) == [("alice", C, "instructor"), ("bob", C, "staff")]
        assert repos.staff_roles.listing("course-v1:none+none+none") == []


@pytest.mark.parametrize("check", [_provider_usage_and_removal, _staff_listing])
def test_provider_removal_and_staff_listing_on_sql(db, check):
    check(lambda: unit_of_work(db))


@pytest.mark.parametrize("check", [_provider_usage_and_removal, _staff_listing])
def test_provider_removal_and_staff_listing_on_the_fakes(check):
    from tests.fakes_repositories import FakeRepositories

    fakes = FakeRepositories()
    check(fakes.unit_of_work)


# -- exams ---------------------------------------------------------------------------------------------
def test_an_exam_round_trips_with_its_due_date_in_utc(db):
    due = datetime(2040, 7, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    with unit_of_work(db) as repos:
        exam = repos.exams.add(an_exam(due_date=due, hide_after_due=True))
    with unit_of_work(db) as repos:
        stored = repos.exams.get(exam.id)
    assert stored == exam
    assert stored.due_date == due and stored.due_date.tzinfo is not None


def test_active_exams_are_found_by_course_and_by_content(db):
    with unit_of_work(db) as repos:
        a = repos.exams.add(an_exam("block-a"))
        b = repos.exams.add(an_exam("block-b", exam_type=ExamType.TIMED))
        repos.exams.add(an_exam("block-c", is_active=False))
        repos.exams.add(an_exam("block-d", course="course-v1:edx+other+f19"))
    with unit_of_work(db) as repos:
        assert repos.exams.active_in_course(C) == [a, b]
        assert repos.exams.active_for_content("block-a") == a
        assert repos.exams.active_for_content("block-c") is None


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


def test_adding_or_reactivating_a_second_active_exam_is_a_conflict(db):
    with unit_of_work(db) as repos:
        repos.exams.add(an_exam("block-a"))
        old = repos.exams.add(an_exam("block-a", is_active=False))
    with pytest.raises(Conflict):
        with unit_of_work(db) as repos:
            repos.exams.add(an_exam("block-a"))
    old.is_active = True
    with pytest.raises(Conflict):
        with unit_of_work(db) as repos:
            repos.exams.save(old)
    assert [r.is_active for r in all_rows(db, tables.exams)] == [True, False]


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


def test_saving_an_exam_writes_every_registration_field(db):
    with unit_of_work(db) as repos:
        provider = repos.providers.add(Provider(id=None, name="p", verbose_name="P"))
        exam = repos.exams.add(an_exam("block-a"))
    exam.exam_name, exam.time_limit_mins, exam.hide_after_due = "Final", 90, True
    exam.due_date, exam.provider_id = datetime(2041, 1, 1, tzinfo=timezone.utc), provider.id
    with unit_of_work(db) as repos:
        repos.exams.save(exam)
    with unit_of_work(db) as repos:
        assert repos.exams.get(exam.id) == exam


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


def test_the_repositories_ping_the_database(db):
    with unit_of_work(db) as repos:
        repos.ping()

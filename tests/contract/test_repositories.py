"""The repository contract (exams.ports.repositories): every test runs on the in-memory fakes, on SQLite and on
PostgreSQL, so a fake that the service unit tests rely on cannot drift from what the SQL repositories do."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from exams.domain.allowances import Allowance
from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.errors import Conflict
from exams.domain.exams import CourseConfig, Exam, ExamType, Provider
from exams.domain.reviews import ControlResult
from exams.domain.users import User

S = AttemptStatus
C = "course-v1:edx+test+f19"
OTHER = "course-v1:edx+other+f19"
T0 = datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)
SUB = "5d3f0b7e-8a8b-4c41-9b0e-0a8f2c9d1e77"


def an_exam(content="block-a", course=C, **kw) -> Exam:
    fields = {"exam_name": "Midterm", "exam_type": ExamType.PROCTORED, "time_limit_mins": 30, **kw}
    return Exam(id=None, course_id=course, content_id=content, **fields)


def an_attempt(user: User, exam: Exam, *, created=T0, **kw) -> Attempt:
    return Attempt(id=None, user_id=user.id, exam_id=exam.id, created=created, modified=created, **kw)


def started(attempt: Attempt, at: datetime, minutes: int = 30) -> Attempt:
    attempt.status, attempt.start_time, attempt.allowed_time_limit_mins, attempt.modified = \
        S.STARTED, at, minutes, at
    return attempt


@pytest.fixture
def world(store):
    """Two learners, a provider on registration "reg-1", and an exam of course C it proctors."""
    with store.unit_of_work() as repos:
        alice = repos.users.ensure(User(id=None, username="alice", email="alice@example.com",
                                        anonymous_user_id=SUB))
        bob = repos.users.ensure(User(id=None, username="bob", email="bob@example.com"))
        provider = repos.providers.add(Provider(id=None, name="vendor", verbose_name="Vendor",
                                                lti_configuration_id="reg-1"))
        exam = repos.exams.add(an_exam(provider_id=provider.id))
    return alice, bob, provider, exam


# -- users ------------------------------------------------------------------------------------------
def test_ensure_creates_a_user_once_and_returns_the_stored_one(store):
    with store.unit_of_work() as repos:
        first = repos.users.ensure(User(id=None, username="alice", email="alice@example.com", lms_user_id=7))
    with store.unit_of_work() as repos:
        again = repos.users.ensure(User(id=None, username="alice", email="changed@example.com"))
        assert again == first
        assert first.id is not None and first.lms_user_id == 7
        assert repos.users.get(first.id) == first


def test_users_are_found_by_id_username_email_and_anonymous_id(store):
    with store.unit_of_work() as repos:
        a = repos.users.ensure(User(id=None, username="a", email="shared@example.com"))
        b = repos.users.ensure(User(id=None, username="b", email="shared@example.com"))
    with store.unit_of_work() as repos:
        assert repos.users.get(b.id) == b
        assert repos.users.get_by_username("a") == a
        assert repos.users.get_by_email("shared@example.com") == a  # the first one
        assert repos.users.get_by_anonymous_id(b.anonymous_user_id) == b
        assert repos.users.get(b.id + 100) is None
        assert repos.users.get_by_username("nobody") is None
        assert repos.users.get_by_email("nobody@example.com") is None
        assert repos.users.get_by_anonymous_id("00000000-0000-4000-8000-000000000000") is None


def test_saving_a_user_updates_the_profile_but_never_the_anonymous_user_id(store):
    with store.unit_of_work() as repos:
        user = repos.users.ensure(User(id=None, username="alice"))
    anonymous = user.anonymous_user_id
    user.email, user.full_name, user.lms_user_id, user.is_staff = "a@example.com", "Alice", 7, True
    user.anonymous_user_id = "00000000-0000-4000-8000-000000000000"
    with store.unit_of_work() as repos:
        repos.users.save(user)
    with store.unit_of_work() as repos:
        stored = repos.users.get(user.id)
        assert (stored.email, stored.full_name, stored.lms_user_id, stored.is_staff) == \
            ("a@example.com", "Alice", 7, True)
        assert stored.anonymous_user_id == anonymous


def test_a_changed_object_that_is_not_saved_changes_nothing(store):
    with store.unit_of_work() as repos:
        user = repos.users.ensure(User(id=None, username="alice", email="a@example.com"))
    with store.unit_of_work() as repos:
        repos.users.get(user.id).email = "changed@example.com"
        assert repos.users.get(user.id).email == "a@example.com"


def test_an_aborted_or_failed_unit_of_work_leaves_nothing_behind(store):
    with store.unit_of_work(commit=False) as repos:
        repos.users.ensure(User(id=None, username="ghost"))
    with pytest.raises(RuntimeError):
        with store.unit_of_work() as repos:
            repos.users.ensure(User(id=None, username="phantom"))
            raise RuntimeError("the use case failed")
    with store.unit_of_work() as repos:
        assert repos.users.get_by_username("ghost") is None
        assert repos.users.get_by_username("phantom") is None


# -- course staff roles ----------------------------------------------------------------------------
def test_a_role_is_granted_once_and_roles_are_listed_in_grant_order(store, world):
    alice = world[0]
    with store.unit_of_work() as repos:
        assert repos.staff_roles.has_course_role(alice.id, C) is False
        assert repos.staff_roles.add(alice.id, C, "staff") is True
    with store.unit_of_work() as repos:
        assert repos.staff_roles.add(alice.id, C, "staff") is False
        assert repos.staff_roles.add(alice.id, C, "instructor") is True
        assert repos.staff_roles.roles(alice.id, C) == ["staff", "instructor"]
        assert repos.staff_roles.has_course_role(alice.id, C) is True


def test_a_role_is_revoked_once_and_the_others_are_kept(store, world):
    alice = world[0]
    with store.unit_of_work() as repos:
        repos.staff_roles.add(alice.id, C, "staff")
        repos.staff_roles.add(alice.id, C, "instructor")
    with store.unit_of_work() as repos:
        assert repos.staff_roles.remove(alice.id, C, "staff") is True
        assert repos.staff_roles.remove(alice.id, C, "staff") is False
        assert repos.staff_roles.roles(alice.id, C) == ["instructor"]
        assert repos.staff_roles.has_course_role(alice.id, C) is True
        assert repos.staff_roles.remove(alice.id, C, "instructor") is True
        assert repos.staff_roles.has_course_role(alice.id, C) is False


def test_a_role_counts_for_its_course_and_its_user_only(store, world):
    alice, bob = world[0], world[1]
    with store.unit_of_work() as repos:
        repos.staff_roles.add(alice.id, C, "limited_staff")
        assert repos.staff_roles.has_course_role(alice.id, C) is True
        assert repos.staff_roles.has_course_role(alice.id, OTHER) is False
        assert repos.staff_roles.has_course_role(bob.id, C) is False
        assert repos.staff_roles.roles(alice.id, OTHER) == []


def test_a_role_without_a_name_is_granted_and_revoked_once_too(store, world):
    alice = world[0]
    with store.unit_of_work() as repos:
        assert repos.staff_roles.add(alice.id, C, None) is True
        assert repos.staff_roles.add(alice.id, C, None) is False
        assert repos.staff_roles.roles(alice.id, C) == [None]
        assert repos.staff_roles.has_course_role(alice.id, C) is True
        assert repos.staff_roles.remove(alice.id, C, None) is True
        assert repos.staff_roles.remove(alice.id, C, None) is False
        assert repos.staff_roles.roles(alice.id, C) == []


# -- providers ---------------------------------------------------------------------------------------
def test_providers_are_listed_by_id_and_for_an_org_with_the_org_less_ones(store):
    with store.unit_of_work() as repos:
        everyone = repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Proctorio",
                                                lti_configuration_id="1", tech_support_url="https://help.test",
                                                tech_support_email="help@example.com", tech_support_phone="+1 555"))
        edx = repos.providers.add(Provider(id=None, name="edx_only", verbose_name="edX", org_key="edx"))
        mit = repos.providers.add(Provider(id=None, name="mit_only", verbose_name="MIT", org_key="mit"))
    with store.unit_of_work() as repos:
        assert repos.providers.list("edx") == [everyone, edx]
        assert repos.providers.list() == [everyone, edx, mit]
        assert repos.providers.get_by_name("proctorio") == everyone
        assert repos.providers.get(everyone.id) == everyone
        assert everyone.tech_support_url == "https://help.test" and everyone.lti_configuration_id == "1"
        assert repos.providers.get(mit.id + 100) is None
        assert repos.providers.get_by_name("nobody") is None


def test_a_second_provider_with_the_same_name_is_a_conflict(store):
    with store.unit_of_work() as repos:
        repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Proctorio"))
    with pytest.raises(Conflict):
        with store.unit_of_work() as repos:
            repos.providers.add(Provider(id=None, name="proctorio", verbose_name="Another"))
    with store.unit_of_work() as repos:
        assert [p.verbose_name for p in repos.providers.list()] == ["Proctorio"]


def test_a_provider_in_use_by_a_course_or_an_exam_cannot_be_removed_and_an_update_keeps_its_name(store):
    with store.unit_of_work() as repos:
        used = repos.providers.add(Provider(id=None, name="used", verbose_name="Used"))
        by_exam = repos.providers.add(Provider(id=None, name="by_exam", verbose_name="By exam"))
        free = repos.providers.add(Provider(id=None, name="free", verbose_name="Free", org_key="edx"))
        repos.configs.put(CourseConfig(course_id=C, provider_id=used.id))
        repos.exams.add(an_exam(course=OTHER, is_active=False, provider_id=by_exam.id))
    with store.unit_of_work() as repos:
        assert repos.providers.courses_using(used.id) == [C]
        assert repos.providers.courses_using(by_exam.id) == [OTHER]
        assert repos.providers.courses_using(free.id) == []
        assert repos.providers.remove(used.id) is False
        assert repos.providers.remove(by_exam.id) is False
        assert repos.providers.remove(free.id) is True
        assert repos.providers.remove(free.id) is False
        repos.providers.save(replace(used, name="renamed", verbose_name="Used again", tech_support_email="a@b.test"))
    with store.unit_of_work() as repos:
        assert [p.name for p in repos.providers.list()] == ["used", "by_exam"]
        assert repos.providers.get(used.id) == replace(used, verbose_name="Used again", tech_support_email="a@b.test")


def test_course_staff_are_listed_by_course_then_username(store):
    with store.unit_of_work() as repos:
        bob = repos.users.ensure(User(id=None, username="bob"))
        alice = repos.users.ensure(User(id=None, username="alice"))
        repos.staff_roles.add(bob.id, C, "staff")
        repos.staff_roles.add(alice.id, C, "instructor")
        repos.staff_roles.add(alice.id, "course-v1:a+a+a", "staff")
    with store.unit_of_work() as repos:
        assert repos.staff_roles.listing() == [("alice", "course-v1:a+a+a", "staff"), ("alice", C, "instructor"),
                                               ("bob", C, "staff")]
        assert repos.staff_roles.listing(C) == [("alice", C, "instructor"), ("bob", C, "staff")]
        assert repos.staff_roles.listing("course-v1:none+none+none") == []


# -- exams ---------------------------------------------------------------------------------------------
def test_an_exam_round_trips_with_its_due_date_in_utc(store):
    due = datetime(2040, 7, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    with store.unit_of_work() as repos:
        exam = repos.exams.add(an_exam(due_date=due, hide_after_due=True))
    with store.unit_of_work() as repos:
        stored = repos.exams.get(exam.id)
        assert repos.exams.get(exam.id + 100) is None
    assert stored == exam
    assert stored.due_date == due and stored.due_date.utcoffset() == timedelta(0)


def test_active_exams_are_found_by_course_and_by_content(store):
    with store.unit_of_work() as repos:
        a = repos.exams.add(an_exam("block-a"))
        b = repos.exams.add(an_exam("block-b", exam_type=ExamType.TIMED))
        repos.exams.add(an_exam("block-c", is_active=False))
        repos.exams.add(an_exam("block-d", course=OTHER))
    with store.unit_of_work() as repos:
        assert repos.exams.active_in_course(C) == [a, b]
        assert repos.exams.active_for_content("block-a") == a
        assert repos.exams.active_for_content("block-c") is None
        assert repos.exams.active_for_content("block-z") is None


def test_adding_or_reactivating_a_second_active_exam_for_one_subsection_is_a_conflict(store):
    with store.unit_of_work() as repos:
        repos.exams.add(an_exam("block-a"))
        old = repos.exams.add(an_exam("block-a", is_active=False))
        repos.exams.add(an_exam("block-a", course=OTHER))
    with pytest.raises(Conflict):
        with store.unit_of_work() as repos:
            repos.exams.add(an_exam("block-a"))
    old.is_active = True
    with pytest.raises(Conflict):
        with store.unit_of_work() as repos:
            repos.exams.save(old)
    with store.unit_of_work() as repos:
        assert [e.id for e in repos.exams.active_in_course(C)] == [old.id - 1]


def test_saving_an_exam_writes_every_registration_field(store):
    with store.unit_of_work() as repos:
        provider = repos.providers.add(Provider(id=None, name="p", verbose_name="P"))
        exam = repos.exams.add(an_exam("block-a"))
    exam.exam_name, exam.time_limit_mins, exam.hide_after_due, exam.exam_type = "Final", 90, True, ExamType.TIMED
    exam.due_date, exam.provider_id, exam.is_active = datetime(2041, 1, 1, tzinfo=timezone.utc), provider.id, False
    with store.unit_of_work() as repos:
        repos.exams.save(exam)
    with store.unit_of_work() as repos:
        assert repos.exams.get(exam.id) == exam


def test_exam_writes_belong_to_the_unit_of_work_and_go_when_it_aborts(store):
    with store.unit_of_work() as repos:
        exam = repos.exams.add(an_exam("block-a"))
    with store.unit_of_work(commit=False) as repos:
        exam.is_active = False
        repos.exams.save(exam)
        repos.exams.add(an_exam("block-a", exam_type=ExamType.TIMED))
    with store.unit_of_work() as repos:
        assert repos.exams.active_in_course(C) == [repos.exams.get(exam.id)]
        assert repos.exams.get(exam.id).exam_type is ExamType.PROCTORED


# -- course configurations -------------------------------------------------------------------------
def test_putting_a_configuration_twice_replaces_it(store):
    with store.unit_of_work() as repos:
        provider = repos.providers.add(Provider(id=None, name="p", verbose_name="P"))
        assert repos.configs.get(C) is None
        repos.configs.put(CourseConfig(course_id=C, provider_id=provider.id, escalation_email="a@example.com"))
    with store.unit_of_work() as repos:
        assert repos.configs.get(C) == CourseConfig(C, provider.id, "a@example.com")
        repos.configs.put(CourseConfig(course_id=C, provider_id=None, escalation_email=None, allow_opt_out=True))
    with store.unit_of_work() as repos:
        assert repos.configs.get(C) == CourseConfig(course_id=C, provider_id=None, escalation_email=None,
                                                    allow_opt_out=True)
        assert repos.configs.get(OTHER) is None


# -- attempts ------------------------------------------------------------------------------------------
def test_one_attempt_per_learner_and_exam(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        first = repos.attempts.add(an_attempt(alice, exam))
        repos.attempts.add(an_attempt(bob, exam))
    with pytest.raises(Conflict):
        with store.unit_of_work() as repos:
            repos.attempts.add(an_attempt(alice, exam, created=T0 + timedelta(minutes=1)))
    with store.unit_of_work() as repos:
        assert repos.attempts.get(first.id) == first
        assert repos.attempts.get(first.id, for_update=True) == first
        assert repos.attempts.latest_for(alice.id, exam.id) == first
        assert repos.attempts.latest_for(alice.id, exam.id + 100) is None
        assert repos.attempts.get(first.id + 100) is None


def test_saving_an_attempt_persists_its_clock_and_records_its_changes_in_the_history(store, world):
    alice, _, _, exam = world
    attempt = an_attempt(alice, exam)
    attempt.changes.append(StatusChange(None, None, S.CREATED, alice.id, T0))
    with store.unit_of_work() as repos:
        repos.attempts.add(attempt)
    assert attempt.id is not None and attempt.changes == []
    attempt.transition(S.STARTED, T0 + timedelta(minutes=1), exam, actor_id=alice.id, allowance_mins=15)
    with store.unit_of_work() as repos:
        repos.attempts.save(attempt)
    assert attempt.changes == []
    with store.unit_of_work() as repos:
        stored = repos.attempts.get(attempt.id)
        assert stored == attempt
        assert (stored.status, stored.start_time, stored.allowed_time_limit_mins) == \
            (S.STARTED, T0 + timedelta(minutes=1), 45)
        assert repos.attempts.history(attempt.id) == [
            StatusChange(attempt.id, None, S.CREATED, alice.id, T0),
            StatusChange(attempt.id, S.CREATED, S.STARTED, alice.id, T0 + timedelta(minutes=1))]


def test_a_learner_has_at_most_one_active_attempt(store, world):
    alice, _, _, exam = world
    with store.unit_of_work() as repos:
        other_exam = repos.exams.add(an_exam("block-b"))
        first = repos.attempts.add(started(an_attempt(alice, exam), T0))
        second = repos.attempts.add(an_attempt(alice, other_exam))
    with store.unit_of_work() as repos:
        assert repos.attempts.active_for_user(alice.id) == first
        assert repos.attempts.active_with_exam(alice.id) == (first, exam)
    with pytest.raises(Conflict):
        with store.unit_of_work() as repos:
            repos.attempts.save(started(second, T0))
    with store.unit_of_work() as repos:
        assert repos.attempts.get(second.id).status is S.CREATED
        assert repos.attempts.active_for_user(world[1].id) is None
        assert repos.attempts.active_with_exam(world[1].id) is None


def test_the_active_exam_of_a_subsection_comes_with_the_learners_latest_attempt(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        attempt = repos.attempts.add(an_attempt(alice, exam))
    with store.unit_of_work() as repos:
        assert repos.attempts.at_content(alice.id, exam.content_id) == (exam, attempt)
        assert repos.attempts.at_content(bob.id, exam.content_id) == (exam, None)
        assert repos.attempts.at_content(alice.id, "block-z") is None


def test_the_exam_screen_reads_the_exam_its_provider_the_latest_attempt_and_the_allowance(store, world):
    alice, bob, provider, exam = world
    with store.unit_of_work() as repos:
        unproctored = repos.exams.add(an_exam("block-t", exam_type=ExamType.TIMED))
        latest = repos.attempts.add(an_attempt(alice, exam))
        repos.allowances.upsert([Allowance(None, alice.id, exam.id, 25), Allowance(None, bob.id, unproctored.id, 5)])
    with store.unit_of_work() as repos:
        assert repos.attempts.exam_screen(alice.id, exam.content_id) == (exam, latest, provider, 25)
        assert repos.attempts.exam_screen(bob.id, exam.content_id) == (exam, None, provider, 0)
        assert repos.attempts.exam_screen(bob.id, "block-t") == (unproctored, None, None, 5)
        assert repos.attempts.exam_screen(alice.id, "block-t") == (unproctored, None, None, 0)
        assert repos.attempts.exam_screen(alice.id, "block-z") is None
        repos.exams.save(replace(exam, is_active=False))
    with store.unit_of_work() as repos:
        assert repos.attempts.exam_screen(alice.id, exam.content_id) is None


def test_deleting_an_attempt_deletes_its_results_keeps_its_history_and_never_reuses_its_id(store, world):
    alice, _, _, exam = world
    attempt = an_attempt(alice, exam)
    attempt.changes.append(StatusChange(None, None, S.CREATED, alice.id, T0))
    with store.unit_of_work() as repos:
        repos.attempts.add(attempt)
        repos.control_results.add(ControlResult(None, attempt.id, "flag", T0, Decimal("0.5"), "15"))
    with store.unit_of_work() as repos:
        repos.attempts.delete(attempt)
    with store.unit_of_work() as repos:
        assert repos.attempts.get(attempt.id) is None
        assert repos.control_results.for_attempt(attempt.id) == []
        assert [c.to_status for c in repos.attempts.history(attempt.id)] == [S.CREATED]
        again = repos.attempts.add(an_attempt(alice, exam))
    assert again.id > attempt.id


def test_a_vendor_finds_an_attempt_of_its_own_exams_only(store, world):
    alice, bob, provider, exam = world
    with store.unit_of_work() as repos:
        other = repos.providers.add(Provider(id=None, name="other", verbose_name="Other",
                                             lti_configuration_id="reg-2"))
        theirs = repos.exams.add(an_exam("block-b", provider_id=other.id))
        unproctored = repos.exams.add(an_exam("block-c"))
        mine = repos.attempts.add(an_attempt(alice, exam))
        repos.attempts.add(an_attempt(alice, theirs))
        repos.attempts.add(an_attempt(alice, unproctored))
        repos.attempts.add(an_attempt(bob, exam))
    with store.unit_of_work() as repos:
        assert repos.attempts.find(SUB, exam.resource_id, 1, "reg-1") == mine
        assert repos.attempts.find(SUB.upper(), exam.resource_id, 1, "reg-1") is None  # callers canonicalise
        assert repos.attempts.find(SUB, exam.resource_id, 1, "reg-2") is None
        assert repos.attempts.find(SUB, theirs.resource_id, 1, "reg-1") is None
        assert repos.attempts.find(SUB, unproctored.resource_id, 1, "") is None
        assert repos.attempts.find(SUB, exam.resource_id, 2, "reg-1") is None
        assert repos.attempts.find("00000000-0000-4000-8000-000000000000", exam.resource_id, 1, "reg-1") is None


def test_an_exams_attempts_are_paged_newest_first_with_their_learners(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        carol = repos.users.ensure(User(id=None, username="carol", email="carol@example.com", full_name="Carol"))
        a = repos.attempts.add(an_attempt(alice, exam, created=T0))
        b = repos.attempts.add(an_attempt(bob, exam, created=T0 + timedelta(minutes=2)))
        c = repos.attempts.add(an_attempt(carol, exam, created=T0 + timedelta(minutes=1)))
    with store.unit_of_work() as repos:
        assert repos.attempts.list_for_exam(exam.id, 2, 0) == (3, [(b, bob), (c, carol)])
        assert repos.attempts.list_for_exam(exam.id, 2, 2) == (3, [(a, alice)])
        assert repos.attempts.list_for_exam(exam.id + 100, 2, 0) == (0, [])


def test_the_learners_with_attempts_at_an_exam_are_listed_once_by_id(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        other_exam = repos.exams.add(an_exam("block-b"))
        carol = repos.users.ensure(User(id=None, username="carol"))
        repos.attempts.add(an_attempt(bob, exam))
        repos.attempts.add(an_attempt(alice, exam))
        repos.attempts.add(an_attempt(carol, other_exam))
    with store.unit_of_work() as repos:
        assert repos.attempts.users_with_attempts(exam.id) == [alice, bob]
        assert repos.attempts.users_with_attempts(other_exam.id) == [carol]
        assert repos.attempts.users_with_attempts(other_exam.id + 100) == []


def test_expired_ids_are_the_in_progress_attempts_past_their_deadline_earliest_first(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        users = [alice, bob] + [repos.users.ensure(User(id=None, username=f"u{i}")) for i in range(4)]
        late = repos.attempts.add(started(an_attempt(users[0], exam), T0, minutes=10))
        later = repos.attempts.add(started(an_attempt(users[1], exam), T0, minutes=5))
        repos.attempts.add(started(an_attempt(users[2], exam), T0, minutes=90))  # time left
        done = started(an_attempt(users[3], exam), T0, minutes=5)
        done.status = S.SUBMITTED
        repos.attempts.add(done)
        waiting = an_attempt(users[4], exam, status=S.READY_TO_SUBMIT)  # never started: no time left
        repos.attempts.add(waiting)
        repos.attempts.add(an_attempt(users[5], exam))
    now = T0 + timedelta(minutes=30)
    with store.unit_of_work() as repos:
        assert set(repos.attempts.expired_ids(now, 10)) == {late.id, later.id, waiting.id}
        timed = [i for i in repos.attempts.expired_ids(now, 10) if i != waiting.id]
        assert timed == [later.id, late.id]
        assert len(repos.attempts.expired_ids(now, 2)) == 2
        assert repos.attempts.expired_ids(T0, 10) == [waiting.id]


# -- allowances ----------------------------------------------------------------------------------------
def test_allowances_are_created_then_updated_per_learner_and_exam(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        repos.allowances.upsert([Allowance(None, alice.id, exam.id, 10), Allowance(None, bob.id, exam.id, 5)])
    with store.unit_of_work() as repos:
        repos.allowances.upsert([Allowance(None, alice.id, exam.id, 25)])
    with store.unit_of_work() as repos:
        mine = repos.allowances.for_user_exam(alice.id, exam.id)
        assert (mine.user_id, mine.exam_id, mine.extra_time_mins) == (alice.id, exam.id, 25)
        assert repos.allowances.get(mine.id) == mine
        assert repos.allowances.for_user_exam(alice.id, exam.id + 100) is None
        repos.allowances.delete(mine)
    with store.unit_of_work() as repos:
        assert repos.allowances.get(mine.id) is None
        assert repos.allowances.for_user_exam(alice.id, exam.id) is None
        assert repos.allowances.for_user_exam(bob.id, exam.id).extra_time_mins == 5


def test_a_courses_allowances_come_with_their_learner_and_exam(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        elsewhere = repos.exams.add(an_exam("block-o", course=OTHER))
        repos.allowances.upsert([Allowance(None, bob.id, exam.id, 5), Allowance(None, alice.id, exam.id, 10),
                                 Allowance(None, alice.id, elsewhere.id, 15)])
    with store.unit_of_work() as repos:
        rows = repos.allowances.list_for_course(C)
    assert [(a.user_id, a.exam_id, a.extra_time_mins) for a, _, _ in rows] == [(bob.id, exam.id, 5),
                                                                               (alice.id, exam.id, 10)]
    assert [(u.id, u.username, u.email) for _, u, _ in rows] == [(bob.id, "bob", "bob@example.com"),
                                                                 (alice.id, "alice", "alice@example.com")]
    assert {(e.id, e.exam_name, e.course_id, e.content_id, e.exam_type, e.time_limit_mins) for _, _, e in rows} == \
        {(exam.id, "Midterm", C, "block-a", ExamType.PROCTORED, 30)}


# -- assessment control results ------------------------------------------------------------------------
def test_control_results_are_kept_in_order_and_the_first_terminate_is_the_review(store, world):
    alice, bob, _, exam = world
    with store.unit_of_work() as repos:
        mine = repos.attempts.add(an_attempt(alice, exam))
        theirs = repos.attempts.add(an_attempt(bob, exam))
        flag = repos.control_results.add(ControlResult(None, mine.id, "flag", T0, Decimal("0.7"), "15"))
        first = repos.control_results.add(ControlResult(None, mine.id, "terminate", T0, Decimal("0.25"), "1"))
        repos.control_results.add(ControlResult(None, mine.id, "terminate", T0, Decimal("0.9"), "2"))
        repos.control_results.add(ControlResult(None, theirs.id, "flag", T0, Decimal("0.1"), "4"))
    assert flag.id is not None and first.id > flag.id
    with store.unit_of_work() as repos:
        assert [r.id for r in repos.control_results.for_attempt(mine.id)][:2] == [flag.id, first.id]
        assert len(repos.control_results.for_attempt(mine.id)) == 3
        assert repos.control_results.first_for_attempts([mine.id, theirs.id]) == {mine.id: first}
        assert repos.control_results.first_for_attempts([]) == {}


def test_a_control_result_reads_back_with_two_decimal_places(store, world):
    alice, _, _, exam = world
    incident = datetime(2030, 5, 1, 10, 45, 33, tzinfo=timezone.utc)
    with store.unit_of_work() as repos:
        attempt = repos.attempts.add(an_attempt(alice, exam))
        repos.control_results.add(ControlResult(None, attempt.id, "terminate", incident, Decimal("0.26"), "1"))
    with store.unit_of_work() as repos:
        [stored] = repos.control_results.for_attempt(attempt.id)
    assert (stored.incident_time, stored.reason_code) == (incident, "1")
    assert str(stored.severity) == "0.26"


def test_the_repositories_ping_their_store(store):
    with store.unit_of_work() as repos:
        assert repos.ping() is None

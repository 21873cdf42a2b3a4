"""Users and course staff roles over in-memory fakes: provisioning, the course-staff rule, and the role events
from the LMS (apply once, acknowledge after the commit, dead-letter what cannot be applied)."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import pytest

from exams.domain.errors import Forbidden, Rejected
from exams.domain.users import User, UserClaims
from exams.ports.events import (COURSE_ACCESS_ROLE_ADDED, COURSE_ACCESS_ROLE_REMOVED, CourseAccessRoleEvent,
                                EventUser, RoleEventDelivery)
from exams.delivery.roles import RoleConsumer
from exams.services.roles import apply_role_event
from exams.services.users import UserService
from tests.fakes import FakeClock
from tests.fakes_events import FakeEventUnits, FakeRoleEventSource
from tests.fakes_repositories import FakeRepositories

C = "course-v1:edx+test+f19"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


# -- users and the course-staff rule ---------------------------------------------------------------------
@pytest.fixture
def users():
    return UserService(FakeRepositories())


def test_a_verified_identity_is_provisioned_once_and_updated_from_later_claims(users):
    first = users.provision(UserClaims(username="alice", email="a@example.com", lms_user_id=7))
    again = users.provision(UserClaims(username="alice", email="new@example.com", is_staff=None))
    assert again.id == first.id
    stored = users.repos.users.get(first.id)
    assert (stored.email, stored.lms_user_id, stored.is_staff) == ("new@example.com", 7, False)


def test_course_staff_are_global_staff_or_holders_of_a_role_in_that_course(users):
    learner = users.provision(UserClaims(username="learner"))
    admin = users.provision(UserClaims(username="admin", is_staff=True))
    instructor = users.provision(UserClaims(username="instructor"))
    users.add_course_role("instructor", C, "instructor")
    assert [users.is_course_staff(u, C) for u in (learner, admin, instructor)] == [False, True, True]
    assert users.is_course_staff(instructor, "course-v1:edx+other+f19") is False
    users.require_course_staff(instructor, C)
    with pytest.raises(Forbidden) as refused:
        users.require_course_staff(learner, C)
    assert refused.value.detail == "You do not have permission to perform this action."


def test_a_course_role_is_granted_to_a_new_user_by_username_and_revoked_once(users):
    assert users.add_course_role("carol", C, "staff", email="carol@example.com") is True
    assert users.add_course_role("carol", C, "staff") is False
    carol = users.repos.users.get_by_username("carol")
    assert carol.email == "carol@example.com"
    assert users.remove_course_role("carol", C, "staff") is True
    assert users.remove_course_role("carol", C, "staff") is False
    assert users.remove_course_role("nobody", C, "staff") is False
    assert users.is_course_staff(carol, C) is False


def test_a_role_that_does_not_make_course_staff_is_refused(users):
    with pytest.raises(Rejected):
        users.add_course_role("carol", C, "beta_tester")
    assert users.repos.users.get_by_username("carol") is None


# -- role events -----------------------------------------------------------------------------------------
def role_event(added=True, role="staff", username="dana", course=C, lms_user_id=42, **kw) -> CourseAccessRoleEvent:
    return CourseAccessRoleEvent(
        event_type=COURSE_ACCESS_ROLE_ADDED if added else COURSE_ACCESS_ROLE_REMOVED,
        user=EventUser(lms_user_id=lms_user_id, is_active=True, username=username, email=f"{username}@example.com",
                       full_name=username.title()),
        org_key="edx", course_key=course, role=role, **kw)


@pytest.fixture
def units():
    return FakeEventUnits.new()


def apply(units, event, message_id="1-0"):
    return units.transact(lambda unit: apply_role_event(unit, event, message_id, FakeClock(NOW)))


def test_an_added_role_creates_the_user_with_the_lms_identity_and_grants_the_role(units):
    assert apply(units, role_event()) == "added"
    dana = units.repos.users.get_by_username("dana")
    assert (dana.lms_user_id, dana.email, dana.full_name) == (42, "dana@example.com", "Dana")
    assert units.repos.staff_roles.roles(dana.id, C) == ["staff"]
    assert [a["outcome"] for a in units.inbox.applied.values()] == ["added"]


def test_an_event_is_applied_once_however_often_it_is_delivered(units):
    event = role_event()
    assert apply(units, event) == "added"
    assert apply(units, event, "2-0") == "duplicate"
    removal = role_event(added=False)
    assert apply(units, removal) == "removed"
    assert apply(units, removal) == "duplicate"
    assert units.repos.staff_roles.roles(units.repos.users.get_by_username("dana").id, C) == []


def test_a_known_user_without_an_lms_id_takes_it_from_the_event_and_keeps_their_profile(units):
    units.repos.users.ensure(User(None, "dana", email="own@example.com"))
    assert apply(units, role_event(role="instructor")) == "added"
    dana = units.repos.users.get_by_username("dana")
    assert (dana.lms_user_id, dana.email, dana.full_name) == (42, "own@example.com", "Dana")
    assert apply(units, role_event(role="instructor", event_id=uuid.uuid4())) == "already_present"


@pytest.mark.parametrize("event", [role_event(role="beta_tester"), role_event(username=""), role_event(course="")])
def test_roles_that_do_not_make_course_staff_and_incomplete_events_are_ignored(units, event):
    assert apply(units, event) == "ignored"
    assert units.repos.staff_roles.roles_held == []


def test_a_role_event_with_a_malformed_course_key_is_ignored_not_stored(units):
    assert apply(units, role_event(course="not-a-course")) == "ignored"
    assert apply(units, role_event(event_id=uuid.uuid4())) == "added"
    assert units.repos.staff_roles.listing() == [("dana", C, "staff")]


def test_removing_a_role_nobody_holds_is_absent(units):
    assert apply(units, role_event(added=False)) == "absent"


# -- the consumer ----------------------------------------------------------------------------------------
def delivery(message_id, event=None, **kw) -> RoleEventDelivery:
    return RoleEventDelivery(message_id=message_id, event=event, **kw)


def consumer(units, source, **kw) -> RoleConsumer:
    return RoleConsumer(source=source, transact=units.transact, clock=FakeClock(NOW), **kw)


def test_the_consumer_applies_each_event_then_acknowledges_it(units):
    source = FakeRoleEventSource([delivery("1-0", role_event()), delivery("2-0", role_event(added=False))])
    assert consumer(units, source).drain() == {"added": 1, "removed": 1}
    assert source.acked == ["1-0", "2-0"]
    assert source.pending == {}


def test_an_undecodable_message_is_dead_lettered_and_acknowledged(units):
    source = FakeRoleEventSource([delivery("1-0", error="bad avro", raw={"data": b"\x00"})])
    assert consumer(units, source).drain() == {"dead": 1}
    assert source.acked == ["1-0"]
    assert [(d["message_id"], d["error"], d["event_id"]) for d in units.inbox.dead] == [("1-0", "bad avro", None)]


def test_a_failed_transaction_leaves_the_event_for_a_retry_and_changes_nothing(units, caplog):
    source = FakeRoleEventSource([delivery("1-0", role_event())])
    role_consumer = consumer(units, source)
    units.fail_next = RuntimeError("database went away")
    assert role_consumer.handle(source.read()[0]) == "retry"
    assert source.acked == [] and units.repos.users.get_by_username("dana") is None
    assert units.inbox.applied == {}
    [again] = source.read()
    assert again.times_delivered == 2
    assert role_consumer.handle(again) == "added"
    assert source.acked == ["1-0"]


def test_an_event_that_keeps_failing_is_dead_lettered_after_the_last_delivery(units, caplog):
    source = FakeRoleEventSource([delivery("1-0", role_event())])
    role_consumer = consumer(units, source, max_deliveries=3)
    outcomes = []
    for _ in range(3):
        units.fail_next = RuntimeError("constraint violated")
        outcomes.append(role_consumer.handle(source.read()[0]))
    assert outcomes == ["retry", "retry", "dead"]
    assert source.acked == ["1-0"]
    assert units.inbox.dead[0]["times_delivered"] == 3
    assert "failed 3 times: RuntimeError: constraint violated" in units.inbox.dead[0]["error"]


class StopAfter:
    """A ``Stop`` that is set after ``waits`` waits, or once the source has nothing left."""

    def __init__(self, source: FakeRoleEventSource):
        self.source = source
        self.waited: list[float] = []
        self.event = threading.Event()

    def is_set(self):
        if not self.source.new and not self.source.pending and not self.source.unavailable:
            self.event.set()
        return self.event.is_set()

    def wait(self, seconds):
        self.waited.append(seconds)
        return self.is_set()


def test_run_waits_out_an_unavailable_bus_then_applies_what_arrived(units, caplog):
    source = FakeRoleEventSource([delivery("1-0", role_event())])
    source.unavailable = 2
    stop = StopAfter(source)
    consumer(units, source).run(stop)
    assert len(stop.waited) == 2 and all(0 < wait <= 30 for wait in stop.waited)
    assert source.acked == ["1-0"]
    assert units.repos.users.get_by_username("dana") is not None

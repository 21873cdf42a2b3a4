"""ExamService over in-memory repositories: Studio's registration, course configuration and providers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from exams.domain.errors import Rejected
from exams.domain.exams import CourseConfig, ExamSpec, ExamType, Provider
from exams.services.exams import ExamService
from tests.fakes_repositories import FakeRepositories

C = "course-v1:edx+test+f19"
OTHER = "course-v1:edx+other+f19"
DUE = datetime(2031, 1, 1, tzinfo=timezone.utc)


def spec(content="block-a", exam_type=ExamType.PROCTORED, **kw) -> ExamSpec:
    values = dict(content_id=content, exam_name=f"Exam {content}", exam_type=exam_type, time_limit_mins=30,
                  due_date=None, hide_after_due=False, is_active=True)
    values.update(kw)
    return ExamSpec(**values)


class World:
    def __init__(self):
        self.repos = FakeRepositories()
        self.service = ExamService(self.repos)
        self.vendor = self.repos.providers.add(Provider(None, "vendor", "Vendor", lti_configuration_id="reg-1"))
        self.other_vendor = self.repos.providers.add(Provider(None, "other", "Other", org_key="mit"))

    def run(self, work):
        with self.repos.unit_of_work():
            return work()

    def active(self, course=C):
        return {e.content_id: e for e in self.repos.exams.active_in_course(course)}


@pytest.fixture
def w():
    return World()


# -- registration ----------------------------------------------------------------------------------------
def test_studios_list_creates_the_exams_with_the_course_provider_on_the_proctored_ones(w):
    w.run(lambda: w.service.configure(C, "vendor", "help@example.com"))
    w.run(lambda: w.service.register(C, [spec("block-a"), spec("block-b", ExamType.TIMED, due_date=DUE)]))
    active = w.active()
    assert set(active) == {"block-a", "block-b"}
    assert active["block-a"].provider_id == w.vendor.id
    assert active["block-b"].provider_id is None and active["block-b"].due_date == DUE
    assert w.service.active_exams(C) == list(active.values())
    assert w.service.active_exams(OTHER) == []


def test_a_second_registration_updates_in_place_deactivates_what_is_missing_and_replaces_a_changed_type(w):
    w.run(lambda: w.service.register(C, [spec("block-a"), spec("block-b"), spec("block-c")]))
    before = w.active()
    w.run(lambda: w.service.register(C, [spec("block-a", exam_name="Renamed", time_limit_mins=45),
                                         spec("block-b", ExamType.TIMED)]))
    after = w.active()
    assert set(after) == {"block-a", "block-b"}
    assert after["block-a"].id == before["block-a"].id
    assert (after["block-a"].exam_name, after["block-a"].time_limit_mins) == ("Renamed", 45)
    assert after["block-b"].id != before["block-b"].id and after["block-b"].exam_type is ExamType.TIMED
    assert w.repos.exams.get(before["block-b"].id).is_active is False
    assert w.repos.exams.get(before["block-c"].id).is_active is False


def test_an_exam_registered_inactive_is_kept_but_not_active(w):
    w.run(lambda: w.service.register(C, [spec("block-a")]))
    exam_id = w.active()["block-a"].id
    w.run(lambda: w.service.register(C, [spec("block-a", is_active=False)]))
    assert w.active() == {}
    assert w.repos.exams.get(exam_id).is_active is False


# -- course configuration --------------------------------------------------------------------------------
def test_a_course_is_configured_with_a_provider_and_an_escalation_email(w):
    assert w.service.config(C) == (None, None)
    assert w.service.is_configured(C) is False
    w.run(lambda: w.service.configure(C, "vendor", "help@example.com"))
    assert w.service.config(C) == (w.vendor, CourseConfig(C, w.vendor.id, "help@example.com"))
    assert w.service.is_configured(C) is True


def test_without_a_provider_the_course_is_not_configured_and_keeps_no_escalation_email(w):
    w.run(lambda: w.service.configure(C, "vendor", "help@example.com"))
    w.run(lambda: w.service.configure(C, None, None))
    assert w.service.config(C) == (None, CourseConfig(C, None, None))
    assert w.service.is_configured(C) is False


def test_an_unknown_provider_or_an_escalation_email_without_provider_is_refused_and_changes_nothing(w):
    with pytest.raises(Rejected) as unknown:
        w.run(lambda: w.service.configure(C, "nobody", None))
    assert unknown.value.code == "unknown_provider"
    with pytest.raises(Rejected) as orphan:
        w.run(lambda: w.service.configure(C, None, "help@example.com"))
    assert orphan.value.code == "escalation_without_provider"
    assert w.repos.configs.get(C) is None


def test_a_provider_change_rehomes_the_proctored_exams_and_keeps_their_resource_link(w):
    w.run(lambda: w.service.configure(C, "vendor", None))
    w.run(lambda: w.service.register(C, [spec("block-a"), spec("block-t", ExamType.TIMED)]))
    old = w.active()
    w.run(lambda: w.service.configure(C, "other", None))
    new = w.active()
    assert new["block-a"].id != old["block-a"].id
    assert (new["block-a"].provider_id, new["block-a"].resource_id) == (w.other_vendor.id, old["block-a"].resource_id)
    assert w.repos.exams.get(old["block-a"].id).is_active is False
    assert new["block-t"] == old["block-t"]  # timed exams have no provider


def test_configuring_the_same_provider_again_rehomes_nothing(w):
    w.run(lambda: w.service.configure(C, "vendor", None))
    w.run(lambda: w.service.register(C, [spec("block-a")]))
    before = w.active()
    w.run(lambda: w.service.configure(C, "vendor", "new@example.com"))
    assert w.active() == before


# -- providers -------------------------------------------------------------------------------------------
def test_providers_are_listed_for_an_org_and_a_taken_name_is_refused(w):
    assert w.service.providers() == [w.vendor, w.other_vendor]
    assert w.service.providers("edx") == [w.vendor]
    assert w.service.providers("mit") == [w.vendor, w.other_vendor]
    added = w.run(lambda: w.service.add_provider(Provider(None, "third", "Third")))
    assert w.repos.providers.get(added.id) == added
    with pytest.raises(Rejected) as taken:
        w.run(lambda: w.service.add_provider(Provider(None, "vendor", "Again")))
    assert taken.value.code == "provider_exists"

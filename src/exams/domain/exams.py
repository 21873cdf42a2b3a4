"""Exams, proctoring providers, course configuration and the rules of exam registration."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from .errors import Rejected
from .values import check_email, check_provider_name, check_text, check_url


class ExamType(str, enum.Enum):
    PROCTORED = "proctored"
    TIMED = "timed"
    PRACTICE = "practice"
    ONBOARDING = "onboarding"

    @property
    def is_proctored(self) -> bool:
        return self is not ExamType.TIMED

    @property
    def is_timed(self) -> bool:
        return True

    @property
    def is_practice(self) -> bool:
        return self in (ExamType.PRACTICE, ExamType.ONBOARDING)

    @property
    def sends_learner_emails(self) -> bool:
        """Only real proctored exams email the learner about submission and review."""
        return self.is_proctored and not self.is_practice

    @classmethod
    def parse(cls, value: str) -> "ExamType":
        try:
            return cls(value)
        except ValueError:
            raise Rejected("Must be a valid exam type.", code="invalid_exam_type") from None


@dataclass(frozen=True)
class Provider:
    id: int | None
    name: str
    verbose_name: str
    lti_configuration_id: str = ""
    org_key: str | None = None
    tech_support_phone: str | None = None
    tech_support_email: str | None = None
    tech_support_url: str | None = None
    is_active: bool = True

    def available_to(self, org: str | None) -> bool:
        return org is None or self.org_key is None or self.org_key == org


def check_provider(provider: Provider) -> None:
    """Refuse a provider the course configuration could not name or the learner pages could not show."""
    check_provider_name(provider.name)
    check_text("verbose_name", provider.verbose_name)
    for field_name in ("org_key", "tech_support_phone"):
        if getattr(provider, field_name) is not None:
            check_text(field_name, getattr(provider, field_name))
    if provider.tech_support_email is not None:
        check_email(provider.tech_support_email, "tech_support_email")
    if provider.tech_support_url is not None:
        check_url(provider.tech_support_url, "tech_support_url")


@dataclass
class Exam:
    id: int | None
    course_id: str
    content_id: str
    exam_name: str
    exam_type: ExamType
    time_limit_mins: int
    due_date: datetime | None = None
    hide_after_due: bool = False
    is_active: bool = True
    provider_id: int | None = None
    # The LTI resource link id; kept when the exam is re-homed to another provider.
    resource_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def is_past_due(self, now: datetime) -> bool:
        return self.due_date is not None and self.due_date <= now

    def page_url(self, learning_mfe_url: str) -> str:
        """The exam's page in the Learning MFE (edx-exams ``get_exam_url_path``)."""
        return f"{learning_mfe_url}/course/{self.course_id}/{self.content_id}"


@dataclass(frozen=True)
class ExamSpec:
    """One exam as Studio registers it (a validated item of the registration PATCH)."""

    content_id: str
    exam_name: str
    exam_type: ExamType
    time_limit_mins: int
    due_date: datetime | None
    hide_after_due: bool
    is_active: bool


@dataclass(frozen=True)
class CourseConfig:
    course_id: str
    provider_id: int | None
    escalation_email: str | None = None
    allow_opt_out: bool = False


@dataclass
class RegistrationPlan:
    updated: list[Exam] = field(default_factory=list)
    created: list[Exam] = field(default_factory=list)
    deactivated: list[Exam] = field(default_factory=list)


def plan_registration(course_id: str, active: list[Exam], specs: list[ExamSpec],
                      course_provider_id: int | None) -> RegistrationPlan:
    """Decide how Studio's list of exams changes the course's active exams.

    Same content and same type: updated in place (provider kept). Otherwise the active exam, if any,
    is deactivated and a new one created (proctored types get the course provider). Active exams
    missing from the list are deactivated.
    """
    by_content = {exam.content_id: exam for exam in active}
    plan = RegistrationPlan()
    seen: set[str] = set()
    for spec in specs:
        seen.add(spec.content_id)
        current = by_content.get(spec.content_id)
        if current is not None and current.exam_type is spec.exam_type:
            current.exam_name = spec.exam_name
            current.time_limit_mins = spec.time_limit_mins
            current.due_date = spec.due_date
            current.hide_after_due = spec.hide_after_due
            current.is_active = spec.is_active
            plan.updated.append(current)
            if not spec.is_active:
                del by_content[spec.content_id]
            continue
        if current is not None:
            current.is_active = False
            plan.deactivated.append(current)
            del by_content[spec.content_id]
        new = Exam(
            id=None, course_id=course_id, content_id=spec.content_id, exam_name=spec.exam_name,
            exam_type=spec.exam_type, time_limit_mins=spec.time_limit_mins, due_date=spec.due_date,
            hide_after_due=spec.hide_after_due, is_active=spec.is_active,
            provider_id=course_provider_id if spec.exam_type.is_proctored else None,
        )
        plan.created.append(new)
        if new.is_active:
            by_content[spec.content_id] = new
    for exam in active:
        if exam.content_id not in seen and exam.is_active:
            exam.is_active = False
            plan.deactivated.append(exam)
    return plan


def check_course_config(provider_name: str | None, escalation_email: str | None) -> None:
    if provider_name is None and escalation_email is not None:
        raise Rejected("Escalation email must be None when provider is None.", code="escalation_without_provider")


def rehome_exams(active: list[Exam], new_provider_id: int | None) -> list[tuple[Exam, Exam]]:
    """On a course provider change, each active proctored exam is replaced by a clone on the new provider.

    The clone keeps the resource_id (the LTI resource link), so a vendor sees the same exam; attempts stay
    with the old, now inactive, row. Timed exams have no provider and are left alone (edx-exams also
    clones them and gives them the provider, which makes a timed exam look proctored).
    """
    pairs = []
    for exam in active:
        if not exam.exam_type.is_proctored or exam.provider_id == new_provider_id:
            continue
        exam.is_active = False
        pairs.append((exam, replace(exam, id=None, is_active=True, provider_id=new_provider_id)))
    return pairs

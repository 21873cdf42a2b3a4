"""The operators' console use cases: what an operator may see, the actions they take, and the audit log.

Every rule is the one the API and the CLI use (``AttemptService``, ``ExamService``, ``UserService``); this
service adds what the console needs on top: visibility (course staff see their courses only, anything else
"does not exist"), a required reason on attempt actions, and an audit entry for every change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable
from datetime import datetime

from exams.domain.allowances import Allowance
from exams.domain.attempts import Attempt, StatusChange
from exams.domain.console import AuditEntry, Operator, check_reason
from exams.domain.errors import NotFound, Rejected
from exams.domain.exams import CourseConfig, Exam, Provider
from exams.domain.reviews import ControlResult
from exams.domain.users import User
from exams.ports.clock import Clock
from exams.ports.console import AttemptQuery, ConsoleStore, StaffMember
from exams.ports.lti import NonceStore
from exams.ports.repositories import Repositories
from exams.services.attempts import AllowanceRequest, AttemptService
from exams.services.exams import ExamService
from exams.services.users import UserService

ATTEMPT_ACTIONS = ("verify", "reject", "reset", "resume")
SEARCH_LIMIT = 200


@dataclass(frozen=True)
class HistoryLine:
    change: StatusChange
    actor: str  # username, or "" when the system moved it (expiry, a vendor's review)


@dataclass(frozen=True)
class AttemptDetail:
    attempt: Attempt
    exam: Exam
    learner: User
    provider: Provider | None
    history: list[HistoryLine]
    reviews: list[ControlResult]
    allowance: Allowance | None
    time_remaining_seconds: float


@dataclass(frozen=True)
class CourseDetail:
    course_id: str
    config: CourseConfig | None
    provider: Provider | None
    exams: list[Exam]
    allowances: list[tuple[Allowance, User, Exam]]
    staff: list[StaffMember]
    providers: list[Provider]


class ConsoleService:
    def __init__(self, repos: Repositories, store: ConsoleStore, attempts: AttemptService, exams: ExamService,
                 users: UserService, clock: Clock, nonces: NonceStore | None = None,
                 lti: Callable[[], Any] | None = None, events: Callable[[], Any] | None = None,
                 mail: Callable[[], Any] | None = None):
        self.repos = repos
        self.store = store
        self.attempts = attempts
        self.exams = exams
        self.users = users
        self.clock = clock
        self.nonces = nonces
        self._lti = lti  # -> LtiService (built on first use)
        self._events = events  # -> OutboxOperator (its own transactions, as the CLI's)
        self._mail = mail  # -> MailOutbox in this unit of work

    # -- who ------------------------------------------------------------------------------------------
    def operator(self, user: User) -> Operator:
        return Operator(user, self.store.staff_courses(user.id))

    def operator_by_id(self, user_id: int) -> Operator | None:
        user = self.repos.users.get(user_id)
        return self.operator(user) if user is not None and user.is_active else None

    def use_once(self, key: str, expires_at: datetime) -> bool:
        """A single-use value (the one-time sign-in link): True the first time only."""
        return self.nonces.use(key, expires_at)

    # -- audit ----------------------------------------------------------------------------------------
    def record(self, op: Operator, action: str, *, target: str = "", course_id: str | None = None,
               reason: str = "", **details) -> AuditEntry:
        return self.store.record(AuditEntry(None, self.clock.now(), op.user.id, op.user.username, action,
                                            target=target, course_id=course_id, reason=reason, details=details))

    def audit(self, op: Operator, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
        return self.store.audit(op.course_filter, limit, offset)

    # -- attempts -------------------------------------------------------------------------------------
    def search(self, op: Operator, query: AttemptQuery) -> list[tuple[Attempt, Exam, User]]:
        if query.course_id:
            op.require_course(query.course_id)
        return self.store.search_attempts(query, op.course_filter, SEARCH_LIMIT)

    def _visible_attempt(self, op: Operator, attempt_id: int) -> tuple[Attempt, Exam]:
        attempt = self.repos.attempts.get(attempt_id)
        exam = self.repos.exams.get(attempt.exam_id) if attempt else None
        if attempt is None or exam is None or not op.sees_course(exam.course_id):
            raise NotFound("Attempt not found.", code="attempt_not_found")
        return attempt, exam

    def attempt(self, op: Operator, attempt_id: int) -> AttemptDetail:
        attempt, exam = self._visible_attempt(op, attempt_id)
        history = self.repos.attempts.history(attempt.id)
        actors: dict[int, str] = {}
        for change in history:
            if change.actor_id is not None and change.actor_id not in actors:
                actor = self.repos.users.get(change.actor_id)
                actors[change.actor_id] = actor.username if actor else f"user {change.actor_id}"
        provider = self.repos.providers.get(exam.provider_id) if exam.provider_id else None
        return AttemptDetail(
            attempt=attempt, exam=exam, learner=self.repos.users.get(attempt.user_id), provider=provider,
            history=[HistoryLine(c, actors.get(c.actor_id, "")) for c in history],
            reviews=self.repos.control_results.for_attempt(attempt.id),
            allowance=self.repos.allowances.for_user_exam(attempt.user_id, exam.id),
            time_remaining_seconds=attempt.time_remaining_seconds(self.clock.now()))

    def act(self, op: Operator, attempt_id: int, action: str, reason: str) -> str:
        """verify, reject, reset or resume an attempt, with a reason; returns the status after (or "reset")."""
        if action not in ATTEMPT_ACTIONS:
            raise Rejected(f"Unknown action {action!r}.", code="unrecognized_action")
        reason = check_reason(reason)
        attempt, exam = self._visible_attempt(op, attempt_id)
        before = attempt.status.value
        if action == "reset":
            self.attempts.reset(op.user, attempt_id)
            after = "reset"
        elif action == "resume":
            after = self.attempts.resume(op.user, attempt_id).status.value
        else:
            after = self.attempts.act(op.user, attempt_id, action).status.value
        self.record(op, f"attempt.{action}", target=f"attempt {attempt_id}", course_id=exam.course_id,
                    reason=reason, learner_id=attempt.user_id, exam_id=exam.id, before=before, after=after)
        return after

    # -- courses --------------------------------------------------------------------------------------
    def courses(self, op: Operator) -> list[str]:
        return self.store.courses(op.course_filter)

    def course(self, op: Operator, course_id: str) -> CourseDetail:
        op.require_course(course_id)
        provider, config = self.exams.config(course_id)
        return CourseDetail(course_id=course_id, config=config, provider=provider,
                            exams=self.store.exams_of_course(course_id),
                            allowances=self.attempts.allowances(op.user, course_id),
                            staff=self.store.staff_of_course(course_id),
                            providers=self.exams.providers(_org(course_id)))

    def configure_course(self, op: Operator, course_id: str, provider_name: str | None,
                         escalation_email: str | None) -> None:
        op.require_course(course_id)
        before_provider, before = self.exams.config(course_id)
        self.exams.configure(course_id, provider_name, escalation_email)
        self.record(op, "course.configure", target=course_id, course_id=course_id,
                    before={"provider": before_provider.name if before_provider else None,
                            "escalation_email": before.escalation_email if before else None},
                    after={"provider": provider_name, "escalation_email": escalation_email})

    def grant_allowance(self, op: Operator, course_id: str, request: AllowanceRequest) -> None:
        op.require_course(course_id)
        self.attempts.grant_allowances(op.user, course_id, [request])
        self.record(op, "allowance.grant", target=request.username or request.email or "", course_id=course_id,
                    exam_id=request.exam_id, extra_time_mins=request.extra_time_mins)

    def revoke_allowance(self, op: Operator, course_id: str, allowance_id: int) -> None:
        op.require_course(course_id)
        self.attempts.revoke_allowance(op.user, course_id, allowance_id)
        self.record(op, "allowance.revoke", target=f"allowance {allowance_id}", course_id=course_id)

    def add_staff(self, op: Operator, course_id: str, username: str, role: str, email: str = "") -> bool:
        """Global staff only: course staff roles come from the LMS, a course team does not grant itself more."""
        op.require_global()
        added = self.users.add_course_role(username, course_id, role, email=email or None)
        self.record(op, "staff.add", target=username, course_id=course_id, role=role, changed=added)
        return added

    def remove_staff(self, op: Operator, course_id: str, username: str, role: str) -> bool:
        op.require_global()
        removed = self.users.remove_course_role(username, course_id, role)
        self.record(op, "staff.remove", target=username, course_id=course_id, role=role, changed=removed)
        return removed


    # -- providers and LTI registrations (global staff) ---------------------------------------------------
    def providers(self, op: Operator) -> list[Provider]:
        op.require_global()
        return self.exams.all_providers()

    def provider(self, op: Operator, provider_id: int) -> tuple[Provider, dict | None]:
        """The provider and what its vendor must be given (``exams provider add`` prints the same)."""
        provider, registration = self.provider_registration(op, provider_id)
        return provider, (self._lti().vendor_info(registration) if registration else None)

    def provider_registration(self, op: Operator, provider_id: int):
        """The provider and its LTI registration (or None)."""
        op.require_global()
        provider = self.repos.providers.get(provider_id)
        if provider is None:
            raise NotFound("Proctoring provider not found.", code="unknown_provider")
        return provider, self._lti().registration(provider.lti_configuration_id)

    def rotate_platform_key(self, op: Operator, provider_id: int, grace_hours: int):
        """A new LTI platform key for the provider's registration; the old one is published for the grace period."""
        provider, registration = self.provider_registration(op, provider_id)
        if registration is None:
            raise Rejected("This provider has no LTI registration: there is no platform key.",
                           code="no_lti_registration")
        rotated = self._lti().rotate_platform_key(registration.registration_id, grace_hours * 3600)
        self.record(op, "lti.rotate_key", target=provider.name, registration_id=registration.registration_id,
                    old_kid=registration.platform_kid, new_kid=rotated.platform_kid, grace_hours=grace_hours)
        return rotated

    def retire_platform_key(self, op: Operator, provider_id: int) -> bool:
        provider, registration = self.provider_registration(op, provider_id)
        if registration is None:
            raise Rejected("This provider has no LTI registration.", code="no_lti_registration")
        retired = self._lti().retire_platform_key(registration.registration_id)
        self.record(op, "lti.retire_key", target=provider.name, registration_id=registration.registration_id,
                    changed=retired)
        return retired

    def add_provider(self, op: Operator, provider: Provider, registration: dict | None) -> Provider:
        op.require_global()
        if registration:
            provider = replace(provider, lti_configuration_id=self._lti().register_tool(**registration).registration_id)
        created = self.exams.add_provider(provider)
        self.record(op, "provider.add", target=created.name, provider_id=created.id,
                    lti_registration=created.lti_configuration_id or None)
        return created

    def update_provider(self, op: Operator, provider_id: int, **changes) -> Provider:
        current, _ = self.provider(op, provider_id)
        updated = self.exams.update_provider(current.name, **changes)
        self.record(op, "provider.edit" if set(changes) != {"is_active"} else
                    ("provider.enable" if changes["is_active"] else "provider.disable"),
                    target=current.name, provider_id=provider_id,
                    changed={k: v for k, v in changes.items() if getattr(current, k) != v})
        return updated

    # -- outboxes (global staff; the CLI's rules: services.events.OutboxOperator, the mail outbox) -------
    def outboxes(self, op: Operator) -> dict:
        op.require_global()
        return {"events": self._events().status(limit=50), "mail": self._mail().status(limit=50)}

    def replay_events(self, op: Operator, *, event_id: str | None, since: datetime | None, force: bool) -> dict:
        op.require_global()
        result = self._events().replay(event_id=event_id, since=since, force=force)
        self.record(op, "events.replay", target=event_id or f"since {since}", force=force,
                    requeued=len(result["requeued"]), republished=len(result["republished"]))
        return result

    def purge_events(self, op: Operator, *, event_id: str | None, older_than_days: int | None) -> dict:
        op.require_global()
        result = self._events().purge(older_than_days=older_than_days, event_id=event_id)
        self.record(op, "events.purge", target=event_id or f"published over {older_than_days} days ago",
                    purged=result["purged"])
        return result

    def retry_mail(self, op: Operator) -> int:
        op.require_global()
        count = self._mail().requeue_failed(self.clock.now())
        self.record(op, "mail.retry", target="failed emails", requeued=count)
        return count


def _org(course_id: str) -> str | None:
    """The organisation of a course key (``course-v1:ORG+...`` or ``ORG/course/run``)."""
    key = course_id.split(":", 1)[1] if course_id.startswith("course-v1:") else course_id
    for sep in ("+", "/"):
        if sep in key:
            return key.split(sep, 1)[0]
    return None


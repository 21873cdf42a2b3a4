"""Units of work: the use cases of one request or one command, built over its database session.

``Services`` is the one place request-scoped objects are made: each is built on first use from the
container's process-wide providers and kept for the rest of the unit (``request.services.attempts``,
``services.repos``...). ``run_in_transaction`` gives a command its own unit and transaction.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from exams.adapters.sql.console import SqlConsoleStore
from exams.adapters.sql.lti_repositories import LtiRepositories
from exams.adapters.sql.mail_outbox import SqlMailOutbox
from exams.adapters.sql.outbox import SqlOutbox
from exams.adapters.sql.repositories import SqlRepositories
from exams.adapters.sql.session import UnitDatabase, after_commit, in_transaction
from exams.container import Container
from exams.delivery.mail import MailDelivery
from exams.delivery.operator import OutboxOperator
from exams.delivery.relay import OutboxRelay
from exams.delivery.roles import RoleConsumer
from exams.ports.outcomes import CompositeOutcomeSink, DeferredOutcomeSink, OutcomeSink
from exams.services.acs import AcsService
from exams.services.attempts import AttemptService
from exams.services.console import ConsoleService
from exams.services.events import EventOutcomeSink
from exams.services.exams import ExamService
from exams.services.legacy import LegacyForwarding
from exams.services.lti import LtiService
from exams.services.mail import LearnerEmails
from exams.services.users import UserService

T = TypeVar("T")


class once(Generic[T]):
    """An attribute built on first use and kept on the instance. (``functools.cached_property`` without its lock:
    a unit of work belongs to one thread, and the learner's poll should not pay for a lock per use case.)"""

    def __init__(self, build: Callable[[Any], T]):
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __get__(self, unit, owner=None) -> T:
        if unit is None:
            return self  # type: ignore[return-value]
        value = unit.__dict__[self.name] = self.build(unit)
        return value


class Services:
    """The use cases of one unit of work, each built on first use (most requests need one or two)."""

    def __init__(self, container: Container, database, outcome_sinks: tuple[Callable[[Any], OutcomeSink], ...] = ()):
        self.container = container
        self.database = UnitDatabase.of(database)  # a session, or a unit's database that makes one on first need
        self.outcome_sinks = outcome_sinks  # more sinks of attempt outcomes, each made with the session (metrics)

    @property
    def session(self):
        """The unit's ORM session (made now if it has none: a read-only unit never needs one)."""
        return self.database.session

    @once
    def repos(self) -> SqlRepositories:
        return SqlRepositories(self.database, self.container.clock())

    @once
    def lti_repos(self) -> LtiRepositories:
        return LtiRepositories(self.session, self.container.clock())

    @once
    def outcomes(self) -> OutcomeSink:
        """Where attempt outcomes go in this unit: the event outbox and learner emails, each when configured.
        Made at the first outcome: most units have none, and the outboxes need the ORM session."""
        return DeferredOutcomeSink(self._outcome_sinks)

    def _outcome_sinks(self) -> OutcomeSink:
        c, s = self.container, self.container.settings()
        sinks: list[OutcomeSink] = []
        if s["exams.event_bus.backend"] != "none":
            sinks.append(EventOutcomeSink(SqlOutbox(self.session), c.event_encoder(), c.clock(),
                                          source=s["exams.event_bus.source"]))
        if c.mailer() is not None:
            # The sender is woken once the email's transaction has committed: it leaves at once, and only then.
            sender = c.mail_sender()
            sinks.append(LearnerEmails(
                SqlMailOutbox(self.session), self.repos.configs, c.clock(), learning_mfe_url=s["exams.learning_mfe_url"],
                lms_root_url=s["exams.lms_root_url"],
                on_enqueued=(lambda: after_commit(self.session, sender.wake)) if sender is not None else None))
        sinks.extend(make(self.session) for make in self.outcome_sinks)
        return CompositeOutcomeSink(sinks)

    @once
    def users(self) -> UserService:
        return UserService(self.repos, known=self.container.known_users())

    @once
    def exams(self) -> ExamService:
        return ExamService(self.repos)

    @once
    def attempts(self) -> AttemptService:
        return AttemptService(self.repos, self.container.clock(), outcomes=self.outcomes,
                              access_tokens=self.container.access_tokens())

    @once
    def legacy(self) -> LegacyForwarding:
        """Forwarding to edx-proctoring for the courses it still serves."""
        return LegacyForwarding(self.exams, self.container.legacy_proctoring())

    @once
    def lti(self) -> LtiService:
        c = self.container
        return LtiService(self.repos, self.lti_repos, platform=c.lti_platform(), attempts=self.attempts,
                          clock=c.clock(), config=c.lti_config())

    @once
    def acs(self) -> AcsService:
        c = self.container
        return AcsService(self.repos, self.attempts, vendor=c.proctoring_vendor(), clock=c.clock(),
                          registrations=self.lti_repos.registrations, nonces=self.lti_repos.nonces,
                          issuer=c.settings()["exams.root_url"])

    @once
    def mail_outbox(self) -> SqlMailOutbox:
        return SqlMailOutbox(self.session)

    @property
    def outbox_operator(self) -> OutboxOperator:
        """The event outbox's operator (status, replay, purge): it runs its own transactions."""
        return self.container.outbox_operator()

    @once
    def console(self) -> ConsoleService:
        """The operators' console (docs/console.md)."""
        return ConsoleService(self.repos, SqlConsoleStore(self.session), self.attempts, self.exams, self.users,
                              self.container.clock(), nonces=self.lti_repos.nonces, lti=lambda: self.lti,
                              events=lambda: self.outbox_operator, mail=lambda: self.mail_outbox)


def run_in_transaction(container: Container, work: Callable[[Services], T]) -> T:
    """Run ``work`` in a unit of work of its own (a command, the sweeper): commit when it returns, roll back
    when it raises."""
    return in_transaction(container.session_factory(), lambda session: work(Services(container, session)))


# The delivery machinery, as the commands start it.
def build_relay(container: Container, owner: str | None = None) -> OutboxRelay:
    return container.relay(owner=owner) if owner else container.relay()


def build_role_consumer(container: Container, block_ms: int = 5000) -> RoleConsumer:
    return container.role_consumer(source__block_ms=block_ms)


def build_outbox_operator(container: Container) -> OutboxOperator:
    return container.outbox_operator()


def build_mail_delivery(container: Container) -> MailDelivery | None:
    return container.mail_delivery()

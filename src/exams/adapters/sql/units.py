"""Units of work of the delivery machinery: each call runs its work in a transaction of its own."""

from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy.orm import sessionmaker

from exams.ports.clock import Clock
from exams.ports.mail import MailOutbox
from exams.services.events import EventUnit

from .mail_outbox import SqlMailOutbox
from .outbox import SqlEventInbox, SqlOutbox
from .repositories import SqlRepositories
from .session import in_transaction

T = TypeVar("T")


class SqlEventTransactions:
    """``exams.services.events.Transact``: the outboxes and repositories of one transaction (relay, roles, operator)."""

    def __init__(self, session_factory: sessionmaker, clock: Clock):
        self.session_factory = session_factory
        self.clock = clock

    def __call__(self, work: Callable[[EventUnit], T]) -> T:
        return in_transaction(self.session_factory, lambda session: work(EventUnit(
            outbox=SqlOutbox(session), inbox=SqlEventInbox(session), repos=SqlRepositories(session, self.clock))))


class SqlMailTransactions:
    """``exams.ports.mail.OutboxTransactions``: the mail outbox of one transaction."""

    def __init__(self, session_factory: sessionmaker):
        self.session_factory = session_factory

    def __call__(self, work: Callable[[MailOutbox], T]) -> T:
        return in_transaction(self.session_factory, lambda session: work(SqlMailOutbox(session)))

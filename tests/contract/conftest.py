"""One backend per parameter for the contract suites: the in-memory fakes, SQLite and PostgreSQL.

``store`` (the repositories) hands out units of work as a request has them: ``store.unit_of_work()`` yields the
repositories and commits at the end; ``commit=False``, or an exception, rolls back. The fakes roll back by
restoring a snapshot, the SQL repositories by aborting the transaction. ``lti`` and ``outbox`` are one open
unit of work each, rolled back at the end of the test.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import sessionmaker

from exams.adapters.sql.lti_repositories import LtiRepositories
from exams.adapters.sql.outbox import SqlOutbox
from exams.adapters.sql.repositories import SqlRepositories
from exams.adapters.sql.session import make_engine
from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.exams import Exam, ExamType
from exams.domain.users import User
from tests.conftest import empty_tables, migrated_database, sql_unit_of_work
from tests.fakes import rolled_back_on_error
from tests.fakes_events import FakeOutbox
from tests.fakes_lti import FakeLtiStore
from tests.fakes_repositories import FakeRepositories

BACKENDS = ["fake", "sqlite", "postgresql"]

_engines: dict[str, object] = {}


@pytest.fixture(scope="session", autouse=True)
def _dispose_contract_engines():
    yield
    for engine in _engines.values():
        engine.dispose()


def empty_database(backend: str, tmp_path_factory):
    """The engine of this process's migrated database of ``backend``, its tables emptied."""
    url = migrated_database(backend, tmp_path_factory)
    if url not in _engines:
        _engines[url] = make_engine(url)
    empty_tables(_engines[url])
    return _engines[url]


@contextmanager
def open_session(engine):
    """A session for the whole test, rolled back at the end (nothing is committed)."""
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


# -- repositories ------------------------------------------------------------------------------------------
class FakeStore:
    name = "fake"

    def __init__(self):
        self.repos = FakeRepositories()

    @contextmanager
    def unit_of_work(self, *, commit: bool = True):
        with rolled_back_on_error(self.repos) as saved:
            yield self.repos
        if not commit:
            self.repos.__dict__.update(saved)


class SqlStore:
    def __init__(self, name: str, engine):
        self.name = name
        self.engine = engine

    def unit_of_work(self, *, commit: bool = True):
        return sql_unit_of_work(self.engine, commit=commit)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path_factory):
    """Empty repositories of one backend."""
    if request.param == "fake":
        return FakeStore()
    return SqlStore(request.param, empty_database(request.param, tmp_path_factory))


# -- the LTI store -----------------------------------------------------------------------------------------
class Clock:
    """The time the LTI store reads (for nonce reuse); tests move it. A ``Clock`` (``now()``) that can also be
    called for the time."""

    def __init__(self, now):
        self.at = now

    def now(self):
        return self.at

    def __call__(self):
        return self.at


class LtiBackend:
    """An LTI store of one backend with the clock it reads, and a learner's attempt to launch for."""

    def __init__(self, name, store, repos, clock):
        self.name, self.store, self.repos, self.clock = name, store, repos, clock

    def seed_attempt(self, now) -> tuple[int, int, int]:
        user = self.repos.users.ensure(User(id=None, username="learner"))
        exam = self.repos.exams.add(Exam(id=None, course_id="course-v1:a+b+c", content_id="block-v1:x",
                                         exam_name="Final", exam_type=ExamType.PROCTORED, time_limit_mins=30,
                                         resource_id="rl-1"))
        attempt = self.repos.attempts.add(Attempt(id=None, user_id=user.id, exam_id=exam.id, created=now,
                                                  modified=now, status=AttemptStatus.DOWNLOAD_SOFTWARE_CLICKED))
        return user.id, exam.id, attempt.id


@pytest.fixture(params=BACKENDS)
def lti(request, tmp_path_factory):
    """An empty LTI store of one backend."""
    clock = Clock(datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc))
    if request.param == "fake":
        yield LtiBackend("fake", FakeLtiStore(now=clock), FakeRepositories(), clock)
        return
    with open_session(empty_database(request.param, tmp_path_factory)) as session:
        yield LtiBackend(request.param, LtiRepositories(session, clock), SqlRepositories(session), clock)


# -- the event outbox --------------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def outbox(request, tmp_path_factory):
    """An empty event outbox with its relay lease (``OutboxStore``) of one backend."""
    if request.param == "fake":
        yield FakeOutbox()
        return
    with open_session(empty_database(request.param, tmp_path_factory)) as session:
        yield SqlOutbox(session)

"""What only the SQL LTI store shows, on SQLite and PostgreSQL: commits across sessions and concurrent
transactions. What every LTI store must do (the fakes too) is tested in tests/contract/test_lti_store.py."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import sessionmaker

from exams.adapters.sql.lti_repositories import LtiRepositories
from tests.fakes import FakeClock
from tests.fakes_lti import a_registration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def session_factory(db):
    return sessionmaker(bind=db, expire_on_commit=False)


def test_a_registration_survives_a_new_session(session_factory):
    first = session_factory()
    stored = LtiRepositories(first).registrations.add(a_registration())
    first.commit()
    first.close()
    second = session_factory()
    try:
        assert LtiRepositories(second).registrations.get(stored.registration_id) == stored
    finally:
        second.close()


def test_of_two_concurrent_transactions_using_one_nonce_exactly_one_wins(session_factory):
    first = session_factory()
    second = session_factory()
    results = {}
    try:
        results["first"] = LtiRepositories(first, clock=FakeClock(NOW)).nonces.use("race", NOW + timedelta(minutes=5))

        def other():
            results["second"] = LtiRepositories(second, clock=FakeClock(NOW)).nonces.use(
                "race", NOW + timedelta(minutes=5))
            second.commit()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.3)  # the second waits on the first's uncommitted row
        first.commit()
        thread.join(20)
        assert not thread.is_alive()
    finally:
        first.close()
        second.close()
    assert results == {"first": True, "second": False}

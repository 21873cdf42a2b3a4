"""The learner's reads without an ORM session (exams.adapters.sql.session.UnitDatabase and ReadConnections), on
SQLite and PostgreSQL: which connection each read runs on, and that no thread ever holds two or keeps one forever."""

from __future__ import annotations

import threading

import pytest
import transaction
from sqlalchemy.orm import sessionmaker

from exams.adapters.sql.repositories import SqlRepositories
from exams.adapters.sql.session import ReadConnections, UnitDatabase, make_session_factory
from exams.domain.users import User


@pytest.fixture
def factory(db) -> sessionmaker:
    return make_session_factory(db)


@pytest.fixture
def checked_out(db):
    """Connections of the pool lent since the test began."""
    before = db.pool.checkedout()
    return lambda: db.pool.checkedout() - before


def unit(factory, reads, work):
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        return work(UnitDatabase(factory, manager, reads=reads))


def add_user(factory, name="alice") -> User:
    return unit(factory, None, lambda db: SqlRepositories(db).users.ensure(User(id=None, username=name)))


def test_a_read_only_unit_makes_no_session_and_its_thread_keeps_the_connection(factory, db, checked_out):
    alice = add_user(factory)
    reads = ReadConnections(db, limit=4)
    first = unit(factory, reads, lambda d: (SqlRepositories(d).users.get(alice.id), d._session, d.reader()))
    second = unit(factory, reads, lambda d: (SqlRepositories(d).users.get(alice.id), d.reader()))
    assert first[0] == alice and first[1] is None  # read without making a session
    assert second[0] == alice and second[1] is first[2]  # the same connection, kept between units
    assert not first[2].in_transaction()
    assert checked_out() == 1


def test_a_unit_that_writes_gives_its_read_connection_back_and_reads_its_own_writes(factory, db, checked_out):
    reads = ReadConnections(db, limit=4)

    def work(d):
        repos = SqlRepositories(d)
        assert repos.users.get_by_username("bob") is None  # a plain read on the thread's connection
        assert checked_out() == 1
        bob = repos.users.ensure(User(id=None, username="bob"))  # the session: the read connection goes back
        assert repos.users.get(bob.id) == bob  # read on the session's connection, inside its transaction
        assert checked_out() == 1
        return bob

    bob = unit(factory, reads, work)
    assert checked_out() == 0
    assert unit(factory, reads, lambda d: SqlRepositories(d).users.get(bob.id)) == bob


def test_threads_beyond_the_limit_borrow_a_connection_for_their_unit_only(factory, db, checked_out):
    alice = add_user(factory)
    reads = ReadConnections(db, limit=1)
    held = threading.Event()
    release = threading.Event()
    seen = {}

    def keeper():
        seen["keeper"] = unit(factory, reads, lambda d: SqlRepositories(d).users.get(alice.id))
        held.set()
        release.wait(10)

    thread = threading.Thread(target=keeper)
    thread.start()
    held.wait(10)
    assert checked_out() == 1  # the first thread keeps its connection
    assert unit(factory, reads, lambda d: SqlRepositories(d).users.get(alice.id)) == alice
    assert checked_out() == 1  # this thread's was borrowed and given back at the end of its unit
    release.set()
    thread.join()
    del thread
    assert seen["keeper"] == alice
    assert checked_out() == 0  # the thread ended: its connection is back in the pool
    assert reads._kept == 0


def test_a_broken_read_connection_is_dropped_and_the_read_tried_again(factory, db, checked_out):
    alice = add_user(factory)
    reads = ReadConnections(db, limit=4)
    broken = unit(factory, reads, lambda d: d.reader())
    broken.connection.driver_connection.close()  # as when the database restarts

    def work(d):
        return SqlRepositories(d).users.get(alice.id), d.reader()

    found, connection = unit(factory, reads, work)
    assert found == alice
    assert connection is not broken
    assert checked_out() == 1


def test_each_prebuilt_read_runs_once_on_the_driver_without_falling_back_to_sqlalchemy(factory, db):
    from sqlalchemy import event

    alice = add_user(factory)
    reads = ReadConnections(db, limit=4)
    seen = []

    def on_execute(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db, "before_cursor_execute", on_execute)
    try:
        def work(d):
            repos = SqlRepositories(d)
            answers = [repos.users.get(alice.id), repos.users.get_by_username("alice"),
                       repos.attempts.active_with_exam(alice.id), repos.attempts.at_content(alice.id, "block-x"),
                       repos.attempts.exam_screen(alice.id, "block-x"), repos.exams.active_for_content("block-x")]
            return answers

        for _ in range(6):  # the first run prepares each statement, the next ones reuse it
            seen.clear()
            answers = unit(factory, reads, work)
            assert answers == [alice, alice, None, None, None, None]
            assert len(seen) == 6  # a fallback through SQLAlchemy would show a second execution
    finally:
        event.remove(db, "before_cursor_execute", on_execute)


def _counting_executions(db):
    from sqlalchemy import event

    seen = []

    def on_execute(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db, "before_cursor_execute", on_execute)
    return seen, lambda: event.remove(db, "before_cursor_execute", on_execute)


def test_prebuilt_reads_survive_a_rolled_back_transaction_on_their_connection(factory, db):
    """psycopg deallocates every prepared statement of a connection when one of its transactions rolls back
    (once it prepared statements of its own): the pre-built reads made there before must still answer, inside
    the next transaction as outside one, and be prepared anew."""
    alice = add_user(factory)
    reads = ReadConnections(db, limit=1)
    seen, stop = _counting_executions(db)
    try:
        for _ in range(3):  # read-only units: the reads are prepared on the thread's connection
            assert unit(factory, reads, lambda d: SqlRepositories(d).users.get(alice.id)) == alice

        class Abandon(Exception):
            pass

        def fails_after_writing(d):
            repos = SqlRepositories(d)
            for number in range(8):  # enough for psycopg to prepare a statement of its own
                repos.users.ensure(User(id=None, username=f"temporary-{number}"))
                assert repos.users.get(alice.id) == alice  # inside the transaction
            raise Abandon

        with pytest.raises(Abandon):
            unit(factory, reads, fails_after_writing)
        assert unit(factory, reads, lambda d: SqlRepositories(d).users.get_by_username("temporary-1")) is None

        def reads_inside_a_transaction(d):
            repos = SqlRepositories(d)
            carol = repos.users.ensure(User(id=None, username="carol"))
            return repos.users.get(alice.id), repos.users.get(carol.id), carol

        found_alice, found_carol, carol = unit(factory, reads, reads_inside_a_transaction)
        assert (found_alice, found_carol) == (alice, carol)
        for _ in range(2):
            seen.clear()
            assert unit(factory, reads, lambda d: SqlRepositories(d).users.get(alice.id)) == alice
            assert len(seen) <= 2  # at most one fallback, the first time after the rollback
        assert len(seen) == 1  # then prepared again: one execution, no fallback
    finally:
        stop()


def test_a_prebuilt_read_whose_statement_was_deallocated_answers_and_is_prepared_again(factory, db):
    if db.dialect.name != "postgresql":
        pytest.skip("prepared statements of the connection: PostgreSQL")
    alice = add_user(factory)
    reads = ReadConnections(db, limit=1)
    connection = unit(factory, reads, lambda d: (SqlRepositories(d).users.get(alice.id), d.reader())[1])
    connection.connection.driver_connection.pgconn.exec_(b"DEALLOCATE ALL")  # as a pooler or an operator might
    seen, stop = _counting_executions(db)
    try:
        assert unit(factory, reads, lambda d: SqlRepositories(d).users.get(alice.id)) == alice
        assert len(seen) == 2  # refused by the server, then answered through SQLAlchemy
        seen.clear()
        assert unit(factory, reads, lambda d: SqlRepositories(d).users.get(alice.id)) == alice
        assert len(seen) == 1  # prepared again
    finally:
        stop()

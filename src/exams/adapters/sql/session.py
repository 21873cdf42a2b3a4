"""Engines and sessions; joining the request's transaction manager (zope.sqlalchemy).

PostgreSQL transactions begin lazily, at the first statement that writes or locks: reads before it
run on their own. Under READ COMMITTED (PostgreSQL's default, which this service uses) every statement
reads its own snapshot inside a transaction too, so the results are the same; a request that only
reads (the learner's once-a-minute poll) saves the BEGIN and COMMIT round trips, which cost as much
as its queries. SQLite's driver has always begun transactions this way.
"""

from __future__ import annotations

import re
from functools import lru_cache

from psycopg.pq import TransactionStatus
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from transaction._transaction import Status
from zope.sqlalchemy.datamanager import STATUS_CHANGED, join_transaction


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 15, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)
    event.listen(engine, "connect", _driver_autocommit)
    event.listen(engine, "checkout", _driver_autocommit_on_checkout)
    event.listen(engine, "before_cursor_execute", _begin_before_writes)
    return engine


def _driver_autocommit(dbapi_connection, _record) -> None:
    dbapi_connection.autocommit = True


def _driver_autocommit_on_checkout(dbapi_connection, _record, _proxy) -> None:
    # A connection lent with an explicit isolation level comes back with the driver's autocommit off.
    if not dbapi_connection.autocommit:
        dbapi_connection.autocommit = True


_LOCKING_READ = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)


@lru_cache(maxsize=2048)
def _needs_transaction(statement: str) -> bool:
    """Anything but a plain SELECT: writes, locking reads, savepoints, DDL."""
    return statement.lstrip()[:6].upper() != "SELECT" or _LOCKING_READ.search(statement) is not None


def _begin_before_writes(conn, cursor, statement, _parameters, _context, _executemany) -> None:
    """Open the transaction before the first statement that needs one (the driver is in autocommit mode).

    Left alone: a transaction already open, a connection given an isolation level of its own
    (``execution_options(isolation_level="AUTOCOMMIT")`` for VACUUM, or a stricter level, which the
    driver then begins itself).
    """
    dbapi_connection = cursor.connection
    if (dbapi_connection.pgconn.transaction_status == TransactionStatus.IDLE and dbapi_connection.autocommit
            and _needs_transaction(statement) and "isolation_level" not in conn.get_execution_options()):
        cursor.execute("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker:
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    # Registered once for every session of the factory: per-session listeners (zope.sqlalchemy's
    # ``register``) cost each request more CPU than its queries.
    event.listen(factory, "do_orm_execute", _join_before_writes)
    event.listen(factory, "before_commit", _commit_only_through_manager)
    return factory


def _join_before_writes(state: ORMExecuteState) -> None:
    """The session joins the manager's transaction at its first statement that writes or locks.

    Until then it has nothing to commit (plain reads run on their own, see above): a request that only
    reads costs the transaction manager nothing but its begin and end. Joined in the "changed" state,
    the session commits (or rolls back) with the manager's transaction; a session used again after
    that transaction ended joins the next one the same way.
    """
    if state.is_select and state.statement._for_update_arg is None:
        return
    session = state.session
    manager = session.info.get("transaction_manager")
    if manager is not None:
        join_transaction(session, STATUS_CHANGED, manager)


def _commit_only_through_manager(session: Session) -> None:
    manager = session.info.get("transaction_manager")
    if manager is not None and not session.in_nested_transaction():
        assert manager.get().status == Status.COMMITTING, "Transaction must be committed using the transaction manager"


def session_in_transaction(factory: sessionmaker, transaction_manager) -> Session:
    """A session whose commit and rollback belong to ``transaction_manager`` (pyramid_tm, or a script's).

    Repositories write with Core statements, which zope.sqlalchemy cannot see, so the session joins
    the manager's transaction in the "changed" state at its first write or locking read
    (``_join_before_writes``): it then always commits when the transaction does. (Joined directly
    rather than through ``zope.sqlalchemy.register``, which adds seven event listeners per session.)
    When the transaction ends the session is closed and its connection goes back to the pool, whether
    it joined or only read.
    """
    session = factory()
    session.info["transaction_manager"] = transaction_manager
    current = transaction_manager.get()
    current.addAfterCommitHook(lambda _status: session.close())
    current.addAfterAbortHook(session.close)
    return session


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # any driver error means "down" for a health check
        return False

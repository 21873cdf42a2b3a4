"""Engines and sessions; joining the request's transaction manager (zope.sqlalchemy).

PostgreSQL transactions begin lazily, at the first statement that writes or locks: reads before it
run on their own. Under READ COMMITTED (PostgreSQL's default, which this service uses) every statement
reads its own snapshot inside a transaction too, so the results are the same; a request that only
reads (the learner's once-a-minute poll) saves the BEGIN and COMMIT round trips, which cost as much
as its queries. SQLite's driver has always begun transactions this way.
"""

from __future__ import annotations

import re
import threading
import weakref
from functools import lru_cache
from typing import Callable, TypeVar

import transaction

from psycopg.pq import TransactionStatus
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from transaction._transaction import Status
from zope.sqlalchemy.datamanager import STATUS_CHANGED, join_transaction

T = TypeVar("T")


def insert_on_conflict(session: Session, table, values: dict, keys: list[str] | None = None,
                     update_cols: list[str] | None = None):
    """INSERT ... ON CONFLICT (keys) DO NOTHING, or DO UPDATE of ``update_cols``, on PostgreSQL and SQLite.

    The statement is returned unexecuted: add ``.returning(column)`` to tell whether a row was written
    (``rowcount`` is not reliable: psycopg reports -1 when SQLAlchemy adds a RETURNING of its own).
    A conflict leaves the transaction usable (a failed plain INSERT would abort it on PostgreSQL).
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table).values(**values)
    if update_cols:
        return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update_cols})
    return stmt.on_conflict_do_nothing(index_elements=keys)


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
    if not _needs_transaction(statement):  # a plain SELECT (the pre-built reads come with no cursor)
        return
    dbapi_connection = cursor.connection
    if (dbapi_connection.pgconn.transaction_status == TransactionStatus.IDLE and dbapi_connection.autocommit
            and "isolation_level" not in conn.get_execution_options()):
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


class _Kept:
    """A thread's read connection; handed back to the pool when the thread ends (its locals are dropped)."""

    __slots__ = ("connection", "owner")

    def __init__(self, connection: Connection, owner: "ReadConnections"):
        self.connection = connection
        self.owner = weakref.ref(owner)  # no cycle through the owner's thread-locals: freed without the GC

    def release(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            owner = self.owner()
            if owner is not None:
                owner._forget()
            connection.close()

    def __del__(self):
        try:
            self.release()
        except Exception:  # interpreter shutdown: nothing to give back to
            pass


class ReadConnections:
    """Pooled connections kept by web threads for the plain reads of units without a session (``UnitDatabase``).

    A thread serves one request at a time, and a plain read leaves its connection as it found it: no
    transaction open (PostgreSQL: the driver's autocommit; SQLite: its driver begins only at a write), no
    lock held. So a thread keeps one connection for these reads from one request to the next instead of
    checking one out and back each time, which cost the learner's poll more than its query. A thread
    never holds two: the connection goes back to the pool when its unit makes a session, and when the
    thread ends. At most ``limit`` threads keep one (the pool's size: the rest of the pool stays for
    sessions); beyond that a unit borrows a connection for its own duration. A connection the driver
    reports broken is dropped and the read tried once more on a new one.
    """

    def __init__(self, engine: Engine, limit: int | None = None):
        self.engine = engine
        pool_size = engine.pool.size() if hasattr(engine.pool, "size") else 5  # StaticPool and the like have none
        self.limit = limit if limit is not None else max(2, pool_size)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._kept = 0

    def get(self) -> tuple[Connection, bool]:
        """The thread's read connection and True, or a borrowed one (the caller closes it) and False."""
        kept = getattr(self._local, "kept", None)
        if kept is not None and kept.connection is not None:
            connection = kept.connection
            if not (connection.closed or connection.invalidated):
                return connection, True
            kept.release()
        with self._lock:
            keep = self._kept < self.limit
            if keep:
                self._kept += 1
        if not keep:
            return self.engine.connect(), False
        try:
            connection = self.engine.connect()
        except BaseException:
            self._forget()
            raise
        self._local.kept = _Kept(connection, self)
        return connection, True

    def give_back(self) -> None:
        """The thread's unit is about to use a session: its read connection goes back to the pool."""
        kept = getattr(self._local, "kept", None)
        if kept is not None:
            self._local.kept = None
            kept.release()

    def drop(self, connection: Connection) -> None:
        """``connection`` failed: invalidate it (the pool will not lend it again) and stop keeping it."""
        if not connection.invalidated:
            connection.invalidate()
        kept = getattr(self._local, "kept", None)
        if kept is not None and kept.connection is connection:
            self._local.kept = None
            kept.release()
        else:
            connection.close()

    def _forget(self) -> None:
        with self._lock:
            self._kept -= 1


class UnitDatabase:
    """The database side of one unit of work: its ORM session, made on first need, and its plain reads.

    A unit that only reads (the learner's poll, the exam fetch) never makes a session: its pre-built
    reads (``repositories._Prepared``) run on the thread's read connection (``ReadConnections``), outside
    any transaction, which is where they ran before on the session's connection too, since the session
    begins at its first write (``_join_before_writes``). Once the unit has a session, every read runs on
    the session's connection, inside its transaction once it wrote, so that the unit reads its own writes.
    Making, beginning and closing an ORM session cost a read-only request more than its query
    (docs/performance.md).
    """

    __slots__ = ("_factory", "_manager", "_session", "reads", "_borrowed")

    def __init__(self, factory: sessionmaker | None, transaction_manager=None, *, reads: ReadConnections | None = None,
                 session: Session | None = None):
        self._factory = factory
        self._manager = transaction_manager
        self._session = session
        self.reads = reads
        self._borrowed: Connection | None = None

    @classmethod
    def of(cls, session: "Session | UnitDatabase") -> "UnitDatabase":
        """``session`` itself when it is a unit's database, else one over that existing session."""
        return session if isinstance(session, UnitDatabase) else cls(None, session=session)

    @property
    def session(self) -> Session:
        session = self._session
        if session is None:
            if self.reads is not None:  # one connection per thread at a time
                self._give_back_borrowed()
                self.reads.give_back()
            session = self._session = session_in_transaction(self._factory, self._manager)
        return session

    def reader(self) -> Connection:
        """The connection a plain read runs on: the session's once there is one (or when there are no read
        connections), else the thread's read connection (or one borrowed until the unit ends)."""
        if self._session is not None or self.reads is None:
            return self.session.connection()
        if self._borrowed is not None:
            return self._borrowed
        connection, kept = self.reads.get()
        if not kept:
            self._borrowed = connection
            current = self._manager.get()
            current.addAfterCommitHook(lambda _status: self._give_back_borrowed())
            current.addAfterAbortHook(self._give_back_borrowed)
        return connection

    def read_failed(self, connection: Connection) -> Connection | None:
        """After a driver error on ``connection``: a fresh connection to try the read again on, or None (the
        session's connection: the error is the unit's)."""
        if self._session is not None or self.reads is None:
            return None
        if connection is self._borrowed:
            self._borrowed = None
        self.reads.drop(connection)
        return self.reader()

    def _give_back_borrowed(self) -> None:
        connection, self._borrowed = self._borrowed, None
        if connection is not None:
            connection.close()


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # any driver error means "down" for a health check
        return False


def in_transaction(factory: sessionmaker, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in a transaction of its own (a command, a relay pass): commit when it returns,
    roll back when it raises."""
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        return work(session_in_transaction(factory, manager))


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback`` once the transaction the session belongs to has committed (not if it aborts)."""
    manager = session.info.get("transaction_manager")
    if manager is not None:
        manager.get().addAfterCommitHook(lambda committed: callback() if committed else None)

"""Engines and sessions; joining the request's transaction manager (zope.sqlalchemy)."""

from __future__ import annotations

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from zope.sqlalchemy import register


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
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def session_in_transaction(factory: sessionmaker, transaction_manager) -> Session:
    """A session whose commit and rollback belong to ``transaction_manager`` (pyramid_tm, or a script's).

    Repositories write with Core statements, which zope.sqlalchemy cannot see, so the session starts
    in the "changed" state: it always commits when the transaction does.
    """
    session = factory()
    register(session, transaction_manager=transaction_manager, initial_state="changed")
    return session


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # any driver error means "down" for a health check
        return False

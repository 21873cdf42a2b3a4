"""Fixtures shared by every suite.

The database suites run once per backend: SQLite (a file) and PostgreSQL (the server that
scripts/test starts and names in EXAMS_TEST_POSTGRES_URL). Schemas are built by Alembic, once per
backend; each test starts from empty tables.
"""

from __future__ import annotations

import os
import time

import pytest
from dependency_injector import providers
from sqlalchemy import text

from exams.adapters.sql import tables
from exams.adapters.sql.migrate import upgrade
from exams.adapters.sql.session import make_engine
from exams.adapters.tokens.access_tokens import generate_private_jwk
from exams.adapters.tokens.lms_jwt import sign_hs256
from tests.fakes import FakeClock, RecordingOutcomes

JWT_SECRET = "test-secret-shared-with-the-lms"
JWT_ISSUER = "http://lms.test/oauth2"
JWT_AUDIENCE = "lms-key"
LEARNING_MFE = "http://learning.test"
ACCESS_KEY = generate_private_jwk()

BACKENDS = ["sqlite", "postgresql"]


def worker_suffix() -> str:
    """"" in a plain run; "_gw0", "_gw1", ... under pytest-xdist (one database per worker)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"_{worker}" if worker else ""


_worker_urls: dict[str, str] = {}


def postgres_url() -> str | None:
    """The test PostgreSQL database of this process (created per xdist worker on first use)."""
    base = os.environ.get("EXAMS_TEST_POSTGRES_URL")
    if base is None or not worker_suffix():
        return base
    if base not in _worker_urls:
        from sqlalchemy.engine import make_url

        name = make_url(base).database + worker_suffix()
        admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        admin.dispose()
        _worker_urls[base] = make_url(base).set(database=name).render_as_string(hide_password=False)
    return _worker_urls[base]


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'exams.db'}"
    else:
        url = postgres_url()
        if url is None:
            if os.environ.get("EXAMS_TEST_REQUIRE_POSTGRES"):
                pytest.fail("EXAMS_TEST_POSTGRES_URL is not set")
            pytest.skip("PostgreSQL not available (run scripts/test, which starts one)")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def empty_tables(engine) -> None:
    from exams.services.users import KnownUsers

    KnownUsers.forget_everywhere()  # the processes' apps knew users of the rows deleted here
    names = [t.name for t in reversed(tables.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # DELETE, not TRUNCATE: on tables this small TRUNCATE costs ~70 ms (new files), DELETE ~1 ms.
            conn.execute(text("; ".join(f"DELETE FROM {name}" for name in names)))
            used = [r[0] for r in conn.execute(text(
                "SELECT schemaname || '.' || sequencename FROM pg_sequences "
                "WHERE schemaname = current_schema() AND last_value IS NOT NULL"))]
            if used:
                conn.execute(text("SELECT " + ", ".join(f"setval('{seq}', 1, false)" for seq in used)))
        else:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))
            conn.execute(text("DELETE FROM sqlite_sequence")) if conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first() else None


@pytest.fixture
def db(engine):
    """Empty tables before the test."""
    empty_tables(engine)
    return engine


def app_settings(database_url: str, **overrides) -> dict:
    import json

    settings = {
        "sqlalchemy.url": database_url,
        "exams.root_url": "http://localhost",
        "exams.lms_root_url": "http://lms.test",
        "exams.learning_mfe_url": LEARNING_MFE,
        "exams.jwt.issuer": JWT_ISSUER,
        "exams.jwt.audience": JWT_AUDIENCE,
        "exams.jwt.secret_key": JWT_SECRET,
        "exams.cors.origins": "http://learning.test http://dashboard.test",
        "exams.access_token.private_jwk": json.dumps(ACCESS_KEY),
        "exams.access_token.issuer": "http://localhost",
    }
    settings.update(overrides)
    return settings


@pytest.fixture(scope="session")
def clock():
    return FakeClock()


@pytest.fixture(scope="session")
def wsgi(database_url, clock):
    """The WSGI app that ``main()`` builds, with the clock under the tests' control."""
    from exams import settings as settings_module
    from exams.app import main
    from exams.container import build_container

    raw = app_settings(database_url)
    container = build_container(settings_module.load(raw, environ={}))
    container.clock.override(providers.Object(clock))
    app = main({}, container=container, **raw)
    app.container = container
    return app


@pytest.fixture
def outcomes(wsgi):
    recorder = RecordingOutcomes()
    wsgi.container.outcomes.override(providers.Object(recorder))
    yield recorder
    wsgi.container.outcomes.reset_override()


@pytest.fixture
def testapp(wsgi, db, clock):
    from webtest import TestApp

    clock.reset()
    return TestApp(wsgi)


def make_token(username: str = "learner", *, user_id: int | None = 10, staff: bool = False, email: str | None = None,
               ttl: int = 3600, secret: str = JWT_SECRET, **extra) -> str:
    now = int(time.time())
    claims = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now, "exp": now + ttl, "preferred_username": username,
              "administrator": staff, "email": email or f"{username}@example.com", "version": "1.2.0",
              "is_restricted": False}
    if user_id is not None:
        claims["user_id"] = user_id
    claims.update(extra)
    return sign_hs256(claims, secret)


def auth(username: str = "learner", **kw) -> dict:
    return {"Authorization": f"JWT {make_token(username, **kw)}"}

"""One backend per parameter for the repository contract: the in-memory fakes, SQLite and PostgreSQL.

Each backend hands out units of work as a request has them: ``store.unit_of_work()`` yields the
repositories and commits at the end; ``commit=False``, or an exception, rolls back. The fakes roll
back by restoring a snapshot, the SQL repositories by aborting the transaction.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import pytest

from exams.adapters.sql.session import make_engine
from tests.conftest import empty_tables, migrated_database, sql_unit_of_work
from tests.fakes_repositories import FakeRepositories

BACKENDS = ["fake", "sqlite", "postgresql"]


class FakeStore:
    name = "fake"

    def __init__(self):
        self.repos = FakeRepositories()

    @contextmanager
    def unit_of_work(self, *, commit: bool = True):
        saved = copy.deepcopy(self.repos.__dict__)
        try:
            yield self.repos
        except BaseException:
            self.repos.__dict__.update(saved)
            raise
        if not commit:
            self.repos.__dict__.update(saved)


class SqlStore:
    def __init__(self, name: str, engine):
        self.name = name
        self.engine = engine

    def unit_of_work(self, *, commit: bool = True):
        return sql_unit_of_work(self.engine, commit=commit)


_engines: dict[str, object] = {}


@pytest.fixture(scope="session", autouse=True)
def _dispose_contract_engines():
    yield
    for engine in _engines.values():
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path_factory):
    """Empty repositories of one backend."""
    if request.param == "fake":
        return FakeStore()
    url = migrated_database(request.param, tmp_path_factory)
    if url not in _engines:
        _engines[url] = make_engine(url)
    empty_tables(_engines[url])
    return SqlStore(request.param, _engines[url])
